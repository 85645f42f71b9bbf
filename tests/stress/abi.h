/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The userspace-driven timer ioctls, as in mainline Linux 6.12's
 * <sound/asound.h> (the same numbers and layout as lib/include/utimer/abi.hpp).
 * Debian 12's <sound/asound.h> predates them; everything else the suite uses
 * comes from that header. Own names, so that a newer header cannot clash.
 */
#ifndef UTIMER_STRESS_ABI_H
#define UTIMER_STRESS_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

struct utimer_uinfo {
	uint64_t resolution;		/* ns per tick, > 0 */
	int fd;				/* out: the descriptor owning the timer */
	unsigned int id;		/* out: 0..127, the timer's subdevice */
	unsigned char reserved[16];	/* zero (our series rejects non-zero) */
};
_Static_assert(sizeof(struct utimer_uinfo) == 32, "struct snd_timer_uinfo is 32 bytes");

#define UTIMER_IOCTL_CREATE	_IOWR('T', 0xa5, struct utimer_uinfo)
#define UTIMER_IOCTL_TRIGGER	_IO('T', 0xa6)
#define UTIMER_GLOBAL_DEVICE	4	/* SNDRV_TIMER_GLOBAL_UDRIVEN */
#define UTIMER_MAX		128	/* timers that can exist at once */

#endif
