// SPDX-License-Identifier: GPL-2.0-or-later
// Internal: the advice texts shared by probe(), Timer and list_timers().
#pragma once

#include <cerrno>
#include <string>

namespace utimer::detail {

inline constexpr const char *upgrade_advice =
	"This kernel has no userspace-driven timers: boot a kernel >= 6.12 or apply "
	"kernel-patches/6.1";

// What to do when opening the timer device failed with err; empty if unknown.
inline std::string open_advice(int err)
{
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return "Load ALSA's timer (modprobe snd-timer) or boot a kernel built with "
		       "CONFIG_SND_TIMER";
	case EACCES:
	case EPERM:
		return "Add your user to the 'audio' group (usermod -aG audio USER, then log in "
		       "again) or add a udev rule granting access to it";
	default:
		return {};
	}
}

}  // namespace utimer::detail
