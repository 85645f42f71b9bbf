// SPDX-License-Identifier: GPL-2.0-or-later
#include "sources.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <system_error>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace utimerctl {
namespace {

__extension__ typedef unsigned __int128 u128;

[[noreturn]] void throw_errno(const std::string &what, int err = errno)
{
	throw std::system_error(err, std::generic_category(), what);
}

std::int64_t now_ns(clockid_t clock)
{
	timespec ts{};
	if (clock_gettime(clock, &ts) != 0)
		throw_errno("clock_gettime");
	return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

timespec to_timespec(std::int64_t ns)
{
	return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

void arm_absolute(int tfd, std::int64_t when_ns)
{
	itimerspec its{};
	its.it_value = to_timespec(std::max<std::int64_t>(when_ns, 1));
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, nullptr) != 0)
		throw_errno("timerfd_settime");
}

void drain_timerfd(int tfd)
{
	std::uint64_t expirations;
	if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		throw_errno("read timerfd");
}

clockid_t to_clockid(ClockName c)
{
	switch (c) {
	case ClockName::monotonic: return CLOCK_MONOTONIC;
	case ClockName::realtime: return CLOCK_REALTIME;
	case ClockName::boottime: return CLOCK_BOOTTIME;
	case ClockName::tai: return CLOCK_TAI;
	}
	return CLOCK_MONOTONIC;
}

// The dynamic clock id of an open clock device (FD_TO_CLOCKID in the kernel's
// posix-timers documentation).
clockid_t fd_to_clockid(int fd)
{
	return static_cast<clockid_t>((~static_cast<unsigned>(fd) << 3) | 3u);
}

}  // namespace

ByteAccumulator::ByteAccumulator(std::uint64_t bytes_per_trigger) : per_(bytes_per_trigger)
{
	if (per_ == 0)
		throw std::invalid_argument("ByteAccumulator: bytes per trigger must be > 0");
}

std::uint64_t ByteAccumulator::add(std::uint64_t bytes)
{
	std::uint64_t due = bytes / per_;
	std::uint64_t rest = bytes % per_;
	// carry_ + rest may exceed 2^64 for huge per_: compare against the room left.
	if (rest >= per_ - carry_) {
		carry_ = rest - (per_ - carry_);
		++due;
	} else {
		carry_ += rest;
	}
	return due;
}

std::uint64_t LineCounter::add(std::span<const char> data)
{
	if (data.empty())
		return 0;
	auto n = static_cast<std::uint64_t>(std::count(data.begin(), data.end(), '\n'));
	partial_ = data.back() != '\n';
	return n;
}

std::uint64_t LineCounter::finish()
{
	bool had = partial_;
	partial_ = false;
	return had ? 1 : 0;
}

TickSchedule::TickSchedule(std::uint64_t num_ns, std::uint64_t den) : num_(num_ns), den_(den)
{
	if (num_ == 0 || den_ == 0 || num_ / den_ == 0)
		throw std::invalid_argument("TickSchedule: period must be at least 1 ns");
}

