// SPDX-License-Identifier: GPL-2.0-or-later
// Pure logic of the SPA plugin: property parsing and period accounting.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <spa/utils/dict.h>

#include <doctest/doctest.h>

#include "config.hpp"
#include "period-counter.hpp"
#include "rate-tracker.hpp"

using utimer::spa::Config;
using utimer::spa::parse_config;
using utimer::spa::PeriodCounter;
using utimer::spa::RateTracker;

namespace {

Config parse(std::vector<spa_dict_item> items)
{
	const spa_dict dict = SPA_DICT_INIT(items.data(), std::uint32_t(items.size()));
	return parse_config(&dict);
}

}  // namespace

TEST_CASE("period counter: quantum == period gives one trigger per cycle")
{
	PeriodCounter c(256);
	for (int i = 0; i < 1000; ++i)
		REQUIRE(c.advance(256) == 1);
	CHECK(c.pending() == 0);
}

TEST_CASE("period counter: other ratios carry frames so triggers*period tracks frames")
{
	struct Case { std::uint32_t period; std::vector<std::uint64_t> quanta; };
	const Case cases[] = {
		{256, {1024}}, {1024, {256}}, {441, {256}}, {256, {441}},
		{480, {128, 1024, 32, 8192, 333}}, {1, {1024}}, {8192, {1}},
	};
	for (const auto &tc : cases) {
		CAPTURE(tc.period);
		PeriodCounter c(tc.period);
		std::uint64_t frames = 0, triggers = 0;
		for (int i = 0; i < 10000; ++i) {
			const auto q = tc.quanta[i % tc.quanta.size()];
			frames += q;
			triggers += c.advance(q);
			REQUIRE(triggers * tc.period + c.pending() == frames);
			REQUIRE(c.pending() < tc.period);
		}
	}
	PeriodCounter c(1024);
	CHECK(c.advance(256) == 0);
	CHECK(c.advance(256) == 0);
	CHECK(c.advance(256) == 0);
	CHECK(c.advance(256) == 1);
	CHECK(PeriodCounter(256).advance(1024) == 4);
	CHECK(PeriodCounter().advance(1024) == 0);  // no timer: never triggers
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

TEST_CASE("config: utimer.period and utimer.aloop.card")
{
	CHECK(parse({{"utimer.period", "256"}}).period == 256);
	CHECK(parse({{"utimer.period", "8192"}}).period == 8192);
	CHECK(parse({{"utimer.period", ""}}).period == 0);
	for (const char *bad : {"0", "8193", "-1", "256 ", "0x100", "abc", "99999999999"}) {
		CAPTURE(bad);
		const Config c = parse({{"utimer.period", bad}});
		CHECK(c.period == 0);
		CHECK(c.error.find("utimer.period = \"" + std::string(bad) + "\"") != std::string::npos);
		CHECK(c.error.find("1..8192") != std::string::npos);
	}
	CHECK(parse({{"utimer.aloop.card", "Loopback"}}).aloop_card == "Loopback");
	CHECK(parse({{"utimer.rate", "44100"}}).rate == 44100);
	CHECK(parse({}).rate == 0);
	for (const char *bad : {"0", "768001", "48k", "-48000", " 48000"}) {
		CAPTURE(bad);
		const Config c = parse({{"utimer.rate", bad}});
		CHECK(c.rate == 0);
		CHECK(c.error.find("utimer.rate = \"" + std::string(bad) + "\" is not a sample rate") !=
		      std::string::npos);
	}
}

TEST_CASE("config: all mistakes reported together; a bad clock.id keeps monotonic")
{
	const Config c = parse({{"clock.id", "sundial"}, {"utimer.period", "x"}});
	CHECK(c.clock == CLOCK_MONOTONIC);
	CHECK(c.error.find("clock.id = \"sundial\" is not a clock: use one of monotonic, realtime, "
			   "tai, boottime, monotonic-raw") != std::string::npos);
	CHECK(c.error.find("utimer.period") != std::string::npos);
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
