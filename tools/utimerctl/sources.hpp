// SPDX-License-Identifier: GPL-2.0-or-later
// What triggers the timer in `utimerctl run`: the counting logic (pure, unit
// tested) and the descriptor-backed sources the event loop polls. Nothing here
// touches the timer itself; the loop turns "n triggers due" into n
// Timer::trigger() calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "cli.hpp"

namespace utimerctl {

// One trigger per `bytes_per_trigger` bytes; the remainder carries over.
class ByteAccumulator {
public:
	explicit ByteAccumulator(std::uint64_t bytes_per_trigger);
	std::uint64_t add(std::uint64_t bytes);  // triggers now due
	std::uint64_t pending() const { return carry_; }

private:
	std::uint64_t per_;
	std::uint64_t carry_ = 0;
};

// One trigger per '\n'; at end of input an unterminated last line counts too.
class LineCounter {
public:
	std::uint64_t add(std::span<const char> data);
	std::uint64_t finish();

private:
	bool partial_ = false;
};

// Tick k (k >= 1) is due at start + floor(k * num / den) ns: for --rate R
// --period P, num = P * 1e9 and den = R, so no rounding error accumulates.
class TickSchedule {
public:
	TickSchedule(std::uint64_t num_ns, std::uint64_t den);
	static TickSchedule from_timing(const Timing &timing);
	std::int64_t deadline(std::uint64_t k) const;          // ns after start
	std::uint64_t ticks_due(std::int64_t elapsed_ns) const;  // #k >= 1 with deadline(k) <= elapsed
	std::int64_t period_ns() const { return deadline(1); }

private:
	std::uint64_t num_;
	std::uint64_t den_;
};

// Fixed-rate ticks on a clock that can only be read (a dynamic POSIX clock such
// as a PTP hardware clock: no timerfd, no clock_nanosleep), waiting on
// CLOCK_MONOTONIC instead. Each wake reads both clocks; the remaining time to
// the next deadline on the target clock is converted to monotonic time with the
// measured rate ratio (target vs monotonic since an anchor, clamped to +-1%).
// A wake that comes early fires nothing and sleeps the (small) rest, so ticks
// are never early and errors do not accumulate. A target clock step (backwards,
// or forward by more than a second) restarts the schedule at the new time.
class DynamicClockPacer {
public:
	explicit DynamicClockPacer(TickSchedule schedule) : schedule_(schedule) {}
	struct Step {
		std::uint64_t due = 0;        // triggers to fire now
		std::int64_t wake_mono = 0;   // next CLOCK_MONOTONIC wake-up (absolute ns)
	};
	Step start(std::int64_t target_ns, std::int64_t mono_ns);
	Step step(std::int64_t target_ns, std::int64_t mono_ns);
	std::uint64_t resyncs() const { return resyncs_; }

private:
	std::int64_t wake_for(std::int64_t target_ns, std::int64_t mono_ns) const;
	TickSchedule schedule_;
	std::int64_t start_target_ = 0;
	std::uint64_t fired_ = 0;
	std::int64_t anchor_target_ = 0, anchor_mono_ = 0;
	std::int64_t last_target_ = 0;
	std::uint64_t resyncs_ = 0;
};

// Owns a file descriptor.
class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) noexcept : fd_(fd) {}
	UniqueFd(UniqueFd &&o) noexcept : fd_(o.release()) {}
	UniqueFd &operator=(UniqueFd &&o) noexcept;
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;
	~UniqueFd();
	int get() const noexcept { return fd_; }
	int release() noexcept { int f = fd_; fd_ = -1; return f; }
	explicit operator bool() const noexcept { return fd_ >= 0; }

private:
	int fd_ = -1;
};

// A pollable trigger source. The loop polls fd() for POLLIN and calls
// on_readable(), which consumes what is there and returns the triggers due.
class Source {
public:
	virtual ~Source() = default;
	virtual int fd() const = 0;
	virtual std::uint64_t on_readable() = 0;
	bool finished() const { return finished_; }  // end of input: stop
	virtual std::string describe() const = 0;

protected:
	bool finished_ = false;
};

// Reads `fd` (not owned; standard input in utimerctl) counting lines or bytes.
class StreamSource : public Source {
public:
	StreamSource(int fd, std::optional<std::uint64_t> bytes_per_trigger);  // unset: lines
	int fd() const override { return fd_; }
	std::uint64_t on_readable() override;
	std::string describe() const override;

private:
	int fd_;
	std::optional<ByteAccumulator> bytes_;
	LineCounter lines_;
};

// Datagrams on a UDP port (IPv4, any address). Port 0 binds an ephemeral port
// (tests); bound_port() tells which.
class UdpReceiver : public Source {
public:
	UdpReceiver(std::uint16_t port, std::optional<std::uint64_t> bytes_per_trigger);
	int fd() const override { return sock_.get(); }
	std::uint64_t on_readable() override;
	std::string describe() const override;
	std::uint16_t bound_port() const { return port_; }
	std::uint64_t datagrams() const { return datagrams_; }

private:
	UniqueFd sock_;
	std::uint16_t port_ = 0;
	std::optional<ByteAccumulator> bytes_;
	std::uint64_t datagrams_ = 0;
};

// Fixed rate on a clock timerfd supports (monotonic, realtime, boottime):
// absolute deadlines, re-armed per tick.
class ClockTicker : public Source {
public:
	ClockTicker(ClockName clock, TickSchedule schedule);
	int fd() const override { return tfd_.get(); }
	std::uint64_t on_readable() override;
	std::string describe() const override;

private:
	void arm();
	int clockid_;
	ClockName clock_;
	TickSchedule schedule_;
	UniqueFd tfd_;
	std::int64_t start_ = 0;
	std::uint64_t fired_ = 0;
};

// Fixed rate on a clock timerfd cannot wait on, via DynamicClockPacer: a PTP
// clock device (dynamic POSIX clock) or CLOCK_TAI.
class PolledClockTicker : public Source {
public:
	static std::unique_ptr<PolledClockTicker> for_device(const std::string &device, TickSchedule schedule);
	PolledClockTicker(int clockid, std::string name, TickSchedule schedule, UniqueFd device = {});
	int fd() const override { return tfd_.get(); }
	std::uint64_t on_readable() override;
	std::string describe() const override { return name_; }

private:
	std::int64_t read_target() const;
	UniqueFd dev_;  // keeps a dynamic clock's id valid
	int clockid_;
	std::string name_;
	UniqueFd tfd_;
	DynamicClockPacer pacer_;
};

std::unique_ptr<Source> make_source(const SourceSpec &spec, const Timing &timing, int stdin_fd);

}  // namespace utimerctl
