// SPDX-License-Identifier: GPL-2.0-or-later
// Trigger-source counting logic of utimerctl run, without a kernel timer: the
// accumulators, the fixed-rate schedule, the dynamic-clock pacer against a
// simulated skewed clock, and the real stdin/UDP sources on a pipe and on a
// loopback socket.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cmath>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "sources.hpp"

using namespace utimerctl;

TEST_CASE("ByteAccumulator: one trigger per N bytes, remainder carried")
{
	ByteAccumulator acc(1024);
	CHECK(acc.add(1000) == 0);
	CHECK(acc.pending() == 1000);
	CHECK(acc.add(24) == 1);
	CHECK(acc.pending() == 0);
	CHECK(acc.add(5000) == 4);  // 4096 + 904 left
	CHECK(acc.pending() == 904);
	CHECK(acc.add(120) == 1);   // 1024 exactly
	CHECK(acc.add(0) == 0);
	ByteAccumulator one(1);
	CHECK(one.add(7) == 7);
	// Many small chunks add up to exactly total / N.
	ByteAccumulator acc3(3);
	std::uint64_t due = 0;
	for (int i = 0; i < 1000; ++i)
		due += acc3.add(static_cast<std::uint64_t>(i % 7));
	CHECK(due == (2997 / 3));
	// Huge counts do not overflow the carry.
	ByteAccumulator big(UINT64_MAX - 1);
	CHECK(big.add(UINT64_MAX - 2) == 0);
	CHECK(big.add(UINT64_MAX - 2) == 1);
}

TEST_CASE("LineCounter: newlines, split lines, unterminated last line")
{
	LineCounter lc;
	std::string a = "one\ntwo\nthr";
	std::string b = "ee\n\nfive";
	CHECK(lc.add({a.data(), a.size()}) == 2);
	CHECK(lc.add({b.data(), b.size()}) == 2);  // "three" and the empty line
	CHECK(lc.finish() == 1);                    // "five"
	CHECK(lc.finish() == 0);
	LineCounter clean;
	std::string c = "x\n";
	CHECK(clean.add({c.data(), c.size()}) == 1);
	CHECK(clean.finish() == 0);
}

