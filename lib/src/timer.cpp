// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/timer.hpp"

#include <cerrno>
#include <utility>

#include "advice.hpp"
#include "fd.hpp"
#include "utimer/abi.hpp"
#include "utimer/error.hpp"
#include "utimer/probe.hpp"
#include "utimer/resolution.hpp"

namespace utimer {

namespace {

[[noreturn]] void throw_create_error(int err, std::uint64_t resolution_ns, const Paths &paths)
{
	const std::string device = paths.timer_device().string();
	const std::string what =
		"cannot create a userspace-driven timer (resolution " + std::to_string(resolution_ns) +
		" ns) on " + device;
	switch (err) {
	case ENOTTY: {
		ProbeResult p = probe(paths);
		throw Error(err, what,
			    p.support == Support::kernel_too_old ? p.message : detail::upgrade_advice);
	}
	case ENOSPC:
		throw Error(err, what + ": all 128 userspace-driven timers are in use",
			    "Close timers you no longer need (utimerctl list shows them); a timer "
			    "lives until the last copy of its fd is closed");
	case EINVAL:
		throw Error(err, what,
			    "The kernel rejected the request: the resolution must be > 0 and the "
			    "reserved bytes zero");
	case EMFILE:
	case ENFILE:
		throw Error(err, what, "Each timer is a file descriptor: close some or raise the "
				       "limit (ulimit -n)");
	case ENOMEM:
		throw Error(err, what, "The kernel is out of memory");
	default:
		throw Error(err, what);
	}
}

}  // namespace

Timer Timer::create(std::uint64_t resolution_ns, const Paths &paths)
{
	if (resolution_ns == 0)
		throw Error(EINVAL, "cannot create a userspace-driven timer with resolution 0 ns",
			    "Pass the period time in ns, e.g. utimer::period_resolution_ns(rate, "
			    "period_frames)");
	detail::UniqueFd device = detail::open_timer_device(paths.timer_device());
	if (!device) {
		int err = errno;
		throw Error(err, "cannot open " + paths.timer_device().string(),
			    detail::open_advice(err));
	}
	abi::timer_uinfo info{};  // value-initialised: reserved[] is all zero
	info.resolution = resolution_ns;
	info.fd = -1;
	if (::ioctl(device.get(), abi::ioctl_create, &info) < 0)
		throw_create_error(errno, resolution_ns, paths);
	return Timer(info.fd, info.id, resolution_ns);
}

Timer Timer::for_period(unsigned rate, unsigned period_frames, const Paths &paths)
{
	return create(period_resolution_ns(rate, period_frames), paths);
}

Timer Timer::adopt(int fd, unsigned id, std::uint64_t resolution_ns)
{
	if (fd < 0)
		throw Error(EBADF, "cannot adopt timer fd " + std::to_string(fd),
			    "Pass the descriptor Timer::release() or SCM_RIGHTS gave you");
	if (id >= static_cast<unsigned>(abi::max_timers))
		throw Error(EINVAL, "cannot adopt timer id " + std::to_string(id),
			    "Userspace-driven timer ids are 0..127");
	return Timer(fd, id, resolution_ns);
}

Timer::Timer(Timer &&other) noexcept
	: fd_(std::exchange(other.fd_, -1)), id_(std::exchange(other.id_, 0u)),
	  resolution_ns_(std::exchange(other.resolution_ns_, 0))
{
}

Timer &Timer::operator=(Timer &&other) noexcept
{
	if (this != &other) {
		reset();
		fd_ = std::exchange(other.fd_, -1);
		id_ = std::exchange(other.id_, 0u);
		resolution_ns_ = std::exchange(other.resolution_ns_, 0);
	}
	return *this;
}

Timer::~Timer()
{
	reset();
}

TimerId Timer::timer_id() const noexcept
{
	return TimerId{1, 0, -1, abi::global_udriven, static_cast<int>(id_)};
}

TimerSource Timer::source() const
{
	return TimerSource::utimer(id_);
}

std::string Timer::timer_source() const
{
	return source().to_string();
}

int Timer::trigger() const noexcept
{
	return ::ioctl(fd_, abi::ioctl_trigger) < 0 ? -errno : 0;
}

int Timer::release() noexcept
{
	id_ = 0;
	resolution_ns_ = 0;
	return std::exchange(fd_, -1);
}

void Timer::reset() noexcept
{
	if (fd_ >= 0)
		::close(fd_);
	fd_ = -1;
	id_ = 0;
	resolution_ns_ = 0;
}

}  // namespace utimer
