// SPDX-License-Identifier: GPL-2.0-or-later
// Loads the built libspa-utimer.so the way PipeWire does (dlopen +
// spa_handle_factory_enum), hosts the node on PipeWire's own support plugins
// (support.system, support.loop, support.log from the installed libspa-support)
// and checks the node: its info, its errors, driving cycles from the data loop,
// and 1000 create/start/destroy rounds (run under ASan/UBSan or valgrind).
// Test suite "kernel" needs a kernel with userspace-driven timers (run in the
// VM); "no-kernel" asserts the errors where there is none (the build host).
//
// Usage: factory-test <libspa-utimer.so> <libspa-support.so> [doctest options]

#include <dlfcn.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spa/node/io.h>
#include <spa/node/node.h>
#include <spa/node/utils.h>
#include <spa/param/props.h>
#include <spa/pod/builder.h>
#include <spa/pod/iter.h>
#include <spa/node/event.h>
#include <spa/support/log.h>
#include <spa/support/loop.h>
#include <spa/support/plugin.h>
#include <spa/support/system.h>
#include <spa/utils/dict.h>
#include <spa/utils/hook.h>
#include <spa/utils/names.h>
#include <spa/utils/string.h>

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "core-position.hpp"  // clock.target_* as a core writes them

namespace {

std::string plugin_path, support_path;

struct Library {
	void *dl = nullptr;
	explicit Library(const std::string &path) : dl(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))
	{
		if (!dl)
			FAIL("dlopen ", path, ": ", dlerror());
	}
	~Library() { if (dl) dlclose(dl); }

	const spa_handle_factory *factory(const char *name) const
	{
		auto enum_func = reinterpret_cast<spa_handle_factory_enum_func_t>(
			dlsym(dl, SPA_HANDLE_FACTORY_ENUM_FUNC_NAME));
		const bool exported = enum_func != nullptr;
		REQUIRE_MESSAGE(exported, "no " SPA_HANDLE_FACTORY_ENUM_FUNC_NAME);
		const spa_handle_factory *f = nullptr;
		for (std::uint32_t index = 0; enum_func(&f, &index) > 0;)
			if (spa_streq(f->name, name))
				return f;
		return nullptr;
	}
};

// A spa_handle in memory sized by its factory; cleared on destruction.
class Handle {
public:
	Handle(const spa_handle_factory *factory, const spa_dict *props,
	       const std::vector<spa_support> &support)
		: memory_(spa_handle_factory_get_size(factory, props))
	{
		auto *h = reinterpret_cast<spa_handle *>(memory_.data());
		res_ = spa_handle_factory_init(factory, h, props, support.data(),
					       std::uint32_t(support.size()));
		if (res_ == 0)
			handle_ = h;
	}
	Handle(const Handle &) = delete;
	~Handle() { if (handle_) spa_handle_clear(handle_); }
	int result() const { return res_; }
	template <typename T> T *get(const char *type) const
	{
		void *iface = nullptr;
		REQUIRE(handle_ != nullptr);
		REQUIRE(spa_handle_get_interface(handle_, type, &iface) == 0);
		return static_cast<T *>(iface);
	}
	spa_handle *handle() const { return handle_; }

private:
	// Suitably aligned storage: the plugin places its C++ object here.
	struct Aligned {
		alignas(std::max_align_t) unsigned char b[sizeof(std::max_align_t)];
	};
	struct Memory {
		std::vector<Aligned> v;
		explicit Memory(std::size_t size) : v((size + sizeof(Aligned) - 1) / sizeof(Aligned)) {}
		void *data() { return v.data(); }
	} memory_;
	spa_handle *handle_ = nullptr;
	int res_ = -1;
};

// PipeWire's support plugins, as the daemon gives them to nodes.
struct Host {
	Library support_lib{support_path};
	Handle system{support_lib.factory(SPA_NAME_SUPPORT_SYSTEM), nullptr, {}};
	spa_system *sys = system.get<spa_system>(SPA_TYPE_INTERFACE_System);
	Handle log_handle{support_lib.factory(SPA_NAME_SUPPORT_LOG), nullptr,
			  {SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_System, sys)}};
	spa_log *log = log_handle.get<spa_log>(SPA_TYPE_INTERFACE_Log);
	Handle loop_handle{support_lib.factory(SPA_NAME_SUPPORT_LOOP), nullptr,
			   {SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_System, sys),
			    SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_Log, log)}};
	spa_loop *loop = loop_handle.get<spa_loop>(SPA_TYPE_INTERFACE_Loop);
	spa_loop_control *control = loop_handle.get<spa_loop_control>(SPA_TYPE_INTERFACE_LoopControl);
	spa_loop_utils *utils = loop_handle.get<spa_loop_utils>(SPA_TYPE_INTERFACE_LoopUtils);

	std::vector<spa_support> node_support() const
	{
		return {SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_Log, log),
			SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_DataLoop, loop),
			SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_DataSystem, sys),
			SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_LoopUtils, utils)};
	}
};