TickSchedule TickSchedule::from_timing(const Timing &t)
{
	if (t.rate && t.period_frames)
		return {std::uint64_t(*t.period_frames) * 1'000'000'000u, *t.rate};
	return {t.resolution_ns.value_or(0), 1};
}

std::int64_t TickSchedule::deadline(std::uint64_t k) const
{
	return static_cast<std::int64_t>(static_cast<u128>(k) * num_ / den_);
}

std::uint64_t TickSchedule::ticks_due(std::int64_t elapsed_ns) const
{
	if (elapsed_ns <= 0)
		return 0;
	// largest k with floor(k*num/den) <= e  <=>  k*num < (e+1)*den
	auto limit = (static_cast<u128>(elapsed_ns) + 1) * den_;
	return static_cast<std::uint64_t>((limit - 1) / num_);
}

DynamicClockPacer::Step DynamicClockPacer::start(std::int64_t target_ns, std::int64_t mono_ns)
{
	start_target_ = anchor_target_ = last_target_ = target_ns;
	anchor_mono_ = mono_ns;
	fired_ = 0;
	return {0, wake_for(target_ns, mono_ns)};
}

DynamicClockPacer::Step DynamicClockPacer::step(std::int64_t target_ns, std::int64_t mono_ns)
{
	std::uint64_t total = schedule_.ticks_due(target_ns - start_target_);
	std::uint64_t one_second = schedule_.ticks_due(1'000'000'000) + 1;
	if (target_ns < last_target_ || total > fired_ + one_second) {
		++resyncs_;
		return start(target_ns, mono_ns);
	}
	last_target_ = target_ns;
	Step s;
	if (total > fired_) {
		s.due = total - fired_;
		fired_ = total;
	}
	// Re-anchor the rate measurement now and then so that frequency changes of
	// the target clock (a servo adjusting it) are followed.
	if (target_ns - anchor_target_ > 60'000'000'000) {
		anchor_target_ = target_ns;
		anchor_mono_ = mono_ns;
	}
	s.wake_mono = wake_for(target_ns, mono_ns);
	return s;
}

std::int64_t DynamicClockPacer::wake_for(std::int64_t target_ns, std::int64_t mono_ns) const
{
	std::int64_t remaining = start_target_ + schedule_.deadline(fired_ + 1) - target_ns;
	double ratio = 1.0;  // monotonic ns per target ns
	std::int64_t span = target_ns - anchor_target_;
	if (span > 10'000'000)
		ratio = std::clamp(double(mono_ns - anchor_mono_) / double(span), 0.99, 1.01);
	// Rounded up and at least 1 ns ahead, so a wake never repeats the same instant.
	return mono_ns + std::max<std::int64_t>(static_cast<std::int64_t>(std::ceil(double(remaining) * ratio)), 1);
}

UniqueFd &UniqueFd::operator=(UniqueFd &&o) noexcept
{
	if (this != &o) {
		if (fd_ >= 0)
			::close(fd_);
		fd_ = o.release();
	}
	return *this;
}

UniqueFd::~UniqueFd()
{
	if (fd_ >= 0)
		::close(fd_);
}

StreamSource::StreamSource(int fd, std::optional<std::uint64_t> bytes_per_trigger) : fd_(fd)
{
	if (bytes_per_trigger)
		bytes_.emplace(*bytes_per_trigger);
}

std::uint64_t StreamSource::on_readable()
{
	char buf[65536];
	ssize_t n = ::read(fd_, buf, sizeof buf);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		throw_errno("read standard input");
	}
	if (n == 0) {
		finished_ = true;
		return bytes_ ? 0 : lines_.finish();
	}
	if (bytes_)
		return bytes_->add(static_cast<std::uint64_t>(n));
	return lines_.add({buf, static_cast<std::size_t>(n)});
}

std::string StreamSource::describe() const
{
	return bytes_ ? "stdin-bytes" : "stdin-lines";
}

UdpReceiver::UdpReceiver(std::uint16_t port, std::optional<std::uint64_t> bytes_per_trigger)
	: sock_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
{
	if (!sock_)
		throw_errno("socket(AF_INET, SOCK_DGRAM)");
	// No SO_REUSEADDR: for UDP it would let a second receiver share the port
	// and split the datagrams between them.
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	addr.sin_port = htons(port);
	if (::bind(sock_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
		throw_errno("bind UDP port " + std::to_string(port) +
			    " (in use by another program? pick another with --source udp:PORT)");
	socklen_t len = sizeof addr;
	if (::getsockname(sock_.get(), reinterpret_cast<sockaddr *>(&addr), &len) != 0)
		throw_errno("getsockname");
	port_ = ntohs(addr.sin_port);
	if (bytes_per_trigger)
		bytes_.emplace(*bytes_per_trigger);
}

std::uint64_t UdpReceiver::on_readable()
{
	// MSG_TRUNC makes recv return the datagram's real length whatever the buffer.
	char buf[2048];
	std::uint64_t due = 0;
	for (;;) {
		ssize_t n = ::recv(sock_.get(), buf, sizeof buf, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return due;
			if (errno == EINTR)
				continue;
			throw_errno("recv on UDP port " + std::to_string(port_));
		}
		++datagrams_;
		due += bytes_ ? bytes_->add(static_cast<std::uint64_t>(n)) : 1;
	}
}

std::string UdpReceiver::describe() const
{
	return "udp:" + std::to_string(port_);
}

ClockTicker::ClockTicker(ClockName clock, TickSchedule schedule)
	: clockid_(to_clockid(clock)), clock_(clock), schedule_(schedule),
	  tfd_(timerfd_create(clockid_, TFD_NONBLOCK | TFD_CLOEXEC))
{
	if (!tfd_)
		throw_errno("timerfd_create(" + std::string(clock_name(clock)) + ")");
	start_ = now_ns(clockid_);
	arm();
}

void ClockTicker::arm()
{
	arm_absolute(tfd_.get(), start_ + schedule_.deadline(fired_ + 1));
}

std::uint64_t ClockTicker::on_readable()
{
	drain_timerfd(tfd_.get());
	std::uint64_t total = schedule_.ticks_due(now_ns(clockid_) - start_);
	std::uint64_t due = total > fired_ ? total - fired_ : 0;
	fired_ = std::max(fired_, total);
	arm();
	return due;
}

std::string ClockTicker::describe() const
{
	return "clock:" + std::string(clock_name(clock_));
}

std::unique_ptr<PolledClockTicker> PolledClockTicker::for_device(const std::string &device,
								TickSchedule schedule)
{
	UniqueFd dev(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
	if (!dev)
		throw_errno("open " + device + " (a PTP clock device, e.g. /dev/ptp0; see ls /dev/ptp*)");
	clockid_t id = fd_to_clockid(dev.get());
	return std::make_unique<PolledClockTicker>(id, "ptp:" + device, schedule, std::move(dev));
}

PolledClockTicker::PolledClockTicker(int clockid, std::string name, TickSchedule schedule, UniqueFd device)
	: dev_(std::move(device)), clockid_(clockid), name_(std::move(name)),
	  tfd_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)), pacer_(schedule)
{
	if (!tfd_)
		throw_errno("timerfd_create(CLOCK_MONOTONIC)");
	std::int64_t target = read_target();
	arm_absolute(tfd_.get(), pacer_.start(target, now_ns(CLOCK_MONOTONIC)).wake_mono);
}

std::int64_t PolledClockTicker::read_target() const
{
	timespec ts{};
	if (clock_gettime(clockid_, &ts) != 0)
		throw_errno("clock_gettime on " + name_ + (dev_ ? " (not a PTP clock device?)" : ""));
	return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t PolledClockTicker::on_readable()
{
	drain_timerfd(tfd_.get());
	// Monotonic is read after the target clock, so the wake computed from the
	// pair errs towards late, never early.
	std::int64_t target = read_target();
	auto s = pacer_.step(target, now_ns(CLOCK_MONOTONIC));
	arm_absolute(tfd_.get(), s.wake_mono);
	return s.due;
}

std::unique_ptr<Source> make_source(const SourceSpec &spec, const Timing &timing, int stdin_fd)
{
	struct Maker {
		const Timing &timing;
		int stdin_fd;
		std::unique_ptr<Source> operator()(const ClockSource &c) const
		{
			// timerfd rejects CLOCK_TAI: wait on monotonic, like a PTP clock.
			if (c.clock == ClockName::tai)
				return std::make_unique<PolledClockTicker>(CLOCK_TAI, "clock:tai",
									   TickSchedule::from_timing(timing));
			return std::make_unique<ClockTicker>(c.clock, TickSchedule::from_timing(timing));
		}
		std::unique_ptr<Source> operator()(const PtpSource &p) const
		{
			return PolledClockTicker::for_device(p.device, TickSchedule::from_timing(timing));
		}
		std::unique_ptr<Source> operator()(const StdinLinesSource &) const
		{
			return std::make_unique<StreamSource>(stdin_fd, std::nullopt);
		}
		std::unique_ptr<Source> operator()(const StdinBytesSource &b) const
		{
			return std::make_unique<StreamSource>(stdin_fd, b.bytes_per_trigger);
		}
		std::unique_ptr<Source> operator()(const UdpSource &u) const
		{
			return std::make_unique<UdpReceiver>(u.port, u.bytes_per_trigger);
		}
	};
	return std::visit(Maker{timing, stdin_fd}, spec);
}

}  // namespace utimerctl
