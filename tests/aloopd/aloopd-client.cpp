// SPDX-License-Identifier: GPL-2.0-or-later
//
// The VM test's client (tests/aloopd/vm-test.py runs it as different users):
// creates a userspace-driven timer, binds a loopback card to it through
// utimer::LoopbackBinding, reports, and holds the binding until stdin closes
// (or "release" is read, which ends it explicitly first).
//
//   aloopd-client CARD [direct|service|automatic] [--claim ID]
//
// Prints "bound card=<number> id=<card id> timer=<id> via=<direct|service>
// fdname=<readlink of the timer fd>" or "error errno=<n> <what()>"; then
// "released" (or "release-error ...") when done. --claim sends another timer
// id than the descriptor's (the service must refuse where it can tell).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <utimer/utimer.hpp>

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "usage: aloopd-client CARD [direct|service|automatic] [--claim ID]\n");
		return 2;
	}
	const std::string card = argv[1];
	utimer::BindOptions options;
	int claim = -1;
	for (int i = 2; i < argc; ++i) {
		const std::string arg = argv[i];
		if (arg == "direct")
			options.via = utimer::BindOptions::Via::direct;
		else if (arg == "service")
			options.via = utimer::BindOptions::Via::service;
		else if (arg == "automatic")
			options.via = utimer::BindOptions::Via::automatic;
		else if (arg == "--claim" && i + 1 < argc)
			claim = std::atoi(argv[++i]);
		else
			return std::fprintf(stderr, "aloopd-client: bad argument %s\n", arg.c_str()), 2;
	}
	try {
		utimer::Timer timer = utimer::Timer::for_period(48000, 256);
		std::error_code ec;
		const std::string fdname =
			std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(timer.fd()), ec)
				.string();
		utimer::Timer claimed;
		if (claim >= 0) {
			// Same descriptor, another id: what a client could lie about.
			claimed = utimer::Timer::adopt(::dup(timer.fd()), static_cast<unsigned>(claim),
						       timer.resolution());
		}
		utimer::LoopbackBinding binding =
			utimer::LoopbackBinding::bind(card, claim >= 0 ? claimed : timer, options);
		std::printf("bound card=%d id=%s timer=%u via=%s fdname=%s\n", binding.card().number,
			    binding.card().id.c_str(), claim >= 0 ? claimed.id() : timer.id(),
			    binding.via_service() ? "service" : "direct", fdname.c_str());
		std::fflush(stdout);
		std::string line;
		while (std::getline(std::cin, line) && line != "release") {
		}
		try {
			binding.release();
			std::printf("released\n");
		} catch (const utimer::Error &e) {
			std::printf("release-error errno=%d %s\n", e.code().value(), e.what());
		}
	} catch (const utimer::Error &e) {
		std::printf("error errno=%d %s\n", e.code().value(), e.what());
		return 1;
	}
	return 0;
}
