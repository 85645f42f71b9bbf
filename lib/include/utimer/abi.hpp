// SPDX-License-Identifier: GPL-2.0-or-later
// The userspace-driven timer ioctl ABI, byte-identical to mainline Linux 6.12's
// <sound/asound.h>. Debian 12's headers predate it, so the library carries it.
// This header and lib/src are the only places in the project that use it.
#pragma once

#include <cstdint>
#include <sys/ioctl.h>

namespace utimer::abi {

struct timer_uinfo {
	std::uint64_t resolution;  // ns per tick, > 0
	int fd;                    // out: descriptor owning the timer (O_CLOEXEC)
	unsigned int id;           // out: 0..127, the timer's subdevice
	unsigned char reserved[16];  // must be zero (patched 6.1 rejects non-zero)
};
static_assert(sizeof(timer_uinfo) == 32, "ABI: struct snd_timer_uinfo is 32 bytes");

inline constexpr unsigned long ioctl_create = _IOWR('T', 0xa5, timer_uinfo);
inline constexpr unsigned long ioctl_trigger = _IO('T', 0xa6);
inline constexpr int global_udriven = 4;  // SNDRV_TIMER_GLOBAL_UDRIVEN
inline constexpr int max_timers = 128;
// SNDRV_PROTOCOL_VERSION(2, 0, 8): the first timer protocol with CREATE/TRIGGER.
inline constexpr int protocol_version = (2 << 16) | (0 << 8) | 8;

}  // namespace utimer::abi
