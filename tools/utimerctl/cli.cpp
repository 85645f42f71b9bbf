// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.hpp"

#include <charconv>
#include <limits>

namespace utimerctl {
namespace {

constexpr std::string_view source_forms =
	"clock[:monotonic|realtime|boottime|tai], ptp:/dev/ptpN, stdin-lines, "
	"stdin-bytes:N or udp:PORT[:N]";

[[noreturn]] void fail(std::string_view option, std::string_view text, std::string_view expected)
{
	throw UsageError("utimerctl: " + std::string(option) + " '" + std::string(text) +
			 "': expected " + std::string(expected));
}

std::string quote_join(std::string_view a, std::string_view b)
{
	return std::string(a) + std::string(b);
}

// "--name=value" or "--name value"; advances i past what it consumed.
struct OptionReader {
	const std::vector<std::string> &args;
	std::size_t i = 0;

	bool done() const { return i >= args.size(); }
	// Splits args[i] into name and inline value.
	std::string_view name() const
	{
		std::string_view a = args[i];
		auto eq = a.find('=');
		return a.starts_with("--") && eq != std::string_view::npos ? a.substr(0, eq) : a;
	}
	std::string value(std::string_view expected_form)
	{
		std::string_view a = args[i];
		auto eq = a.find('=');
		if (a.starts_with("--") && eq != std::string_view::npos) {
			++i;
			return std::string(a.substr(eq + 1));
		}
		if (i + 1 >= args.size())
			throw UsageError("utimerctl: " + std::string(a) + ": missing value: expected " +
					 std::string(expected_form));
		i += 2;
		return args[i - 1];
	}
};

template <typename T>
void set_once(std::optional<T> &slot, std::string_view option, T value)
{
	if (slot)
		throw UsageError("utimerctl: " + std::string(option) + " given twice: give it once");
	slot = std::move(value);
}

unsigned to_unsigned(std::string_view option, std::string_view text, std::uint64_t v,
		     std::string_view unit, std::string_view example)
{
	if (v > std::numeric_limits<unsigned>::max())
		fail(option, text, quote_join("a positive integer (" + std::string(unit) +
				   ") below 2^32, e.g. ", example));
	return static_cast<unsigned>(v);
}

RunCommand parse_run(OptionReader &r)
{
	RunCommand run;
	std::optional<SourceSpec> source;
	bool have_source = false;
	while (!r.done()) {
		std::string_view opt = r.name();
		if (opt == "--rate") {
			std::string v = r.value("a positive integer (Hz), e.g. --rate 48000");
			auto n = parse_positive("--rate", v, "Hz", "--rate 48000");
			set_once(run.timing.rate, "--rate", to_unsigned("--rate", v, n, "Hz", "--rate 48000"));
		} else if (opt == "--period") {
			std::string v = r.value("a positive integer (frames), e.g. --period 256");
			auto n = parse_positive("--period", v, "frames", "--period 256");
			set_once(run.timing.period_frames, "--period",
				 to_unsigned("--period", v, n, "frames", "--period 256"));
		} else if (opt == "--resolution") {
			std::string v = r.value("a positive integer (ns per tick), e.g. --resolution 5333333");
			set_once(run.timing.resolution_ns, "--resolution",
				 parse_positive("--resolution", v, "ns per tick", "--resolution 5333333"));
		} else if (opt == "--source") {
			std::string v = r.value(quote_join("one of ", source_forms));
			if (have_source)
				throw UsageError("utimerctl: --source given twice: give it once");
			source = parse_source(v);
			have_source = true;
		} else if (opt == "--aloop") {
			std::string v = r.value("a loopback card name or number, e.g. --aloop Loopback");
			if (v.empty())
				fail("--aloop", v, "a loopback card name or number, e.g. --aloop Loopback");
			set_once(run.aloop_card, "--aloop", v);
		} else if (opt == "--count") {
			std::string v = r.value("a positive integer (triggers), e.g. --count 100");
			set_once(run.count, "--count",
				 parse_positive("--count", v, "triggers", "--count 100"));
		} else {
			throw UsageError("utimerctl: run: unknown argument '" + std::string(r.args[r.i]) +
					 "' (see utimerctl run --help)");
		}
	}
	if (source)
		run.source = *source;

	const Timing &t = run.timing;
	if (t.resolution_ns && (t.rate || t.period_frames))
		throw UsageError("utimerctl: --resolution cannot be combined with --rate/--period: give "
				 "either --rate R --period P or --resolution NS");
	if (t.rate && !t.period_frames)
		throw UsageError("utimerctl: --rate given without --period: give both, e.g. "
				 "--rate 48000 --period 256");
	if (t.period_frames && !t.rate)
		throw UsageError("utimerctl: --period given without --rate: give both, e.g. "
				 "--rate 48000 --period 256");
	if (!t.resolution_ns && !t.rate)
		throw UsageError("utimerctl: run needs the tick period: give --rate R --period P "
				 "(e.g. --rate 48000 --period 256) or --resolution NS");
	return run;
}

}  // namespace

std::uint64_t parse_positive(std::string_view option, std::string_view text, std::string_view unit,
			     std::string_view example)
{
	std::uint64_t v = 0;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
	std::string expected = "a positive integer (" + std::string(unit) + "), e.g. " + std::string(example);
	if (text.empty() || ec == std::errc::result_out_of_range) {
		if (ec == std::errc::result_out_of_range)
			expected = "a positive integer (" + std::string(unit) + ") below 2^64, e.g. " +
				   std::string(example);
		fail(option, text, expected);
	}
	if (ec != std::errc() || end != text.data() + text.size() || v == 0)
		fail(option, text, expected);
	return v;
}

std::string_view clock_name(ClockName clock)
{
	switch (clock) {
	case ClockName::monotonic: return "monotonic";
	case ClockName::realtime: return "realtime";
	case ClockName::boottime: return "boottime";
	case ClockName::tai: return "tai";
	}
	return "?";
}

SourceSpec parse_source(std::string_view text)
{
	auto bad = [&]() { fail("--source", text, quote_join("one of ", source_forms)); };
	auto colon = text.find(':');
	std::string_view kind = text.substr(0, colon);
	std::string_view rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
	bool has_arg = colon != std::string_view::npos;

	if (kind == "clock") {
		if (!has_arg)
			return ClockSource{};
		for (auto c : {ClockName::monotonic, ClockName::realtime, ClockName::boottime, ClockName::tai})
			if (rest == clock_name(c))
				return ClockSource{c};
		fail("--source", text, "a clock name after 'clock:': monotonic, realtime, boottime or tai, "
				       "e.g. --source clock:realtime");
	}
	if (kind == "ptp") {
		if (!rest.starts_with("/"))
			fail("--source", text, "the path of a PTP clock device after 'ptp:', e.g. "
					       "--source ptp:/dev/ptp0");
		return PtpSource{std::string(rest)};
	}
	if (kind == "stdin-lines") {
		if (has_arg)
			bad();
		return StdinLinesSource{};
	}
	if (kind == "stdin-bytes") {
		if (!has_arg)
			fail("--source", text, "a byte count: stdin-bytes:N (one trigger per N bytes), e.g. "
					       "--source stdin-bytes:1024");
		return StdinBytesSource{parse_positive("--source stdin-bytes:N", rest, "bytes per trigger",
						       "--source stdin-bytes:1024")};
	}
	if (kind == "udp") {
		auto c2 = rest.find(':');
		std::string_view port_text = rest.substr(0, c2);
		UdpSource udp;
		std::uint64_t port = 0;
		auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
		if (!has_arg || port_text.empty() || ec != std::errc() ||
		    end != port_text.data() + port_text.size() || port == 0 || port > 65535)
			fail("--source", text, "udp:PORT or udp:PORT:N with PORT 1..65535 and N bytes per "
					       "trigger, e.g. --source udp:9999 or --source udp:9999:1024");
		udp.port = static_cast<std::uint16_t>(port);
		if (c2 != std::string_view::npos)
			udp.bytes_per_trigger = parse_positive("--source udp:PORT:N", rest.substr(c2 + 1),
							       "payload bytes per trigger",
							       "--source udp:9999:1024");
		return udp;
	}
	bad();
	return {};
}

Command parse_command_line(const std::vector<std::string> &args)
{
	OptionReader r{args};
	if (r.done())
		throw UsageError("utimerctl: missing command: expected probe, list or run "
				 "(see utimerctl --help)");
	std::string_view first = args[0];
	if (first == "--help" || first == "-h" || first == "help")
		return HelpCommand{args.size() > 1 ? args[1] : std::string{}};
	if (first == "--version")
		return VersionCommand{};
	r.i = 1;
	auto no_more = [&](std::string_view cmd) {
		if (!r.done()) {
			if (args[r.i] == "--help" || args[r.i] == "-h")
				return false;
			throw UsageError("utimerctl: " + std::string(cmd) + ": unexpected argument '" +
					 args[r.i] + "' (" + std::string(cmd) + " takes none)");
		}
		return true;
	};
	if (first == "probe")
		return no_more(first) ? Command{ProbeCommand{}} : Command{HelpCommand{"probe"}};
	if (first == "list")
		return no_more(first) ? Command{ListCommand{}} : Command{HelpCommand{"list"}};
	if (first == "run") {
		for (const auto &a : args)
			if (a == "--help" || a == "-h")
				return HelpCommand{"run"};
		return parse_run(r);
	}
	throw UsageError("utimerctl: unknown command '" + std::string(first) +
			 "': expected probe, list or run (see utimerctl --help)");
}

std::string usage_text()
{
	return R"(Usage: utimerctl COMMAND [OPTIONS]

Userspace-driven ALSA timers (SNDRV_TIMER_IOCTL_CREATE/TRIGGER).

Commands:
  probe   does this kernel support userspace-driven timers? (exit 0 yes, 1 no)
          and from where: built-in, dkms (utimer-dkms) or missing
  list    the userspace-driven timers present: id, name, resolution, instances
  run     create a timer and trigger it from a source until SIGINT/SIGTERM
  help [COMMAND]

Options:
  -h, --help     this text (utimerctl run --help: the run options)
  --version      print the version

Exit status: 0 success, 1 failure (or probe: not supported), 2 bad arguments.
See utimerctl(1).
)";
}

