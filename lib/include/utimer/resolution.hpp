// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>

namespace utimer {

// The timer resolution (ns) that snd-aloop accepts for a period of
// period_frames at rate Hz: exactly what the kernel's PCM core computes
// (snd_pcm_timer_resolution_change(), identical in 6.1 and 6.12, 64-bit
// unsigned long arithmetic). Throws Error for rate == 0 or period_frames == 0
// or when the kernel would reject the pair.
std::uint64_t period_resolution_ns(unsigned rate, unsigned period_frames);

// The formula mainline's documentation suggests: 1000000000 / rate * period.
// Differs from the above at 44.1 and 48 kHz; kept for tests and demos only.
std::uint64_t naive_resolution_ns(unsigned rate, unsigned period_frames);

}  // namespace utimer