struct Props {
	std::vector<spa_dict_item> items;
	spa_dict dict{};
	Props(std::initializer_list<std::pair<const char *, const char *>> kv)
	{
		for (const auto &[k, v] : kv)
			items.push_back(SPA_DICT_ITEM_INIT(k, v));
		dict = SPA_DICT_INIT(items.data(), std::uint32_t(items.size()));
	}
};

// What the node told us through its events and callbacks.
struct Observer {
	std::map<std::string, std::string> props;
	std::map<std::string, std::int64_t> counters;  // from the last Props param
	int infos = 0;
	int ready = 0;
	int errors = 0;  // SPA_NODE_EVENT_Error
	spa_hook listener{};

	static void on_info(void *data, const spa_node_info *info)
	{
		auto *o = static_cast<Observer *>(data);
		o->infos++;
		if (info->props) {
			o->props.clear();  // the node sends all its properties each time
			for (std::uint32_t i = 0; i < info->props->n_items; ++i)
				o->props[info->props->items[i].key] = info->props->items[i].value;
		}
	}
	static void on_result(void *data, int, int, std::uint32_t type, const void *result)
	{
		auto *o = static_cast<Observer *>(data);
		if (type != SPA_RESULT_TYPE_NODE_PARAMS)
			return;
		const auto *r = static_cast<const spa_result_node_params *>(result);
		const auto *obj = reinterpret_cast<const spa_pod_object *>(r->param);
		const spa_pod_prop *prop = spa_pod_find_prop(r->param, nullptr, SPA_PROP_params);
		REQUIRE(obj->body.type == SPA_TYPE_OBJECT_Props);
		REQUIRE(prop != nullptr);
		REQUIRE(spa_pod_is_struct(&prop->value));
		o->counters.clear();
		const char *key = nullptr;
		const spa_pod *value = &prop->value;
		for (auto *item = static_cast<const spa_pod *>(SPA_POD_BODY_CONST(value));
		     spa_pod_is_inside(SPA_POD_BODY_CONST(value), SPA_POD_BODY_SIZE(value), item);
		     item = static_cast<const spa_pod *>(spa_pod_next(item))) {
			if (key == nullptr) {
				REQUIRE(spa_pod_get_string(item, &key) == 0);
			} else {
				int64_t value = 0;
				REQUIRE(spa_pod_get_long(item, &value) == 0);
				o->counters[key] = value;
				key = nullptr;
			}
		}
	}
	static void on_event(void *data, const spa_event *event)
	{
		if (SPA_NODE_EVENT_ID(event) == SPA_NODE_EVENT_Error)
			static_cast<Observer *>(data)->errors++;
	}
	static int on_ready(void *data, int)
	{
		static_cast<Observer *>(data)->ready++;
		return 0;
	}
	static constexpr spa_node_events events = {SPA_VERSION_NODE_EVENTS, on_info, nullptr,
						   on_result, on_event};
	static constexpr spa_node_callbacks callbacks = {SPA_VERSION_NODE_CALLBACKS, on_ready,
							 nullptr, nullptr};

	void attach(spa_node *node)
	{
		REQUIRE(spa_node_add_listener(node, &listener, &events, this) == 0);
		REQUIRE(spa_node_set_callbacks(node, &callbacks, this) == 0);
	}
	// The node's counters now (they are a Props param, not properties).
	std::int64_t counter(spa_node *node, const std::string &key)
	{
		counters.clear();
		REQUIRE(spa_node_enum_params(node, 1, SPA_PARAM_Props, 0, 1, nullptr) == 0);
		REQUIRE(counters.count(key) == 1);
		return counters[key];
	}
	~Observer() { spa_hook_remove(&listener); }
};

int send(spa_node *node, std::uint32_t id)
{
	spa_command cmd = SPA_NODE_COMMAND_INIT(id);
	return spa_node_send_command(node, &cmd);
}

