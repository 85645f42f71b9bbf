// SPDX-License-Identifier: GPL-2.0-or-later
// What a PipeWire core >= 0.3.68 writes into a position to ask the driver for
// its next cycle, for the plugin's unit and factory tests.
#pragma once

#include <cstdint>

#include <spa/node/io.h>

#include "graph-target.hpp"

namespace utimer::test {

// clock.target_*, as the core writes them: through the real fields where the
// headers have them (so the plugin's view is checked against them), else
// through the plugin's view of 0.3.65's padding.
inline void set_target(spa_io_position &p, std::uint64_t duration, std::uint32_t rate)
{
#if UTIMER_SPA_IO_CLOCK_TARGET
	p.clock.target_seq++;
	p.clock.target_duration = duration;
	p.clock.target_rate = SPA_FRACTION(1, rate);
	p.clock.target_seq++;
#else
	utimer::spa::write_clock_target(&p.clock, duration, rate);
#endif
}

}  // namespace utimer::test
