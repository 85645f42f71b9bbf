// SPDX-License-Identifier: GPL-2.0-or-later
// Pure logic of the SPA plugin: property parsing, period accounting, the
// driver's clock arithmetic (with a fake graph position), the next cycle as
// cores of every version ask for it, and the reference DLL.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <spa/utils/dict.h>

#include <doctest/doctest.h>

#include "config.hpp"
#include "driver-clock.hpp"
#include "core-position.hpp"
#include "graph-target.hpp"
#include "period-counter.hpp"
#include "rate-tracker.hpp"

using utimer::spa::ClockCycle;
using utimer::spa::Config;
using utimer::spa::DriverClock;
using utimer::spa::next_graph_cycle;
using utimer::spa::parse_config;
using utimer::spa::PeriodCounter;
using utimer::spa::RateTracker;

namespace {

Config parse(std::vector<spa_dict_item> items)
{
	const spa_dict dict = SPA_DICT_INIT(items.data(), std::uint32_t(items.size()));
	return parse_config(&dict);
}

// A position as a core sets it: this cycle's duration/rate (a core >= 0.3.68
// adds the next cycle's target_*: utimer::test::set_target).
spa_io_position position(std::uint64_t duration, std::uint32_t rate)
{
	spa_io_position p{};
	p.clock.duration = duration;
	p.clock.rate = SPA_FRACTION(1, rate);
	return p;
}

}  // namespace

TEST_CASE("period counter: quantum == period gives one trigger per cycle")
{
	PeriodCounter c(256, 48000);
	for (int i = 0; i < 1000; ++i)
		REQUIRE(c.advance(256, 48000) == 1);
	CHECK(c.pending() == 0);
}

TEST_CASE("period counter: any quantum sequence: triggers*period tracks frames exactly")
{
	struct Case { std::uint32_t period; std::vector<std::uint64_t> quanta; };
	const Case cases[] = {
		{256, {1024}}, {1024, {256}}, {441, {256}}, {256, {441}},
		{480, {128, 1024, 32, 8192, 333}}, {1, {1024}}, {8192, {1}},
		// a quantum change with the timer kept: 256 -> 64 -> 1024 -> 256
		{256, {256, 256, 64, 64, 64, 1024, 256}},
	};
	for (const auto &tc : cases) {
		CAPTURE(tc.period);
		PeriodCounter c(tc.period, 48000);
		std::uint64_t frames = 0, triggers = 0;
		for (int i = 0; i < 10000; ++i) {
			const auto q = tc.quanta[i % tc.quanta.size()];
			frames += q;
			triggers += c.advance(q, 48000);
			REQUIRE(triggers * tc.period * 48000 + c.pending() == frames * 48000);
			REQUIRE(c.pending() < tc.period * 48000ull);
		}
	}
	PeriodCounter c(1024, 48000);
	CHECK(c.advance(256, 48000) == 0);
	CHECK(c.advance(256, 48000) == 0);
	CHECK(c.advance(256, 48000) == 0);
	CHECK(c.advance(256, 48000) == 1);
	CHECK(PeriodCounter(256, 48000).advance(1024, 48000) == 4);
	CHECK(PeriodCounter().advance(1024, 48000) == 0);  // no timer: never triggers
}

TEST_CASE("period counter: a graph at another rate ticks by graph time")
{
	// Timer: 256 frames at 48 kHz (5.333 ms). Graph at 96 kHz: 512 graph
	// frames per period; at 44.1 kHz: 235.2 graph frames per period.
	PeriodCounter c(256, 48000);
	std::uint64_t triggers = 0;
	for (int i = 0; i < 1000; ++i)
		triggers += c.advance(512, 96000);
	CHECK(triggers == 1000);
	CHECK(c.pending() == 0);
	triggers = 0;
	std::uint64_t frames = 0;
	for (int i = 0; i < 44100 / 441 * 10; ++i) {  // 10 s at 44.1 kHz
		triggers += c.advance(441, 44100);
		frames += 441;
	}
	CHECK(frames == 441000);
	CHECK(triggers * 256 * 44100 + c.pending() == frames * 48000);
	CHECK(triggers == 1875);  // 10 s of 5.333 ms periods
	// Back to 48 kHz mid-period: the remainder is rescaled, not lost or doubled.
	PeriodCounter d(256, 48000);
	CHECK(d.advance(128, 48000) == 0);      // half a period
	CHECK(d.advance(128, 96000) == 0);      // a quarter more, at 96 kHz
	CHECK(d.advance(64, 48000) == 1);       // and the last quarter
	CHECK(d.pending() == 0);
}

