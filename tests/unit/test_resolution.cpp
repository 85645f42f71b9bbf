// SPDX-License-Identifier: GPL-2.0-or-later
// period_resolution_ns() must equal the kernel's PCM period time bit for bit.
#include <doctest/doctest.h>

#include <set>
#include <utimer/error.hpp>
#include <utimer/resolution.hpp>

namespace {

const unsigned rates[] = {8000,  11025, 16000,  22050,  32000,  44100, 48000,
			  88200, 96000, 176400, 192000, 352800, 384000};

std::set<unsigned> periods()
{
	std::set<unsigned> p;
	for (unsigned n = 16; n <= 65536; n *= 2)
		p.insert(n);
	for (unsigned n = 441; n <= 65536; n += 441)
		p.insert(n);
	for (unsigned n = 480; n <= 65536; n += 480)
		p.insert(n);
	return p;
}

// Independent model: the kernel reduces 1e9/rate and fsize/rate by their gcds
// and halves mult only if mult*fsize overflows 64 bits. With rate and period
// below 2^32, mult <= 1e9 and fsize < 2^32, so mult*fsize < 2^62 never
// overflows, and floor((1e9/g1)(p/g2) / (rate/(g1 g2))) is the exact floor of
// 1e9 * p / rate. Computed in 128 bits here, without any of the gcd steps.
__extension__ typedef unsigned __int128 u128;

std::uint64_t floor_period_ns(unsigned rate, unsigned period)
{
	u128 ns = static_cast<u128>(1000000000u) * period;
	return static_cast<std::uint64_t>(ns / rate);
}

}  // namespace

TEST_SUITE("resolution")
{
	TEST_CASE("hand-checked values")
	{
		// 256 frames at 48 kHz = 5.3333... ms; 441 at 44.1 kHz = exactly 10 ms;
		// 1024 at 48 kHz = 21.3333... ms; 480 at 48 kHz = exactly 10 ms;
		// 64 at 8 kHz = 8 ms; 1 frame at 44.1 kHz = 22675.73 ns.
		CHECK(utimer::period_resolution_ns(48000, 256) == 5333333);
		CHECK(utimer::period_resolution_ns(44100, 441) == 10000000);
		CHECK(utimer::period_resolution_ns(48000, 1024) == 21333333);
		CHECK(utimer::period_resolution_ns(48000, 480) == 10000000);
		CHECK(utimer::period_resolution_ns(8000, 64) == 8000000);
		CHECK(utimer::period_resolution_ns(44100, 1) == 22675);
		// 1e9/48000 truncates to 20833 before multiplying: 20833 * 256.
		CHECK(utimer::naive_resolution_ns(48000, 256) == 5333248);
		// 1e9/44100 = 22675 (truncated) * 441.
		CHECK(utimer::naive_resolution_ns(44100, 441) == 9999675);
		CHECK(utimer::naive_resolution_ns(8000, 64) == 8000000);
	}

	TEST_CASE("every common rate x period matches the independent model")
	{
		const std::set<unsigned> all_periods = periods();
		unsigned checked = 0, naive_differs = 0;
		for (unsigned rate : rates) {
			unsigned differs_here = 0;
			for (unsigned period : all_periods) {
				CAPTURE(rate);
				CAPTURE(period);
				const std::uint64_t kernel = utimer::period_resolution_ns(rate, period);
				const std::uint64_t naive = utimer::naive_resolution_ns(rate, period);
				REQUIRE(kernel == floor_period_ns(rate, period));
				// The naive formula truncates ns-per-frame first. It is right
				// exactly when a frame is a whole number of ns; at every rate
				// where it is not, even 16 frames accumulate >= 1 ns of error.
				const bool whole_ns_frame = 1000000000u % rate == 0;
				CHECK((naive == kernel) == whole_ns_frame);
				CHECK(naive <= kernel);
				++checked;
				if (naive != kernel)
					++differs_here;
			}
			naive_differs += differs_here;
			MESSAGE("rate " << rate << ": naive formula differs for " << differs_here << " of "
					<< all_periods.size() << " periods");
		}
		MESSAGE(checked << " pairs checked, naive differs in " << naive_differs);
		CHECK(checked == 13 * all_periods.size());
	}

	TEST_CASE("pseudo-random pairs over the whole unsigned range")
	{
		std::uint64_t state = 0x9e3779b97f4a7c15u;
		auto next = [&state] {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			return static_cast<unsigned>(state >> 32);
		};
		for (int i = 0; i < 100000; ++i) {
			unsigned rate = next() | 1u, period = next() | 1u;
			CAPTURE(rate);
			CAPTURE(period);
			REQUIRE(utimer::period_resolution_ns(rate, period) == floor_period_ns(rate, period));
		}
		CHECK(utimer::period_resolution_ns(1, 0xffffffffu) == 4294967295000000000u);
		CHECK(utimer::period_resolution_ns(0xffffffffu, 1) == 0);
	}

	TEST_CASE("zero rate or period is an error that says so")
	{
		CHECK_THROWS_WITH_AS(utimer::period_resolution_ns(0, 256),
				     doctest::Contains("rate 0 Hz, period 256 frames"), utimer::Error);
		CHECK_THROWS_WITH_AS(utimer::period_resolution_ns(48000, 0),
				     doctest::Contains("must both be > 0"), utimer::Error);
		CHECK_THROWS_AS(utimer::naive_resolution_ns(0, 1), utimer::Error);
	}
}
