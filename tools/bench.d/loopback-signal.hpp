// SPDX-License-Identifier: GPL-2.0-or-later
// The loopback latency benchmark's signal and its checks, apart from ALSA so
// that the unit suite can run them (tests/unit/test_loopback_signal.cpp).
//
// Every frame names its place in the stream: frame i of the player's signal is
// (i & 0x7fff | 0x8000, (i >> 15) & 0x3fff | 0x4000) as S16_LE stereo. It is
// never silence, and any frame that arrives says which frame it was, so the
// recorder tells a bit-exact frame from an altered one, a lost stretch from
// inserted silence, and every frame can serve as a latency marker.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace loopback {

struct Frame {
	std::uint16_t left, right;
	bool operator==(const Frame &) const = default;
};

// Indices wrap after 2^29 frames (3.1 hours at 48 kHz).
constexpr std::uint64_t index_bits = 29;

constexpr Frame frame_of(std::uint64_t i)
{
	return {std::uint16_t((i & 0x7fff) | 0x8000), std::uint16_t(((i >> 15) & 0x3fff) | 0x4000)};
}

// The index a frame names, or nothing when it is not a frame of the signal.
constexpr std::optional<std::uint64_t> index_of(Frame f)
{
	if (!(f.left & 0x8000) || (f.right & 0xc000) != 0x4000)
		return std::nullopt;
	return std::uint64_t(f.left & 0x7fff) | (std::uint64_t(f.right & 0x3fff) << 15);
}

// What the recorder got, frame by frame, against the signal.
struct StreamCheck {
	std::uint64_t frames = 0;     // frames of the signal that arrived
	std::uint64_t leading = 0;    // silence before the first one (the stream starting)
	std::uint64_t silent = 0;     // silence after it (the player ran dry: an underrun)
	std::uint64_t lost = 0;       // frames skipped forward (the recorder overran)
	std::uint64_t altered = 0;    // frames that are not the signal, or out of order
	std::optional<std::uint64_t> first_altered;  // position in the recording

	// Feeds one received frame; returns its index when it is a frame of the
	// signal in its place (the caller then treats it as a possible marker).
	std::optional<std::uint64_t> feed(Frame f)
	{
		const std::uint64_t position = leading + frames + silent + altered;
		if (f == Frame{0, 0}) {
			(frames ? silent : leading)++;
			return std::nullopt;
		}
		auto i = index_of(f);
		if (!i || (frames && *i < next_)) {
			if (!first_altered)
				first_altered = position;
			altered++;
			return std::nullopt;
		}
		if (frames)
			lost += *i - next_;
		frames++;
		next_ = *i + 1;
		return i;
	}

	// Bit-exact: frames arrived, and every one is the frame it names, in order.
	bool bit_exact() const { return frames > 0 && altered == 0; }

private:
	std::uint64_t next_ = 0;
};

// Write times of markers (every `every`-th frame) until they arrive.
class Markers {
public:
	explicit Markers(std::uint64_t every) : every_(every) {}

	// frames [first, first + count) were written at time t_ns.
	void written(std::uint64_t first, std::uint64_t count, std::int64_t t_ns)
	{
		for (std::uint64_t m = (first + every_ - 1) / every_ * every_; m < first + count; m += every_)
			pending_.push_back({m, t_ns});
	}

	// Frame i arrived at time t_ns: a marker's latency in ns, if it is one.
	// Markers written before i that never arrived (an underrun or overrun
	// lost them) are counted as lost.
	std::optional<std::int64_t> arrived(std::uint64_t i, std::int64_t t_ns)
	{
		while (!pending_.empty() && pending_.front().index < i) {
			pending_.pop_front();
			lost_++;
		}
		if (pending_.empty() || pending_.front().index != i)
			return std::nullopt;
		std::int64_t latency = t_ns - pending_.front().t_ns;
		pending_.pop_front();
		latencies_.push_back(latency);
		return latency;
	}

	const std::vector<std::int64_t> &latencies() const { return latencies_; }
	std::uint64_t lost() const { return lost_; }

private:
	struct Pending {
		std::uint64_t index;
		std::int64_t t_ns;
	};
	std::uint64_t every_;
	std::deque<Pending> pending_;
	std::vector<std::int64_t> latencies_;
	std::uint64_t lost_ = 0;
};

struct Summary {
	std::int64_t min = 0, median = 0, p99 = 0, max = 0;
};

// Order statistics (nearest rank); all zero for no samples.
inline Summary summarize(std::vector<std::int64_t> v)
{
	if (v.empty())
		return {};
	std::sort(v.begin(), v.end());
	auto rank = [&](double q) { return v[std::min(v.size() - 1, std::size_t(q * double(v.size())))]; };
	return {v.front(), rank(0.5), rank(0.99), v.back()};
}

} // namespace loopback
