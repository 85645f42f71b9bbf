// SPDX-License-Identifier: GPL-2.0-or-later
// utimerctl's command line: what it accepts and how it rejects the rest.
// The last cases run the real binary (path in $UTIMERCTL) to check the exit
// status and that nothing else happens.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <vector>

#include "cli.hpp"

using namespace utimerctl;

namespace {

Command parse(std::vector<std::string> args)
{
	return parse_command_line(args);
}

std::string rejection(std::vector<std::string> args)
{
	try {
		parse_command_line(args);
	} catch (const UsageError &e) {
		return e.what();
	}
	FAIL("accepted, expected a UsageError");
	return {};
}

bool contains(const std::string &s, const std::string &part)
{
	return s.find(part) != std::string::npos;
}

struct Outcome {
	int status = -1;
	std::string output;  // stdout + stderr
};

Outcome run_utimerctl(const std::string &args)
{
	const char *bin = std::getenv("UTIMERCTL");
	REQUIRE_MESSAGE(bin, "UTIMERCTL must name the utimerctl binary (meson test sets it)");
	std::string cmd = std::string(bin) + " " + args + " 2>&1 </dev/null";
	FILE *p = popen(cmd.c_str(), "r");
	REQUIRE(p);
	Outcome o;
	char buf[512];
	while (std::fgets(buf, sizeof buf, p))
		o.output += buf;
	int st = pclose(p);
	o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return o;
}

}  // namespace

TEST_CASE("run with --rate/--period and every source form")
{
	auto cmd = parse({"run", "--rate", "48000", "--period=256", "--source", "udp:9999:1024",
			  "--aloop", "Loopback", "--count", "10"});
	auto &run = std::get<RunCommand>(cmd);
	CHECK(run.timing.rate == 48000u);
	CHECK(run.timing.period_frames == 256u);
	CHECK_FALSE(run.timing.resolution_ns);
	CHECK(run.aloop_card == "Loopback");
	CHECK(run.count == 10u);
	auto &udp = std::get<UdpSource>(run.source);
	CHECK(udp.port == 9999);
	CHECK(udp.bytes_per_trigger == 1024u);

	CHECK(std::get<ClockSource>(parse_source("clock")).clock == ClockName::monotonic);
	CHECK(std::get<ClockSource>(parse_source("clock:tai")).clock == ClockName::tai);
	CHECK(std::get<ClockSource>(parse_source("clock:boottime")).clock == ClockName::boottime);
	CHECK(std::get<PtpSource>(parse_source("ptp:/dev/ptp0")).device == "/dev/ptp0");
	CHECK(std::holds_alternative<StdinLinesSource>(parse_source("stdin-lines")));
	CHECK(std::get<StdinBytesSource>(parse_source("stdin-bytes:4096")).bytes_per_trigger == 4096u);
	CHECK_FALSE(std::get<UdpSource>(parse_source("udp:5000")).bytes_per_trigger);
}

TEST_CASE("run defaults: clock source on monotonic, no count, no loopback")
{
	auto run = std::get<RunCommand>(parse({"run", "--resolution", "1000000"}));
	CHECK(run.timing.resolution_ns == 1000000u);
	CHECK(std::get<ClockSource>(run.source).clock == ClockName::monotonic);
	CHECK_FALSE(run.count);
	CHECK_FALSE(run.aloop_card);
}

TEST_CASE("subcommands and help")
{
	CHECK(std::holds_alternative<ProbeCommand>(parse({"probe"})));
	CHECK(std::holds_alternative<ListCommand>(parse({"list"})));
	CHECK(std::get<HelpCommand>(parse({"--help"})).topic.empty());
	CHECK(std::get<HelpCommand>(parse({"run", "--rate", "x", "--help"})).topic == "run");
	CHECK(std::holds_alternative<VersionCommand>(parse({"--version"})));
}

