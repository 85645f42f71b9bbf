// SPDX-License-Identifier: GPL-2.0-or-later
// CPU cost per cycle of a driver node alone: api.utimer.driver next to
// support.node.driver (the baseline), each loaded from its plugin and hosted on
// PipeWire's support.loop/support.system exactly as the daemon's data loop
// would, driving N cycles at a small quantum. The number is the data thread's
// CPU time (CLOCK_THREAD_CPUTIME_ID) per cycle: timerfd read/arm, clock
// update, ready callback and, for ours, the tick (the TRIGGER ioctl when the
// kernel has userspace-driven timers, e.g. in the VM; nothing on a host
// without /dev/snd/timer, where the node runs in its error state).
//
// Usage: driver-cost <libspa-utimer.so> <libspa-support.so> [cycles=20000] [quantum=32]

#include <dlfcn.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include <spa/node/io.h>
#include <spa/node/node.h>
#include <spa/node/utils.h>
#include <spa/support/log.h>
#include <spa/support/loop.h>
#include <spa/support/plugin.h>
#include <spa/support/system.h>
#include <spa/utils/names.h>
#include <spa/utils/result.h>
#include <spa/utils/string.h>

namespace {

[[noreturn]] void die(const std::string &what)
{
	std::fprintf(stderr, "driver-cost: %s\n", what.c_str());
	std::exit(1);
}

struct Library {
	void *dl;
	explicit Library(const char *path) : dl(dlopen(path, RTLD_NOW | RTLD_LOCAL))
	{
		if (!dl)
			die(std::string("dlopen: ") + dlerror());
	}
	Library(const Library &) = delete;
	~Library() { dlclose(dl); }
	const spa_handle_factory *factory(const char *name) const
	{
		auto enum_func = reinterpret_cast<spa_handle_factory_enum_func_t>(
			dlsym(dl, SPA_HANDLE_FACTORY_ENUM_FUNC_NAME));
		const spa_handle_factory *f = nullptr;
		for (std::uint32_t i = 0; enum_func && enum_func(&f, &i) > 0;)
			if (spa_streq(f->name, name))
				return f;
		die(std::string("no factory ") + name);
	}
};

class Handle {
public:
	Handle(const spa_handle_factory *f, const std::vector<spa_support> &support)
		: memory_((spa_handle_factory_get_size(f, nullptr) + sizeof(Block) - 1) / sizeof(Block))
	{
		auto *h = reinterpret_cast<spa_handle *>(memory_.data());
		if (spa_handle_factory_init(f, h, nullptr, support.data(), std::uint32_t(support.size())) < 0)
			die(std::string("cannot create ") + f->name);
		handle_ = h;
	}
	Handle(const Handle &) = delete;
	~Handle() { spa_handle_clear(handle_); }
	template <typename T> T *get(const char *type) const
	{
		void *iface = nullptr;
		if (spa_handle_get_interface(handle_, type, &iface) < 0)
			die(std::string("no interface ") + type);
		return static_cast<T *>(iface);
	}

private:
	// Zero-filled like PipeWire's calloc: every byte, padding included.
	struct Block {
		alignas(std::max_align_t) unsigned char bytes[sizeof(std::max_align_t)];
	};
	std::vector<Block> memory_;
	spa_handle *handle_ = nullptr;
};

std::uint64_t thread_cpu_ns()
{
	timespec ts{};
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

struct Result {
	double ns_per_cycle;
	int cycles;
	std::map<std::string, std::string> props;  // the node's last info
};

struct Observer {
	int ready = 0;
	std::map<std::string, std::string> props;
	spa_hook listener{};
};

int on_ready(void *data, int)
{
	static_cast<Observer *>(data)->ready++;
	return 0;
}

void on_info(void *data, const spa_node_info *info)
{
	if (info->props)
		for (std::uint32_t i = 0; i < info->props->n_items; ++i)
			static_cast<Observer *>(data)->props[info->props->items[i].key] =
				info->props->items[i].value;
}

// Drives `cycles` cycles of the named driver; returns CPU ns per cycle.
Result measure(const Library &plugin, const Library &support_lib, const char *name, int cycles,
	       std::uint32_t quantum)
{
	Handle system(support_lib.factory(SPA_NAME_SUPPORT_SYSTEM), {});
	auto *sys = system.get<spa_system>(SPA_TYPE_INTERFACE_System);
	Handle loop_handle(support_lib.factory(SPA_NAME_SUPPORT_LOOP),
			   {SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_System, sys)});
	auto *loop = loop_handle.get<spa_loop>(SPA_TYPE_INTERFACE_Loop);
	auto *control = loop_handle.get<spa_loop_control>(SPA_TYPE_INTERFACE_LoopControl);
	const std::vector<spa_support> support = {
		SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_DataLoop, loop),
		SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_DataSystem, sys),
		SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_Loop, loop),
		SPA_SUPPORT_INIT(SPA_TYPE_INTERFACE_System, sys),
	};
	Handle node_handle(plugin.factory(name), support);
	auto *node = node_handle.get<spa_node>(SPA_TYPE_INTERFACE_Node);

	Observer o;
	static constexpr spa_node_callbacks callbacks = {SPA_VERSION_NODE_CALLBACKS, on_ready,
							 nullptr, nullptr};
	static constexpr spa_node_events events = {SPA_VERSION_NODE_EVENTS, on_info, nullptr,
						   nullptr, nullptr};
	spa_node_set_callbacks(node, &callbacks, &o);
	spa_node_add_listener(node, &o.listener, &events, &o);
	int &ready = o.ready;
	spa_io_position position{};
	position.clock.id = 1;
	position.clock.duration = quantum;
	position.clock.rate = SPA_FRACTION(1, 48000);
	spa_node_set_io(node, SPA_IO_Clock, &position.clock, sizeof(position.clock));
	spa_node_set_io(node, SPA_IO_Position, &position, sizeof(position));
	spa_command start = SPA_NODE_COMMAND_INIT(SPA_NODE_COMMAND_Start);
	if (const int res = spa_node_send_command(node, &start); res < 0) {
		// api.utimer.driver refuses to start without a timer.
		std::fprintf(stderr, "%s does not start: %s (%s); run this where the kernel has "
			     "userspace-driven timers (tools/vm/utimer-vm)\n", name, spa_strerror(res),
			     o.props["api.utimer.error"].c_str());
		std::exit(1);
	}

	spa_loop_control_enter(control);
	while (ready < 100)  // warm up
		spa_loop_control_iterate(control, -1);
	const int first = ready;
	const std::uint64_t cpu0 = thread_cpu_ns();
	while (ready < first + cycles)
		spa_loop_control_iterate(control, -1);
	const std::uint64_t cpu1 = thread_cpu_ns();
	spa_loop_control_leave(control);

	spa_command pause = SPA_NODE_COMMAND_INIT(SPA_NODE_COMMAND_Pause);
	spa_node_send_command(node, &pause);  // ours publishes its counters here
	spa_hook_remove(&o.listener);
	return {double(cpu1 - cpu0) / (ready - first), ready - first, o.props};
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc < 3) {
		std::fprintf(stderr, "usage: %s <libspa-utimer.so> <libspa-support.so> [cycles] [quantum]\n",
			     argv[0]);
		return 2;
	}
	const int cycles = argc > 3 ? std::atoi(argv[3]) : 20000;
	const auto quantum = std::uint32_t(argc > 4 ? std::atoi(argv[4]) : 32);
	const Library ours(argv[1]), support(argv[2]);

	const Result base = measure(support, support, "support.node.driver", cycles, quantum);
	Result utimer = measure(ours, support, "api.utimer.driver", cycles, quantum);
	std::printf("%d cycles of %u frames at 48 kHz, data-thread CPU per cycle:\n", cycles, quantum);
	std::printf("  support.node.driver  %8.0f ns (baseline)\n", base.ns_per_cycle);
	auto prop = [&](const char *key) { return utimer.props[key].c_str(); };
	std::printf("  api.utimer.driver    %8.0f ns  ratio %.2f  (api.utimer.state %s, timer %s%s%s)\n",
		    utimer.ns_per_cycle, utimer.ns_per_cycle / base.ns_per_cycle,
		    prop("api.utimer.state"), prop("api.utimer.id"),
		    *prop("api.utimer.error") ? "; " : "", prop("api.utimer.error"));
	return 0;
}
