// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "paths.hpp"

namespace utimer {

struct TimerInfo {
	unsigned id = 0;                 // subdevice of global device 4
	std::string name;                // kernel's timer id, "snd-utimer<id>"
	std::uint64_t resolution_ns = 0;
	std::optional<unsigned> instances;  // open instances, where the kernel shows them
};

// The userspace-driven timers present, sorted by id: NEXT_DEVICE on the timer
// device tells whether any exists, GINFO on each id 0..127 describes them
// (NEXT_DEVICE alone steps global timers by device and would show only the
// lowest id). instances = GINFO's client count. Works on every kernel with the
// feature; throws Error (with probe()'s advice) when the device cannot be opened.
std::vector<TimerInfo> list_timers(const Paths &paths = {});
// GINFO on timer -1.4.<id>: nullopt when no such timer exists.
std::optional<TimerInfo> timer_info(unsigned id, const Paths &paths = {});
// Parses /proc/asound/timers (world-readable, no device access needed). Only
// lines that name the timer ("G4: snd-utimer3 : 20.833us (1 ticks)") are
// returned, with instances = the "  Client ..." lines under them; stock 6.12
// prints "G4:  : ..." (no name), which cannot be attributed and is skipped.
std::vector<TimerInfo> parse_proc_timers(const std::string &text);

}  // namespace utimer
