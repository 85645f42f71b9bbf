// SPDX-License-Identifier: GPL-2.0-or-later
// utimer-bench: the measurements tools/bench runs inside the guest, each next to
// an eventfd baseline. Triggers go through utimer::Timer::trigger (lib is the
// only code issuing the timer ioctls); readers are ordinary ALSA timer
// instances and PCMs opened with alsa-lib.
//
// Usage: utimer-bench trigger-cost | latency | scale
// Output: one JSON object per line: {"metric": ..., "value": ..., ...}.
#include <alsa/asoundlib.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <utimer/utimer.hpp>

namespace {

constexpr unsigned rate = 48000, period = 256;

std::int64_t clock_ns()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

#if defined(__x86_64__)
// Time stamps from the TSC: a guest whose kernel found no usable clocksource
// (QEMU/TCG without ACPI: refined-jiffies, 4 ms steps) still has a fine TSC.
// Calibrated once against CLOCK_MONOTONIC_RAW between two clock edges.
double tsc_ns_per_cycle()
{
	static const double ns_per_cycle = [] {
		auto edge = [] {
			std::int64_t a = clock_ns(), b;
			while ((b = clock_ns()) == a) {
			}
			return std::pair{b, __rdtsc()};
		};
		auto [c0, t0] = edge();
		while (clock_ns() - c0 < 1'000'000'000) {
		}
		auto [c1, t1] = edge();
		return double(c1 - c0) / double(t1 - t0);
	}();
	return ns_per_cycle;
}

std::int64_t now_ns()
{
	return std::int64_t(double(__rdtsc()) * tsc_ns_per_cycle());
}
#else
std::int64_t now_ns() { return clock_ns(); }
#endif

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v.empty() ? 0 : v[v.size() / 2];
}