TEST_CASE("bad numbers name the option and the accepted form")
{
	auto m = rejection({"run", "--rate", "abc", "--period", "256"});
	CHECK(m == "utimerctl: --rate 'abc': expected a positive integer (Hz), e.g. --rate 48000");
	CHECK(contains(rejection({"run", "--rate", "0", "--period", "256"}), "--rate '0': expected a positive integer"));
	CHECK(contains(rejection({"run", "--rate", "-48000", "--period", "256"}), "--rate '-48000'"));
	CHECK(contains(rejection({"run", "--rate", "48000", "--period", "256x"}),
		       "--period '256x': expected a positive integer (frames), e.g. --period 256"));
	CHECK(contains(rejection({"run", "--rate", "99999999999", "--period", "256"}), "below 2^32"));
	CHECK(contains(rejection({"run", "--resolution", ""}), "--resolution '': expected a positive integer (ns per tick)"));
	CHECK(contains(rejection({"run", "--resolution", "99999999999999999999999"}), "below 2^64"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--count", "1.5"}), "--count '1.5'"));
}

TEST_CASE("bad sources list the accepted forms")
{
	auto m = rejection({"run", "--resolution", "1000", "--source", "serial"});
	CHECK(contains(m, "--source 'serial': expected one of clock[:monotonic|realtime|boottime|tai]"));
	CHECK(contains(m, "udp:PORT[:N]"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "clock:gps"}),
		       "--source 'clock:gps': expected a clock name after 'clock:'"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "udp:70000"}),
		       "--source 'udp:70000': expected udp:PORT or udp:PORT:N with PORT 1..65535"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "udp:0"}), "PORT 1..65535"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "udp:9999:0"}),
		       "--source udp:PORT:N '0': expected a positive integer (payload bytes per trigger)"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "stdin-bytes"}),
		       "--source 'stdin-bytes': expected a byte count"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "ptp:ptp0"}),
		       "expected the path of a PTP clock device"));
	CHECK(contains(rejection({"run", "--resolution", "1000", "--source", "stdin-lines:3"}),
		       "--source 'stdin-lines:3'"));
}

TEST_CASE("inconsistent or missing options")
{
	CHECK(contains(rejection({"run"}), "run needs the tick period: give --rate R --period P"));
	CHECK(contains(rejection({"run", "--rate", "48000"}), "--rate given without --period"));
	CHECK(contains(rejection({"run", "--period", "256"}), "--period given without --rate"));
	CHECK(contains(rejection({"run", "--rate", "48000", "--period", "256", "--resolution", "5"}),
		       "--resolution cannot be combined with --rate/--period"));
	CHECK(contains(rejection({"run", "--resolution", "5", "--resolution", "6"}), "--resolution given twice"));
	CHECK(contains(rejection({"run", "--resolution"}), "--resolution: missing value: expected a positive integer"));
	CHECK(contains(rejection({"run", "--resolution", "5", "--frobnicate"}), "unknown argument '--frobnicate'"));
	CHECK(contains(rejection({"run", "--resolution", "5", "--aloop", ""}), "--aloop '': expected a loopback card"));
	CHECK(contains(rejection({}), "missing command"));
	CHECK(contains(rejection({"start"}), "unknown command 'start'"));
	CHECK(contains(rejection({"probe", "now"}), "probe: unexpected argument 'now'"));
}

TEST_CASE("the binary: bad arguments exit 2 with the message, before touching the kernel")
{
	struct Case {
		const char *args;
		const char *message;
	} cases[] = {
		{"run --rate abc --period 256", "utimerctl: --rate 'abc': expected a positive integer (Hz), e.g. --rate 48000"},
		{"run --rate 48000 --period 256 --source udp:99999", "--source 'udp:99999'"},
		{"run --rate 48000", "--rate given without --period"},
		{"frobnicate", "unknown command 'frobnicate'"},
		{"", "missing command"},
		{"run --resolution 1000 --count -1", "--count '-1'"},
	};
	for (const auto &c : cases) {
		CAPTURE(c.args);
		auto o = run_utimerctl(c.args);
		CHECK(o.status == 2);
		CHECK(contains(o.output, c.message));
		// One message line, no "utimer id=" line: nothing was created.
		CHECK_FALSE(contains(o.output, "utimer id="));
	}
}

TEST_CASE("the binary: --help exits 0 and documents the sources")
{
	auto o = run_utimerctl("run --help");
	CHECK(o.status == 0);
	CHECK(contains(o.output, "stdin-bytes:N"));
	CHECK(contains(o.output, "udp:PORT[:N]"));
	o = run_utimerctl("--help");
	CHECK(o.status == 0);
	CHECK(contains(o.output, "probe"));
}

TEST_CASE("the binary: probe says whether and which kernel case applies")
{
	// On the build host (no /dev/snd/timer; the VM runs it on real kernels):
	// the first line says why not, the "kernel" line names the running
	// kernel and one of the cases (built-in, dkms, missing, unknown).
	auto o = run_utimerctl("probe");
	utsname u{};
	REQUIRE(uname(&u) == 0);
	CAPTURE(o.output);
	const std::string line = "\nkernel " + std::string(u.release) + ": ";
	REQUIRE(contains(o.output, line));
	const auto at = o.output.find(line) + line.size();
	const std::string kind = o.output.substr(at, o.output.find(':', at) - at);
	CHECK((kind == "built-in" || kind == "dkms" || kind == "missing" || kind == "unknown"));
	if (o.status != 0)
		CHECK(o.output.rfind("not supported (", 0) == 0);
}
