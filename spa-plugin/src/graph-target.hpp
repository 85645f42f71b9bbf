// SPDX-License-Identifier: GPL-2.0-or-later
// The quantum and rate the graph asks its driver to run the next cycle at,
// from the PipeWire the node runs under, whichever headers it was built with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <spa/node/io.h>

namespace utimer::spa {

// PipeWire 0.3.68 added spa_io_clock.target_rate, target_duration and
// target_seq, carved out of the padding that 0.3.65 (Debian 12) ends the struct
// with; the struct's size and every older field's offset stayed. The core
// writes the graph's next quantum and rate there (under target_seq); until
// 1.3.81 it also copied them into clock.duration/rate before each cycle, since
// 1.3.81 (so in 1.4.2, Debian 13 and bookworm-backports) it does so only while
// the driver is not running: a running graph's quantum or rate change is seen
// only in target_*. A plugin built from 0.3.65 headers runs under such a core
// too (nothing in the package pins the PipeWire it runs under), so the fields
// are read through this one view, at their offsets, from any headers.
struct ClockTarget {
	struct spa_fraction rate;   // target_rate
	std::uint64_t duration;     // target_duration
	std::uint32_t seq;          // target_seq: odd while the core writes
};

// Where the view starts: right after next_nsec, 0.3.65's last field.
inline constexpr std::size_t clock_target_offset =
	offsetof(struct spa_io_clock, next_nsec) + sizeof(std::uint64_t);

#if UTIMER_SPA_IO_CLOCK_TARGET
static_assert(offsetof(struct spa_io_clock, target_rate) ==
	      clock_target_offset + offsetof(ClockTarget, rate));
static_assert(offsetof(struct spa_io_clock, target_duration) ==
	      clock_target_offset + offsetof(ClockTarget, duration));
static_assert(offsetof(struct spa_io_clock, target_seq) ==
	      clock_target_offset + offsetof(ClockTarget, seq));
#else
static_assert(offsetof(struct spa_io_clock, padding) == clock_target_offset,
	      "0.3.65's padding is where 0.3.68 put target_*");
#endif
static_assert(clock_target_offset + sizeof(ClockTarget) <= sizeof(struct spa_io_clock));

// The bytes of clock's target_* (no object of type ClockTarget lives there:
// read and written with memcpy and atomics on the uint32_t seq only).
inline const unsigned char *clock_target_bytes(const struct spa_io_clock *clock) noexcept
{
	return reinterpret_cast<const unsigned char *>(clock) + clock_target_offset;
}

// As a core >= 0.3.68 does: what tests (and nothing else) use to play one.
inline void write_clock_target(struct spa_io_clock *clock, std::uint64_t duration,
			       std::uint32_t rate) noexcept
{
	auto *bytes = reinterpret_cast<unsigned char *>(clock) + clock_target_offset;
	auto *seq = reinterpret_cast<std::uint32_t *>(bytes + offsetof(ClockTarget, seq));
	const struct spa_fraction fraction = {1, rate};
	__atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
	std::memcpy(bytes + offsetof(ClockTarget, rate), &fraction, sizeof(fraction));
	std::memcpy(bytes + offsetof(ClockTarget, duration), &duration, sizeof(duration));
	__atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
}

struct GraphCycle {
	std::uint64_t duration;  // frames
	std::uint32_t rate;      // Hz
};

inline constexpr GraphCycle default_cycle = {1024, 48000};  // before PipeWire sets a position

// The next cycle of the graph whose position this is, read on the data thread
// (no syscall, lock or allocation: a bounded seqlock read).
//
// Which core is running is told by the fields themselves: every core since
// 0.3.68 sets target_duration and target_rate whenever it sets a position's
// clock (reset_position() in impl-node.c writes them with duration and rate
// before any node sees the position), while 0.3.65 never writes its padding
// and the position lives in memory the core allocated zeroed (a memfd). So
// nonzero target_* means "a core that asks for the next cycle there", zero
// means 0.3.65, whose clock.duration/rate are the next cycle. This asks the
// question that matters (does this core fill the fields?) rather than a
// version number, which the host does not hand a SPA plugin anyway.
inline GraphCycle next_graph_cycle(const struct spa_io_position *position) noexcept
{
	if (!position)
		return default_cycle;
	const unsigned char *bytes = clock_target_bytes(&position->clock);
	const auto *seq = reinterpret_cast<const std::uint32_t *>(bytes + offsetof(ClockTarget, seq));
	// The core holds the seq odd for two stores; a read that overlaps them
	// is tried again, a few times at most (the data thread never spins).
	for (int attempt = 0; attempt < 4; ++attempt) {
		const std::uint32_t before = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		struct spa_fraction rate;
		std::uint64_t duration;
		std::memcpy(&rate, bytes + offsetof(ClockTarget, rate), sizeof(rate));
		std::memcpy(&duration, bytes + offsetof(ClockTarget, duration), sizeof(duration));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((before & 1) != 0 || __atomic_load_n(seq, __ATOMIC_RELAXED) != before)
			continue;
		if (duration != 0 && rate.denom != 0)
			return {duration, rate.denom};
		break;  // a 0.3.65 core: no targets
	}
	// 0.3.65, or a change still being written: this cycle's values.
	if (position->clock.duration && position->clock.rate.denom)
		return {position->clock.duration, position->clock.rate.denom};
	return default_cycle;
}

}  // namespace utimer::spa