// Runs the data loop until the node called ready() n more times.
void run_cycles(Host &host, Observer &o, int n)
{
	const int until = o.ready + n;
	spa_loop_control_enter(host.control);
	for (int guard = 0; o.ready < until && guard < 100 * n; ++guard)
		spa_loop_control_iterate(host.control, 1000);
	spa_loop_control_leave(host.control);
	REQUIRE(o.ready >= until);
}

}  // namespace

TEST_CASE("the plugin exports api.utimer.driver with a Node interface")
{
	Library plugin(plugin_path);
	const auto *factory = plugin.factory("api.utimer.driver");
	REQUIRE(factory != nullptr);
	CHECK(factory->version >= 1);
	const spa_interface_info *info = nullptr;
	std::uint32_t index = 0;
	REQUIRE(spa_handle_factory_enum_interface_info(factory, &info, &index) == 1);
	CHECK(std::string(info->type) == SPA_TYPE_INTERFACE_Node);
	CHECK(spa_handle_factory_enum_interface_info(factory, &info, &index) == 0);
}

TEST_CASE("without a data loop the node refuses to exist and says why")
{
	Library plugin(plugin_path);
	Handle node(plugin.factory("api.utimer.driver"), nullptr, {});
	CHECK(node.result() == -EINVAL);
}

namespace {

// A node on the host's loop with its clock and position io set up.
struct Node {
	Host &host;
	Library plugin{plugin_path};
	Props props;
	Handle handle;
	spa_node *node;
	Observer o;
	spa_io_position position{};

	Node(Host &h, Props p, std::uint64_t quantum = 256, std::uint32_t rate = 48000)
		: host(h), props(std::move(p)),
		  handle(plugin.factory("api.utimer.driver"), &props.dict, host.node_support()),
		  node(handle.get<spa_node>(SPA_TYPE_INTERFACE_Node))
	{
		o.attach(node);
		position.clock.id = 7;
		position.clock.duration = quantum;
		position.clock.rate = SPA_FRACTION(1, rate);
		REQUIRE(spa_node_set_io(node, SPA_IO_Clock, &position.clock, sizeof(position.clock)) == 0);
		REQUIRE(spa_node_set_io(node, SPA_IO_Position, &position, sizeof(position)) == 0);
	}
	// Another driver's position: we follow it and tick from process().
	spa_io_position theirs{};
	void follow(std::uint64_t quantum, std::uint32_t rate)
	{
		theirs.clock.id = 2;
		theirs.clock.duration = quantum;
		theirs.clock.rate = SPA_FRACTION(1, rate);
		REQUIRE(spa_node_set_io(node, SPA_IO_Position, &theirs, sizeof(theirs)) == 0);
	}
	void iterate(int ms)
	{
		spa_loop_control_enter(host.control);
		spa_loop_control_iterate(host.control, ms);
		spa_loop_control_leave(host.control);
	}
	std::int64_t triggers() { return o.counter(node, "api.utimer.triggers"); }
};

}  // namespace

TEST_CASE("every node: properties set or absent, counters as a Props param")
{
	Host host;
	Node n(host, {{"node.name", "t"}});
	void *other = nullptr;
	CHECK(spa_handle_get_interface(n.handle.handle(), SPA_TYPE_INTERFACE_Log, &other) == -ENOENT);
	CHECK(n.o.props["node.driver"] == "true");
	CHECK(n.o.props["clock.name"] == "api.utimer.monotonic");
	CHECK(n.o.props["clock.id"] == "monotonic");
	CHECK(std::string(n.position.clock.name) == "api.utimer.monotonic");
	for (const auto &[key, value] : n.o.props) {
		CAPTURE(key);
		CHECK(!value.empty());
		CHECK(key.rfind("utimer.", 0) != 0);  // api.utimer.*, never bare utimer.*
	}
	CHECK(n.o.props.count("api.utimer.period") == 0);  // not pinned, no timer yet
	CHECK(n.o.props.count("clock.device") == 0);
	CHECK(n.o.counter(n.node, "api.utimer.cycles") == 0);
	CHECK(n.o.counter(n.node, "api.utimer.errors") == 0);
	CHECK(n.triggers() == 0);
	CHECK(spa_node_enum_params(n.node, 1, SPA_PARAM_EnumFormat, 0, 1, nullptr) == -ENOENT);
	CHECK(spa_node_set_io(n.node, SPA_IO_Buffers, nullptr, 0) == -ENOENT);
	CHECK(send(n.node, SPA_NODE_COMMAND_ParamBegin) == -ENOTSUP);
}

