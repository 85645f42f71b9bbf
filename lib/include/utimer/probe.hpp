// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
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

// Where the running kernel's userspace-driven timers come from, so a user
// knows what to install (utimerctl probe's "kernel:" line).
enum class KernelCase {
	built_in,  // the kernel's own snd-timer has them (CONFIG_SND_UTIMER=y, e.g. Ubuntu
		   // 26.04, Fedora): the userspace packages only, no utimer-dkms
	dkms,      // snd-timer comes from /lib/modules/RELEASE/updates/ (utimer-dkms)
	missing,   // a kernel without them (Debian 13's 6.12: "is not set"; 6.1 predates
		   // the option): install utimer-dkms and this kernel's headers
	unknown,   // neither the kernel's config nor its module index could be read
};

struct KernelReport {
	KernelCase kernel_case = KernelCase::unknown;
	std::string release;   // uname -r (from /proc/sys/kernel/osrelease)
	std::string evidence;  // what was read: the config line, snd-timer's module path
	std::string advice;    // what to do (empty when nothing is needed)
};

// Never throws. Reads paths.proc/sys/kernel/osrelease, the kernel's config
// (boot/config-RELEASE, else modules/RELEASE/config, as Debian, Ubuntu and
// Fedora install it), snd-timer's entry in modules/RELEASE/modules.dep and
// modules.builtin, and paths.sys/module/snd_timer. modules and boot are
// /lib/modules and /boot unless a test gives a fixture tree. probe_result
// (from probe()) tells a DKMS module that is installed but not loaded.
KernelReport kernel_report(const ProbeResult &probe_result, const Paths &paths = {},
			   const std::filesystem::path &modules = "/lib/modules",
			   const std::filesystem::path &boot = "/boot");
const char *to_string(KernelCase kernel_case);

}  // namespace utimer
