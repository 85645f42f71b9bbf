// SPDX-License-Identifier: GPL-2.0-or-later
// ALSA timer ids and snd-aloop's timer_source strings.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace utimer {

// struct snd_timer_id as a value.
struct TimerId {
	int dev_class = 1;   // SNDRV_TIMER_CLASS_GLOBAL
	int dev_sclass = 0;
	int card = -1;
	int device = 0;
	int subdevice = 0;
	bool operator==(const TimerId &) const = default;
};

// One snd-aloop timer_source value. Grammar (sound/drivers/aloop.c):
//   ""                                   jiffies (the default)
//   [prefix:](card-name|card-number)[{.,}device[{.,}subdevice]]
//   -1.<device>.<subdevice>               a global timer, e.g. -1.4.<id>
// Numbers are kstrtoint base 0 (decimal, 0x.., 0..). Card ids are what ALSA
// allows in /proc/asound/cardN/id: a letter, then letters, digits or '_' (<= 15).
//
// parse() is stricter than the kernel in three ways, each with a clear Error:
// mixed separators ("0.1,2": write one kind), an empty prefix (":0") and values
// of 63 characters or more (the /proc write buffer holds 64 bytes with the
// newline). It rejects everything the kernel's parser rejects, plus card
// numbers below -1 and negative devices (no such timer exists).
struct TimerSource {
	enum class Kind { jiffies, card, global };
	Kind kind = Kind::jiffies;
	std::string prefix;                 // text before ':' (ignored by the kernel)
	std::string card;                   // card name or number as written ("-1" for global)
	std::optional<int> device;          // as written, if present
	std::optional<int> subdevice;
	char separator = '.';               // '.' or ',' as written
	// The spelling of device/subdevice when it is not plain decimal ("0x4",
	// "04", "+4"), so to_string() round-trips; empty otherwise.
	std::string device_text;
	std::string subdevice_text;

	static constexpr std::size_t max_length = 62;

	static TimerSource jiffies() { return {}; }
	static TimerSource global(int device, int subdevice);
	static TimerSource utimer(unsigned id) { return global(4, static_cast<int>(id)); }

	// Throws Error quoting the input for anything snd-aloop would not accept.
	static TimerSource parse(std::string_view text);
	// Exact round trip: parse(s).to_string() == s for every accepted s.
	std::string to_string() const;
	// The utimer id when this is -1.4.<id> with 0 <= id < 128.
	std::optional<unsigned> utimer_id() const;
	bool operator==(const TimerSource &) const = default;
};

}  // namespace utimer
