// SPDX-License-Identifier: GPL-2.0-or-later
// utimerctl: probe, list and drive userspace-driven ALSA timers.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <utimer/utimer.hpp>

#include "cli.hpp"
#include "sources.hpp"

namespace utimerctl {
namespace {

constexpr const char *version = "0.1.0";

int cmd_help(const HelpCommand &h)
{
	if (h.topic == "run")
		std::fputs(run_usage_text().c_str(), stdout);
	else if (h.topic.empty() || h.topic == "probe" || h.topic == "list")
		std::fputs(usage_text().c_str(), stdout);
	else
		throw UsageError("utimerctl: help '" + h.topic + "': expected probe, list or run");
	return exit_ok;
}

// Whether this process can use the timers, then which case the kernel is
// (its own feature, our DKMS modules, or neither) and what to install.
int cmd_probe()
{
	auto r = utimer::probe();
	if (r.ok())
		std::printf("supported: userspace-driven timers available (timer protocol %d.%d.%d)\n",
			    (r.protocol_version >> 16) & 0xff, (r.protocol_version >> 8) & 0xff,
			    r.protocol_version & 0xff);
	else
		std::printf("not supported (%s): %s\n", utimer::to_string(r.support), r.message.c_str());
	const auto k = utimer::kernel_report(r);
	std::printf("kernel %s: %s: %s\n", k.release.empty() ? "?" : k.release.c_str(),
		    utimer::to_string(k.kernel_case), k.evidence.c_str());
	if (!k.advice.empty())
		std::printf("to do: %s\n", k.advice.c_str());
	return r.ok() ? exit_ok : exit_failure;
}

int cmd_list()
{
	auto timers = utimer::list_timers();
	if (timers.empty()) {
		std::printf("no userspace-driven timers\n");
		return exit_ok;
	}
	std::printf("%-4s %-16s %14s %9s  %s\n", "ID", "NAME", "RESOLUTION_NS", "INSTANCES", "TIMER_SOURCE");
	for (const auto &t : timers) {
		std::string inst = t.instances ? std::to_string(*t.instances) : "-";
		std::printf("%-4u %-16s %14" PRIu64 " %9s  -1.4.%u\n", t.id, t.name.c_str(),
			    t.resolution_ns, inst.c_str(), t.id);
	}
	return exit_ok;
}

std::uint64_t resolution_for(const Timing &t)
{
	if (t.resolution_ns)
		return *t.resolution_ns;
	try {
		return utimer::period_resolution_ns(*t.rate, *t.period_frames);
	} catch (const utimer::Error &e) {
		throw UsageError("utimerctl: --rate " + std::to_string(*t.rate) + " --period " +
				 std::to_string(*t.period_frames) + ": " + e.what());
	}
}

// A name that matches no existing loopback card is a bad argument (exit 2);
// no loopback card at all is a setup problem (exit 1).
utimer::LoopbackCard loopback_card(const std::string &name)
{
	try {
		return utimer::find_loopback_card(name);
	} catch (const utimer::Error &e) {
		if (utimer::loopback_cards().empty())
			throw;
		throw UsageError("utimerctl: --aloop '" + name + "': " + e.what());
	}
}

// SIGINT/SIGTERM arrive as readable data on a descriptor, so the loop below is
// the only place that decides to stop and every exit runs the destructors that
// restore the loopback binding and destroy the timer.
UniqueFd stop_signals_fd()
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
		throw std::system_error(errno, std::generic_category(), "sigprocmask");
	UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
	if (!fd)
		throw std::system_error(errno, std::generic_category(), "signalfd");
	return fd;
}

int cmd_run(const RunCommand &run)
{
	std::uint64_t resolution = resolution_for(run.timing);
	std::signal(SIGPIPE, SIG_IGN);
	UniqueFd sigfd = stop_signals_fd();

	std::optional<utimer::LoopbackCard> card;
	if (run.aloop_card)
		card = loopback_card(*run.aloop_card);
	auto timer = utimer::Timer::create(resolution);
	utimer::TimerSourceBinding binding;
	if (card)
		binding = utimer::TimerSourceBinding(*card, timer.source());
	auto source = make_source(run.source, run.timing, STDIN_FILENO);

	std::printf("utimer id=%u timer_source=%s resolution=%" PRIu64 " source=%s", timer.id(),
		    timer.timer_source().c_str(), timer.resolution(), source->describe().c_str());
	if (run.aloop_card)
		std::printf(" aloop=card%d:%s", binding.card().number, binding.card().id.c_str());
	std::printf("\n");
	std::fflush(stdout);

	std::uint64_t triggers = 0;
	const std::uint64_t limit = run.count.value_or(UINT64_MAX);
	int status = exit_ok;
	pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {source->fd(), POLLIN, 0}};
	while (status == exit_ok && triggers < limit && !source->finished()) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			throw std::system_error(errno, std::generic_category(), "poll");
		}
		if (fds[0].revents)
			break;
		if (!fds[1].revents)
			continue;
		std::uint64_t due = std::min(source->on_readable(), limit - triggers);
		for (; due > 0; --due, ++triggers) {
			if (int err = timer.trigger(); err < 0) {
				std::fprintf(stderr, "utimerctl: trigger of timer %u failed: %s\n", timer.id(),
					     std::strerror(-err));
				status = exit_failure;
				break;
			}
		}
	}
	std::printf("utimer id=%u triggers=%" PRIu64 "\n", timer.id(), triggers);
	std::fflush(stdout);
	return status;
}

int dispatch(const Command &cmd)
{
	struct V {
		int operator()(const HelpCommand &h) const { return cmd_help(h); }
		int operator()(const VersionCommand &) const
		{
			std::printf("utimerctl %s\n", version);
			return exit_ok;
		}
		int operator()(const ProbeCommand &) const { return cmd_probe(); }
		int operator()(const ListCommand &) const { return cmd_list(); }
		int operator()(const RunCommand &r) const { return cmd_run(r); }
	};
	return std::visit(V{}, cmd);
}

}  // namespace
}  // namespace utimerctl

int main(int argc, char **argv)
{
	using namespace utimerctl;
	try {
		return dispatch(parse_command_line(std::vector<std::string>(argv + 1, argv + argc)));
	} catch (const UsageError &e) {
		std::fprintf(stderr, "%s\n", e.what());
		return exit_usage;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "utimerctl: %s\n", e.what());
		return exit_failure;
	}
}