TEST_SUITE("no-kernel")
{
TEST_CASE("without kernel support Start fails, the node says why and never wakes")
{
	Host host;
	Node n(host, {});
	CHECK(send(n.node, SPA_NODE_COMMAND_Start) == -ENODEV);
	CHECK(n.o.props["api.utimer.state"] == "error");
	CHECK(n.o.props["api.utimer.error"].find("/dev/snd/timer") != std::string::npos);
	CHECK(n.o.props.count("api.utimer.id") == 0);
	n.iterate(50);
	CHECK(n.o.ready == 0);
	CHECK(n.o.counter(n.node, "api.utimer.cycles") == 0);
	// A retry fails the same way; Pause/Suspend are fine.
	CHECK(send(n.node, SPA_NODE_COMMAND_Start) == -ENODEV);
	CHECK(send(n.node, SPA_NODE_COMMAND_Suspend) == 0);
}
}

TEST_CASE("bad properties: every mistake named at creation, Start refused")
{
	Host host;
	Node n(host, {{"clock.id", "sundial"}, {"api.utimer.period", "12x"}});
	CHECK(n.o.props["api.utimer.state"] == "error");
	const auto error = n.o.props["api.utimer.error"];
	CHECK(error.find("clock.id = \"sundial\"") != std::string::npos);
	CHECK(error.find("monotonic-raw") != std::string::npos);
	CHECK(error.find("api.utimer.period = \"12x\"") != std::string::npos);
	CHECK(n.o.props.count("api.utimer.id") == 0);
	CHECK(send(n.node, SPA_NODE_COMMAND_Start) == -EINVAL);
	n.iterate(20);
	CHECK(n.o.ready == 0);
	CHECK(n.o.props["api.utimer.error"] == error);
}

TEST_CASE("clock.device that is not a clock")
{
	Host host;
	for (const char *device : {"/dev/null", "/nonexistent/ptp9"}) {
		CAPTURE(device);
		Node n(host, {{"clock.device", device}});
		CHECK(n.o.props["api.utimer.state"] == "error");
		CHECK(n.o.props["api.utimer.error"].find(std::string("clock.device = \"") + device) !=
		      std::string::npos);
		CHECK(send(n.node, SPA_NODE_COMMAND_Start) == -EINVAL);
	}
}

