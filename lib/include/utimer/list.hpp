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

// The userspace-driven timers present: enumerated with NEXT_DEVICE + GINFO on
// the timer device (works on every kernel with the feature), completed from
// /proc/asound/timers where it names them.
std::vector<TimerInfo> list_timers(const Paths &paths = {});
// The /proc/asound/timers part alone, for fixtures.
std::vector<TimerInfo> parse_proc_timers(const std::string &text);

}  // namespace utimer
