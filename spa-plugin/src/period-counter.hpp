// SPDX-License-Identifier: GPL-2.0-or-later
// Turns graph time (frames per cycle) into whole timer periods.
#pragma once

#include <cstdint>

namespace utimer::spa {

// The graph quantum and the timer period need not be equal: frames that do not
// yet fill a period are carried into the next cycle, so over any run
// triggers * period == frames - pending(), with 0 <= pending() < period.
class PeriodCounter {
public:
	constexpr PeriodCounter() = default;
	constexpr explicit PeriodCounter(std::uint32_t period) : period_(period) {}

	constexpr std::uint32_t period() const noexcept { return period_; }
	constexpr std::uint64_t pending() const noexcept { return pending_; }

	// Adds one cycle's frames; returns the number of periods they completed.
	constexpr std::uint64_t advance(std::uint64_t frames) noexcept
	{
		if (period_ == 0)
			return 0;
		pending_ += frames;
		const std::uint64_t periods = pending_ / period_;
		pending_ -= periods * period_;
		return periods;
	}

private:
	std::uint32_t period_ = 0;
	std::uint64_t pending_ = 0;
};

}  // namespace utimer::spa
