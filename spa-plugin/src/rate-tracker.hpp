// SPDX-License-Identifier: GPL-2.0-or-later
// Follows a reference clock from wakeups scheduled on CLOCK_MONOTONIC.
#pragma once

#include <cmath>
#include <cstdint>

#include <spa/utils/dll.h>

namespace utimer::spa {

// The rate of a reference clock (REALTIME, TAI, MONOTONIC_RAW, a PTP clock)
// against CLOCK_MONOTONIC, from a DLL fed with the difference between the
// frames the driver produced and the reference time that elapsed meanwhile.
// The driver waits duration / rate / rate_diff monotonic seconds per cycle, so
// the graph advances at the reference clock's rate.
class RateTracker {
public:
	// A step larger than this (settimeofday, a PTP servo jump) restarts the
	// lock instead of slewing towards it for minutes.
	static constexpr double max_error_s = 0.1;

	void reset() noexcept { synced_ = false; }

	// ref_ns: the reference clock at this cycle's scheduled wakeup; duration
	// frames at rate Hz will be produced this cycle. Returns rate_diff (> 1:
	// the reference runs faster than CLOCK_MONOTONIC).
	double update(std::uint64_t ref_ns, std::uint64_t duration, std::uint32_t rate) noexcept
	{
		stepped_ = false;
		if (synced_) {
			const double elapsed = double(ref_ns - base_) * rate / 1e9;
			error_ = double(frames_) - elapsed;  // > 0: we run ahead
			if (std::fabs(error_) < max_error_s * rate)
				rate_diff_ = spa_dll_update(&dll_, error_);
			else
				stepped_ = true;
			synced_ = !stepped_;
		}
		if (!synced_) {
			spa_dll_init(&dll_);
			spa_dll_set_bw(&dll_, SPA_DLL_BW_MIN, unsigned(duration), rate);
			base_ = ref_ns;
			frames_ = 0;
			rate_diff_ = 1.0;
			error_ = 0;
			synced_ = true;
		}
		frames_ += duration;
		return rate_diff_;
	}

	// At the last update(): frames produced minus reference time elapsed, in frames.
	double error_frames() const noexcept { return error_; }
	// The last update() restarted the lock because the reference stepped: the
	// graph's timestamps are discontinuous there.
	bool stepped() const noexcept { return stepped_; }

private:
	struct spa_dll dll_ {};
	bool synced_ = false;
	bool stepped_ = false;
	std::uint64_t base_ = 0;    // reference ns when the lock (re)started
	std::uint64_t frames_ = 0;  // frames produced since base_
	double rate_diff_ = 1.0;
	double error_ = 0;
};

}  // namespace utimer::spa