TEST_SUITE("kernel")
{
TEST_CASE("driving: a wakeup waits for the graph to finish the previous cycle")
{
	Host host;
	Node n(host, {}, 64);
	REQUIRE(send(n.node, SPA_NODE_COMMAND_Start) == 0);
	// A host that never calls process() on its driver: nothing waits.
	run_cycles(host, n.o, 5);
	CHECK(n.o.counter(n.node, "api.utimer.late-cycles") == 0);
	// PipeWire calls the driver's process() when the graph finished a cycle.
	for (int i = 0; i < 10; ++i) {
		spa_node_process(n.node);
		run_cycles(host, n.o, 1);
	}
	CHECK(n.o.counter(n.node, "api.utimer.late-cycles") == 0);
	// The graph does not finish the open cycle: no tick, no new cycle, one
	// late cycle (asserted while within the 200 ms a wakeup waits at most).
	const int ready = n.o.ready;
	const auto triggers = n.triggers();
	const auto since = std::chrono::steady_clock::now();
	while (std::chrono::steady_clock::now() - since < std::chrono::milliseconds(50))
		n.iterate(5);
	if (std::chrono::steady_clock::now() - since < std::chrono::milliseconds(200)) {
		CHECK(n.o.ready == ready);
		CHECK(n.triggers() == triggers);
		CHECK(n.o.counter(n.node, "api.utimer.late-cycles") == 1);
	}
	// Finished: the next cycle starts at once, with its tick.
	spa_node_process(n.node);
	run_cycles(host, n.o, 1);
	CHECK(n.triggers() >= triggers + 1);
	// Stuck for longer than 200 ms: the group goes on without it.
	const int stuck = n.o.ready;
	run_cycles(host, n.o, 3);
	CHECK(n.o.ready == stuck + 3);
	CHECK(n.triggers() == n.o.ready);
}

TEST_CASE("driving: clock updates and one tick per period after each cycle")
{
	Host host;
	Node n(host, {}, 64);
	REQUIRE(send(n.node, SPA_NODE_COMMAND_Start) == 0);
	CHECK(n.o.props["api.utimer.state"] == "running");
	CHECK(n.o.props["api.utimer.period"] == "64");
	CHECK(n.o.props["api.utimer.rate"] == "48000");
	const auto id = n.o.props["api.utimer.id"];
	CHECK(!id.empty());
	CHECK(n.o.props["api.utimer.timer-source"] == "-1.4." + id);
	run_cycles(host, n.o, 50);
	CHECK(n.position.clock.position >= 49 * 64);
	CHECK(n.position.clock.rate_diff == 1.0);
	CHECK(n.position.clock.next_nsec - n.position.clock.nsec == 64 * SPA_NSEC_PER_SEC / 48000);
	timespec now{};
	clock_gettime(CLOCK_MONOTONIC, &now);
	CHECK(n.position.clock.nsec <= std::uint64_t(SPA_TIMESPEC_TO_NSEC(&now)));
	// Each wakeup ticks before it runs the graph: triggers == cycles.
	CHECK(n.triggers() == n.o.ready);
	CHECK(n.o.counter(n.node, "api.utimer.cycles") == n.o.ready);
	CHECK(n.o.counter(n.node, "api.utimer.errors") == 0);

	// Paused: the timerfd is disarmed, no more cycles; the timer stays.
	REQUIRE(send(n.node, SPA_NODE_COMMAND_Pause) == 0);
	const int ready = n.o.ready;
	n.iterate(20);
	CHECK(n.o.ready == ready);
	CHECK(n.o.props["api.utimer.id"] == id);
	REQUIRE(send(n.node, SPA_NODE_COMMAND_Suspend) == 0);
	// Resumed at another quantum: same timer. (A stopped driver's next
	// quantum: PipeWire >= 0.3.68 writes it to duration and target_duration.)
	n.position.clock.duration = 1024;
	utimer::test::set_target(n.position, 1024, 48000);
	REQUIRE(send(n.node, SPA_NODE_COMMAND_Start) == 0);
	CHECK(n.o.props["api.utimer.id"] == id);
	CHECK(n.o.props["api.utimer.period"] == "64");
	const auto before = n.triggers();
	run_cycles(host, n.o, 5);
	CHECK(n.triggers() - before == 5 * 1024 / 64);
}

TEST_CASE("driving: a running graph's quantum and rate changes, as each PipeWire asks for them")
{
	// true: PipeWire >= 1.3.81 (Debian 13, bookworm-backports' 1.4.2) puts a
	// running graph's next quantum and rate only in clock.target_*;
	// false: 0.3.65 (Debian 12) has no such fields and sets duration/rate.
	for (const bool target : {true, false}) {
		CAPTURE(target);
		Host host;
		Node n(host, {{"api.utimer.period", "64"}, {"api.utimer.rate", "48000"}}, 64);
		const auto ask = [&](std::uint64_t quantum, std::uint32_t rate) {
			if (target) {
				utimer::test::set_target(n.position, quantum, rate);
			} else {
				n.position.clock.duration = quantum;
				n.position.clock.rate = SPA_FRACTION(1, rate);
			}
		};
		ask(64, 48000);
		REQUIRE(send(n.node, SPA_NODE_COMMAND_Start) == 0);
		run_cycles(host, n.o, 5);
		CHECK(n.triggers() == 5);
		const auto id = n.o.props["api.utimer.id"];

		// Quantum 256 while running: four 64-frame periods a cycle.
		ask(256, 48000);
		auto before = n.triggers();
		run_cycles(host, n.o, 5);
		CHECK(n.triggers() - before == 5 * 256 / 64);
		CHECK(n.position.clock.duration == 256);
		CHECK(n.position.clock.next_nsec - n.position.clock.nsec - 256 * SPA_NSEC_PER_SEC / 48000 <= 1);

		// Graph at 96 kHz: 256 frames are two 64-frame periods at 48 kHz.
		// (A cycle's length in ns is rounded from the epoch: +1 ns at times.)
		ask(256, 96000);
		before = n.triggers();
		run_cycles(host, n.o, 5);
		CHECK(n.triggers() - before == 5 * 2);
		CHECK(n.position.clock.rate.denom == 96000);
		CHECK(n.position.clock.next_nsec - n.position.clock.nsec - 256 * SPA_NSEC_PER_SEC / 96000 <= 1);
		CHECK(n.o.props["api.utimer.id"] == id);
		CHECK(n.o.counter(n.node, "api.utimer.errors") == 0);
	}
}

TEST_CASE("following: ticks after process(), at any quantum and rate")
{
	Host host;
	Node n(host, {{"api.utimer.period", "256"}, {"api.utimer.rate", "48000"}});
	const auto id = n.o.props["api.utimer.id"];
	REQUIRE(!id.empty());  // pinned: made at creation
	n.follow(256, 48000);
	REQUIRE(send(n.node, SPA_NODE_COMMAND_Start) == 0);
	n.iterate(30);
	CHECK(n.o.ready == 0);  // no own wakeups
	CHECK(n.position.clock.position == 0);
	CHECK(n.triggers() == 0);
	for (int i = 0; i < 10; ++i)
		CHECK(spa_node_process(n.node) == SPA_STATUS_HAVE_DATA);
	CHECK(n.triggers() == 10);
	// Quantum 64: one tick every fourth cycle.
	n.theirs.clock.duration = 64;
	for (int i = 0; i < 8; ++i)
		spa_node_process(n.node);
	CHECK(n.triggers() == 12);
	// Graph at 96 kHz: 512 frames are one 256-frame period at 48 kHz.
	n.theirs.clock.duration = 512;
	n.theirs.clock.rate = SPA_FRACTION(1, 96000);
	for (int i = 0; i < 4; ++i)
		spa_node_process(n.node);
	CHECK(n.triggers() == 16);
	CHECK(n.o.props["api.utimer.id"] == id);
	CHECK(n.o.counter(n.node, "api.utimer.errors") == 0);
	// Now we are the driver of our own position: wakeups resume.
	REQUIRE(spa_node_set_io(n.node, SPA_IO_Position, &n.position, sizeof(n.position)) == 0);
	run_cycles(host, n.o, 3);
	CHECK(n.o.props["api.utimer.id"] == id);
}

TEST_CASE("a reference clock other than monotonic is tracked with rate_diff near 1")
{
	for (const char *clock : {"monotonic-raw", "realtime", "tai", "boottime"}) {
		CAPTURE(clock);
		Host host;
		Node n(host, {{"clock.id", clock}}, 32);
		CHECK(n.o.props["clock.name"] == std::string("api.utimer.") + clock);
		REQUIRE(send(n.node, SPA_NODE_COMMAND_Start) == 0);
		run_cycles(host, n.o, 100);
		// System clocks differ from CLOCK_MONOTONIC by NTP slew, at most 500 ppm.
		CHECK(std::fabs(n.position.clock.rate_diff - 1.0) < 1e-3);
	}
}
}