std::string run_usage_text()
{
	return R"(Usage: utimerctl run (--rate R --period P | --resolution NS) [--source SOURCE]
                     [--aloop CARD] [--count N]

Creates a userspace-driven timer, prints one line
  utimer id=<id> timer_source=-1.4.<id> resolution=<ns>
and triggers it once per event of SOURCE until SIGINT/SIGTERM (or N triggers).

  --rate R --period P  period of P frames at R Hz: the timer's resolution is the
                       PCM core's period time (what snd-aloop requires), clock
                       sources tick every P/R seconds exactly
  --resolution NS      timer resolution in ns; clock sources tick every NS ns
  --source SOURCE      what triggers the timer (default: clock):
     clock[:NAME]        fixed rate on CLOCK_MONOTONIC (default), realtime,
                         boottime (timerfd, absolute deadlines) or tai (paced
                         like ptp: timerfd cannot wait on CLOCK_TAI)
     ptp:/dev/ptpN       fixed rate on a PTP hardware clock (dynamic POSIX clock:
                         read with clock_gettime, waits on CLOCK_MONOTONIC with a
                         measured rate correction; never fires early)
     stdin-lines         one trigger per line read from standard input
     stdin-bytes:N       one trigger per N bytes read from standard input
     udp:PORT[:N]        datagrams arriving on UDP PORT: one trigger per
                         datagram, or per N payload bytes
  --aloop CARD         clock snd-aloop card CARD (name or number) with this timer
                       (its timer_source); restored on exit
  --count N            exit after N triggers

Standard input sources exit at end of file.
)";
}

}  // namespace utimerctl
