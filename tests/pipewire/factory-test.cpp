// SPDX-License-Identifier: GPL-2.0-or-later
// Loads the built libspa-utimer.so the way PipeWire does (dlopen +
// spa_handle_factory_enum), hosts the node on PipeWire's own support plugins
// (support.system, support.loop, support.log from the installed libspa-support)
// and checks the node: its info, its errors, driving cycles from the data loop,
// and 1000 create/start/destroy rounds (run under ASan/UBSan or valgrind).
//
// Usage: factory-test <libspa-utimer.so> <libspa-support.so> [doctest options]

#include <dlfcn.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spa/node/io.h>
#include <spa/node/node.h>
#include <spa/node/utils.h>
#include <spa/pod/builder.h>
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
	int infos = 0;
	int ready = 0;
	spa_hook listener{};

	static void on_info(void *data, const spa_node_info *info)
	{
		auto *o = static_cast<Observer *>(data);
		o->infos++;
		if (info->props)
			for (std::uint32_t i = 0; i < info->props->n_items; ++i)
				o->props[info->props->items[i].key] = info->props->items[i].value;
	}
	static int on_ready(void *data, int)
	{
		static_cast<Observer *>(data)->ready++;
		return 0;
	}
	static constexpr spa_node_events events = {SPA_VERSION_NODE_EVENTS, on_info, nullptr,
						   nullptr, nullptr};
	static constexpr spa_node_callbacks callbacks = {SPA_VERSION_NODE_CALLBACKS, on_ready,
							 nullptr, nullptr};

	void attach(spa_node *node)
	{
		REQUIRE(spa_node_add_listener(node, &listener, &events, this) == 0);
		REQUIRE(spa_node_set_callbacks(node, &callbacks, this) == 0);
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

TEST_CASE("a default node drives cycles with monotonic clock updates")
{
	Host host;
	Library plugin(plugin_path);
	Props props{{"node.name", "t"}};
	Handle handle(plugin.factory("api.utimer.driver"), &props.dict, host.node_support());
	REQUIRE(handle.result() == 0);
	void *other = nullptr;
	CHECK(spa_handle_get_interface(handle.handle(), SPA_TYPE_INTERFACE_Log, &other) == -ENOENT);
	auto *node = handle.get<spa_node>(SPA_TYPE_INTERFACE_Node);

	Observer o;
	o.attach(node);
	CHECK(o.props["node.driver"] == "true");
	CHECK(o.props["clock.name"] == "api.utimer.monotonic");
	CHECK(o.props["clock.id"] == "monotonic");
	CHECK(o.props["utimer.period"] == "quantum");
	const bool kernel_support = o.props["utimer.state"] != "error";
	if (!kernel_support)
		CHECK(o.props["utimer.error"].find("/dev/snd/timer") != std::string::npos);

	spa_io_position position{};
	position.clock.id = 7;
	position.clock.duration = 64;
	position.clock.rate = SPA_FRACTION(1, 48000);
	CHECK(spa_node_set_io(node, SPA_IO_Clock, &position.clock, sizeof(position.clock)) == 0);
	CHECK(spa_node_set_io(node, SPA_IO_Position, &position, sizeof(position)) == 0);
	CHECK(spa_node_set_io(node, SPA_IO_Buffers, nullptr, 0) == -ENOENT);
	CHECK(std::string(position.clock.name) == "api.utimer.monotonic");

	REQUIRE(send(node, SPA_NODE_COMMAND_Start) == 0);
	run_cycles(host, o, 50);
	CHECK(position.clock.position >= 50 * 64);
	CHECK(position.clock.rate_diff == 1.0);
	CHECK(position.clock.next_nsec - position.clock.nsec == 64 * SPA_NSEC_PER_SEC / 48000);
	timespec now{};
	clock_gettime(CLOCK_MONOTONIC, &now);
	CHECK(position.clock.nsec <= std::uint64_t(SPA_TIMESPEC_TO_NSEC(&now)));

	// Paused: the timerfd is disarmed, no more cycles.
	REQUIRE(send(node, SPA_NODE_COMMAND_Pause) == 0);
	const int ready = o.ready;
	spa_loop_control_enter(host.control);
	spa_loop_control_iterate(host.control, 20);
	spa_loop_control_leave(host.control);
	CHECK(o.ready == ready);

	if (!kernel_support)
		CHECK(o.props["utimer.state"] == "error");
	CHECK(spa_node_process(node) == SPA_STATUS_HAVE_DATA);
	CHECK(send(node, SPA_NODE_COMMAND_Suspend) == 0);
	CHECK(send(node, SPA_NODE_COMMAND_ParamBegin) == -ENOTSUP);
}

TEST_CASE("following another driver: no own wakeups")
{
	Host host;
	Library plugin(plugin_path);
	Handle handle(plugin.factory("api.utimer.driver"), nullptr, host.node_support());
	auto *node = handle.get<spa_node>(SPA_TYPE_INTERFACE_Node);
	Observer o;
	o.attach(node);
	spa_io_clock own{};
	own.id = 1;
	spa_io_position theirs{};
	theirs.clock.id = 2;
	theirs.clock.duration = 256;
	theirs.clock.rate = SPA_FRACTION(1, 48000);
	spa_node_set_io(node, SPA_IO_Clock, &own, sizeof(own));
	spa_node_set_io(node, SPA_IO_Position, &theirs, sizeof(theirs));
	REQUIRE(send(node, SPA_NODE_COMMAND_Start) == 0);
	spa_loop_control_enter(host.control);
	spa_loop_control_iterate(host.control, 30);
	spa_loop_control_leave(host.control);
	CHECK(o.ready == 0);
	CHECK(own.position == 0);
	for (int i = 0; i < 10; ++i)
		CHECK(spa_node_process(node) == SPA_STATUS_HAVE_DATA);
	// Now we are the driver of our own position: wakeups resume.
	spa_node_set_io(node, SPA_IO_Position, nullptr, 0);
	run_cycles(host, o, 3);
}

TEST_CASE("a reference clock other than monotonic is tracked with rate_diff near 1")
{
	for (const char *clock : {"monotonic-raw", "realtime", "tai", "boottime"}) {
		CAPTURE(clock);
		Host host;
		Library plugin(plugin_path);
		Props props{{"clock.id", clock}};
		Handle handle(plugin.factory("api.utimer.driver"), &props.dict, host.node_support());
		auto *node = handle.get<spa_node>(SPA_TYPE_INTERFACE_Node);
		Observer o;
		o.attach(node);
		CHECK(o.props["clock.name"] == std::string("api.utimer.") + clock);
		spa_io_position position{};
		position.clock.id = 3;
		position.clock.duration = 32;
		position.clock.rate = SPA_FRACTION(1, 48000);
		spa_node_set_io(node, SPA_IO_Clock, &position.clock, sizeof(position.clock));
		spa_node_set_io(node, SPA_IO_Position, &position, sizeof(position));
		REQUIRE(send(node, SPA_NODE_COMMAND_Start) == 0);
		run_cycles(host, o, 100);
		// System clocks differ from CLOCK_MONOTONIC by NTP slew, at most 500 ppm.
		CHECK(std::fabs(position.clock.rate_diff - 1.0) < 1e-3);
	}
}

TEST_CASE("bad properties: every mistake named, node still drives")
{
	Host host;
	Library plugin(plugin_path);
	Props props{{"clock.id", "sundial"}, {"utimer.period", "12x"}};
	Handle handle(plugin.factory("api.utimer.driver"), &props.dict, host.node_support());
	REQUIRE(handle.result() == 0);
	auto *node = handle.get<spa_node>(SPA_TYPE_INTERFACE_Node);
	Observer o;
	o.attach(node);
	CHECK(o.props["utimer.state"] == "error");
	const auto &error = o.props["utimer.error"];
	CHECK(error.find("clock.id = \"sundial\"") != std::string::npos);
	CHECK(error.find("monotonic-raw") != std::string::npos);
	CHECK(error.find("utimer.period = \"12x\"") != std::string::npos);
	CHECK(o.props["utimer.id"].empty());

	spa_io_position position{};
	position.clock.id = 1;
	position.clock.duration = 128;
	position.clock.rate = SPA_FRACTION(1, 48000);
	spa_node_set_io(node, SPA_IO_Clock, &position.clock, sizeof(position.clock));
	spa_node_set_io(node, SPA_IO_Position, &position, sizeof(position));
	REQUIRE(send(node, SPA_NODE_COMMAND_Start) == 0);
	run_cycles(host, o, 5);
	CHECK(o.props["utimer.state"] == "error");
	CHECK(o.props["utimer.id"].empty());
}

TEST_CASE("clock.device that is not a clock")
{
	Host host;
	Library plugin(plugin_path);
	for (const char *device : {"/dev/null", "/nonexistent/ptp9"}) {
		CAPTURE(device);
		Props props{{"clock.device", device}};
		Handle handle(plugin.factory("api.utimer.driver"), &props.dict, host.node_support());
		REQUIRE(handle.result() == 0);
		Observer o;
		o.attach(handle.get<spa_node>(SPA_TYPE_INTERFACE_Node));
		CHECK(o.props["utimer.state"] == "error");
		CHECK(o.props["utimer.error"].find(std::string("clock.device = \"") + device) !=
		      std::string::npos);
	}
}

TEST_CASE("1000 create/start/destroy rounds leave nothing behind")
{
	Host host;
	Library plugin(plugin_path);
	const auto *factory = plugin.factory("api.utimer.driver");
	Props variants[] = {
		{},
		{{"utimer.period", "256"}, {"clock.id", "monotonic-raw"}},
		{{"utimer.aloop.card", "Loopback"}},
		{{"utimer.period", "0"}, {"clock.id", "x"}},
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
		REQUIRE(send(node, SPA_NODE_COMMAND_Start) == 0);
		if (round % 100 == 0)
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
