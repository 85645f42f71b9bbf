// SPDX-License-Identifier: GPL-2.0-or-later
// utimerctl's command line: parsed into plain values, no kernel involved, so
// every rejection is unit-testable.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace utimerctl {

// A command-line mistake. what() is the whole message, starting with
// "utimerctl: " and naming the argument and the form it accepts; exit status 2.
class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

enum class ClockName { monotonic, realtime, boottime, tai };

struct ClockSource { ClockName clock = ClockName::monotonic; };
struct PtpSource { std::string device; };       // a dynamic POSIX clock, e.g. /dev/ptp0
struct StdinLinesSource {};
struct StdinBytesSource { std::uint64_t bytes_per_trigger = 1; };
struct UdpSource {
	std::uint16_t port = 0;
	std::optional<std::uint64_t> bytes_per_trigger;  // unset: one trigger per datagram
};
using SourceSpec = std::variant<ClockSource, PtpSource, StdinLinesSource, StdinBytesSource, UdpSource>;

// The timer's resolution and the fixed rate of clock sources. With --rate and
// --period the tick period is exactly period/rate seconds (no rounding
// accumulates) while the timer's resolution is what the PCM core computes.
struct Timing {
	std::optional<unsigned> rate;           // Hz
	std::optional<unsigned> period_frames;
	std::optional<std::uint64_t> resolution_ns;
};

struct HelpCommand { std::string topic; };  // "" = general
struct VersionCommand {};
struct ProbeCommand {};
struct ListCommand {};
struct RunCommand {
	Timing timing;
	SourceSpec source = ClockSource{};
	std::optional<std::string> aloop_card;
	std::optional<std::uint64_t> count;  // stop after this many triggers
};
using Command = std::variant<HelpCommand, VersionCommand, ProbeCommand, ListCommand, RunCommand>;

// argv without the program name. Throws UsageError.
Command parse_command_line(const std::vector<std::string> &args);

// Single argument parsers (also used by utimer-jack). `option` names the
// argument in the message.
std::uint64_t parse_positive(std::string_view option, std::string_view text,
			     std::string_view unit, std::string_view example);
SourceSpec parse_source(std::string_view text);
std::string_view clock_name(ClockName clock);

std::string usage_text();            // general --help
std::string run_usage_text();        // utimerctl run --help

}  // namespace utimerctl
