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
// One timer for the node's life: made once (at creation when api.utimer.rate
// and api.utimer.period pin it, else at the first Start from the graph's rate
// and quantum) and kept across quantum and rate changes, Pause and Suspend
// until the node is destroyed. PeriodCounter turns graph time at any rate and
// quantum into timer periods, so the loopback it clocks never sees a new timer.
//
// Threads: the main thread owns configuration, the utimer::Timer and the
// snd-aloop binding and hands the data thread a pointer to the timer once,
// with a blocking spa_loop_invoke, when it is made. The data thread only reads
// what was published and bumps atomics; a main-loop timer watches those for
// transitions (trigger errors, following) and publishes only changes.
//
// Failure: when the timer cannot be made (no kernel support, permission, no
// loopback card, bad properties) Start fails with that errno, so PipeWire puts
// the node in its error state; api.utimer.error says what is wrong and how to
// fix it, the log says it once. A later Start retries. A trigger that fails on
// the data thread raises SPA_NODE_EVENT_Error (node state error) once; the
// properties return to running when triggers succeed again.

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
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <spa/node/io.h>
#include <spa/node/keys.h>
#include <spa/node/node.h>
#include <spa/node/utils.h>
#include <spa/param/param.h>
#include <spa/param/props.h>
#include <spa/pod/builder.h>
#include <spa/support/log.h>
#include <spa/support/loop.h>
#include <spa/support/plugin.h>
#include <spa/support/system.h>
#include <spa/utils/defs.h>
#include <spa/utils/hook.h>
#include <spa/utils/result.h>
#include <spa/utils/string.h>

#include <utimer/binding.hpp>
#include <utimer/utimer.hpp>

#include "config.hpp"
#include "driver-clock.hpp"
#include "graph-target.hpp"
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

// Every instance logs on the "spa.utimer" topic (PIPEWIRE_DEBUG=spa.utimer:4
// shows the counters once a second). plugin.cpp exports it to PipeWire >= 1.1.81.
struct spa_log_topic log_topic = {SPA_VERSION_LOG_TOPIC, "spa.utimer", SPA_LOG_LEVEL_NONE, false};
#undef SPA_LOG_TOPIC_DEFAULT
#define SPA_LOG_TOPIC_DEFAULT (&log_topic)

namespace {

// How long a driver wakeup waits for the graph to finish the previous cycle
// before it starts the next one anyway (a stuck client must not stop the group).
constexpr std::uint64_t max_graph_wait_ns = 200 * SPA_NSEC_PER_MSEC;

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
	std::optional<utimer::Timer> timer;  // made once, kept until handle_clear
	std::optional<utimer::LoopbackBinding> binding;  // destroyed before the timer
	std::uint32_t timer_rate = 0;
	std::uint32_t timer_period = 0;
	std::string state = "idle";  // idle | running | error
	std::string error;
	bool reported_following = false;
	bool trigger_failing = false;
	std::uint64_t logged_cycles = 0;
	struct spa_source *watch = nullptr;

	// Data thread: set through spa_loop_invoke, read every cycle.
	struct spa_io_clock *clock = nullptr;
	struct spa_io_position *position = nullptr;
	struct spa_source timer_source {};
	TimerFd timerfd;
	bool started = false;
	bool following = false;
	// Driving: the cycle we started has not completed yet (PipeWire calls
	// process() on the driver when the graph is done); completions_seen once
	// it has done so since we became the driver (else we never wait).
	bool cycle_open = false;
	bool completions_seen = false;
	bool waiting = false;              // a wakeup found the previous cycle running
	std::uint64_t open_since_ns = 0;   // when the open cycle was due
	DriverClock schedule;
	const utimer::Timer *ticking = nullptr;
	PeriodCounter counter;
	RateTracker tracker;               // clock.id other than monotonic, clock.device

