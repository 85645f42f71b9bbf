// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.hpp"

#include <charconv>
#include <string_view>

#include <spa/utils/dict.h>

namespace utimer::spa {
namespace {

std::string clock_id_choices()
{
	std::string all;
	for (const auto &c : clock_names)
		all += (all.empty() ? "" : ", ") + std::string(c.name);
	return all;
}

// Appends to the error so that every bad property is named at once.
void complain(Config &config, const std::string &text)
{
	config.error += (config.error.empty() ? "" : "; ") + text;
}

std::string basename_of(std::string_view path)
{
	const auto slash = path.rfind('/');
	return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// A decimal number in 1..max, nothing else (no sign, spaces or suffix).
bool parse_number(std::string_view text, std::uint32_t max, std::uint32_t &out)
{
	std::uint32_t value = 0;
	const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > max)
		return false;
	out = value;
	return true;
}

}  // namespace

Config parse_config(const spa_dict *props)
{
	Config config;
	auto get = [props](const char *key) -> const char * {
		return props ? spa_dict_lookup(props, key) : nullptr;
	};

	if (const char *id = get("clock.id")) {
		bool known = false;
		for (const auto &c : clock_names) {
			if (std::string_view(id) == c.name) {
				config.clock_id = c.name;
				config.clock = c.id;
				known = true;
			}
		}
		if (!known)
			complain(config, "clock.id = \"" + std::string(id) +
				"\" is not a clock: use one of " + clock_id_choices());
	}
	if (const char *device = get("clock.device"); device && *device) {
		if (get("clock.id"))
			complain(config, "both clock.id and clock.device are set: keep only one "
				"(clock.device names a dynamic clock such as /dev/ptp0)");
		else if (device[0] != '/')
			complain(config, "clock.device = \"" + std::string(device) +
				"\" is not a device path: use e.g. /dev/ptp0");
		else
			config.clock_device = device;
	}

	if (const char *period = get("api.utimer.period"); period && *period) {
		if (!parse_number(period, max_period, config.period))
			complain(config, "api.utimer.period = \"" + std::string(period) +
				"\" is not a period size: use 1.." + std::to_string(max_period) +
				" frames, or leave it unset to follow the graph quantum");
	}
	if (const char *rate = get("api.utimer.rate"); rate && *rate) {
		if (!parse_number(rate, max_rate, config.rate))
			complain(config, "api.utimer.rate = \"" + std::string(rate) +
				"\" is not a sample rate: use 1.." + std::to_string(max_rate) +
				" Hz, or leave it unset to use the graph rate");
	}

	if (const char *card = get("api.utimer.aloop.card"))
		config.aloop_card = card;

	if (const char *group = get("node.group"); group && *group && !get("node.link-group"))
		config.link_group = group;

	if (const char *name = get("clock.name"); name && *name)
		config.clock_name = name;
	else
		config.clock_name = "api.utimer." +
			(config.clock_device.empty() ? config.clock_id : basename_of(config.clock_device));
	return config;
}

}  // namespace utimer::spa
