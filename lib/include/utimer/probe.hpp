// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>

#include "paths.hpp"

namespace utimer {

enum class Support {
	supported,
	no_timer_device,    // no /dev/snd/timer: snd-timer not loaded / no sound support
	permission_denied,  // /dev/snd/timer not accessible: audio group / udev rules
	kernel_too_old,     // protocol < 2.0.8 or CREATE unknown: apply kernel-patches/ or use >= 6.12
	error,              // anything else (message says what)
};

struct ProbeResult {
	Support support = Support::error;
	int protocol_version = 0;  // SNDRV_TIMER_IOCTL_PVERSION, 0 if not read
	std::string message;       // one or two sentences: what is wrong and what to do
	bool ok() const { return support == Support::supported; }
};

// Never throws. Opens the timer device, reads the protocol version and, when it
// is new enough, confirms CREATE is known (a CREATE with an invalid argument
// must fail with EINVAL/EFAULT, not ENOTTY; it creates nothing).
ProbeResult probe(const Paths &paths = {});
const char *to_string(Support support);

}  // namespace utimer
