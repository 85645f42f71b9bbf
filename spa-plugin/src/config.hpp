// SPDX-License-Identifier: GPL-2.0-or-later
// The node's configuration, parsed from its factory properties (main thread).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

struct spa_dict;

namespace utimer::spa {

// clock.id values and the clockid_t each names.
struct ClockName {
	const char *name;
	clockid_t id;
};
inline constexpr ClockName clock_names[] = {
	{"monotonic", CLOCK_MONOTONIC},
	{"realtime", CLOCK_REALTIME},
	{"tai", CLOCK_TAI},
	{"boottime", CLOCK_BOOTTIME},
	{"monotonic-raw", CLOCK_MONOTONIC_RAW},
};
inline constexpr std::uint32_t max_period = 8192;  // PipeWire's largest quantum
inline constexpr std::uint32_t max_rate = 768000;

struct Config {
	std::string clock_id = "monotonic";  // one of clock_names
	clockid_t clock = CLOCK_MONOTONIC;
	std::string clock_device;            // e.g. /dev/ptp0; overrides clock_id
	std::string clock_name;              // spa_io_clock::name
	std::uint32_t period = 0;            // frames per tick at `rate`; 0 = the graph quantum at the first Start
	// Hz the period is counted at (the loopback streams' rate); 0 = the graph
	// rate at the first Start. With both rate and period set the timer (and
	// loopback binding) exist from node creation on, before ALSA nodes listed
	// after this one open the loopback.
	std::uint32_t rate = 0;
	std::string aloop_card;              // empty: bind no loopback card
	// Published as node.link-group: the node's node.group unless node.link-group
	// is set (then PipeWire has it already). PipeWire >= 0.3.68 runs a follower
	// only when something makes it runnable: a port-less node never gets a
	// non-passive link, but a runnable node in the same link group makes it
	// runnable (context.c run_nodes), without keeping the driver awake itself.
	std::string link_group;
	// Empty when every property was valid; otherwise what was wrong and how to
	// fix it. The node then refuses to start (its state shows the error).
	std::string error;
};

Config parse_config(const spa_dict *props);

}  // namespace utimer::spa
