// SPDX-License-Identifier: GPL-2.0-or-later
// loopback-latency: plays the self-describing signal (loopback-signal.hpp)
// into snd-aloop's playback side and records its capture side, both with
// alsa-lib at one period size, for a while; counts xruns, checks that what
// arrives is bit-exact, and times markers (ten per second) from the write that
// handed them to the loopback to the read that got them. The player keeps its
// buffer (--periods, default 2) full: that buffer is the loopback's latency.
// The recorder reads as soon as a period is there; its larger buffer
// (--capture-periods, default 16) only gives a late wakeup room instead of an
// overrun, and the lateness shows in the latency. Whatever clocks the loopback
// (jiffies, snd-hrtimer, a utimer) is set up by the caller
// (tools/bench.d/loopback.py).
// --fifo PRIO runs it SCHED_FIFO, as audio applications do.
//
// Usage: loopback-latency --period FRAMES --seconds N [--periods N]
//                         [--capture-periods N] [--rate HZ] [--fifo PRIO]
//                         [--playback PCM] [--capture PCM]
// Output: one JSON object on stdout.
#include <alsa/asoundlib.h>

#include <poll.h>
#include <sched.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "loopback-signal.hpp"

namespace {

struct Options {
	unsigned period = 0, periods = 2, capture_periods = 16, rate = 48000, seconds = 0, fifo = 0;
	std::string playback = "hw:Loopback,0", capture = "hw:Loopback,1";
};

// CLOCK_MONOTONIC_RAW: the clock pace.py compares with the host's.
std::int64_t now_ns()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct PcmCloser {
	void operator()(snd_pcm_t *p) const { snd_pcm_close(p); }
};
using Pcm = std::unique_ptr<snd_pcm_t, PcmCloser>;

void check(int err, const std::string &pcm, const char *what)
{
	if (err < 0)
		throw std::runtime_error(pcm + ": " + what + ": " + snd_strerror(err));
}

Pcm open_pcm(const std::string &name, snd_pcm_stream_t stream, const Options &o, unsigned periods)
{
	snd_pcm_t *raw = nullptr;
	check(snd_pcm_open(&raw, name.c_str(), stream, SND_PCM_NONBLOCK), name, "snd_pcm_open");
	Pcm pcm(raw);
	snd_pcm_hw_params_t *hw;
	snd_pcm_hw_params_alloca(&hw);
	check(snd_pcm_hw_params_any(raw, hw), name, "hw_params_any");
	check(snd_pcm_hw_params_set_access(raw, hw, SND_PCM_ACCESS_RW_INTERLEAVED), name, "access");
	check(snd_pcm_hw_params_set_format(raw, hw, SND_PCM_FORMAT_S16_LE), name, "format S16_LE");
	check(snd_pcm_hw_params_set_channels(raw, hw, 2), name, "2 channels");
	check(snd_pcm_hw_params_set_rate(raw, hw, o.rate, 0), name, "rate");
	check(snd_pcm_hw_params_set_period_size(raw, hw, o.period, 0), name, "period size");
	check(snd_pcm_hw_params_set_buffer_size(raw, hw, snd_pcm_uframes_t(o.period) * periods), name,
	      "buffer size");
	check(snd_pcm_hw_params(raw, hw), name, "hw_params");
	snd_pcm_sw_params_t *sw;
	snd_pcm_sw_params_alloca(&sw);
	snd_pcm_uframes_t boundary;
	check(snd_pcm_sw_params_current(raw, sw), name, "sw_params_current");
	check(snd_pcm_sw_params_get_boundary(sw, &boundary), name, "boundary");
	// Started explicitly (and again after an xrun); an xrun stops the stream.
	check(snd_pcm_sw_params_set_start_threshold(raw, sw, boundary), name, "start threshold");
	check(snd_pcm_sw_params_set_avail_min(raw, sw, o.period), name, "avail_min");
	check(snd_pcm_sw_params(raw, sw), name, "sw_params");
	return pcm;
}

class Run {
public:
	explicit Run(const Options &o)
	    : o_(o), play_(open_pcm(o.playback, SND_PCM_STREAM_PLAYBACK, o, o.periods)),
	      cap_(open_pcm(o.capture, SND_PCM_STREAM_CAPTURE, o, o.capture_periods)),
	      markers_(o.rate / 10), chunk_(o.period), buf_(std::size_t(o.period) * o.capture_periods)
	{
	}