	// Data thread -> main thread.
	std::atomic<std::uint64_t> cycles{0};
	std::atomic<std::uint64_t> triggers{0};
	std::atomic<std::uint64_t> errors{0};
	std::atomic<std::uint64_t> late_cycles{0};  // wakeups that waited for the graph
	std::atomic<int> last_errno{0};    // of the latest trigger; 0 once one succeeds
	std::atomic<bool> following_now{false};
	std::atomic<std::uint32_t> graph_rate{0};  // of the latest cycle
	std::uint32_t logged_rate = 0;             // main thread

	void on_cycle(std::uint64_t duration, std::uint32_t rate) noexcept;
};
// PipeWire hands back the spa_handle it got; it must be the Impl's address.
static_assert(std::is_standard_layout_v<Impl> && offsetof(Impl, handle) == 0);

// The per-cycle hot path, on the data thread, as driver and as follower: one
// trigger per elapsed timer period. No allocation, lock or syscall but the ioctl.
void Impl::on_cycle(std::uint64_t duration, std::uint32_t rate) noexcept
{
	cycles.fetch_add(1, std::memory_order_relaxed);
	graph_rate.store(rate, std::memory_order_relaxed);
	if (ticking == nullptr)
		return;
	for (std::uint64_t n = counter.advance(duration, rate); n > 0; --n) {
		const int res = ticking->trigger();
		if (SPA_LIKELY(res == 0))
			triggers.fetch_add(1, std::memory_order_relaxed);
		else
			errors.fetch_add(1, std::memory_order_relaxed);
		last_errno.store(-res, std::memory_order_relaxed);
	}
}

// ---- data thread ---------------------------------------------------------

// Arms the timerfd for due (CLOCK_MONOTONIC ns), or disarms it for 0.
void arm_timer_at(Impl *impl, std::uint64_t due)
{
	struct itimerspec its {};
	its.it_value.tv_sec = due / SPA_NSEC_PER_SEC;
	its.it_value.tv_nsec = due % SPA_NSEC_PER_SEC;
	spa_system_timerfd_settime(impl->data_system, impl->timerfd.get(),
				   SPA_FD_TIMER_ABSTIME, &its, nullptr);
}

void arm_timer(Impl *impl, bool armed)
{
	arm_timer_at(impl, armed ? impl->schedule.due_ns() : 0);
}

void reschedule(Impl *impl)
{
	impl->schedule.restart(now_ns(impl->data_system, CLOCK_MONOTONIC));
	impl->tracker.reset();
	impl->cycle_open = impl->waiting = impl->completions_seen = false;
	arm_timer(impl, impl->started && !impl->following);
}

