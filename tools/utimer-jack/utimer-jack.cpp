// SPDX-License-Identifier: GPL-2.0-or-later
// utimer-jack: a JACK client that ticks a userspace-driven ALSA timer once per
// JACK process cycle, so an snd-aloop card bound to it (--aloop) moves one
// period per cycle, in step with the JACK graph. Works with jackd and with
// PipeWire's JACK (pw-jack utimer-jack).
//
// The process callback does one thing: Timer::trigger() (one ioctl). Buffer
// size and sample rate changes only unpublish the timer there; the main thread
// makes the new one (resolution for the new period) and publishes it.
#include <jack/jack.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <utimer/utimer.hpp>

#include "cli.hpp"
#include "sources.hpp"

namespace {

using utimerctl::UniqueFd;
using utimerctl::UsageError;

struct Options {
	std::string name = "utimer";
	std::optional<std::string> server;
	std::optional<std::string> aloop_card;
	std::optional<std::uint64_t> count;
};

const char *usage = R"(Usage: utimer-jack [--aloop CARD] [--name NAME] [--server NAME] [--count N]

A JACK client that triggers a userspace-driven ALSA timer once per process
cycle. The timer's resolution is the period time of (JACK sample rate, JACK
buffer size); it is made again when either changes. Prints
  utimer id=<id> timer_source=-1.4.<id> resolution=<ns> rate=<Hz> period=<frames>
for every timer it makes, and "utimer triggers=<N>" on exit (SIGINT/SIGTERM).

  --aloop CARD   clock snd-aloop card CARD with the timer (restored on exit);
                 programs on the loopback use period = JACK buffer size
  --name NAME    JACK client name (default utimer)
  --server NAME  JACK server name
  --count N      exit after N triggers
Under PipeWire: pw-jack utimer-jack ...
)";

Options parse(int argc, char **argv)
{
	Options o;
	std::vector<std::string> a(argv + 1, argv + argc);
	for (std::size_t i = 0; i < a.size(); ++i) {
		auto value = [&](const char *form) {
			if (i + 1 >= a.size())
				throw UsageError("utimer-jack: " + a[i] + ": missing value: expected " + form);
			return a[++i];
		};
		if (a[i] == "-h" || a[i] == "--help") {
			std::fputs(usage, stdout);
			std::exit(0);
		} else if (a[i] == "--aloop") {
			o.aloop_card = value("a loopback card name or number, e.g. --aloop Loopback");
			if (o.aloop_card->empty())
				throw UsageError("utimer-jack: --aloop '': expected a loopback card name or number, e.g. --aloop Loopback");
		} else if (a[i] == "--name") {
			o.name = value("a JACK client name, e.g. --name utimer");
			if (o.name.empty())
				throw UsageError("utimer-jack: --name '': expected a JACK client name, e.g. --name utimer");
		} else if (a[i] == "--server") {
			o.server = value("a JACK server name, e.g. --server default");
		} else if (a[i] == "--count") {
			std::string v = value("a positive integer (triggers), e.g. --count 100");
			try {
				o.count = utimerctl::parse_positive("--count", v, "triggers", "--count 100");
			} catch (const UsageError &e) {
				std::string m = e.what();
				throw UsageError("utimer-jack" + m.substr(m.find(':')));
			}
		} else {
			throw UsageError("utimer-jack: unknown argument '" + a[i] + "' (see utimer-jack --help)");
		}
	}
	return o;
}

// State shared with JACK's threads: atomics only.
struct Shared {
	std::atomic<const utimer::Timer *> active{nullptr};
	std::atomic<std::uint64_t> entered{0}, left{0};
	std::atomic<std::uint64_t> triggers{0}, errors{0};
	std::atomic<std::uint32_t> rate{0}, period{0};
	std::atomic<bool> shutdown{false};
	std::uint64_t limit = UINT64_MAX;
	int wake_fd = -1;  // eventfd: the main thread has work
};

int on_process(jack_nframes_t, void *arg)
{
	auto *s = static_cast<Shared *>(arg);
	s->entered.fetch_add(1);
	if (const utimer::Timer *t = s->active.load(); t && s->triggers.load(std::memory_order_relaxed) < s->limit) {
		if (t->trigger() == 0)
			s->triggers.fetch_add(1, std::memory_order_relaxed);
		else
			s->errors.fetch_add(1, std::memory_order_relaxed);
	}
	s->left.fetch_add(1);
	return 0;
}

void wake(Shared *s)
{
	std::uint64_t one = 1;
	(void)!write(s->wake_fd, &one, sizeof one);
}

// A new period or rate: the current timer no longer matches it, so stop
// triggering now and let the main thread make the next one.
int on_buffer_size(jack_nframes_t frames, void *arg)
{
	auto *s = static_cast<Shared *>(arg);
	s->active.store(nullptr);
	s->period.store(frames);
	wake(s);
	return 0;
}

