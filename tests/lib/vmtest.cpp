// SPDX-License-Identifier: GPL-2.0-or-later
// libutimer against a real kernel (run inside tools/vm/utimer-vm): probe,
// CREATE/TRIGGER, NEXT_DEVICE/GINFO listing, the 128-timer limit, and
// snd-aloop clocked through /proc/asound/cardN/timer_source, streamed with
// alsa-lib. Output is TAP; exit status 1 if any check failed.
#include <alsa/asoundlib.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <utimer/utimer.hpp>

namespace {

int test_number = 0;
int failures = 0;

bool check(bool ok, const std::string &description, const std::string &detail = {})
{
	++test_number;
	std::printf("%s %d - %s", ok ? "ok" : "not ok", test_number, description.c_str());
	if (!ok && !detail.empty())
		std::printf(" # %s", detail.c_str());
	std::printf("\n");
	std::fflush(stdout);
	if (!ok)
		++failures;
	return ok;
}

void note(const std::string &text)
{
	std::printf("# %s\n", text.c_str());
	std::fflush(stdout);
}

template <typename T> std::string str(const T &value)
{
	return std::to_string(value);
}

std::string proc_timers_text()
{
	std::string text;
	if (std::FILE *f = std::fopen("/proc/asound/timers", "r")) {
		char buffer[4096];
		for (std::size_t n; (n = std::fread(buffer, 1, sizeof(buffer), f)) > 0;)
			text.append(buffer, n);
		std::fclose(f);
	}
	return text;
}

// Our 6.1 names the timer in /proc/asound/timers; stock 6.12 leaves the name
// empty ("G4:  : 5333.333us"), so parse_proc_timers() cannot attribute it.
void check_proc_timers(unsigned id, std::uint64_t resolution_ns, unsigned instances)
{
	const std::string text = proc_timers_text();
	std::optional<utimer::TimerInfo> found;
	for (const utimer::TimerInfo &info : utimer::parse_proc_timers(text))
		if (info.id == id)
			found = info;
	const char *kernel = std::getenv("UTIMER_KERNEL");
	const bool names_timers = kernel && std::string(kernel).rfind("6.1", 0) == 0 &&
				  std::string(kernel).rfind("6.12", 0) != 0;
	const std::string what = "/proc/asound/timers: timer " + str(id) + " ";
	if (names_timers) {
		check(found && found->name == "snd-utimer" + str(id) &&
			      found->resolution_ns == resolution_ns && found->instances == instances,
		      what + "named, resolution " + str(resolution_ns) + ", " + str(instances) +
			      " instance(s) (parse_proc_timers)",
		      text);
	} else {
		char line[64];
		std::snprintf(line, sizeof(line), "G4:  : %llu.%03lluus",
			      static_cast<unsigned long long>(resolution_ns / 1000),
			      static_cast<unsigned long long>(resolution_ns % 1000));
		check(!found && text.find(line) != std::string::npos,
		      what + "shown unnamed (\"" + line + "\"), as stock 6.12 does", text);
	}
}

std::optional<utimer::TimerInfo> find_timer(unsigned id)
{
	for (const utimer::TimerInfo &info : utimer::list_timers())
		if (info.id == id)
			return info;
	return std::nullopt;
}

struct PcmCloser {
	void operator()(snd_pcm_t *pcm) const { snd_pcm_close(pcm); }
};
using Pcm = std::unique_ptr<snd_pcm_t, PcmCloser>;

constexpr unsigned channels = 2;
constexpr unsigned periods_per_buffer = 4;

// Opens and configures one end of the cable; empty Pcm + message on failure.
Pcm open_pcm(const std::string &name, snd_pcm_stream_t stream, unsigned rate,
	     snd_pcm_uframes_t period, std::string &error)
{
	snd_pcm_t *raw = nullptr;
	int err = snd_pcm_open(&raw, name.c_str(), stream, 0);
	if (err < 0) {
		error = "snd_pcm_open " + name + ": " + snd_strerror(err);
		return {};
	}
	Pcm pcm(raw);
	snd_pcm_hw_params_t *hw;
	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_uframes_t buffer = period * periods_per_buffer;
	const char *step = "hw_params";
	if ((err = snd_pcm_hw_params_any(raw, hw)) < 0 ||
	    (step = "access", err = snd_pcm_hw_params_set_access(raw, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0 ||
	    (step = "format", err = snd_pcm_hw_params_set_format(raw, hw, SND_PCM_FORMAT_S16_LE)) < 0 ||
	    (step = "channels", err = snd_pcm_hw_params_set_channels(raw, hw, channels)) < 0 ||
	    (step = "rate", err = snd_pcm_hw_params_set_rate(raw, hw, rate, 0)) < 0 ||
	    (step = "period size", err = snd_pcm_hw_params_set_period_size(raw, hw, period, 0)) < 0 ||
	    (step = "buffer size", err = snd_pcm_hw_params_set_buffer_size(raw, hw, buffer)) < 0 ||
	    (step = "hw_params", err = snd_pcm_hw_params(raw, hw)) < 0) {
		error = name + ": " + step + " (" + str(rate) + " Hz, period " + str(period) +
			"): " + snd_strerror(err);
		return {};
	}
	snd_pcm_sw_params_t *sw;
	snd_pcm_sw_params_alloca(&sw);
	snd_pcm_uframes_t boundary = 0;
	if ((err = snd_pcm_sw_params_current(raw, sw)) < 0 ||
	    (err = snd_pcm_sw_params_get_boundary(sw, &boundary)) < 0 ||
	    (err = snd_pcm_sw_params_set_start_threshold(raw, sw, boundary)) < 0 ||  // we start
	    (err = snd_pcm_sw_params_set_avail_min(raw, sw, period)) < 0 ||
	    (err = snd_pcm_sw_params(raw, sw)) < 0) {
		error = name + ": sw_params: " + snd_strerror(err);
		return {};
	}
	return pcm;
}

std::int16_t sample(unsigned salt, std::uint64_t frame, unsigned channel)
{
	return static_cast<std::int16_t>(((frame * channels + channel) * 7 + salt) & 0xffff);
}

std::vector<std::int16_t> pattern(unsigned salt, std::uint64_t first_frame, snd_pcm_uframes_t frames)
{
	std::vector<std::int16_t> data(frames * channels);
	for (snd_pcm_uframes_t f = 0; f < frames; ++f)
		for (unsigned c = 0; c < channels; ++c)
			data[f * channels + c] = sample(salt, first_frame + f, c);
	return data;
}

// Everything about one cable, opened against the card bound to `timer`.
struct Cable {
	Pcm playback, capture;
};

Cable open_cable(const utimer::LoopbackCard &card, unsigned rate, snd_pcm_uframes_t period,
		 std::string &error)
{
	Cable cable;
	const std::string base = "hw:" + card.id;
	cable.playback = open_pcm(base + ",0,0", SND_PCM_STREAM_PLAYBACK, rate, period, error);
	if (cable.playback)
		cable.capture = open_pcm(base + ",1,0", SND_PCM_STREAM_CAPTURE, rate, period, error);
	if (!cable.capture)
		cable.playback.reset();
	return cable;
}

bool test_probe()
{
	utimer::ProbeResult p = utimer::probe();
	note("probe: " + p.message);
	check(p.protocol_version == utimer::abi::protocol_version, "timer protocol is 2.0.8",
	      str(p.protocol_version));
	return check(p.ok(), "probe() reports support", p.message);
}

void test_timer_lifecycle()
{
	const std::size_t before = utimer::list_timers().size();
	utimer::Timer timer = utimer::Timer::for_period(48000, 256);
	check(static_cast<bool>(timer) && timer.id() < 128, "for_period(48000, 256) creates a timer",
	      "id " + str(timer.id()));
	check(timer.resolution() == 5333333, "its resolution is the PCM period time 5333333 ns",
	      str(timer.resolution()));
	std::optional<utimer::TimerInfo> info = find_timer(timer.id());
	check(info.has_value(), "list_timers() shows it");
	if (info) {
		check(info->name == "snd-utimer" + str(timer.id()), "with the kernel id snd-utimer<id>",
		      info->name);
		check(info->resolution_ns == 5333333, "with resolution 5333333", str(info->resolution_ns));
		check(info->instances == 0u, "with no instances", str(info->instances.value_or(999)));
	}
	check(utimer::list_timers().size() == before + 1, "exactly one more timer listed");
	check_proc_timers(timer.id(), 5333333, 0);
	check(timer.trigger() == 0, "trigger() with no listener succeeds");

	const unsigned id = timer.id();
	const std::uint64_t resolution = timer.resolution();
	const int fd = timer.release();
	check(!timer && fd >= 0, "release() empties the Timer and hands over the fd");
	check(find_timer(id).has_value(), "the timer lives while the released fd is open");
	utimer::Timer adopted = utimer::Timer::adopt(fd, id, resolution);
	check(adopted.trigger() == 0, "an adopted fd triggers");
	utimer::Timer moved = std::move(adopted);
	check(!adopted && moved.fd() == fd && moved.trigger() == 0, "a moved Timer keeps working");
	moved.reset();
	check(!find_timer(id).has_value(), "reset() destroys the timer in the kernel");
	check(moved.trigger() == -EBADF, "an empty Timer's trigger() returns -EBADF",
	      str(moved.trigger()));

	{
		utimer::Timer scoped = utimer::Timer::create(1000000);
		const unsigned scoped_id = scoped.id();
		check(find_timer(scoped_id).has_value(), "create(1 ms) makes a listed timer");
		utimer::Timer other = utimer::Timer::create(1000000);
		check(other.id() != scoped_id, "two timers get different ids");
	}
	check(utimer::list_timers().size() == before, "destructors destroyed both");
}

void test_limit()
{
	const std::size_t before = utimer::list_timers().size();
	std::vector<utimer::Timer> timers;
	std::string message;
	int code = 0;
	try {
		for (int i = 0; i < 200; ++i)
			timers.push_back(utimer::Timer::create(1000000 + static_cast<unsigned>(i)));
	} catch (const utimer::Error &e) {
		message = e.what();
		code = e.code().value();
	}
	check(timers.size() + before == 128, "exactly 128 timers can exist",
	      str(timers.size()) + " created, " + str(before) + " existed");
	check(code == ENOSPC, "the 129th CREATE fails with ENOSPC", str(code));
	check(message.find("all 128 userspace-driven timers are in use") != std::string::npos,
	      "and the error says all 128 are in use", message);
	note(message);
	std::vector<utimer::TimerInfo> listed = utimer::list_timers();
	check(listed.size() == 128, "list_timers() finds all 128 (GINFO per id)", str(listed.size()));
	bool resolutions_ok = true;
	for (const utimer::Timer &t : timers)
		for (const utimer::TimerInfo &info : listed)
			if (info.id == t.id() && info.resolution_ns != t.resolution())
				resolutions_ok = false;
	check(resolutions_ok, "every listed resolution matches its Timer");
	timers.clear();
	check(utimer::list_timers().size() == before, "closing them frees every id");
}

// Streams `ticks` periods through the cable, one trigger per period.
void test_stream(const utimer::LoopbackCard &card, unsigned rate, snd_pcm_uframes_t period,
		 unsigned ticks)
{
	const std::string name = str(rate) + " Hz / " + str(period) + " frames";
	utimer::Timer timer = utimer::Timer::for_period(rate, static_cast<unsigned>(period));
	utimer::TimerSourceBinding binding(card, timer.source());
	check(utimer::read_timer_source(card) == timer.source(),
	      name + ": timer_source reads back " + timer.timer_source());
	std::string error;
	Cable cable = open_cable(card, rate, period, error);
	if (!check(static_cast<bool>(cable.playback), name + ": cable opens", error))
		return;
	snd_pcm_t *play = cable.playback.get(), *capt = cable.capture.get();
	std::optional<utimer::TimerInfo> info = find_timer(timer.id());
	check(info && info->instances == 1u, name + ": snd-aloop opened the timer (1 instance)",
	      info ? str(info->instances.value_or(999)) : "not listed");
	check_proc_timers(timer.id(), timer.resolution(), 1);

	const unsigned salt = rate + static_cast<unsigned>(period);
	std::uint64_t written = 0;
	for (unsigned i = 0; i < periods_per_buffer; ++i) {
		auto data = pattern(salt, written, period);
		snd_pcm_sframes_t n = snd_pcm_writei(play, data.data(), period);
		if (n != static_cast<snd_pcm_sframes_t>(period)) {
			check(false, name + ": prefill", snd_strerror(static_cast<int>(n)));
			return;
		}
		written += period;
	}
	int err = snd_pcm_start(capt);
	if (err >= 0)
		err = snd_pcm_start(play);
	if (!check(err >= 0, name + ": both ends start", err < 0 ? snd_strerror(err) : ""))
		return;

	const auto period_time = std::chrono::nanoseconds(timer.resolution());
	std::uint64_t captured = 0;
	bool idle_ok = true, one_period_ok = true, data_ok = true, running_ok = true, trigger_ok = true;
	std::string detail;
	for (unsigned tick = 0; tick < ticks; ++tick) {
		if (tick < 3) {  // with no tick, nothing may move (not jiffies-clocked)
			std::this_thread::sleep_for(std::max(3 * period_time,
							     std::chrono::nanoseconds(30000000)));
			snd_pcm_sframes_t idle = snd_pcm_avail(capt);
			if (idle != 0) {
				idle_ok = false;
				detail = "tick " + str(tick) + ": capture avail " + str(idle) + " before trigger";
			}
		}
		if (timer.trigger() != 0)
			trigger_ok = false;
		if (snd_pcm_wait(capt, 5000) != 1) {
			one_period_ok = false;
			detail = "tick " + str(tick) + ": no capture period within 5 s";
			break;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(2));
		snd_pcm_sframes_t avail = snd_pcm_avail(capt);
		if (avail != static_cast<snd_pcm_sframes_t>(period)) {
			one_period_ok = false;
			detail = "tick " + str(tick) + ": capture avail " + str(avail);
			break;
		}
		std::vector<std::int16_t> in(period * channels);
		snd_pcm_sframes_t got = snd_pcm_readi(capt, in.data(), period);
		if (got != static_cast<snd_pcm_sframes_t>(period)) {
			one_period_ok = false;
			detail = "tick " + str(tick) + ": readi " + str(got);
			break;
		}
		if (in != pattern(salt, captured, period)) {
			data_ok = false;
			detail = "tick " + str(tick) + ": captured samples differ from played ones";
		}
		captured += period;
		if (snd_pcm_avail(play) != static_cast<snd_pcm_sframes_t>(period)) {
			one_period_ok = false;
			detail = "tick " + str(tick) + ": playback avail " + str(snd_pcm_avail(play));
			break;
		}
		auto data = pattern(salt, written, period);
		if (snd_pcm_writei(play, data.data(), period) != static_cast<snd_pcm_sframes_t>(period)) {
			running_ok = false;
			detail = "tick " + str(tick) + ": writei failed";
			break;
		}
		written += period;
		if (snd_pcm_state(play) != SND_PCM_STATE_RUNNING ||
		    snd_pcm_state(capt) != SND_PCM_STATE_RUNNING) {
			running_ok = false;
			detail = "tick " + str(tick) + ": state " + snd_pcm_state_name(snd_pcm_state(play)) +
				 "/" + snd_pcm_state_name(snd_pcm_state(capt));
			break;
		}
	}
	check(trigger_ok, name + ": every trigger() returned 0");
	check(idle_ok, name + ": nothing moves between triggers", detail);
	check(one_period_ok, name + ": each trigger moves exactly one period", detail);
	check(running_ok, name + ": no xrun, both ends stay RUNNING", detail);
	check(data_ok, name + ": captured data == played data", detail);
	const std::uint64_t played = written - periods_per_buffer * period;  // consumed by ticks
	check(captured == std::uint64_t{ticks} * period && played == captured,
	      name + ": captured frames == played frames == ticks x period",
	      "captured " + str(captured) + ", played " + str(played));
	snd_pcm_drop(play);
	snd_pcm_drop(capt);
}

// The kernel log from now on, read through /dev/kmsg (the guest runs as root).
class KernelLog {
public:
	KernelLog() : fd_(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC))
	{
		if (fd_ >= 0)
			::lseek(fd_, 0, SEEK_END);
	}
	~KernelLog()
	{
		if (fd_ >= 0)
			::close(fd_);
	}
	KernelLog(const KernelLog &) = delete;
	KernelLog &operator=(const KernelLog &) = delete;
	std::string read_new()
	{
		std::string text;
		char record[8192];
		for (ssize_t n; fd_ >= 0 && (n = ::read(fd_, record, sizeof(record))) != 0;) {
			if (n < 0) {
				if (errno == EPIPE)
					continue;  // overwritten records: keep reading
				break;         // EAGAIN: nothing more
			}
			text.append(record, static_cast<std::size_t>(n));
		}
		return text;
	}

private:
	int fd_;
};

// Opening the playback end makes snd-aloop parse timer_source and open the
// timer, so whether the open succeeds is the kernel's verdict on the string.
bool kernel_accepts(const utimer::LoopbackCard &card, const std::string &raw)
{
	{
		int fd = ::open(("/proc/asound/card" + str(card.number) + "/timer_source").c_str(),
				O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0)
			return false;
		const std::string line = raw + "\n";
		ssize_t ignored = ::write(fd, line.data(), line.size());
		(void)ignored;
		::close(fd);
	}
	snd_pcm_t *pcm = nullptr;
	if (snd_pcm_open(&pcm, ("hw:" + card.id + ",0,0").c_str(), SND_PCM_STREAM_PLAYBACK, 0) < 0)
		return false;
	snd_pcm_close(pcm);
	return true;
}

// TimerSource::parse() against the kernel's own parser, both ways, on strings
// that name the timer in different spellings or are broken in different ways.
void test_parser_agrees(const utimer::LoopbackCard &card)
{
	utimer::Timer timer = utimer::Timer::create(1000000);
	const std::string id = str(timer.id());
	char hex[16];
	std::snprintf(hex, sizeof(hex), "0x%x", timer.id());
	utimer::TimerSourceBinding restore(card, utimer::TimerSource::jiffies());

	const std::string accepted[] = {"-1.4." + id,     "-1,4," + id,
					"hw:-1.4." + id,  "-0x1.0x4." + std::string(hex),
					"-1.04." + id,    "-1.+4." + id};
	for (const std::string &text : accepted) {
		bool ours = true;
		try {
			ours = utimer::TimerSource::parse(text).utimer_id() == timer.id();
		} catch (const utimer::Error &) {
			ours = false;
		}
		check(ours && kernel_accepts(card, text),
		      "\"" + text + "\": parse() accepts it as timer " + id + " and so does snd-aloop");
	}
	const std::string rejected[] = {"-1.4.",       "-1.4.x",  "-1.4." + id + ".0", "-1.4." + id + "x",
					"-1..4",       "-1.08.0", "-1.4.99999999999", "NoSuchCard99.0.0",
					"-1.4.0x",     "-+1.4.0"};
	for (const std::string &text : rejected) {
		bool ours_rejects = false;
		try {
			utimer::TimerSource::parse(text);
		} catch (const utimer::Error &) {
			ours_rejects = true;
		}
		const bool kernel_rejects = !kernel_accepts(card, text);
		check(kernel_rejects, "\"" + text + "\": snd-aloop refuses it");
		if (text.rfind("NoSuchCard", 0) == 0)
			continue;  // a syntactically valid id: only the kernel knows the cards
		check(ours_rejects, "\"" + text + "\": parse() refuses it too");
	}
	// The raw writes above went around the binding; hand the card back in the
	// state the binding left it in, or it (rightly) leaves someone else's value.
	utimer::write_timer_source(card, utimer::TimerSource::jiffies());
}

// snd-aloop demands resolution == PCM period time; 1e9/rate*period is not.
void test_naive_fails(const utimer::LoopbackCard &card)
{
	KernelLog log;
	const unsigned rate = 48000;
	const snd_pcm_uframes_t period = 256;
	const std::string name = "naive 48000 Hz / 256 (5333248 ns)";
	utimer::Timer timer = utimer::Timer::create(utimer::naive_resolution_ns(rate, period));
	utimer::TimerSourceBinding binding(card, timer.source());
	std::string error;
	Cable cable = open_cable(card, rate, period, error);
	if (!check(static_cast<bool>(cable.playback), name + ": cable opens", error))
		return;
	snd_pcm_t *play = cable.playback.get(), *capt = cable.capture.get();
	auto data = pattern(1, 0, period * periods_per_buffer);
	snd_pcm_writei(play, data.data(), period * periods_per_buffer);
	snd_pcm_start(capt);
	snd_pcm_start(play);
	check(timer.trigger() == 0, name + ": trigger() succeeds");
	bool stopped = false;
	for (int i = 0; i < 500 && !stopped; ++i) {
		stopped = snd_pcm_state(play) == SND_PCM_STATE_XRUN &&
			  snd_pcm_state(capt) == SND_PCM_STATE_XRUN;
		if (!stopped)
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	check(stopped, name + ": snd-aloop stops both ends (XRUN), as documented",
	      std::string(snd_pcm_state_name(snd_pcm_state(play))) + "/" +
		      snd_pcm_state_name(snd_pcm_state(capt)));
	check(snd_pcm_avail(capt) == -EPIPE, name + ": no data was captured");
	const std::string kmsg = log.read_new();
	check(kmsg.find("not corresponding to timer resolution (5333248 nsec") != std::string::npos,
	      name + ": the kernel logged the resolution mismatch", kmsg.substr(0, 300));
}

}  // namespace

int main()
{
	std::printf("TAP version 13\n");
	const char *kernel = std::getenv("UTIMER_KERNEL");
	note(std::string("kernel variant: ") + (kernel ? kernel : "(not in the VM)"));
	try {
		if (!test_probe()) {
			std::printf("Bail out! no userspace-driven timers on this kernel\n");
			return 1;
		}
		test_timer_lifecycle();
		test_limit();

		check(utimer::aloop_loaded(), "snd-aloop is loaded (the test script modprobes it)");
		utimer::LoopbackCard card = utimer::find_loopback_card("Loopback");
		check(card.id == "Loopback", "find_loopback_card(\"Loopback\") -> card " + str(card.number));
		check(utimer::find_loopback_card("hw:" + str(card.number)).number == card.number,
		      "find_loopback_card(\"hw:N\") finds the same card");
		const utimer::TimerSource original = utimer::read_timer_source(card);

		struct Case {
			unsigned rate;
			snd_pcm_uframes_t period;
		};
		const Case cases[] = {{44100, 441}, {44100, 256}, {48000, 256}, {48000, 1024},
				      {48000, 64},  {96000, 1024}, {96000, 441}};
		for (const Case &c : cases)
			test_stream(card, c.rate, c.period, 16);
		test_naive_fails(card);
		test_parser_agrees(card);
		check(utimer::read_timer_source(card) == original,
		      "every binding restored timer_source to \"" + original.to_string() + "\"");
	} catch (const std::exception &e) {
		check(false, "unexpected exception", e.what());
	}
	std::printf("1..%d\n", test_number);
	return failures == 0 ? 0 : 1;
}