void update_following(Impl *impl)
{
	const bool following = impl->position && impl->clock &&
			       impl->position->clock.id != impl->clock->id;
	impl->following_now.store(following, std::memory_order_relaxed);
	if (following != impl->following) {
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

	// The cycle we start: what the graph asks for now (clock.target_* of
	// the core we run under, see next_graph_cycle()).
	const GraphCycle next = next_graph_cycle(impl->position);
	const std::uint64_t duration = next.duration;
	const std::uint32_t rate = next.rate;
	if (impl->cycle_open && impl->completions_seen) {
		// The graph has not finished the previous cycle (a late client, a
		// starved machine). A new cycle now would tick the loopback a
		// period the graph has not produced or consumed, and PipeWire
		// would restart the late nodes mid-cycle (lost or repeated
		// buffers, an ALSA follower's underrun). Wait for it (process()
		// starts the next cycle), up to max_graph_wait_ns: past that a
		// node is stuck and the graph goes on as PipeWire's drivers do.
		const std::uint64_t now = now_ns(impl->data_system, CLOCK_MONOTONIC);
		const std::uint64_t give_up = impl->open_since_ns + max_graph_wait_ns;
		if (now < give_up) {
			if (!impl->waiting)
				impl->late_cycles.fetch_add(1, std::memory_order_relaxed);
			impl->waiting = true;
			arm_timer_at(impl, give_up);
			return;
		}
		impl->schedule.restart(now);
	}
	impl->waiting = false;
	double rate_diff = 1.0;
	if (impl->reference != CLOCK_MONOTONIC)
		rate_diff = track_reference(impl, impl->schedule.due_ns(), duration, rate);
	const ClockCycle cycle = impl->schedule.advance(duration, rate, rate_diff,
							impl->tracker.stepped());
	if (SPA_LIKELY(impl->clock)) {
		impl->clock->nsec = cycle.nsec;
		impl->clock->rate = SPA_FRACTION(1, rate);
		impl->clock->position = cycle.position;
		impl->clock->duration = duration;
		impl->clock->delay = 0;
		impl->clock->rate_diff = cycle.rate_diff;
		impl->clock->next_nsec = cycle.next_nsec;
#ifdef SPA_IO_CLOCK_FLAG_DISCONT
		SPA_FLAG_UPDATE(impl->clock->flags, SPA_IO_CLOCK_FLAG_DISCONT, cycle.discont);
#endif
	}
	// Tick before the graph runs so a loopback capture finds this cycle's period.
	impl->on_cycle(duration, rate);
	impl->cycle_open = true;
	impl->open_since_ns = cycle.nsec;
	spa_node_call_ready(&impl->callbacks, SPA_STATUS_HAVE_DATA);
	arm_timer(impl, true);
}

struct TimerUpdate {
	const utimer::Timer *timer;
	std::uint32_t period;
	std::uint32_t rate;
};

int do_set_timer(struct spa_loop *, bool, std::uint32_t, const void *data, size_t, void *user)
{
	auto *impl = static_cast<Impl *>(user);
	const auto *t = static_cast<const TimerUpdate *>(data);
	impl->ticking = t->timer;
	impl->counter = PeriodCounter(t->period, t->rate);
	return 0;
}

int do_set_started(struct spa_loop *, bool, std::uint32_t, const void *data, size_t, void *user)
{
	auto *impl = static_cast<Impl *>(user);
	const bool started = *static_cast<const bool *>(data);
	if (impl->started != started) {
		impl->started = started;
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

void set_started(Impl *impl, bool started)
{
	spa_loop_invoke(impl->data_loop, do_set_started, 0, &started, sizeof(started), true, impl);
}

// Hands the data thread the timer (or none, before it goes away).
void set_ticking(Impl *impl, const utimer::Timer *timer)
{
	const TimerUpdate t{timer, impl->timer_period, impl->timer_rate};
	spa_loop_invoke(impl->data_loop, do_set_timer, 0, &t, sizeof(t), true, impl);
}

void emit_info(Impl *impl, bool full);

// Logs only transitions: the same failure at every retry is said once.
void fail(Impl *impl, const std::string &message)
{
	if (impl->state != "error" || impl->error != message)
		driver_log(error, impl, "utimer-driver: %s", message.c_str());
	impl->state = "error";
	impl->error = message;
}

// Makes the node's one timer and binds the card, all or nothing; returns 0 or
// a negative errno (and the node shows why). graph_rate and quantum are what
// the graph runs at, for what the configuration leaves open.
int acquire_timer(Impl *impl, std::uint32_t graph_rate, std::uint32_t quantum)
{
	if (impl->timer)
		return 0;
	if (!impl->config.error.empty()) {
		fail(impl, impl->config.error);
		return -EINVAL;
	}
	if (const auto probe = utimer::probe(); !probe.ok()) {
		fail(impl, probe.message);
		switch (probe.support) {
		case utimer::Support::no_timer_device: return -ENODEV;
		case utimer::Support::permission_denied: return -EACCES;
		case utimer::Support::kernel_too_old: return -ENOTSUP;
		default: return -EIO;
		}
	}
	const std::uint32_t rate = impl->config.rate ? impl->config.rate : graph_rate;
	const std::uint32_t period = impl->config.period ? impl->config.period : quantum;
	try {
		auto timer = utimer::Timer::for_period(rate, period);
		// Root writes timer_source itself; a per-user daemon asks utimer-aloopd.
		std::optional<utimer::LoopbackBinding> binding;
		if (!impl->config.aloop_card.empty())
			binding = utimer::LoopbackBinding::bind(impl->config.aloop_card, timer);
		impl->timer = std::move(timer);
		impl->binding = std::move(binding);
	} catch (const std::system_error &e) {
		fail(impl, e.what());
		return e.code().value() > 0 ? -e.code().value() : -EIO;
	} catch (const std::exception &e) {
		fail(impl, e.what());
		return -EIO;
	}
	impl->timer_rate = rate;
	impl->timer_period = period;
	impl->state = "idle";
	impl->error.clear();
	driver_log(info, impl, "utimer-driver: timer %u (%s), %u frames at %u Hz, %llu ns%s%s%s",
		   impl->timer->id(), impl->timer->timer_source().c_str(), period, rate,
		   (unsigned long long)impl->timer->resolution(),
		   impl->binding ? ", clocking loopback card " : "",
		   impl->binding ? impl->binding->card().id.c_str() : "",
		   impl->binding && impl->binding->via_service() ? " (through utimer-aloopd)" : "");
	set_ticking(impl, &*impl->timer);
	return 0;
}

// Properties: what is set, nothing empty; counters are not properties (they
// go to the spa.utimer log topic).
void emit_info(Impl *impl, bool full)
{
	const bool ticking = impl->timer.has_value();
	std::vector<std::pair<std::string, std::string>> values = {
		{SPA_KEY_NODE_DRIVER, "true"},
		// The Props param holds live counters: PipeWire must ask us each
		// time instead of answering from its cache of the first reply.
		{"node.cache-params", "false"},
		{"clock.name", impl->config.clock_name},
	};
	const auto add = [&values](const char *key, std::string value) {
		if (!value.empty())
			values.emplace_back(key, std::move(value));
	};
	const auto number = [](std::uint32_t v) { return v ? std::to_string(v) : std::string(); };
	add("clock.id", impl->config.clock_device.empty() ? impl->config.clock_id : "");
	add("clock.device", impl->config.clock_device);
	add("api.utimer.state", impl->state);
	add("api.utimer.error", impl->error);
	if (ticking) {
		add("api.utimer.id", std::to_string(impl->timer->id()));
		add("api.utimer.timer-source", impl->timer->timer_source());
		add("api.utimer.resolution", std::to_string(impl->timer->resolution()));
	}
	add("api.utimer.period", number(ticking ? impl->timer_period : impl->config.period));
	add("api.utimer.rate", number(ticking ? impl->timer_rate : impl->config.rate));
	add("api.utimer.aloop.card", impl->binding ? impl->binding->card().id : impl->config.aloop_card);
	add("api.utimer.following", impl->reported_following ? "true" : "false");
	add("node.link-group", impl->config.link_group);

	std::vector<struct spa_dict_item> items;
	for (const auto &[k, v] : values)
		items.push_back(SPA_DICT_ITEM_INIT(k.c_str(), v.c_str()));
	const struct spa_dict dict = SPA_DICT_INIT(items.data(), std::uint32_t(items.size()));

	struct spa_node_info info = SPA_NODE_INFO_INIT();
	info.max_input_ports = 0;
	info.max_output_ports = 0;
	struct spa_param_info params[] = {SPA_PARAM_INFO(SPA_PARAM_Props, SPA_PARAM_INFO_READ)};
	info.change_mask = full ? SPA_NODE_CHANGE_MASK_FLAGS | SPA_NODE_CHANGE_MASK_PROPS |
				  SPA_NODE_CHANGE_MASK_PARAMS
				: SPA_NODE_CHANGE_MASK_PROPS;
	info.flags = SPA_NODE_FLAG_RT;
	info.params = params;
	info.n_params = std::uint32_t(std::size(params));
	info.props = const_cast<struct spa_dict *>(&dict);
	spa_node_emit_info(&impl->hooks, &info);
}

// Main loop, once a second: turns what the data thread counted into
// transitions (published and logged once) and counters on the debug log.
void on_watch(void *data, std::uint64_t)
{
	auto *impl = static_cast<Impl *>(data);
	bool changed = false;
	if (const bool following = impl->following_now.load(std::memory_order_relaxed);
	    following != impl->reported_following) {
		impl->reported_following = following;
		driver_log(info, impl, "utimer-driver: %s", following ? "following another driver"
								      : "driving");
		changed = true;
	}
	const int err = impl->last_errno.load(std::memory_order_relaxed);
	if (impl->timer && (err != 0) != impl->trigger_failing) {
		impl->trigger_failing = err != 0;
		changed = true;
		if (err != 0) {
			fail(impl, "trigger of timer " + std::to_string(impl->timer->id()) +
				" failed: " + std::strerror(err));
			// PipeWire's way for a failing node: its state becomes error.
			// (Built by hand: 0.3.65's SPA_EVENT_INIT names SPA_TYPE_OBJECT,
			// which does not exist.)
			struct spa_event event {};
			event.pod = {sizeof(struct spa_event_body), SPA_TYPE_Object};
			event.body.body = {SPA_TYPE_EVENT_Node, SPA_NODE_EVENT_Error};
			spa_node_emit_event(&impl->hooks, &event);
		} else {
			driver_log(info, impl, "utimer-driver: timer %u triggers again",
				   impl->timer->id());
			impl->state = "running";
			impl->error.clear();
		}
	}
	if (const std::uint32_t rate = impl->graph_rate.load(std::memory_order_relaxed);
	    impl->timer && rate != impl->logged_rate) {
		driver_log(info, impl, "utimer-driver: graph at %u Hz; timer %u counts %u-frame "
			   "periods at %u Hz of graph time", rate, impl->timer->id(),
			   impl->timer_period, impl->timer_rate);
		impl->logged_rate = rate;
	}
	if (changed)
		emit_info(impl, false);
	const std::uint64_t cycles = impl->cycles.load(std::memory_order_relaxed);
	if (cycles != impl->logged_cycles) {
		impl->logged_cycles = cycles;
		driver_log(debug, impl, "utimer-driver: timer %d: %llu cycles, %llu triggers, %llu errors, "
			   "%llu late cycles waited for",
			   impl->timer ? int(impl->timer->id()) : -1, (unsigned long long)cycles,
			   (unsigned long long)impl->triggers.load(std::memory_order_relaxed),
			   (unsigned long long)impl->errors.load(std::memory_order_relaxed),
			   (unsigned long long)impl->late_cycles.load(std::memory_order_relaxed));
	}
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

// The counters, on request only (pw-cli enum-params <id> Props, pw-dump):
// Props { params = [ "api.utimer.cycles" <long> "api.utimer.triggers" <long>
// "api.utimer.errors" <long> "api.utimer.late-cycles" <long> ] }, the way
// other SPA nodes show custom values.
int node_enum_params(void *object, int seq, std::uint32_t id, std::uint32_t start,
		     std::uint32_t num, const struct spa_pod *)
{
	auto *impl = static_cast<Impl *>(object);
	if (id != SPA_PARAM_Props)
		return -ENOENT;
	if (num == 0)
		return -EINVAL;
	if (start > 0)
		return 0;
	std::uint8_t buffer[512];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	struct spa_pod_frame f[2];
	spa_pod_builder_push_object(&b, &f[0], SPA_TYPE_OBJECT_Props, SPA_PARAM_Props);
	spa_pod_builder_prop(&b, SPA_PROP_params, 0);
	spa_pod_builder_push_struct(&b, &f[1]);
	const std::pair<const char *, const std::atomic<std::uint64_t> *> counters[] = {
		{"api.utimer.cycles", &impl->cycles},
		{"api.utimer.triggers", &impl->triggers},
		{"api.utimer.errors", &impl->errors},
		{"api.utimer.late-cycles", &impl->late_cycles},
	};
	for (const auto &[key, value] : counters) {
		spa_pod_builder_string(&b, key);
		spa_pod_builder_long(&b, std::int64_t(value->load(std::memory_order_relaxed)));
	}
	spa_pod_builder_pop(&b, &f[1]);
	struct spa_result_node_params result {};
	result.id = id;
	result.index = 0;
	result.next = 1;
	result.param = static_cast<struct spa_pod *>(spa_pod_builder_pop(&b, &f[0]));
	spa_node_emit_result(&impl->hooks, seq, 0, SPA_RESULT_TYPE_NODE_PARAMS, &result);
	return 0;
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
	case SPA_NODE_COMMAND_Start: {
		const GraphCycle next = next_graph_cycle(impl->position);
		if (const int res = acquire_timer(impl, next.rate, std::uint32_t(next.duration));
		    res < 0) {
			emit_info(impl, false);
			return res;
		}
		impl->trigger_failing = false;
		impl->last_errno.store(0, std::memory_order_relaxed);
		impl->state = "running";
		impl->error.clear();
		set_started(impl, true);
		break;
	}
	case SPA_NODE_COMMAND_Pause:
	case SPA_NODE_COMMAND_Suspend:
		// The timer stays: loopback streams opened on it stay valid.
		set_started(impl, false);
		if (impl->timer && impl->state == "running")
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
	if (impl->following) {
		// The cycle being processed: its driver wrote clock.duration/rate
		// when it started it (target_* would be the next one).
		if (SPA_LIKELY(impl->position))
			impl->on_cycle(impl->position->clock.duration,
				       impl->position->clock.rate.denom);
	} else if (impl->cycle_open) {
		// Driving: the graph completed our cycle.
		impl->cycle_open = false;
		impl->completions_seen = true;
		if (impl->waiting) {
			// A late cycle: the next starts now, on a new epoch, rather
			// than cycles back to back to catch up with the clock.
			impl->waiting = false;
			impl->schedule.restart(now_ns(impl->data_system, CLOCK_MONOTONIC));
			impl->tracker.reset();
			arm_timer(impl, true);
		}
	}
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
	if (impl->watch)
		spa_loop_utils_destroy_source(impl->main_utils, impl->watch);
	if (impl->data_loop) {
		set_started(impl, false);
		set_ticking(impl, nullptr);
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

	// 0.3.65 sets the topic's level here; PipeWire >= 1.1.81 ignores this
	// and sets it from the plugin's spa_log_topic_enum (plugin.cpp).
	spa_log_topic_init(impl->log, &log_topic);
	impl->config = parse_config(info);
	if (impl->config.error.empty() && !impl->config.clock_device.empty())
		open_clock_device(impl);
	if (impl->config.error.empty())
		impl->reference = impl->clock_device.get() >= 0 ? impl->reference : impl->config.clock;
	// Pinned: the timer (and the loopback's timer_source) exist before ALSA
	// nodes created after this one open the loopback. Otherwise, or when this
	// fails (e.g. snd-aloop not loaded yet), the first Start makes it.
	if (impl->config.rate && impl->config.period)
		acquire_timer(impl, impl->config.rate, impl->config.period);
	else if (!impl->config.error.empty())
		fail(impl, impl->config.error);
	else if (const auto probe = utimer::probe(); !probe.ok())
		fail(impl, probe.message);  // shown now; Start tries again (modprobe later)

	impl->timer_source.func = on_timeout;
	impl->timer_source.data = impl;
	impl->timer_source.fd = impl->timerfd.get();
	impl->timer_source.mask = SPA_IO_IN;
	spa_loop_add_source(impl->data_loop, &impl->timer_source);

	if (impl->main_utils) {
		impl->watch = spa_loop_utils_add_timer(impl->main_utils, on_watch, impl);
		struct timespec second{1, 0};
		if (impl->watch)
			spa_loop_utils_update_timer(impl->main_utils, impl->watch,
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
	 "[ clock.name=<name> ] [ api.utimer.period=<frames> ] [ api.utimer.rate=<Hz> ] "
	 "[ api.utimer.aloop.card=<card> ]"},
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
