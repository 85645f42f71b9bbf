// SPDX-License-Identifier: GPL-2.0-or-later
// api.utimer.driver: a PipeWire driver node that ticks a userspace-driven ALSA
// timer once per timer period of graph time.
//
// Scheduling (like support.node.driver): when PipeWire makes this node the
// driver of its group, a timerfd on the data loop paces the graph; when another
// driver runs the group (position->clock.id != our clock id), the timerfd is
// disarmed and the node ticks from process(), which the driver wakes every
// cycle. Either way the graph's frames, not wall time, decide the ticks.
//
// Threads: the main thread owns configuration, the utimer::Timer and the
// snd-aloop binding and publishes them to the data thread with a blocking
// spa_loop_invoke. The data thread only reads what was published and bumps
// atomics; a main-loop timer turns those into node properties once a second.
//
// Failure: when the timer cannot be created (no kernel support, permission, no
// loopback card, bad properties) the node logs the library's message, shows it
// as utimer.state = "error" / utimer.error, and keeps driving the graph without
// ticking: audio through other nodes continues; nothing is half-configured.

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <spa/node/io.h>
#include <spa/node/keys.h>
#include <spa/node/node.h>
#include <spa/node/utils.h>
#include <spa/support/log.h>
#include <spa/support/loop.h>
#include <spa/support/plugin.h>
#include <spa/support/system.h>
#include <spa/utils/defs.h>
#include <spa/utils/hook.h>
#include <spa/utils/result.h>
#include <spa/utils/string.h>

#include <utimer/utimer.hpp>

#include "config.hpp"
#include "period-counter.hpp"
#include "rate-tracker.hpp"
#include "utimer-driver.hpp"

// spa_log_* dereference the log before checking it; hosts may give none.
#define driver_log(level, impl, ...)						\
	do {									\
		if ((impl)->log)						\
			spa_log_##level((impl)->log, __VA_ARGS__);		\
	} while (false)

namespace utimer::spa {
namespace {

constexpr std::uint32_t default_duration = 1024;  // before PipeWire sets a position
constexpr std::uint32_t default_rate = 48000;

// Clock ids for dynamic clocks (PTP hardware clocks), see clock_gettime(2).
constexpr clockid_t fd_to_clockid(int fd) { return (~static_cast<clockid_t>(fd) << 3) | 3; }

// An fd closed with close(2) when it goes out of scope.
class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) : fd_(fd) {}
	UniqueFd(UniqueFd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
	UniqueFd &operator=(UniqueFd &&o) noexcept { std::swap(fd_, o.fd_); return *this; }
	~UniqueFd() { if (fd_ >= 0) ::close(fd_); }
	int get() const { return fd_; }

private:
	int fd_ = -1;
};

// The driver's timerfd, created and closed through the data loop's spa_system.
class TimerFd {
public:
	TimerFd() = default;
	TimerFd(const TimerFd &) = delete;
	TimerFd &operator=(const TimerFd &) = delete;
	~TimerFd() { if (fd_ >= 0) spa_system_close(system_, fd_); }
	int open(struct spa_system *system)
	{
		system_ = system;
		fd_ = spa_system_timerfd_create(system, CLOCK_MONOTONIC,
						SPA_FD_CLOEXEC | SPA_FD_NONBLOCK);
		return fd_;
	}
	int get() const { return fd_; }

private:
	struct spa_system *system_ = nullptr;
	int fd_ = -1;
};

std::uint64_t now_ns(struct spa_system *system, clockid_t clock)
{
	struct timespec ts {};
	spa_system_clock_gettime(system, clock, &ts);
	return SPA_TIMESPEC_TO_NSEC(&ts);
}

struct Impl {
	struct spa_handle handle {};
	struct spa_node node {};

	struct spa_log *log = nullptr;
	struct spa_loop *data_loop = nullptr;
	struct spa_system *data_system = nullptr;
	struct spa_loop_utils *main_utils = nullptr;

	struct spa_hook_list hooks {};
	struct spa_callbacks callbacks {};

	Config config;
	UniqueFd clock_device;  // open while clock.device is the reference clock
	clockid_t reference = CLOCK_MONOTONIC;

