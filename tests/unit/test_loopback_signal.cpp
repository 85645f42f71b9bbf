// SPDX-License-Identifier: GPL-2.0-or-later
// tools/bench's loopback latency benchmark: the signal, the recorder's check
// and the marker bookkeeping, on streams shaped like what snd-aloop delivers.
#include <doctest/doctest.h>

#include <vector>

#include "loopback-signal.hpp"

using loopback::Frame;
using loopback::frame_of;
using loopback::index_of;
using loopback::Markers;
using loopback::StreamCheck;

namespace {

std::vector<Frame> signal(std::uint64_t first, std::uint64_t count)
{
	std::vector<Frame> v;
	for (std::uint64_t i = first; i < first + count; i++)
		v.push_back(frame_of(i));
	return v;
}

StreamCheck feed(const std::vector<Frame> &frames)
{
	StreamCheck c;
	for (Frame f : frames)
		c.feed(f);
	return c;
}

} // namespace

TEST_CASE("loopback signal: every frame names itself and none is silence")
{
	for (std::uint64_t i : {0ull, 1ull, 0x7fffull, 0x8000ull, 123456789ull, (1ull << 29) - 1}) {
		CHECK(index_of(frame_of(i)) == i);
		CHECK(frame_of(i) != Frame{0, 0});
	}
	CHECK_FALSE(index_of(Frame{0, 0}));
	CHECK_FALSE(index_of(Frame{0x7fff, 0x4000}));  // left's marker bit off
	CHECK_FALSE(index_of(Frame{0x8000, 0xc000}));  // right's marker bits wrong
}

TEST_CASE("loopback check: a whole stream after leading silence is bit-exact")
{
	auto s = std::vector<Frame>(100, Frame{0, 0});
	auto body = signal(500, 10000);
	s.insert(s.end(), body.begin(), body.end());
	auto c = feed(s);
	CHECK(c.bit_exact());
	CHECK(c.leading == 100);
	CHECK(c.frames == 10000);
	CHECK(c.silent == 0);
	CHECK(c.lost == 0);
}

TEST_CASE("loopback check: an underrun's silence and an overrun's gap are counted, not altered")
{
	auto s = signal(0, 1000);
	s.insert(s.end(), 64, Frame{0, 0});  // player ran dry
	auto rest = signal(1000, 1000);
	s.insert(s.end(), rest.begin(), rest.end());
	auto after_gap = signal(2100, 50);  // recorder lost 100 frames
	s.insert(s.end(), after_gap.begin(), after_gap.end());
	auto c = feed(s);
	CHECK(c.bit_exact());
	CHECK(c.silent == 64);
	CHECK(c.lost == 100);
	CHECK(c.frames == 2050);
}

TEST_CASE("loopback check: a changed bit, a repeated frame or resampled values are not bit-exact")
{
	auto s = signal(0, 1000);
	s[700].left ^= 1;  // still a frame of the signal (701), but out of order
	auto c = feed(s);
	CHECK_FALSE(c.bit_exact());
	// Taken for a skip at first; the frame after it shows it.
	CHECK(c.altered == 1);
	CHECK(c.first_altered == 701);

	auto r = signal(0, 100);
	auto again = signal(90, 20);  // a period played twice
	r.insert(r.end(), again.begin(), again.end());
	CHECK_FALSE(feed(r).bit_exact());

	auto m = signal(0, 100);
	m[50] = Frame{0x1234, 0x5678};  // not a frame of the signal at all
	CHECK(feed(m).altered == 1);

	CHECK_FALSE(feed(std::vector<Frame>(1000, Frame{0, 0})).bit_exact());  // nothing arrived
}

TEST_CASE("loopback markers: latency from write to arrival, lost markers counted")
{
	Markers m(4800);
	m.written(0, 256, 1'000);          // marker 0
	m.written(4700, 256, 2'000'000);   // marker 4800
	m.written(9500, 256, 3'000'000);   // marker 9600
	CHECK(m.arrived(0, 501'000) == 500'000);
	CHECK_FALSE(m.arrived(1, 600'000));  // not a marker
	// 4800 never arrives (an underrun lost it); 9600 does.
	CHECK(m.arrived(9600, 3'700'000) == 700'000);
	CHECK(m.lost() == 1);
	CHECK(m.latencies() == std::vector<std::int64_t>{500'000, 700'000});
}

TEST_CASE("loopback summary: nearest-rank order statistics")
{
	std::vector<std::int64_t> v;
	for (int i = 100; i >= 1; i--)
		v.push_back(i);
	auto s = loopback::summarize(v);
	CHECK(s.min == 1);
	CHECK(s.median == 51);
	CHECK(s.p99 == 100);
	CHECK(s.max == 100);
	CHECK(loopback::summarize({}).max == 0);
}