TEST_CASE("TickSchedule: exact period/rate, no accumulated rounding")
{
	// 256 frames at 44100 Hz = 5804988.66.. ns
	TickSchedule s(256ull * 1'000'000'000, 44100);
	CHECK(s.deadline(1) == 5804988);
	CHECK(s.deadline(44100) == 256ll * 1'000'000'000);  // one second of periods: exact
	CHECK(s.ticks_due(0) == 0);
	CHECK(s.ticks_due(5804987) == 0);
	CHECK(s.ticks_due(5804988) == 1);
	CHECK(s.ticks_due(256ll * 1'000'000'000) == 44100);
	CHECK(s.ticks_due(256ll * 1'000'000'000 - 1) == 44099);
	for (std::uint64_t k = 1; k < 5000; k += 37) {
		CHECK(s.ticks_due(s.deadline(k)) == k);
		CHECK(s.ticks_due(s.deadline(k) - 1) == k - 1);
	}
	Timing t;
	t.resolution_ns = 1000;
	CHECK(TickSchedule::from_timing(t).period_ns() == 1000);
	t = {};
	t.rate = 48000;
	t.period_frames = 256;
	CHECK(TickSchedule::from_timing(t).deadline(3) == 16'000'000);
}

namespace {

// A target clock running at (1 + skew) against monotonic, with an offset.
struct SkewedClock {
	double skew;
	std::int64_t offset;
	std::int64_t at(std::int64_t mono) const
	{
		return offset + static_cast<std::int64_t>(std::llround(double(mono) * (1.0 + skew)));
	}
};

struct PacerRun {
	std::uint64_t fired = 0;
	std::uint64_t wakes = 0;
	std::int64_t max_late = 0;  // target ns after the deadline
	bool early = false;
};

PacerRun simulate(double skew, std::int64_t seconds)
{
	TickSchedule sched(256ull * 1'000'000'000, 48000);
	DynamicClockPacer pacer(sched);
	SkewedClock clock{skew, 777'000'000'123};
	std::int64_t mono = 5'000'000'000;
	std::int64_t start_target = clock.at(mono);
	auto step = pacer.start(start_target, mono);
	PacerRun r;
	const std::int64_t end = mono + seconds * 1'000'000'000;
	while (mono < end) {
		mono = step.wake_mono;  // a wake exactly on time
		std::int64_t target = clock.at(mono);
		step = pacer.step(target, mono);
		++r.wakes;
		for (std::uint64_t i = 0; i < step.due; ++i) {
			++r.fired;
			std::int64_t late = target - (start_target + sched.deadline(r.fired));
			if (late < 0)
				r.early = true;
			if (r.fired > 1000)  // after the rate estimate has settled
				r.max_late = std::max(r.max_late, late);
		}
		CHECK(step.wake_mono >= mono);
	}
	return r;
}

}  // namespace

TEST_CASE("DynamicClockPacer: follows a skewed clock, never early, no drift")
{
	for (double skew : {0.0, 500e-6, -500e-6, 0.004}) {
		CAPTURE(skew);
		auto r = simulate(skew, 20);
		CHECK_FALSE(r.early);
		// 20 monotonic seconds = 20*(1+skew) target seconds = that many periods.
		double expected = 20.0 * (1.0 + skew) * 48000.0 / 256.0;
		CHECK(std::abs(double(r.fired) - expected) <= 1.0);
		// The rate correction keeps wake-ups at about one per tick ...
		CHECK(double(r.wakes) <= 1.1 * double(r.fired));
		// ... and lateness at rounding level, not growing with skew * period.
		CHECK(r.max_late < 2000);
	}
}

TEST_CASE("DynamicClockPacer: a clock step restarts the schedule instead of bursting")
{
	TickSchedule sched(1'000'000, 1);  // 1 ms
	DynamicClockPacer pacer(sched);
	pacer.start(1'000'000'000, 0);
	auto s = pacer.step(1'000'000'000 + 5'000'000, 5'000'000);
	CHECK(s.due == 5);
	s = pacer.step(1'000'000'000 + 3600ll * 1'000'000'000, 6'000'000);  // jumped an hour
	CHECK(s.due == 0);
	CHECK(pacer.resyncs() == 1);
	s = pacer.step(1'000'000'000 + 3600ll * 1'000'000'000 + 2'000'000, 8'000'000);
	CHECK(s.due == 2);
	s = pacer.step(500'000'000, 9'000'000);  // stepped backwards
	CHECK(s.due == 0);
	CHECK(pacer.resyncs() == 2);
}

TEST_CASE("StreamSource on a pipe: lines and bytes, end of input")
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	UniqueFd rd(p[0]), wr(p[1]);
	StreamSource lines(rd.get(), std::nullopt);
	std::string text = "a\nb\nc";
	REQUIRE(write(wr.get(), text.data(), text.size()) == ssize_t(text.size()));
	CHECK(lines.on_readable() == 2);
	CHECK_FALSE(lines.finished());
	wr = UniqueFd();
	CHECK(lines.on_readable() == 1);  // "c" at EOF
	CHECK(lines.finished());

	REQUIRE(pipe(p) == 0);
	UniqueFd rd2(p[0]), wr2(p[1]);
	StreamSource bytes(rd2.get(), 100);
	std::string blob(250, 'x');
	REQUIRE(write(wr2.get(), blob.data(), blob.size()) == 250);
	CHECK(bytes.on_readable() == 2);
	REQUIRE(write(wr2.get(), blob.data(), 49) == 49);
	CHECK(bytes.on_readable() == 0);  // 99 pending
	REQUIRE(write(wr2.get(), blob.data(), 1) == 1);
	CHECK(bytes.on_readable() == 1);
	wr2 = UniqueFd();
	CHECK(bytes.on_readable() == 0);  // partial chunks never trigger
	CHECK(bytes.finished());
}

namespace {

void send_datagrams(std::uint16_t port, std::size_t size, int count)
{
	UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	REQUIRE(s);
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_port = htons(port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	std::string payload(size, 'p');
	for (int i = 0; i < count; ++i)
		REQUIRE(sendto(s.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr *>(&to),
			       sizeof to) == ssize_t(size));
}

std::uint64_t drain(UdpReceiver &rx, std::uint64_t datagrams)
{
	std::uint64_t due = 0;
	pollfd pfd{rx.fd(), POLLIN, 0};
	while (rx.datagrams() < datagrams && poll(&pfd, 1, 2000) == 1)
		due += rx.on_readable();
	return due;
}

}  // namespace

TEST_CASE("UdpReceiver on 127.0.0.1: per datagram and per N payload bytes")
{
	UdpReceiver per_datagram(0, std::nullopt);
	REQUIRE(per_datagram.bound_port() != 0);
	send_datagrams(per_datagram.bound_port(), 10, 7);
	send_datagrams(per_datagram.bound_port(), 0, 1);  // empty datagrams count too
	CHECK(drain(per_datagram, 8) == 8);
	CHECK(per_datagram.datagrams() == 8);

	UdpReceiver per_bytes(0, 1024);
	// 3000-byte datagrams are larger than the receive buffer: MSG_TRUNC still
	// reports the full payload length.
	send_datagrams(per_bytes.bound_port(), 3000, 5);  // 15000 bytes = 14 triggers + 664
	CHECK(drain(per_bytes, 5) == 14);
	send_datagrams(per_bytes.bound_port(), 360, 1);  // 664 + 360 = 1024
	CHECK(drain(per_bytes, 6) == 1);
}

TEST_CASE("UdpReceiver: a port in use is a clear error")
{
	UdpReceiver first(0, std::nullopt);
	// SO_REUSEADDR does not allow two UDP binds on Linux without SO_REUSEPORT.
	try {
		UdpReceiver second(first.bound_port(), std::nullopt);
		FAIL("second bind succeeded");
	} catch (const std::system_error &e) {
		CHECK(std::string(e.what()).find("bind UDP port " + std::to_string(first.bound_port())) !=
		      std::string::npos);
	}
}

TEST_CASE("ClockTicker: fixed rate on CLOCK_MONOTONIC via timerfd")
{
	// 2 ms period; wait about 20 periods. Only counts are checked (exactness is
	// the schedule's, tested above); the check is that ticks happen and match
	// elapsed time within the poll granularity.
	timespec t0{};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	TickSchedule sched(2'000'000, 1);
	ClockTicker ticker(ClockName::monotonic, sched);
	std::uint64_t fired = 0;
	pollfd pfd{ticker.fd(), POLLIN, 0};
	while (fired < 20) {
		REQUIRE(poll(&pfd, 1, 1000) == 1);
		fired += ticker.on_readable();
	}
	timespec t1{};
	clock_gettime(CLOCK_MONOTONIC, &t1);
	std::int64_t elapsed = (t1.tv_sec - t0.tv_sec) * 1'000'000'000ll + (t1.tv_nsec - t0.tv_nsec);
	// Never more ticks than periods elapsed.
	CHECK(std::int64_t(fired) <= elapsed / 2'000'000);
}

TEST_CASE("PolledClockTicker: CLOCK_TAI (timerfd cannot wait on it) paced via monotonic")
{
	timespec t0{};
	clock_gettime(CLOCK_TAI, &t0);
	PolledClockTicker ticker(CLOCK_TAI, "clock:tai", TickSchedule(2'000'000, 1));
	std::uint64_t fired = 0, wakes = 0;
	pollfd pfd{ticker.fd(), POLLIN, 0};
	while (fired < 20) {
		REQUIRE(poll(&pfd, 1, 1000) == 1);
		fired += ticker.on_readable();
		++wakes;
	}
	timespec t1{};
	clock_gettime(CLOCK_TAI, &t1);
	std::int64_t elapsed = (t1.tv_sec - t0.tv_sec) * 1'000'000'000ll + (t1.tv_nsec - t0.tv_nsec);
	CHECK(std::int64_t(fired) <= elapsed / 2'000'000);  // never early
	CHECK(ticker.describe() == "clock:tai");
}

TEST_CASE("PolledClockTicker: a missing PTP device is a clear error")
{
	try {
		PolledClockTicker::for_device("/nonexistent/ptp9", TickSchedule(1'000'000, 1));
		FAIL("opened a missing device");
	} catch (const std::system_error &e) {
		CHECK(std::string(e.what()).find("open /nonexistent/ptp9 (a PTP clock device") != std::string::npos);
	}
}