TEST_CASE("1000 create/start/destroy rounds leave nothing behind")
{
	Host host;
	Library plugin(plugin_path);
	const auto *factory = plugin.factory("api.utimer.driver");
	Props variants[] = {
		{},
		{{"api.utimer.period", "256"}, {"clock.id", "monotonic-raw"}},
		{{"api.utimer.period", "256"}, {"api.utimer.rate", "48000"}},
		{{"api.utimer.aloop.card", "NoSuchCard"}},
		{{"api.utimer.period", "0"}, {"clock.id", "x"}},
		{{"clock.device", "/dev/null"}},
	};
	for (int round = 0; round < 1000; ++round) {
		auto &props = variants[round % std::size(variants)];
		Handle handle(factory, &props.dict, host.node_support());
		REQUIRE(handle.result() == 0);
		auto *node = handle.get<spa_node>(SPA_TYPE_INTERFACE_Node);
		Observer o;
		o.attach(node);
		spa_io_position position{};
		position.clock.id = 1;
		position.clock.duration = 64;
		position.clock.rate = SPA_FRACTION(1, 48000);
		spa_node_set_io(node, SPA_IO_Clock, &position.clock, sizeof(position.clock));
		spa_node_set_io(node, SPA_IO_Position, &position, sizeof(position));
		if (send(node, SPA_NODE_COMMAND_Start) == 0 && round % 100 == 0)
			run_cycles(host, o, 2);
		if (round % 2)
			REQUIRE(send(node, SPA_NODE_COMMAND_Suspend) == 0);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		std::fprintf(stderr, "usage: %s <libspa-utimer.so> <libspa-support.so> [doctest options]\n",
			     argv[0]);
		return 2;
	}
	plugin_path = argv[1];
	support_path = argv[2];
	doctest::Context context;
	context.applyCommandLine(argc - 2, argv + 2);
	return context.run();
}