TEST_CASE("driver clock: next_nsec from the absolute position, no per-cycle drift")
{
	// 256 frames at 48 kHz = 5333333.33 ns: truncating each cycle would be
	// 1 ns early every 3 cycles; from the epoch it is exact at every cycle.
	DriverClock clock;
	const std::uint64_t t0 = 1'000'000'000;
	clock.restart(t0);
	ClockCycle c{};
	for (std::uint64_t n = 1; n <= 900000; ++n) {  // 80 minutes of cycles
		c = clock.advance(256, 48000, 1.0, false);
		REQUIRE(c.next_nsec == t0 + n * 256 * 1'000'000'000ull / 48000);
		REQUIRE(!c.discont);
	}
	CHECK(c.position == 899999ull * 256);
	CHECK(c.nsec == t0 + 899999ull * 256 * 1'000'000'000ull / 48000);
	CHECK(c.rate_diff == 1.0);
}

TEST_CASE("driver clock: a quantum change keeps the timeline; a rate change starts an epoch")
{
	DriverClock clock;
	clock.restart(0);
	ClockCycle c = clock.advance(256, 48000, 1.0, false);
	CHECK(c.nsec == 0);
	CHECK(c.next_nsec == 5333333);
	c = clock.advance(64, 48000, 1.0, false);   // quantum 256 -> 64
	CHECK(c.nsec == 5333333);
	CHECK(c.position == 256);
	CHECK(c.next_nsec == 320ull * 1'000'000'000 / 48000);
	c = clock.advance(441, 44100, 1.0, false);  // rate change: epoch at this cycle
	CHECK(c.nsec == 320ull * 1'000'000'000 / 48000);
	CHECK(c.position == 320);
	CHECK(c.next_nsec == c.nsec + 10'000'000);
	for (int i = 0; i < 99; ++i)
		c = clock.advance(441, 44100, 1.0, false);
	CHECK(c.next_nsec == 320ull * 1'000'000'000 / 48000 + 1'000'000'000);
}

TEST_CASE("driver clock: following a reference (rate_diff) and its steps")
{
	DriverClock clock;
	clock.restart(0);
	// The reference runs 100 ppm fast: cycles come 100 ppm sooner.
	ClockCycle c{};
	for (int i = 0; i < 1875; ++i)  // 10 s
		c = clock.advance(256, 48000, 1.0001, false);
	const double expect = 1875 * 256 * 1e9 / 48000 / 1.0001;
	CHECK(std::fabs(double(c.next_nsec) - expect) < 2.0);
	// A step: this cycle starts a new timeline and says so.
	const std::uint64_t due = clock.due_ns();
	c = clock.advance(256, 48000, 1.0, true);
	CHECK(c.discont);
	CHECK(c.nsec == due);
	CHECK(c.next_nsec == due + 5333333);
	c = clock.advance(256, 48000, 1.0, false);
	CHECK(!c.discont);
}

TEST_CASE("config: defaults")
{
	const Config c = parse_config(nullptr);
	CHECK(c.error.empty());
	CHECK(c.clock == CLOCK_MONOTONIC);
	CHECK(c.clock_id == "monotonic");
	CHECK(c.clock_name == "api.utimer.monotonic");
	CHECK(c.period == 0);
	CHECK(c.aloop_card.empty());
}

TEST_CASE("config: every clock.id maps to its clock")
{
	CHECK(parse({{"clock.id", "realtime"}}).clock == CLOCK_REALTIME);
	CHECK(parse({{"clock.id", "tai"}}).clock == CLOCK_TAI);
	CHECK(parse({{"clock.id", "boottime"}}).clock == CLOCK_BOOTTIME);
	CHECK(parse({{"clock.id", "monotonic-raw"}}).clock == CLOCK_MONOTONIC_RAW);
	CHECK(parse({{"clock.id", "monotonic-raw"}}).clock_name == "api.utimer.monotonic-raw");
	CHECK(parse({{"clock.id", "tai"}, {"clock.name", "my.clock"}}).clock_name == "my.clock");
}

TEST_CASE("config: node.link-group published from node.group unless set")
{
	CHECK(parse_config(nullptr).link_group.empty());
	CHECK(parse({{"node.group", "utimer.vm"}}).link_group == "utimer.vm");
	CHECK(parse({{"node.group", "[ a b ]"}}).link_group == "[ a b ]");
	CHECK(parse({{"node.group", "utimer.vm"}, {"node.link-group", "mine"}}).link_group.empty());
	CHECK(parse({{"node.group", ""}}).link_group.empty());
}

TEST_CASE("config: clock.device")
{
	const Config c = parse({{"clock.device", "/dev/ptp0"}});
	CHECK(c.error.empty());
	CHECK(c.clock_device == "/dev/ptp0");
	CHECK(c.clock_name == "api.utimer.ptp0");
	CHECK(parse({{"clock.device", "ptp0"}}).error.find("not a device path") != std::string::npos);
	CHECK(parse({{"clock.device", "/dev/ptp0"}, {"clock.id", "tai"}}).error.find("keep only one") !=
	      std::string::npos);
}

TEST_CASE("config: api.utimer.period, api.utimer.rate and api.utimer.aloop.card")
{
	CHECK(parse({{"api.utimer.period", "256"}}).period == 256);
	CHECK(parse({{"api.utimer.period", "8192"}}).period == 8192);
	CHECK(parse({{"api.utimer.period", ""}}).period == 0);
	for (const char *bad : {"0", "8193", "-1", "256 ", "0x100", "abc", "99999999999"}) {
		CAPTURE(bad);
		const Config c = parse({{"api.utimer.period", bad}});
		CHECK(c.period == 0);
		CHECK(c.error.find("api.utimer.period = \"" + std::string(bad) + "\"") != std::string::npos);
		CHECK(c.error.find("1..8192") != std::string::npos);
	}
	CHECK(parse({{"api.utimer.aloop.card", "Loopback"}}).aloop_card == "Loopback");
	CHECK(parse({{"api.utimer.rate", "44100"}}).rate == 44100);
	CHECK(parse({}).rate == 0);
	for (const char *bad : {"0", "768001", "48k", "-48000", " 48000"}) {
		CAPTURE(bad);
		const Config c = parse({{"api.utimer.rate", bad}});
		CHECK(c.rate == 0);
		CHECK(c.error.find("api.utimer.rate = \"" + std::string(bad) + "\" is not a sample rate") !=
		      std::string::npos);
	}
}

TEST_CASE("config: all mistakes reported together; a bad clock.id keeps monotonic")
{
	const Config c = parse({{"clock.id", "sundial"}, {"api.utimer.period", "x"}});
	CHECK(c.clock == CLOCK_MONOTONIC);
	CHECK(c.error.find("clock.id = \"sundial\" is not a clock: use one of monotonic, realtime, "
			   "tai, boottime, monotonic-raw") != std::string::npos);
	CHECK(c.error.find("api.utimer.period") != std::string::npos);
}

namespace {

// A driver paced by RateTracker against a simulated reference clock running
// at (1 + ppm) x CLOCK_MONOTONIC with wakeup jitter; returns the tracker's
// last rate_diff and its final error in frames.
struct Run {
	double rate_diff;
	double error_frames;
};
Run follow(double ppm, int cycles, std::uint64_t step_at = 0, double step_s = 0)
{
	RateTracker tracker;
	constexpr std::uint32_t rate = 48000, quantum = 256;
	double mono = 1e9, step = 0;
	double rate_diff = 1.0;
	std::uint64_t ref = 0;
	for (int i = 0; i < cycles; ++i) {
		if (step_at && std::uint64_t(i) == step_at)
			step = step_s * 1e9;
		const double jitter = ((i * 7919) % 200 - 100) * 100.0;  // +-10 us, deterministic
		ref = std::uint64_t(5e9 + mono * (1 + ppm * 1e-6) + step + jitter);
		rate_diff = tracker.update(ref, quantum, rate);
		mono += quantum * 1e9 / rate / rate_diff;
	}
	return {rate_diff, tracker.error_frames()};
}

}  // namespace

TEST_CASE("rate tracker: locks to a reference running at another rate")
{
	for (const double ppm : {0.0, 50.0, -200.0, 500.0}) {
		CAPTURE(ppm);
		const Run r = follow(ppm, 40000);  // ~213 s of 256-frame cycles
		CHECK(std::fabs(r.rate_diff - (1 + ppm * 1e-6)) < 2e-6);
		CHECK(std::fabs(r.error_frames) < 2.0);
	}
}

TEST_CASE("rate tracker: a step of the reference restarts the lock")
{
	// 0.5 s forward after 1000 cycles is far beyond max_error_s: 50 cycles
	// later the lock has restarted from the new time instead of slewing 24000
	// frames, and later it is locked again at the reference's rate.
	const Run soon = follow(0.0, 1050, 1000, 0.5);
	CHECK(std::fabs(soon.error_frames) < 2.0);
	const Run r = follow(100.0, 30000, 1000, 0.5);
	CHECK(std::fabs(r.rate_diff - 1.0001) < 2e-6);
	CHECK(std::fabs(r.error_frames) < 2.0);
	// A small step (1 ms) is slewed out, not restarted.
	const Run small_soon = follow(0.0, 1050, 1000, 0.001);
	CHECK(std::fabs(small_soon.error_frames) > 40.0);
	const Run small = follow(0.0, 30000, 1000, 0.001);
	CHECK(std::fabs(small.rate_diff - 1.0) < 2e-6);
	CHECK(std::fabs(small.error_frames) < 2.0);
}

TEST_CASE("next cycle: a core >= 0.3.68 asks in clock.target_*, 0.3.65 in duration/rate")
{
	// PipeWire 1.4.2, running graph: the next quantum and rate are only in
	// target_* (the core does not touch duration/rate while the driver runs).
	auto p = position(256, 48000);
	utimer::test::set_target(p, 1024, 96000);
	auto next = next_graph_cycle(&p);
	CHECK(next.duration == 1024);
	CHECK(next.rate == 96000);
	// A core that copies target_* into duration/rate (0.3.68 .. 1.2): the same.
	p.clock.duration = 1024;
	p.clock.rate = SPA_FRACTION(1, 96000);
	next = next_graph_cycle(&p);
	CHECK(next.duration == 1024);
	CHECK(next.rate == 96000);

	// PipeWire 0.3.65: target_* are padding it leaves zero.
	p = position(64, 44100);
	next = next_graph_cycle(&p);
	CHECK(next.duration == 64);
	CHECK(next.rate == 44100);
	// Only one of the two set is no target either.
	utimer::test::set_target(p, 0, 96000);
	CHECK(next_graph_cycle(&p).duration == 64);
	utimer::test::set_target(p, 512, 0);
	CHECK(next_graph_cycle(&p).rate == 44100);

	// The core is writing (seq odd): this cycle's values, not a torn pair.
	p = position(256, 48000);
	utimer::test::set_target(p, 128, 48000);
	std::uint32_t seq;
	auto *bytes = reinterpret_cast<unsigned char *>(&p.clock) + utimer::spa::clock_target_offset +
		      offsetof(utimer::spa::ClockTarget, seq);
	std::memcpy(&seq, bytes, sizeof(seq));
	CHECK(seq % 2 == 0);
	++seq;
	std::memcpy(bytes, &seq, sizeof(seq));
	CHECK(next_graph_cycle(&p).duration == 256);
	++seq;
	std::memcpy(bytes, &seq, sizeof(seq));
	CHECK(next_graph_cycle(&p).duration == 128);

	// No position yet, or an empty one: PipeWire's defaults.
	CHECK(next_graph_cycle(nullptr).duration == 1024);
	CHECK(next_graph_cycle(nullptr).rate == 48000);
	p = spa_io_position{};
	CHECK(next_graph_cycle(&p).duration == 1024);
}