double percentile(std::vector<double> v, double p)
{
	std::sort(v.begin(), v.end());
	return v.empty() ? 0 : v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

void emit(const std::string &metric, double value, const std::string &unit, const std::string &extra = {})
{
	std::printf("{\"metric\": \"%s\", \"value\": %.1f, \"unit\": \"%s\"%s}\n", metric.c_str(), value,
		    unit.c_str(), extra.c_str());
	std::fflush(stdout);
}

// A JSON number, or null for what JSON cannot represent (nan, inf).
std::string num(double v)
{
	return std::isfinite(v) ? std::to_string(v) : "null";
}

void check(int err, const char *what)
{
	if (err < 0)
		throw std::runtime_error(std::string(what) + ": " + snd_strerror(err));
}

struct Fd {
	int fd = -1;
	explicit Fd(int f) : fd(f)
	{
		if (fd < 0)
			throw std::runtime_error(std::string("fd: ") + std::strerror(errno));
	}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	~Fd() { if (fd >= 0) close(fd); }
};

struct PcmCloser {
	void operator()(snd_pcm_t *p) const { snd_pcm_close(p); }
};
using Pcm = std::unique_ptr<snd_pcm_t, PcmCloser>;
struct TimerCloser {
	void operator()(snd_timer_t *t) const { snd_timer_close(t); }
};
using TimerReader = std::unique_ptr<snd_timer_t, TimerCloser>;

// A running capture substream of snd-aloop that never stops for overruns
// (stop_threshold = boundary), so every trigger does the cable's work.
Pcm open_capture(unsigned subdevice, const std::string &card = "Loopback")
{
	snd_pcm_t *raw = nullptr;
	std::string name = "hw:" + card + ",1," + std::to_string(subdevice);
	check(snd_pcm_open(&raw, name.c_str(), SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK), "snd_pcm_open");
	Pcm pcm(raw);
	snd_pcm_hw_params_t *hw;
	snd_pcm_hw_params_alloca(&hw);
	check(snd_pcm_hw_params_any(raw, hw), "hw_params_any");
	check(snd_pcm_hw_params_set_access(raw, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "access");
	check(snd_pcm_hw_params_set_format(raw, hw, SND_PCM_FORMAT_S16_LE), "format");
	check(snd_pcm_hw_params_set_channels(raw, hw, 2), "channels");
	check(snd_pcm_hw_params_set_rate(raw, hw, rate, 0), "rate");
	check(snd_pcm_hw_params_set_period_size(raw, hw, period, 0), "period size");
	check(snd_pcm_hw_params_set_buffer_size(raw, hw, period * 4), "buffer size");
	check(snd_pcm_hw_params(raw, hw), "hw_params");
	snd_pcm_sw_params_t *sw;
	snd_pcm_sw_params_alloca(&sw);
	snd_pcm_uframes_t boundary;
	check(snd_pcm_sw_params_current(raw, sw), "sw_params_current");
	check(snd_pcm_sw_params_get_boundary(sw, &boundary), "boundary");
	check(snd_pcm_sw_params_set_stop_threshold(raw, sw, boundary), "stop threshold");
	check(snd_pcm_sw_params_set_avail_min(raw, sw, period), "avail_min");
	check(snd_pcm_sw_params(raw, sw), "sw_params");
	check(snd_pcm_start(raw), "start");
	return pcm;
}

TimerReader open_reader(unsigned id)
{
	// alsa-lib 1.2.8 rejects CARD=-1; the kernel ignores a global timer's card.
	std::string name = "hw:CLASS=1,SCLASS=0,CARD=0,DEV=4,SUBDEV=" + std::to_string(id);
	snd_timer_t *raw = nullptr;
	check(snd_timer_open(&raw, name.c_str(), SND_TIMER_OPEN_NONBLOCK), "snd_timer_open");
	TimerReader t(raw);
	snd_timer_params_t *params;
	snd_timer_params_alloca(&params);
	snd_timer_params_set_auto_start(params, 1);
	snd_timer_params_set_ticks(params, 1);
	snd_timer_params_set_queue_size(params, 1024);
	check(snd_timer_params(raw, params), "snd_timer_params");
	check(snd_timer_start(raw), "snd_timer_start");
	return t;
}

// Ticks queued for the reader. The kernel merges ticks into the last queued
// event while the reader is behind, so events undercount ticks.
std::uint64_t drain(snd_timer_t *t)
{
	snd_timer_read_t ev[64];
	std::uint64_t ticks = 0;
	ssize_t r;
	while ((r = snd_timer_read(t, ev, sizeof ev)) > 0)
		for (std::size_t i = 0; i < std::size_t(r) / sizeof ev[0]; ++i)
			ticks += ev[i].ticks;
	return ticks;
}

template <typename Fn>
double ns_per_call(Fn &&fn, int calls, int runs)
{
	std::vector<double> per;
	for (int r = 0; r < runs; ++r) {
		std::int64_t t0 = now_ns();
		for (int i = 0; i < calls; ++i)
			fn();
		per.push_back(double(now_ns() - t0) / calls);
	}
	return median(per);
}

void trigger_cost()
{
	const int calls = 2000, runs = 31;
	Fd efd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	std::uint64_t one = 1, sink;
	auto eventfd_write = [&] {
		if (write(efd.fd, &one, 8) != 8)
			throw std::runtime_error("eventfd write");
	};

	// Three timers: one clocking 1 cable, one clocking 8 cables (the card's
	// timer_source is read when a cable opens), one with none. The runs are
	// interleaved so that background noise hits all of them alike.
	// snd-aloop has at most 8 cables per card: the 1-cable timer clocks a
	// second card (guest.sh loads two).
	auto card = utimer::find_loopback_card("Loopback");
	auto card1 = utimer::find_loopback_card("Loopback_1");
	auto t0 = utimer::Timer::for_period(rate, period);
	auto t1 = utimer::Timer::for_period(rate, period);
	auto t8 = utimer::Timer::for_period(rate, period);
	std::vector<Pcm> pcms;
	{
		utimer::TimerSourceBinding bind(card1, t1.source());
		pcms.push_back(open_capture(0, card1.id));
	}
	{
		utimer::TimerSourceBinding bind(card, t8.source());
		for (unsigned k = 0; k < 8; ++k)
			pcms.push_back(open_capture(k));
	}
	std::vector<double> base, c0, c1, c8;
	for (int r = 0; r < runs; ++r) {
		base.push_back(ns_per_call(eventfd_write, calls, 1));
		(void)!read(efd.fd, &sink, 8);
		for (auto [timer, out] : {std::pair{&t0, &c0}, std::pair{&t1, &c1}, std::pair{&t8, &c8}})
			out->push_back(ns_per_call([&] {
				if (timer->trigger() < 0)
					throw std::runtime_error("trigger failed");
			}, calls, 1));
	}
	double b = median(base);
	emit("trigger_cost.eventfd_write", b, "ns/call");
	for (auto [name, v] : {std::pair{"0", &c0}, std::pair{"1", &c1}, std::pair{"8", &c8}}) {
		double ns = median(*v);
		emit(std::string("trigger_cost.cables_") + name, ns, "ns/call",
		     ", \"baseline\": " + num(b) + ", \"ratio\": " + num(ns / b));
	}
}

// Latency from just before the wake-up call to the reader's return from poll.
template <typename Wait, typename Fire>
std::vector<double> wake_latency(Wait &&wait, Fire &&fire, int samples)
{
	std::atomic<std::int64_t> fired_at{0};
	std::vector<double> lat;
	lat.reserve(std::size_t(samples));
	std::atomic<bool> ready{false};
	std::thread reader([&] {
		for (int i = 0; i < samples; ++i) {
			ready.store(true);
			wait();
			lat.push_back(double(now_ns() - fired_at.load()));
		}
	});
	for (int i = 0; i < samples; ++i) {
		while (!ready.exchange(false))
			std::this_thread::yield();
		// Let the reader block in poll before firing.
		timespec pause{0, 1'000'000};
		nanosleep(&pause, nullptr);
		fired_at.store(now_ns());
		fire();
	}
	reader.join();
	return lat;
}

void report_latency(const std::string &name, const std::vector<double> &lat, const std::vector<double> *base)
{
	double p50 = percentile(lat, 0.5), p99 = percentile(lat, 0.99);
	std::string extra;
	if (base)
		extra = ", \"p99\": " + num(p99) + ", \"ratio_p50\": " +
			num(p50 / percentile(*base, 0.5)) + ", \"ratio_p99\": " +
			num(p99 / percentile(*base, 0.99));
	else
		extra = ", \"p99\": " + num(p99);
	emit("latency." + name, p50, "ns p50", extra);
}

void latency()
{
	const int samples = 2000;
	Fd efd(eventfd(0, EFD_CLOEXEC));
	std::uint64_t one = 1;
	auto base = wake_latency(
		[&] {
			pollfd p{efd.fd, POLLIN, 0};
			poll(&p, 1, -1);
			std::uint64_t v;
			(void)!read(efd.fd, &v, 8);
		},
		[&] { (void)!write(efd.fd, &one, 8); }, samples);
	report_latency("eventfd", base, nullptr);

	{
		auto timer = utimer::Timer::for_period(rate, period);
		auto reader = open_reader(timer.id());
		pollfd p{};
		snd_timer_poll_descriptors(reader.get(), &p, 1);
		auto lat = wake_latency(
			[&] {
				pollfd q = p;
				poll(&q, 1, -1);
				drain(reader.get());
			},
			[&] { timer.trigger(); }, samples);
		report_latency("timer_instance_read", lat, &base);
	}
	{
		auto card = utimer::find_loopback_card("Loopback");
		auto timer = utimer::Timer::for_period(rate, period);
		utimer::TimerSourceBinding bind(card, timer.source());
		Pcm pcm = open_capture(0);
		std::vector<pollfd> pfds(std::size_t(snd_pcm_poll_descriptors_count(pcm.get())));
		snd_pcm_poll_descriptors(pcm.get(), pfds.data(), unsigned(pfds.size()));
		std::vector<std::int16_t> buf(period * 2 * 4);
		auto lat = wake_latency(
			[&] {
				for (;;) {
					auto q = pfds;
					poll(q.data(), q.size(), -1);
					unsigned short rev = 0;
					snd_pcm_poll_descriptors_revents(pcm.get(), q.data(), unsigned(q.size()), &rev);
					if (rev & POLLIN)
						break;
				}
				snd_pcm_readi(pcm.get(), buf.data(), period * 4);
			},
			[&] { timer.trigger(); }, samples);
		report_latency("aloop_capture_poll", lat, &base);
	}
}

// Triggers/s with n timers, each with a reader, one trigger thread round-robin
// and one reader thread polling them all; eventfds in the same shape as baseline.
struct Throughput {
	double sent_per_s = 0;
	double received_per_s = 0;  // events the reader got (a reader may merge ticks)
};

template <typename Fire, typename Drain>
Throughput throughput(std::vector<pollfd> fds, Fire &&fire, Drain &&drain_one, double seconds)
{
	std::atomic<bool> stop{false};
	std::atomic<std::uint64_t> received{0};
	std::thread reader([&] {
		while (!stop.load()) {
			auto q = fds;
			if (poll(q.data(), q.size(), 100) <= 0)
				continue;
			for (std::size_t i = 0; i < q.size(); ++i)
				if (q[i].revents)
					received += drain_one(i);
		}
	});
	std::uint64_t sent = 0;
	std::int64_t t0 = now_ns(), end = t0 + std::int64_t(seconds * 1e9);
	while (now_ns() < end)
		for (std::size_t i = 0; i < fds.size(); ++i, ++sent)
			fire(i);
	double elapsed = double(now_ns() - t0) / 1e9;
	stop = true;
	reader.join();
	return {double(sent) / elapsed, double(received.load()) / elapsed};
}

void scale()
{
	const unsigned n = 128;
	const double seconds = 3;
	std::vector<std::unique_ptr<Fd>> efds;
	std::vector<pollfd> efd_poll;
	for (unsigned i = 0; i < n; ++i) {
		efds.push_back(std::make_unique<Fd>(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
		efd_poll.push_back({efds.back()->fd, POLLIN, 0});
	}
	std::uint64_t one = 1;
	Throughput base = throughput(efd_poll, [&](std::size_t i) { (void)!write(efds[i]->fd, &one, 8); },
				 [&](std::size_t i) {
					 std::uint64_t v = 0;
					 return read(efds[i]->fd, &v, 8) == 8 ? v : 0;
				 }, seconds);
	emit("scale.eventfd_128", base.sent_per_s, "writes/s", ", \"received_per_s\": " + num(base.received_per_s));

	std::vector<utimer::Timer> timers;
	std::vector<TimerReader> readers;
	std::vector<pollfd> tpoll;
	for (unsigned i = 0; i < n; ++i) {
		timers.push_back(utimer::Timer::for_period(rate, period));
		readers.push_back(open_reader(timers.back().id()));
		pollfd p{};
		snd_timer_poll_descriptors(readers.back().get(), &p, 1);
		tpoll.push_back(p);
	}
	Throughput tps = throughput(tpoll, [&](std::size_t i) { timers[i].trigger(); },
				[&](std::size_t i) { return drain(readers[i].get()); }, seconds);
	emit("scale.utimer_128", tps.sent_per_s, "triggers/s",
	     ", \"received_per_s\": " + num(tps.received_per_s) + ", \"baseline\": " + num(base.sent_per_s) +
		     ", \"ratio\": " + num(tps.sent_per_s / base.sent_per_s));
}

}  // namespace

int main(int argc, char **argv)
{
	std::string what = argc > 1 ? argv[1] : "";
	try {
		if (what == "trigger-cost")
			trigger_cost();
		else if (what == "latency")
			latency();
		else if (what == "scale")
			scale();
		else {
			std::fprintf(stderr, "usage: utimer-bench trigger-cost | latency | scale\n");
			return 2;
		}
	} catch (const std::exception &e) {
		std::fprintf(stderr, "utimer-bench %s: %s\n", what.c_str(), e.what());
		return 1;
	}
	return 0;
}
