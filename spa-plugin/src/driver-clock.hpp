// SPDX-License-Identifier: GPL-2.0-or-later
// The driver's clock arithmetic: when each cycle starts and the next is due.
#pragma once

#include <cstdint>

namespace utimer::spa {

// What one driver wakeup puts into spa_io_clock.
struct ClockCycle {
	std::uint64_t nsec;       // CLOCK_MONOTONIC start of this cycle (as scheduled)
	std::uint64_t next_nsec;  // ... of the next one
	std::uint64_t position;   // graph frames before this cycle, at `rate`
	double rate_diff;         // reference clock / CLOCK_MONOTONIC
	bool discont;             // the timeline restarted (reference stepped)
};

// Wakeup times derive from one epoch: next = epoch + frames since the epoch
// (scaled by 1/rate_diff when following another reference) * 1e9 / rate,
// computed from the absolute count each cycle, so no per-cycle rounding adds
// up (256 frames at 48 kHz is 5333333.3 ns; truncating each cycle would lose
// 1 ns every 3 cycles). A new rate or a step of the reference starts a new
// epoch at the cycle's start. Pure arithmetic: no clock is read here.
class DriverClock {
public:
	// The next cycle starts at now_ns (first wakeup, or after following).
	void restart(std::uint64_t now_ns) noexcept
	{
		epoch_ns_ = now_ns;
		scaled_ = 0;
		rate_ = 0;
	}

	// The cycle due now: duration frames at rate Hz; rate_diff from the
	// reference tracker (1.0 for CLOCK_MONOTONIC), stepped when the tracker
	// just restarted after a step.
	ClockCycle advance(std::uint64_t duration, std::uint32_t rate, double rate_diff,
			   bool stepped) noexcept
	{
		const std::uint64_t nsec = due_ns();
		if (rate != rate_ || stepped) {
			epoch_ns_ = nsec;
			scaled_ = 0;
			rate_ = rate;
		}
		const std::uint64_t position = position_;
		scaled_ += rate_diff == 1.0 ? double(duration) : double(duration) / rate_diff;
		position_ += duration;
		return {nsec, due_ns(), position, rate_diff, stepped};
	}

	// CLOCK_MONOTONIC ns at which the next cycle is due.
	std::uint64_t due_ns() const noexcept
	{
		if (rate_ == 0)
			return epoch_ns_;
		// Whole frames exactly (split so nothing overflows), the fraction
		// that rate_diff leaves in double.
		const auto whole = std::uint64_t(scaled_);
		const std::uint64_t whole_ns = whole / rate_ * 1000000000u +
					       whole % rate_ * 1000000000u / rate_;
		const double frac_ns = (scaled_ - double(whole)) * 1e9 / rate_;
		return epoch_ns_ + whole_ns + std::uint64_t(frac_ns);
	}

private:
	std::uint64_t epoch_ns_ = 0;
	double scaled_ = 0;           // frames since the epoch, / rate_diff (exact while integral)
	std::uint32_t rate_ = 0;      // the rate of the current epoch
	std::uint64_t position_ = 0;  // graph frames ever driven
};

}  // namespace utimer::spa