	// Main thread: what the node owns and reports.
	std::optional<utimer::Timer> timer;
	std::optional<utimer::TimerSourceBinding> binding;
	std::uint32_t timer_rate = 0;
	std::uint32_t timer_period = 0;
	std::string state = "idle";  // idle | running | error
	std::string error;
	bool running = false;        // Start received and not yet Pause/Suspend
	std::string reported;        // the property values last emitted, to skip no-ops
	struct spa_source *refresh = nullptr;

	// Data thread: set through spa_loop_invoke, read every cycle.
	struct spa_io_clock *clock = nullptr;
	struct spa_io_position *position = nullptr;
	struct spa_source timer_source {};
	TimerFd timerfd;
	bool started = false;
	bool following = false;
	std::uint64_t next_time = 0;       // CLOCK_MONOTONIC ns of the next driver wakeup
	const utimer::Timer *ticking = nullptr;
	PeriodCounter counter;
	std::uint32_t ticking_rate = 0;
	RateTracker tracker;               // clock.id other than monotonic, clock.device

	// Data thread -> main thread.
	std::atomic<std::uint64_t> cycles{0};
	std::atomic<std::uint64_t> triggers{0};
	std::atomic<std::uint64_t> errors{0};
	std::atomic<int> last_errno{0};
	std::atomic<std::uint32_t> foreign_rate{0};  // graph rate that differed from the timer's
	std::atomic<bool> following_now{false};

