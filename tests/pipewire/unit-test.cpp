// Pure logic of the SPA plugin: property parsing and period accounting.
#include <cstdint>
#include <string>
#include <vector>

#include <spa/utils/dict.h>

#include <doctest/doctest.h>

#include "config.hpp"
#include "period-counter.hpp"

using utimer::spa::Config;
using utimer::spa::parse_config;
using utimer::spa::PeriodCounter;

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