int on_sample_rate(jack_nframes_t rate, void *arg)
{
	auto *s = static_cast<Shared *>(arg);
	s->active.store(nullptr);
	s->rate.store(rate);
	wake(s);
	return 0;
}

void on_shutdown(void *arg)
{
	auto *s = static_cast<Shared *>(arg);
	s->shutdown.store(true);
	wake(s);
}

// Waits until no process callback can still be using what `active` pointed to
// before it was changed: one that entered before now has left.
void quiesce(Shared &s)
{
	const std::uint64_t e = s.entered.load();
	while (s.left.load() < e)
		std::this_thread::sleep_for(std::chrono::microseconds(200));
}

struct JackCloser {
	void operator()(jack_client_t *c) const { jack_client_close(c); }
};

int run(const Options &o)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before JACK starts its threads
	UniqueFd sigfd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
	UniqueFd wakefd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (!sigfd || !wakefd)
		throw std::system_error(errno, std::generic_category(), "signalfd/eventfd");

	std::optional<utimer::LoopbackCard> card;
	if (o.aloop_card)
		card = utimer::find_loopback_card(*o.aloop_card);

	Shared shared;
	shared.wake_fd = wakefd.get();
	shared.limit = o.count.value_or(UINT64_MAX);
	jack_status_t status{};
	auto options = o.server ? JackOptions(JackNoStartServer | JackServerName) : JackNoStartServer;
	std::unique_ptr<jack_client_t, JackCloser> client(
		o.server ? jack_client_open(o.name.c_str(), options, &status, o.server->c_str())
			 : jack_client_open(o.name.c_str(), options, &status));
	if (!client)
		throw std::runtime_error("cannot connect to a JACK server (status 0x" + std::to_string(status) +
					 "): start jackd, or run under PipeWire with pw-jack utimer-jack");
	shared.rate = jack_get_sample_rate(client.get());
	shared.period = jack_get_buffer_size(client.get());
	jack_set_process_callback(client.get(), on_process, &shared);
	jack_set_buffer_size_callback(client.get(), on_buffer_size, &shared);
	jack_set_sample_rate_callback(client.get(), on_sample_rate, &shared);
	jack_on_shutdown(client.get(), on_shutdown, &shared);

	// Two slots: the published timer and the one being replaced.
	std::array<utimer::Timer, 2> slots;
	std::size_t current = 0;
	utimer::TimerSourceBinding binding;
	std::uint32_t made_rate = 0, made_period = 0;
	auto remake = [&] {
		const std::uint32_t r = shared.rate.load(), p = shared.period.load();
		if (r == made_rate && p == made_period && slots[current]) {
			shared.active.store(&slots[current]);
			return;
		}
		shared.active.store(nullptr);
		quiesce(shared);
		std::size_t next = current ^ 1;
		slots[next] = utimer::Timer::for_period(r, p);
		if (card) {
			binding = {};  // restores the original first, so it is what we restore at exit
			binding = utimer::TimerSourceBinding(*card, slots[next].source());
		}
		slots[current].reset();
		current = next;
		made_rate = r;
		made_period = p;
		const auto &t = slots[current];
		std::printf("utimer id=%u timer_source=%s resolution=%" PRIu64 " rate=%u period=%u", t.id(),
			    t.timer_source().c_str(), t.resolution(), r, p);
		if (card)
			std::printf(" aloop=card%d:%s", card->number, card->id.c_str());
		std::printf("\n");
		std::fflush(stdout);
		shared.active.store(&t);
	};
	remake();
	if (int err = jack_activate(client.get()); err != 0)
		throw std::runtime_error("jack_activate failed (" + std::to_string(err) + ")");

	pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {wakefd.get(), POLLIN, 0}};
	while (!shared.shutdown.load() && shared.triggers.load() < shared.limit) {
		// A short timeout notices --count without a wake-up from the RT thread.
		if (poll(fds, 2, 100) < 0 && errno != EINTR)
			throw std::system_error(errno, std::generic_category(), "poll");
		if (fds[0].revents & POLLIN)
			break;
		if (fds[1].revents & POLLIN) {
			std::uint64_t n;
			(void)!read(wakefd.get(), &n, sizeof n);
			if (!shared.shutdown.load())
				remake();
		}
	}
	jack_deactivate(client.get());
	shared.active.store(nullptr);
	std::printf("utimer triggers=%" PRIu64 " errors=%" PRIu64 "\n", shared.triggers.load(), shared.errors.load());
	std::fflush(stdout);
	if (shared.shutdown.load()) {
		std::fprintf(stderr, "utimer-jack: the JACK server shut the client down\n");
		return 1;
	}
	return shared.errors.load() ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv)
{
	try {
		return run(parse(argc, argv));
	} catch (const UsageError &e) {
		std::fprintf(stderr, "%s\n", e.what());
		return 2;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "utimer-jack: %s\n", e.what());
		return 1;
	}
}
