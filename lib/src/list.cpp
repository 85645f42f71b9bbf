// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/list.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sound/asound.h>
#include <sstream>
#include <sys/ioctl.h>

#include "advice.hpp"
#include "fd.hpp"
#include "utimer/abi.hpp"
#include "utimer/error.hpp"

namespace utimer {

namespace {

constexpr std::string_view utimer_name_prefix = "snd-utimer";

std::optional<unsigned> utimer_id_from_name(std::string_view name)
{
	if (name.substr(0, utimer_name_prefix.size()) != utimer_name_prefix)
		return std::nullopt;
	name.remove_prefix(utimer_name_prefix.size());
	unsigned id = 0;
	auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
	if (ec != std::errc() || end != name.data() + name.size() || name.empty() ||
	    id >= static_cast<unsigned>(abi::max_timers))
		return std::nullopt;
	return id;
}

// "20.833us" -> 20833 (the kernel prints ns / 1000 "." ns % 1000 as %03lu)
std::optional<std::uint64_t> parse_microseconds(std::string_view text)
{
	auto dot = text.find('.');
	if (dot == std::string_view::npos || text.size() != dot + 6 || text.substr(dot + 4) != "us")
		return std::nullopt;
	std::uint64_t whole = 0, frac = 0;
	auto w = std::from_chars(text.data(), text.data() + dot, whole);
	auto f = std::from_chars(text.data() + dot + 1, text.data() + dot + 4, frac);
	if (w.ec != std::errc() || w.ptr != text.data() + dot || f.ec != std::errc() ||
	    f.ptr != text.data() + dot + 4)
		return std::nullopt;
	return whole * 1000 + frac;
}

bool next_device(int fd, snd_timer_id &id)
{
	if (::ioctl(fd, SNDRV_TIMER_IOCTL_NEXT_DEVICE, &id) < 0) {
		int err = errno;
		throw Error(err, "cannot list timers: SNDRV_TIMER_IOCTL_NEXT_DEVICE failed");
	}
	return id.dev_class >= 0;
}

// GINFO on timer -1.4.<id>; nullopt when it does not exist.
std::optional<TimerInfo> ginfo(int fd, unsigned id)
{
	snd_timer_ginfo ginfo{};
	ginfo.tid.dev_class = SNDRV_TIMER_CLASS_GLOBAL;
	ginfo.tid.dev_sclass = SNDRV_TIMER_SCLASS_NONE;
	ginfo.tid.card = -1;
	ginfo.tid.device = abi::global_udriven;
	ginfo.tid.subdevice = static_cast<int>(id);
	if (::ioctl(fd, SNDRV_TIMER_IOCTL_GINFO, &ginfo) < 0) {
		int err = errno;
		if (err == ENODEV)
			return std::nullopt;
		throw Error(err, "cannot list timers: SNDRV_TIMER_IOCTL_GINFO for timer -1.4." +
					 std::to_string(id) + " failed");
	}
	TimerInfo info;
	info.id = id;
	info.name = std::string(reinterpret_cast<const char *>(ginfo.id),
				strnlen(reinterpret_cast<const char *>(ginfo.id), sizeof(ginfo.id)));
	info.resolution_ns = ginfo.resolution;
	info.instances = ginfo.clients;
	return info;
}

}  // namespace

std::vector<TimerInfo> parse_proc_timers(const std::string &text)
{
	// "G4: snd-utimer3 : 20.833us (1 ticks)" then "  Client <owner> : running"
	// lines for its open instances. Lines of G4 timers without a name (stock
	// 6.12 leaves it empty) cannot be told apart and are skipped.
	std::vector<TimerInfo> timers;
	bool in_utimer = false;
	std::istringstream lines(text);
	std::string line;
	while (std::getline(lines, line)) {
		if (line.rfind("  Client ", 0) == 0) {
			if (in_utimer)
				timers.back().instances = timers.back().instances.value_or(0) + 1;
			continue;
		}
		in_utimer = false;
		constexpr std::string_view head = "G4: ";
		if (line.rfind(head, 0) != 0)
			continue;
		std::string_view rest = std::string_view(line).substr(head.size());
		auto colon = rest.find(" :");
		if (colon == std::string_view::npos)
			continue;
		std::optional<unsigned> id = utimer_id_from_name(rest.substr(0, colon));
		if (!id)
			continue;
		TimerInfo info;
		info.id = *id;
		info.name = std::string(rest.substr(0, colon));
		info.instances = 0;
		std::string_view after = rest.substr(colon + 2);
		if (after.rfind(' ', 0) == 0) {
			after.remove_prefix(1);
			if (auto ns = parse_microseconds(after.substr(0, after.find(' '))))
				info.resolution_ns = *ns;
		}
		timers.push_back(std::move(info));
		in_utimer = true;
	}
	return timers;
}

std::vector<TimerInfo> list_timers(const Paths &paths)
{
	detail::UniqueFd fd = detail::open_timer_device(paths.timer_device());
	if (!fd) {
		int err = errno;
		throw Error(err, "cannot list timers: cannot open " + paths.timer_device().string(),
			    detail::open_advice(err));
	}

	// NEXT_DEVICE steps through global timers by device number only, so it
	// shows whether any device-4 timer exists but hides every utimer after
	// the lowest id; GINFO on each possible id finds them all.
	snd_timer_id id{};
	id.dev_class = SNDRV_TIMER_CLASS_NONE;
	bool any = false;
	for (int guard = 0; guard < 4096 && next_device(fd.get(), id); ++guard) {
		if (id.dev_class == SNDRV_TIMER_CLASS_GLOBAL && id.device == abi::global_udriven) {
			any = true;
			break;
		}
		if (id.dev_class > SNDRV_TIMER_CLASS_GLOBAL ||
		    (id.dev_class == SNDRV_TIMER_CLASS_GLOBAL && id.device > abi::global_udriven))
			break;  // the kernel's list is sorted: we are past device 4
	}
	std::vector<TimerInfo> timers;
	if (!any)
		return timers;
	for (unsigned subdevice = 0; subdevice < static_cast<unsigned>(abi::max_timers); ++subdevice)
		if (std::optional<TimerInfo> info = ginfo(fd.get(), subdevice))
			timers.push_back(std::move(*info));
	return timers;
}

std::optional<TimerInfo> timer_info(unsigned id, const Paths &paths)
{
	if (id >= static_cast<unsigned>(abi::max_timers))
		return std::nullopt;
	detail::UniqueFd fd = detail::open_timer_device(paths.timer_device());
	if (!fd) {
		int err = errno;
		throw Error(err, "cannot look up timer -1.4." + std::to_string(id) + ": cannot open " +
					 paths.timer_device().string(),
			    detail::open_advice(err));
	}
	return ginfo(fd.get(), id);
}

}  // namespace utimer
