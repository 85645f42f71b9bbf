/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snd-aloop cables clocked by a utimer, through alsa-lib: the real client a
 * utimer drives. 64-bit binaries only (there is no 32-bit alsa-lib here).
 * alsa-lib's headers and the kernel's <sound/asound.h> cannot meet in one
 * file: only cable.c includes alsa-lib.
 */
#ifndef UTIMER_STRESS_CABLE_H
#define UTIMER_STRESS_CABLE_H

#include <stdbool.h>

struct _snd_pcm;	/* alsa-lib's snd_pcm_t */

/* 48 kHz, S16_LE stereo, 48-frame periods: one period per 1 ms tick */
#define CABLE_RATE	48000
#define CABLE_PERIOD	48
#define CABLE_TICK_NS	1000000

/* The index of the card with id "Loopback", or -errno. */
int aloop_card(void);
/* Writes /proc/asound/card<card>/timer_source ("" = jiffies): 0 or -errno. */
int aloop_set_source(int card, const char *source);
/* aloop_set_source(card, "-1.4.<id>") */
int aloop_bind(int card, unsigned int id);

struct cable {
	struct _snd_pcm *play, *capt;
};

/*
 * Opens both ends of substream sub (hw:<card>,0,sub and hw:<card>,1,sub),
 * non-blocking, configured for one period per tick. 0 or a negative errno;
 * on failure nothing stays open.
 */
int cable_open(struct cable *c, int card, unsigned int sub);
/* Fills the playback buffer and starts both ends: 0 or -errno. */
int cable_start(struct cable *c);
/*
 * Moves what is there: reads the capture end, refills the playback end,
 * restarts an end that ran into an xrun. Returns the frames captured, or
 * -EPIPE when an end had run into an xrun.
 */
long cable_pump(struct cable *c);
/* Stops both ends, dropping what is buffered. */
void cable_drop(struct cable *c);
void cable_close(struct cable *c);

#endif
