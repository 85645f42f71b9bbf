// SPDX-License-Identifier: GPL-2.0-or-later
//
// utimer-aloopd: points snd-aloop cards at userspace-driven timers for
// processes that may not write /proc/asound/cardN/timer_source themselves
// (a per-user PipeWire), and puts the old value back when they are done.
// Socket-activated: systemd passes the listening socket (utimer-aloopd.socket).
// See README.md / utimer-aloopd.8 for the protocol and the threat model.
#include <grp.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <utimer/error.hpp>

#include "server.hpp"

namespace {

constexpr const char *usage =
	"usage: utimer-aloopd [--group NAME]\n"
	"Binds snd-aloop cards to userspace-driven timers for root and members of the\n"
	"group (default: audio). Started by systemd through utimer-aloopd.socket, which\n"
	"passes it one listening AF_UNIX SOCK_SEQPACKET socket; see utimer-aloopd(8).\n";

int fail(const std::string &message)
{
	std::fprintf(stderr, "utimer-aloopd: %s\n", message.c_str());
	return 1;
}

}  // namespace

int main(int argc, char **argv)
{
	std::string group_name = "audio";
	for (int i = 1; i < argc; ++i) {
		const std::string arg = argv[i];
		if (arg == "--group" && i + 1 < argc && argv[i + 1][0] != '\0') {
			group_name = argv[++i];
		} else if (arg == "-h" || arg == "--help") {
			std::fputs(usage, stdout);
			return 0;
		} else {
			std::fprintf(stderr, "utimer-aloopd: unknown argument '%s'\n%s", arg.c_str(), usage);
			return 2;
		}
	}

	int count = sd_listen_fds(1);
	if (count < 0)
		return fail(std::string("cannot take the sockets systemd passed: ") + std::strerror(-count));
	if (count != 1 || sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, nullptr, 0) <= 0)
		return fail("expected one listening AF_UNIX SOCK_SEQPACKET socket from systemd, got " +
			    std::to_string(count) +
			    " descriptors. Start it through its socket: systemctl start "
			    "utimer-aloopd.socket (or systemd-socket-activate --seqpacket -l PATH)");

	std::optional<gid_t> group;
	if (const struct group *entry = ::getgrnam(group_name.c_str()))
		group = entry->gr_gid;
	else
		std::fprintf(stderr, "utimer-aloopd: no group '%s': only root may bind\n",
			     group_name.c_str());

	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
	utimer::detail::UniqueFd stop(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
	if (!stop)
		return fail(std::string("signalfd: ") + std::strerror(errno));

	try {
		aloopd::Server server({}, group, group_name);
		std::fprintf(stderr, "utimer-aloopd: serving (group %s)\n", group_name.c_str());
		server.run(SD_LISTEN_FDS_START, stop.get());
	} catch (const std::exception &e) {
		return fail(e.what());
	}
	std::fprintf(stderr, "utimer-aloopd: stopped\n");
	return 0;
}