	void on_cycle(std::uint64_t duration, std::uint32_t rate) noexcept;
};
// PipeWire hands back the spa_handle it got; it must be the Impl's address.
static_assert(std::is_standard_layout_v<Impl> && offsetof(Impl, handle) == 0);

// The per-cycle hot path, on the data thread, as driver and as follower: one
// trigger per elapsed timer period. No allocation, lock or syscall but the ioctl.
void Impl::on_cycle(std::uint64_t duration, std::uint32_t rate) noexcept
{
	cycles.fetch_add(1, std::memory_order_relaxed);
	if (ticking == nullptr)
		return;
	if (SPA_UNLIKELY(rate != ticking_rate)) {
		// The timer's resolution is only right at the rate it was made for.
		foreign_rate.store(rate, std::memory_order_relaxed);
		errors.fetch_add(1, std::memory_order_relaxed);
		return;
	}
	for (std::uint64_t n = counter.advance(duration); n > 0; --n) {
		if (const int res = ticking->trigger(); SPA_LIKELY(res == 0)) {
			triggers.fetch_add(1, std::memory_order_relaxed);
		} else {
			errors.fetch_add(1, std::memory_order_relaxed);
			last_errno.store(-res, std::memory_order_relaxed);
		}
	}
}

// ---- data thread ---------------------------------------------------------

void arm_timer(Impl *impl, bool armed)
{
	struct itimerspec its {};
	if (armed) {
		its.it_value.tv_sec = impl->next_time / SPA_NSEC_PER_SEC;
		its.it_value.tv_nsec = impl->next_time % SPA_NSEC_PER_SEC;
	}
	spa_system_timerfd_settime(impl->data_system, impl->timerfd.get(),
				   SPA_FD_TIMER_ABSTIME, &its, nullptr);
}

void reschedule(Impl *impl)
{
	impl->next_time = now_ns(impl->data_system, CLOCK_MONOTONIC);
	impl->tracker.reset();
	arm_timer(impl, impl->started && !impl->following);
}

void update_following(Impl *impl)
{
	const bool following = impl->position && impl->clock &&
			       impl->position->clock.id != impl->clock->id;
	impl->following_now.store(following, std::memory_order_relaxed);
	if (following != impl->following) {
		driver_log(debug, impl, "utimer-driver %p: %s", static_cast<void *>(impl),
			      following ? "following another driver" : "driving");
		impl->following = following;
		reschedule(impl);
	}
}

// The timerfd always runs on CLOCK_MONOTONIC: timerfd_create(2) accepts only
// REALTIME, MONOTONIC and BOOTTIME (not MONOTONIC_RAW, TAI or dynamic PTP
// clocks), PipeWire expects spa_io_clock::nsec in CLOCK_MONOTONIC, and a
// REALTIME timer would jump with settimeofday. Any other reference is followed
// by the RateTracker's DLL, which scales the monotonic wakeup interval.
double track_reference(Impl *impl, std::uint64_t wakeup, std::uint64_t duration, std::uint32_t rate)
{
	const std::uint64_t mono = now_ns(impl->data_system, CLOCK_MONOTONIC);
	// Reference time at the scheduled wakeup, not at our (jittery) actual one.
	const std::uint64_t ref = now_ns(impl->data_system, impl->reference) - (mono - wakeup);
	return impl->tracker.update(ref, duration, rate);
}

void on_timeout(struct spa_source *source)
{
	auto *impl = static_cast<Impl *>(source->data);
	std::uint64_t expirations;
	if (spa_system_timerfd_read(impl->data_system, impl->timerfd.get(), &expirations) < 0 ||
	    !impl->started || impl->following)
		return;  // a wakeup that raced a disarm: not (or no longer) the driver

	std::uint64_t duration = default_duration;
	std::uint32_t rate = default_rate;
	if (SPA_LIKELY(impl->position)) {
		duration = impl->position->clock.duration;
		rate = impl->position->clock.rate.denom;
	}
	const std::uint64_t nsec = impl->next_time;
	const double rate_diff = impl->reference == CLOCK_MONOTONIC
					 ? 1.0 : track_reference(impl, nsec, duration, rate);
	impl->next_time = nsec + std::uint64_t(double(duration) * SPA_NSEC_PER_SEC / rate / rate_diff);

	if (SPA_LIKELY(impl->clock)) {
		impl->clock->nsec = nsec;
		impl->clock->rate = SPA_FRACTION(1, rate);
		impl->clock->position += duration;
		impl->clock->duration = duration;
		impl->clock->delay = 0;
		impl->clock->rate_diff = rate_diff;
		impl->clock->next_nsec = impl->next_time;
	}
	// Tick before the graph runs so a loopback capture finds this cycle's period.
	impl->on_cycle(duration, rate);
	spa_node_call_ready(&impl->callbacks, SPA_STATUS_HAVE_DATA);
	arm_timer(impl, true);
}

struct Publish {
	const utimer::Timer *timer;
	std::uint32_t period;
	std::uint32_t rate;
	bool started;
};

int do_publish(struct spa_loop *, bool, std::uint32_t, const void *data, size_t, void *user)
{
	auto *impl = static_cast<Impl *>(user);
	const auto *p = static_cast<const Publish *>(data);
	impl->ticking = p->timer;
	impl->counter = PeriodCounter(p->period);
	impl->ticking_rate = p->rate;
	if (impl->started != p->started) {
		impl->started = p->started;
		reschedule(impl);
	}
	return 0;
}

int do_remove_source(struct spa_loop *, bool, std::uint32_t, const void *, size_t, void *user)
{
	auto *impl = static_cast<Impl *>(user);
	if (impl->timer_source.loop)
		spa_loop_remove_source(impl->data_loop, &impl->timer_source);
	arm_timer(impl, false);
	return 0;
}

// ---- main thread ---------------------------------------------------------

// Hands the data thread the timer to tick (or none) and whether to drive.
void publish(Impl *impl, bool with_timer, bool started)
{
	const Publish p{with_timer && impl->timer ? &*impl->timer : nullptr,
			impl->timer_period, impl->timer_rate, started};
	spa_loop_invoke(impl->data_loop, do_publish, 0, &p, sizeof(p), true, impl);
	impl->running = started;
}

void emit_info(Impl *impl, bool full);

void fail(Impl *impl, const std::string &message)
{
	impl->state = "error";
	impl->error = message;
	driver_log(error, impl, "utimer-driver: %s", message.c_str());
}

// Stops ticking and gives back the timer and the loopback card (its previous
// timer_source is restored before the timer it named disappears).
void release_timer(Impl *impl)
{
	publish(impl, false, impl->running);
	impl->binding.reset();
	impl->timer.reset();
	impl->timer_rate = 0;
	impl->timer_period = 0;
}

// Creates the timer and binds the card, all or nothing; failure leaves neither.
// graph_rate and quantum are what the graph runs at (or will run at).
void acquire_timer(Impl *impl, std::uint32_t graph_rate, std::uint32_t quantum)
{
	const std::uint32_t rate = impl->config.rate ? impl->config.rate : graph_rate;
	const std::uint32_t period = impl->config.period ? impl->config.period : quantum;
	if (rate != graph_rate) {
		release_timer(impl);
		fail(impl, "the graph runs at " + std::to_string(graph_rate) + " Hz but utimer.rate = " +
			std::to_string(rate) + ": pin the graph rate (default.clock.rate, "
			"clock.force-rate) or change utimer.rate");
		return;
	}
	if (impl->timer && impl->timer_rate == rate && impl->timer_period == period)
		return;
	impl->binding.reset();
	impl->timer.reset();
	try {
		auto timer = utimer::Timer::for_period(rate, period);
		std::optional<utimer::TimerSourceBinding> binding;
		if (!impl->config.aloop_card.empty())
			binding.emplace(utimer::find_loopback_card(impl->config.aloop_card),
					timer.source());
		impl->timer = std::move(timer);
		impl->binding = std::move(binding);
		impl->timer_rate = rate;
		impl->timer_period = period;
		impl->state = "running";
		impl->error.clear();
		driver_log(info, impl, "utimer-driver: timer %u (%s), %u frames at %u Hz, %llu ns%s%s",
			     impl->timer->id(), impl->timer->timer_source().c_str(), period, rate,
			     (unsigned long long)impl->timer->resolution(),
			     impl->binding ? ", clocking loopback card " : "",
			     impl->binding ? impl->binding->card().id.c_str() : "");
	} catch (const std::exception &e) {
		impl->timer_rate = 0;
		impl->timer_period = 0;
		fail(impl, e.what());
	}
}

void emit_info(Impl *impl, bool full)
{
	const bool ticking = impl->timer.has_value();
	const auto u64 = [](const std::atomic<std::uint64_t> &v) {
		return std::to_string(v.load(std::memory_order_relaxed));
	};
	const std::string values[][2] = {
		{SPA_KEY_NODE_DRIVER, "true"},
		{"clock.name", impl->config.clock_name},
		{"clock.id", impl->config.clock_device.empty() ? impl->config.clock_id : ""},
		{"clock.device", impl->config.clock_device},
		{"utimer.state", impl->state},
		{"utimer.error", impl->error},
		{"utimer.id", ticking ? std::to_string(impl->timer->id()) : ""},
		{"utimer.timer-source", ticking ? impl->timer->timer_source() : ""},
		{"utimer.resolution", ticking ? std::to_string(impl->timer->resolution()) : ""},
		{"utimer.period", ticking ? std::to_string(impl->timer_period)
			: impl->config.period ? std::to_string(impl->config.period) : "quantum"},
		{"utimer.rate", ticking ? std::to_string(impl->timer_rate) : ""},
		{"utimer.aloop.card", impl->binding ? impl->binding->card().id : impl->config.aloop_card},
		{"utimer.following", impl->following_now.load(std::memory_order_relaxed) ? "true" : "false"},
		{"utimer.cycles", u64(impl->cycles)},
		{"utimer.triggers", u64(impl->triggers)},
		{"utimer.errors", u64(impl->errors)},
	};
	std::string all;
	for (const auto &kv : values)
		all += kv[0] + '=' + kv[1] + '\n';
	if (!full && all == impl->reported)
		return;
	impl->reported = std::move(all);

	struct spa_dict_item items[std::size(values)];
	for (std::size_t i = 0; i < std::size(values); ++i)
		items[i] = {values[i][0].c_str(), values[i][1].c_str()};
	const struct spa_dict dict = {0, std::uint32_t(std::size(items)), items};

	struct spa_node_info info {};
	info.change_mask = full ? SPA_NODE_CHANGE_MASK_FLAGS | SPA_NODE_CHANGE_MASK_PROPS
				: SPA_NODE_CHANGE_MASK_PROPS;
	info.flags = SPA_NODE_FLAG_RT;
	info.props = const_cast<struct spa_dict *>(&dict);
	spa_node_emit_info(&impl->hooks, &info);
}

// Once a second: what the data thread counted becomes node properties.
void on_refresh(void *data, std::uint64_t)
{
	auto *impl = static_cast<Impl *>(data);
	if (const std::uint32_t rate = impl->foreign_rate.exchange(0); rate && impl->timer) {
		fail(impl, "the graph rate changed to " + std::to_string(rate) +
			" Hz but timer " + std::to_string(impl->timer->id()) + " was made for " +
			std::to_string(impl->timer_rate) + " Hz, so its periods no longer match: "
			"pin the rate (clock.force-rate or node.lock-rate) or restart the node");
	} else if (const int err = impl->last_errno.exchange(0)) {
		driver_log(warn, impl, "utimer-driver: trigger of timer %u failed: %s",
			     impl->timer ? impl->timer->id() : 0u, std::strerror(err));
		impl->error = std::string("trigger: ") + std::strerror(err);
	}
	emit_info(impl, false);
}

// ---- spa_node methods ----------------------------------------------------

int node_add_listener(void *object, struct spa_hook *listener,
		      const struct spa_node_events *events, void *data)
{
	auto *impl = static_cast<Impl *>(object);
	struct spa_hook_list save;
	spa_hook_list_isolate(&impl->hooks, &save, listener, events, data);
	emit_info(impl, true);
	spa_hook_list_join(&impl->hooks, &save);
	return 0;
}

int node_set_callbacks(void *object, const struct spa_node_callbacks *callbacks, void *data)
{
	auto *impl = static_cast<Impl *>(object);
	impl->callbacks.funcs = callbacks;
	impl->callbacks.data = data;
	return 0;
}

int node_sync(void *object, int seq)
{
	spa_node_emit_result(&static_cast<Impl *>(object)->hooks, seq, 0, 0, nullptr);
	return 0;
}

int node_enum_params(void *, int, std::uint32_t, std::uint32_t, std::uint32_t,
		     const struct spa_pod *)
{
	return -ENOENT;
}

int node_set_param(void *, std::uint32_t, std::uint32_t, const struct spa_pod *)
{
	return -ENOENT;
}

struct IoUpdate {
	std::uint32_t id;
	void *data;
};

int do_update_io(struct spa_loop *, bool, std::uint32_t, const void *data, size_t, void *user)
{
	auto *impl = static_cast<Impl *>(user);
	const auto *io = static_cast<const IoUpdate *>(data);
	if (io->id == SPA_IO_Clock)
		impl->clock = static_cast<struct spa_io_clock *>(io->data);
	else
		impl->position = static_cast<struct spa_io_position *>(io->data);
	update_following(impl);
	return 0;
}

int node_set_io(void *object, std::uint32_t id, void *data, size_t size)
{
	auto *impl = static_cast<Impl *>(object);
	switch (id) {
	case SPA_IO_Clock:
		if (data && size < sizeof(struct spa_io_clock))
			return -EINVAL;
		if (data)
			spa_scnprintf(static_cast<struct spa_io_clock *>(data)->name,
				      sizeof(spa_io_clock::name), "%s", impl->config.clock_name.c_str());
		break;
	case SPA_IO_Position:
		if (data && size < sizeof(struct spa_io_position))
			return -EINVAL;
		break;
	default:
		return -ENOENT;
	}
	const IoUpdate io{id, data};
	spa_loop_invoke(impl->data_loop, do_update_io, 0, &io, sizeof(io), true, impl);
	return 0;
}

int node_send_command(void *object, const struct spa_command *command)
{
	auto *impl = static_cast<Impl *>(object);
	switch (SPA_NODE_COMMAND_ID(command)) {
	case SPA_NODE_COMMAND_Start:
		if (impl->config.error.empty()) {
			std::uint32_t rate = default_rate, quantum = default_duration;
			if (impl->position) {
				rate = impl->position->clock.rate.denom;
				quantum = std::uint32_t(impl->position->clock.duration);
			}
			acquire_timer(impl, rate, quantum);
		}
		publish(impl, true, true);
		break;
	case SPA_NODE_COMMAND_Pause:
		// Keep the timer: a loopback cable opened on it stays valid until Start.
		publish(impl, true, false);
		break;
	case SPA_NODE_COMMAND_Suspend:
		// A timer pinned by utimer.rate + utimer.period lives as long as the
		// node, so loopback streams opened against it stay valid; one sized
		// from the graph is given back (and the card's timer_source restored).
		if (impl->config.rate && impl->config.period) {
			publish(impl, true, false);
			break;
		}
		publish(impl, false, false);
		release_timer(impl);
		if (impl->state == "running")
			impl->state = "idle";
		break;
	default:
		return -ENOTSUP;
	}
	emit_info(impl, false);
	return 0;
}

int node_add_port(void *, enum spa_direction, std::uint32_t, const struct spa_dict *)
{
	return -ENOTSUP;
}

int node_remove_port(void *, enum spa_direction, std::uint32_t)
{
	return -ENOTSUP;
}

int node_port_enum_params(void *, int, enum spa_direction, std::uint32_t, std::uint32_t,
			  std::uint32_t, std::uint32_t, const struct spa_pod *)
{
	return -ENOTSUP;
}

int node_port_set_param(void *, enum spa_direction, std::uint32_t, std::uint32_t,
			std::uint32_t, const struct spa_pod *)
{
	return -ENOTSUP;
}

int node_port_use_buffers(void *, enum spa_direction, std::uint32_t, std::uint32_t,
			  struct spa_buffer **, std::uint32_t)
{
	return -ENOTSUP;
}

int node_port_set_io(void *, enum spa_direction, std::uint32_t, std::uint32_t, void *, size_t)
{
	return -ENOTSUP;
}

int node_port_reuse_buffer(void *, std::uint32_t, std::uint32_t)
{
	return -ENOTSUP;
}

// Runs every cycle of the driver we are in, including (in 0.3.65) when we are
// that driver; as driver on_timeout() has already ticked.
int node_process(void *object)
{
	auto *impl = static_cast<Impl *>(object);
	if (impl->following && SPA_LIKELY(impl->position))
		impl->on_cycle(impl->position->clock.duration, impl->position->clock.rate.denom);
	return SPA_STATUS_HAVE_DATA;
}

constexpr struct spa_node_methods node_methods = {
	SPA_VERSION_NODE_METHODS,
	node_add_listener,
	node_set_callbacks,
	node_sync,
	node_enum_params,
	node_set_param,
	node_set_io,
	node_send_command,
	node_add_port,
	node_remove_port,
	node_port_enum_params,
	node_port_set_param,
	node_port_use_buffers,
	node_port_set_io,
	node_port_reuse_buffer,
	node_process,
};

// ---- handle --------------------------------------------------------------

int handle_get_interface(struct spa_handle *handle, const char *type, void **interface)
{
	if (!handle || !interface)
		return -EINVAL;
	if (!spa_streq(type, SPA_TYPE_INTERFACE_Node))
		return -ENOENT;
	*interface = &reinterpret_cast<Impl *>(handle)->node;
	return 0;
}

int handle_clear(struct spa_handle *handle)
{
	auto *impl = reinterpret_cast<Impl *>(handle);
	if (impl->timer)
		driver_log(info, impl, "utimer-driver: closing timer %u after %llu cycles, "
			     "%llu triggers, %llu errors", impl->timer->id(),
			     (unsigned long long)impl->cycles.load(),
			     (unsigned long long)impl->triggers.load(),
			     (unsigned long long)impl->errors.load());
	if (impl->refresh)
		spa_loop_utils_destroy_source(impl->main_utils, impl->refresh);
	if (impl->data_loop) {
		publish(impl, false, false);
		spa_loop_invoke(impl->data_loop, do_remove_source, 0, nullptr, 0, true, impl);
	}
	impl->binding.reset();  // restores timer_source before the timer it names goes
	impl->timer.reset();
	std::destroy_at(impl);
	return 0;
}

// Opens clock.device and checks that it reads as a clock.
void open_clock_device(Impl *impl)
{
	const auto &path = impl->config.clock_device;
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	struct timespec ts {};
	if (fd.get() < 0 || clock_gettime(fd_to_clockid(fd.get()), &ts) < 0) {
		const int err = errno;
		impl->config.error = "clock.device = \"" + path + "\": " +
			(fd.get() < 0 ? "cannot open it: " : "it is not a clock: ") + std::strerror(err) +
			(err == EACCES ? " (give the PipeWire user read access to it)"
				       : " (use a PTP hardware clock such as /dev/ptp0)");
		return;
	}
	impl->clock_device = std::move(fd);
	impl->reference = fd_to_clockid(impl->clock_device.get());
}

int handle_init(const struct spa_handle_factory *, struct spa_handle *handle,
		const struct spa_dict *info, const struct spa_support *support,
		std::uint32_t n_support)
{
	if (!handle)
		return -EINVAL;
	auto *impl = std::construct_at(reinterpret_cast<Impl *>(handle));
	impl->handle.get_interface = handle_get_interface;
	impl->handle.clear = handle_clear;

	impl->log = static_cast<struct spa_log *>(
		spa_support_find(support, n_support, SPA_TYPE_INTERFACE_Log));
	impl->data_loop = static_cast<struct spa_loop *>(
		spa_support_find(support, n_support, SPA_TYPE_INTERFACE_DataLoop));
	impl->data_system = static_cast<struct spa_system *>(
		spa_support_find(support, n_support, SPA_TYPE_INTERFACE_DataSystem));
	impl->main_utils = static_cast<struct spa_loop_utils *>(
		spa_support_find(support, n_support, SPA_TYPE_INTERFACE_LoopUtils));
	if (!impl->data_loop || !impl->data_system) {
		driver_log(error, impl, "utimer-driver: the host gave no %s",
			      impl->data_loop ? "DataSystem" : "DataLoop");
		impl->data_loop = nullptr;
		handle_clear(handle);
		return -EINVAL;
	}
	if (impl->timerfd.open(impl->data_system) < 0) {
		const int err = errno;
		driver_log(error, impl, "utimer-driver: timerfd: %s", std::strerror(err));
		impl->data_loop = nullptr;
		handle_clear(handle);
		return -err;
	}

	spa_hook_list_init(&impl->hooks);
	impl->node.iface.type = SPA_TYPE_INTERFACE_Node;
	impl->node.iface.version = SPA_VERSION_NODE;
	impl->node.iface.cb.funcs = &node_methods;
	impl->node.iface.cb.data = impl;

	impl->config = parse_config(info);
	if (impl->config.error.empty() && !impl->config.clock_device.empty())
		open_clock_device(impl);
	if (impl->config.error.empty()) {
		impl->reference = impl->clock_device.get() >= 0 ? impl->reference : impl->config.clock;
		if (const auto probe = utimer::probe(); !probe.ok())
			fail(impl, probe.message);  // Start tries again: the module may load later
		else if (impl->config.rate && impl->config.period)
			acquire_timer(impl, impl->config.rate, impl->config.period);
	} else {
		fail(impl, impl->config.error + ". Running as a plain driver without a timer");
	}

	impl->timer_source.func = on_timeout;
	impl->timer_source.data = impl;
	impl->timer_source.fd = impl->timerfd.get();
	impl->timer_source.mask = SPA_IO_IN;
	spa_loop_add_source(impl->data_loop, &impl->timer_source);

	if (impl->main_utils) {
		impl->refresh = spa_loop_utils_add_timer(impl->main_utils, on_refresh, impl);
		struct timespec second{1, 0};
		if (impl->refresh)
			spa_loop_utils_update_timer(impl->main_utils, impl->refresh,
						    &second, &second, false);
	}
	return 0;
}

size_t factory_get_size(const struct spa_handle_factory *, const struct spa_dict *)
{
	return sizeof(Impl);
}

constexpr struct spa_interface_info interfaces[] = {{SPA_TYPE_INTERFACE_Node}};

int factory_enum_interface_info(const struct spa_handle_factory *,
				const struct spa_interface_info **info, std::uint32_t *index)
{
	if (!info || !index)
		return -EINVAL;
	if (*index >= std::size(interfaces))
		return 0;
	*info = &interfaces[(*index)++];
	return 1;
}

constexpr struct spa_dict_item factory_items[] = {
	{SPA_KEY_FACTORY_AUTHOR, "utimer project"},
	{SPA_KEY_FACTORY_DESCRIPTION,
	 "Driver node that ticks a userspace-driven ALSA timer every graph period"},
	{SPA_KEY_FACTORY_USAGE,
	 "[ clock.id=monotonic|realtime|tai|boottime|monotonic-raw ] [ clock.device=/dev/ptpN ] "
	 "[ clock.name=<name> ] [ utimer.period=<frames> ] [ utimer.rate=<Hz> ] "
	 "[ utimer.aloop.card=<card> ]"},
};
constexpr struct spa_dict factory_info = {0, std::uint32_t(std::size(factory_items)), factory_items};

}  // namespace

const struct spa_handle_factory driver_factory = {
	SPA_VERSION_HANDLE_FACTORY,
	"api.utimer.driver",
	&factory_info,
	factory_get_size,
	handle_init,
	factory_enum_interface_info,
};

}  // namespace utimer::spa
