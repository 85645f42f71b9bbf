// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>

#include "paths.hpp"
#include "timer_source.hpp"

namespace utimer {

// Move-only owner of one userspace-driven timer (its fd). Closing the last
// reference to the fd destroys the timer in the kernel.
class Timer {
public:
	// CREATE with this resolution. Throws Error (probe()'s message when the
	// kernel lacks the feature; ENOSPC: "128 timers exist"; EINVAL ...).
	static Timer create(std::uint64_t resolution_ns, const Paths &paths = {});
	// CREATE with period_resolution_ns(rate, period_frames).
	static Timer for_period(unsigned rate, unsigned period_frames, const Paths &paths = {});
	// Take ownership of a timer fd received from elsewhere (SCM_RIGHTS, fork).
	static Timer adopt(int fd, unsigned id, std::uint64_t resolution_ns);

	Timer() = default;  // empty: owns nothing
	Timer(Timer &&other) noexcept;
	Timer &operator=(Timer &&other) noexcept;
	Timer(const Timer &) = delete;
	Timer &operator=(const Timer &) = delete;
	~Timer();

	explicit operator bool() const noexcept { return fd_ >= 0; }
	int fd() const noexcept { return fd_; }
	unsigned id() const noexcept { return id_; }
	std::uint64_t resolution() const noexcept { return resolution_ns_; }
	TimerId timer_id() const noexcept;        // {GLOBAL, 0, -1, 4, id}
	TimerSource source() const;               // TimerSource::utimer(id)
	std::string timer_source() const;         // "-1.4.<id>"

	// One tick: exactly one ioctl, no allocation. 0 or -errno.
	int trigger() const noexcept;
	// Give up ownership; returns the fd (caller closes it). Leaves *this empty.
	int release() noexcept;
	void reset() noexcept;  // close now

private:
	Timer(int fd, unsigned id, std::uint64_t resolution_ns) noexcept
		: fd_(fd), id_(id), resolution_ns_(resolution_ns) {}
	int fd_ = -1;
	unsigned id_ = 0;
	std::uint64_t resolution_ns_ = 0;
};

}  // namespace utimer
