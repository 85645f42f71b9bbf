// SPDX-License-Identifier: GPL-2.0-or-later
// drift-monitor: how far snd-aloop's capture stream has moved away from the
// PipeWire graph over time. The graph's frames are counted exactly: the utimer
// driver node ticks its timer once per period of graph time, and this program
// reads those ticks as an ordinary ALSA timer instance (alsa-lib snd_timer_*);
// the loopback's frames are the capture substream's hw_ptr. drift = loopback
// frames - graph frames since the first sample taken while capture runs.
//
// Usage: drift-monitor TIMER_ID PERIOD_FRAMES STATUS_FILE SECONDS [INTERVAL_MS]
// Prints "seconds ticks hw_ptr drift" rows (seconds on CLOCK_MONOTONIC_RAW).
#include <alsa/asoundlib.h>

#include <poll.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

struct TimerCloser {
	void operator()(snd_timer_t *t) const { snd_timer_close(t); }
};
using TimerHandle = std::unique_ptr<snd_timer_t, TimerCloser>;

double raw_seconds()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// The status file's "hw_ptr : N" line; -1 while the substream is not running.
long long read_hw_ptr(const std::string &path)
{
	std::ifstream in(path);
	std::string line;
	bool running = false;
	long long ptr = -1;
	while (std::getline(in, line)) {
		if (line.rfind("state:", 0) == 0)
			running = line.find("RUNNING") != std::string::npos;
		if (line.rfind("hw_ptr", 0) == 0)
			ptr = std::atoll(line.substr(line.find(':') + 1).c_str());
	}
	return running ? ptr : -1;
}

TimerHandle open_reader(unsigned id)
{
	// alsa-lib 1.2.8 rejects CARD=-1 ("Cannot get card index"); the kernel
	// ignores the card of a global timer, so any valid number selects it.
	std::string name = "hw:CLASS=" + std::to_string(SND_TIMER_CLASS_GLOBAL) +
			   ",SCLASS=0,CARD=0,DEV=4,SUBDEV=" + std::to_string(id);
	snd_timer_t *raw = nullptr;
	int err = snd_timer_open(&raw, name.c_str(), SND_TIMER_OPEN_NONBLOCK);
	if (err < 0) {
		std::fprintf(stderr, "drift-monitor: snd_timer_open %s: %s\n", name.c_str(), snd_strerror(err));
		std::exit(1);
	}
	TimerHandle t(raw);
	snd_timer_params_t *params;
	snd_timer_params_alloca(&params);
	snd_timer_params_set_auto_start(params, 1);
	snd_timer_params_set_ticks(params, 1);
	snd_timer_params_set_queue_size(params, 1024);
	if ((err = snd_timer_params(t.get(), params)) < 0 || (err = snd_timer_start(t.get())) < 0) {
		std::fprintf(stderr, "drift-monitor: timer params/start: %s\n", snd_strerror(err));
		std::exit(1);
	}
	return t;
}

// Ticks queued since the last call.
std::uint64_t drain_ticks(snd_timer_t *t)
{
	std::uint64_t ticks = 0;
	snd_timer_read_t ev[64];
	for (;;) {
		ssize_t n = snd_timer_read(t, ev, sizeof ev);
		if (n <= 0)
			return ticks;
		for (ssize_t i = 0; i < n / ssize_t(sizeof ev[0]); ++i)
			ticks += ev[i].ticks;
	}
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc < 5) {
		std::fprintf(stderr, "usage: drift-monitor TIMER_ID PERIOD_FRAMES STATUS_FILE SECONDS [INTERVAL_MS]\n");
		return 2;
	}
	unsigned id = unsigned(std::atoi(argv[1]));
	long long period = std::atoll(argv[2]);
	std::string status = argv[3];
	double seconds = std::atof(argv[4]);
	double interval = (argc > 5 ? std::atof(argv[5]) : 500.0) / 1000.0;

	TimerHandle timer = open_reader(id);
	int nfds = snd_timer_poll_descriptors_count(timer.get());
	std::vector<pollfd> fds(std::size_t(nfds > 0 ? nfds : 1));
	snd_timer_poll_descriptors(timer.get(), fds.data(), unsigned(fds.size()));

	std::uint64_t ticks = 0;
	long long hw0 = -1;
	std::uint64_t ticks0 = 0;
	double t_start = raw_seconds(), next_sample = t_start, t0 = 0;
	std::printf("# seconds ticks hw_ptr drift_frames\n");
	while (raw_seconds() - t_start < seconds) {
		poll(fds.data(), fds.size(), 50);
		ticks += drain_ticks(timer.get());
		double now = raw_seconds();
		if (now < next_sample)
			continue;
		next_sample += interval;
		// A sample is consistent when no tick arrived while hw_ptr was read.
		long long hw = -1;
		for (int tries = 0; tries < 5; ++tries) {
			hw = read_hw_ptr(status);
			std::uint64_t more = drain_ticks(timer.get());
			ticks += more;
			if (more == 0)
				break;
		}
		if (hw < 0)
			continue;  // capture not running (yet)
		if (hw0 < 0) {
			hw0 = hw;
			ticks0 = ticks;
			t0 = now;
		}
		long long drift = (hw - hw0) - (long long)(ticks - ticks0) * period;
		std::printf("%.3f %llu %lld %lld\n", now - t0, (unsigned long long)(ticks - ticks0), hw - hw0, drift);
		std::fflush(stdout);
	}
	return 0;
}