	void run()
	{
		std::vector<pollfd> pfds;
		for (snd_pcm_t *p : {play_.get(), cap_.get()}) {
			std::vector<pollfd> q(std::size_t(snd_pcm_poll_descriptors_count(p)));
			snd_pcm_poll_descriptors(p, q.data(), unsigned(q.size()));
			pfds.insert(pfds.end(), q.begin(), q.end());
		}
		check(snd_pcm_start(cap_.get()), o_.capture, "start");
		start_playback();
		const std::int64_t t0 = now_ns(), end = t0 + std::int64_t(o_.seconds) * 1'000'000'000;
		std::int64_t last_move = t0;
		while (now_ns() < end) {
			if (poll(pfds.data(), pfds.size(), 1000) < 0 && errno != EINTR)
				throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
			bool moved = read_capture();
			moved |= write_playback();
			if (moved)
				last_move = now_ns();
			else if (now_ns() - last_move > 10'000'000'000)
				throw std::runtime_error("the loopback did not move for 10 s (is its timer ticking?)");
		}
		elapsed_ns_ = now_ns() - t0;
		snd_pcm_drop(play_.get());
		snd_pcm_drop(cap_.get());
	}

	void print() const
	{
		auto l = loopback::summarize(markers_.latencies());
		auto us = [](std::int64_t ns) { return double(ns) / 1000.0; };
		std::printf("{\"period\": %u, \"periods\": %u, \"capture_periods\": %u, \"fifo\": %u, "
		            "\"rate\": %u, \"seconds\": %.3f, "
		            "\"xruns_playback\": %u, \"xruns_capture\": %u, \"bit_exact\": %s, "
		            "\"frames\": %llu, \"leading_silence\": %llu, \"silent\": %llu, \"lost\": %llu, "
		            "\"altered\": %llu, \"first_altered\": %lld, \"written\": %llu, "
		            "\"markers\": %zu, \"markers_lost\": %llu, \"latency_us\": {\"min\": %.1f, "
		            "\"median\": %.1f, \"p99\": %.1f, \"max\": %.1f}}\n",
		            o_.period, o_.periods, o_.capture_periods, o_.fifo, o_.rate, double(elapsed_ns_) / 1e9, xruns_play_, xruns_cap_,
		            check_.bit_exact() ? "true" : "false", ull(check_.frames), ull(check_.leading),
		            ull(check_.silent), ull(check_.lost), ull(check_.altered),
		            check_.first_altered ? static_cast<long long>(*check_.first_altered) : -1LL,
		            ull(written_), markers_.latencies().size(), ull(markers_.lost()), us(l.min),
		            us(l.median), us(l.p99), us(l.max));
	}

private:
	static unsigned long long ull(std::uint64_t v) { return v; }

	// Fills the whole buffer and starts: after an underrun too.
	void start_playback()
	{
		snd_pcm_sframes_t n;
		while ((n = write_chunk()) > 0) {
		}
		check(int(n), o_.playback, "write");
		check(snd_pcm_start(play_.get()), o_.playback, "start");
	}

	// One period of the signal, if the buffer has room; frames written.
	snd_pcm_sframes_t write_chunk()
	{
		for (unsigned k = 0; k < o_.period; k++)
			chunk_[k] = loopback::frame_of(written_ + k);
		snd_pcm_sframes_t n = snd_pcm_writei(play_.get(), chunk_.data(), o_.period);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return n;
		markers_.written(written_, std::uint64_t(n), now_ns());
		written_ += std::uint64_t(n);
		return n;
	}

	bool write_playback()
	{
		bool moved = false;
		for (;;) {
			snd_pcm_sframes_t avail = snd_pcm_avail_update(play_.get());
			if (avail >= 0 && avail < snd_pcm_sframes_t(o_.period))
				return moved;
			snd_pcm_sframes_t n = avail < 0 ? avail : write_chunk();
			if (n == -EPIPE) {  // underrun
				xruns_play_++;
				check(snd_pcm_prepare(play_.get()), o_.playback, "prepare after underrun");
				start_playback();
				return true;
			}
			check(int(n), o_.playback, "write");
			if (n == 0)
				return moved;
			moved = true;
		}
	}

	bool read_capture()
	{
		bool moved = false;
		for (;;) {
			snd_pcm_sframes_t n = snd_pcm_readi(cap_.get(), buf_.data(), buf_.size());
			if (n == -EAGAIN || n == 0)
				return moved;
			if (n == -EPIPE) {  // overrun
				xruns_cap_++;
				check(snd_pcm_prepare(cap_.get()), o_.capture, "prepare after overrun");
				check(snd_pcm_start(cap_.get()), o_.capture, "start after overrun");
				return true;
			}
			check(int(n), o_.capture, "read");
			const std::int64_t t = now_ns();
			for (snd_pcm_sframes_t k = 0; k < n; k++)
				if (auto i = check_.feed(buf_[std::size_t(k)]))
					markers_.arrived(*i, t);
			moved = true;
		}
	}

	Options o_;
	Pcm play_, cap_;
	loopback::StreamCheck check_;
	loopback::Markers markers_;
	std::vector<loopback::Frame> chunk_, buf_;
	std::uint64_t written_ = 0;
	unsigned xruns_play_ = 0, xruns_cap_ = 0;
	std::int64_t elapsed_ns_ = 0;
};

[[noreturn]] void usage(const std::string &why)
{
	std::fprintf(stderr,
	             "loopback-latency: %s\n"
	             "usage: loopback-latency --period FRAMES --seconds N [--periods N (2..64, default 2)]\n"
	             "                        [--capture-periods N (2..64, default 16)] [--rate HZ (default 48000)]\n"
	             "                        [--fifo PRIO (1..99)]\n"
	             "                        [--playback PCM (hw:Loopback,0)] [--capture PCM (hw:Loopback,1)]\n",
	             why.c_str());
	std::exit(2);
}

unsigned number(const char *opt, const char *text, unsigned lo, unsigned hi)
{
	char *end = nullptr;
	errno = 0;
	unsigned long v = text ? std::strtoul(text, &end, 10) : 0;
	if (!text || !*text || *end || errno || v < lo || v > hi)
		usage(std::string(opt) + " '" + (text ? text : "") + "': expected a whole number from " +
		      std::to_string(lo) + " to " + std::to_string(hi));
	return unsigned(v);
}

Options parse(int argc, char **argv)
{
	Options o;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
		if (a == "--period")
			o.period = number("--period", v, 16, 65536);
		else if (a == "--periods")
			o.periods = number("--periods", v, 2, 64);
		else if (a == "--capture-periods")
			o.capture_periods = number("--capture-periods", v, 2, 64);
		else if (a == "--fifo")
			o.fifo = number("--fifo", v, 1, 99);
		else if (a == "--rate")
			o.rate = number("--rate", v, 8000, 384000);
		else if (a == "--seconds")
			o.seconds = number("--seconds", v, 1, 86400);
		else if (a == "--playback" && v)
			o.playback = v;
		else if (a == "--capture" && v)
			o.capture = v;
		else
			usage("unknown or incomplete argument '" + a + "'");
		i++;
	}
	if (!o.period || !o.seconds)
		usage("--period and --seconds are required");
	return o;
}

} // namespace

int main(int argc, char **argv)
{
	Options o = parse(argc, argv);
	if (o.fifo) {
		sched_param p{};
		p.sched_priority = int(o.fifo);
		if (sched_setscheduler(0, SCHED_FIFO, &p) < 0) {
			std::fprintf(stderr, "loopback-latency: --fifo %u: sched_setscheduler: %s (needs root or "
			             "an rtprio limit)\n", o.fifo, std::strerror(errno));
			return 1;
		}
	}
	try {
		Run run(o);
		run.run();
		run.print();
	} catch (const std::exception &e) {
		std::fprintf(stderr, "loopback-latency: %s\n", e.what());
		return 1;
	}
	return 0;
}
