// SPDX-License-Identifier: GPL-2.0-or-later
// Turns graph time (frames per cycle at the graph rate) into whole timer periods.
#pragma once

#include <cstdint>

namespace utimer::spa {

// The timer period is counted in frames at the timer's rate (the rate of the
// loopback streams it clocks); the graph may run at another rate and any
// quantum. Time is kept exactly, in units of 1/graph_rate timer frames: a cycle
// of d graph frames is d * timer_rate units, a period is period * graph_rate.
// So at any quantum, triggers * period * graph_rate + pending() ==
// frames * timer_rate, with 0 <= pending() < period * graph_rate. When the
// graph rate changes the carried remainder is rescaled (rounded down: less
// than one timer frame lost per change).
class PeriodCounter {
public:
	constexpr PeriodCounter() = default;
	constexpr PeriodCounter(std::uint32_t period, std::uint32_t timer_rate)
		: period_(period), timer_rate_(timer_rate) {}

	constexpr std::uint32_t period() const noexcept { return period_; }
	constexpr std::uint32_t timer_rate() const noexcept { return timer_rate_; }
	// In units of 1 / graph_rate() timer frames.
	constexpr std::uint64_t pending() const noexcept { return pending_; }
	constexpr std::uint32_t graph_rate() const noexcept { return graph_rate_; }

	// Adds one cycle of `frames` at `graph_rate` Hz; returns the number of
	// timer periods it completed.
	constexpr std::uint64_t advance(std::uint64_t frames, std::uint32_t graph_rate) noexcept
	{
		if (period_ == 0 || graph_rate == 0)
			return 0;
		if (graph_rate != graph_rate_) {
			if (graph_rate_ != 0)
				pending_ = pending_ * graph_rate / graph_rate_;
			graph_rate_ = graph_rate;
		}
		const std::uint64_t unit = std::uint64_t(period_) * graph_rate;
		pending_ += frames * timer_rate_;
		const std::uint64_t periods = pending_ / unit;
		pending_ -= periods * unit;
		return periods;
	}

private:
	std::uint32_t period_ = 0;
	std::uint32_t timer_rate_ = 0;
	std::uint32_t graph_rate_ = 0;
	std::uint64_t pending_ = 0;
};

}  // namespace utimer::spa
