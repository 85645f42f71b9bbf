// SPDX-License-Identifier: GPL-2.0-or-later
/* snd-aloop cables for the stress suite: see cable.h. */
#include "cable.h"

#include "abi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <alsa/asoundlib.h>

#define CHANNELS	2
#define PERIODS		4
#define FRAME_BYTES	(2 * CHANNELS)

int aloop_card(void)
{
	int card = snd_card_get_index("Loopback");

	return card < 0 ? -ENODEV : card;
}

int aloop_set_source(int card, const char *source)
{
	char path[64], line[64];
	int fd, len, err = 0;

	snprintf(path, sizeof(path), "/proc/asound/card%d/timer_source", card);
	len = snprintf(line, sizeof(line), "%s\n", source);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)len) != len)
		err = -errno;
	close(fd);
	return err;
}

int aloop_bind(int card, unsigned int id)
{
	char source[32];

	snprintf(source, sizeof(source), "-1.%d.%u", UTIMER_GLOBAL_DEVICE, id);
	return aloop_set_source(card, source);
}

static int configure(snd_pcm_t *pcm)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	snd_pcm_uframes_t boundary;
	int err;

	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	if ((err = snd_pcm_hw_params_any(pcm, hw)) < 0 ||
	    (err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0 ||
	    (err = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0 ||
	    (err = snd_pcm_hw_params_set_channels(pcm, hw, CHANNELS)) < 0 ||
	    (err = snd_pcm_hw_params_set_rate(pcm, hw, CABLE_RATE, 0)) < 0 ||
	    (err = snd_pcm_hw_params_set_period_size(pcm, hw, CABLE_PERIOD, 0)) < 0 ||
	    (err = snd_pcm_hw_params_set_buffer_size(pcm, hw, CABLE_PERIOD * PERIODS)) < 0 ||
	    (err = snd_pcm_hw_params(pcm, hw)) < 0)
		return err;
	/* we start both ends ourselves */
	if ((err = snd_pcm_sw_params_current(pcm, sw)) < 0 ||
	    (err = snd_pcm_sw_params_get_boundary(sw, &boundary)) < 0 ||
	    (err = snd_pcm_sw_params_set_start_threshold(pcm, sw, boundary)) < 0 ||
	    (err = snd_pcm_sw_params(pcm, sw)) < 0)
		return err;
	return 0;
}

int cable_open(struct cable *c, int card, unsigned int sub)
{
	char name[32];
	int err;

	c->play = c->capt = NULL;
	snprintf(name, sizeof(name), "hw:%d,0,%u", card, sub);
	err = snd_pcm_open(&c->play, name, SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK);
	if (err < 0)
		goto fail;
	snprintf(name, sizeof(name), "hw:%d,1,%u", card, sub);
	err = snd_pcm_open(&c->capt, name, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK);
	if (err < 0)
		goto fail;
	if ((err = configure(c->play)) < 0 || (err = configure(c->capt)) < 0)
		goto fail;
	return 0;
fail:
	cable_close(c);
	return err;
}

static int prefill(snd_pcm_t *play)
{
	static const short silence[CABLE_PERIOD * PERIODS * CHANNELS];
	snd_pcm_sframes_t n = snd_pcm_writei(play, silence, CABLE_PERIOD * PERIODS);

	return n < 0 ? (int)n : 0;
}

int cable_start(struct cable *c)
{
	int err;

	if ((err = prefill(c->play)) < 0 ||
	    (err = snd_pcm_start(c->capt)) < 0 ||
	    (err = snd_pcm_start(c->play)) < 0)
		return err;
	return 0;
}

static void restart(snd_pcm_t *pcm, bool playback)
{
	if (snd_pcm_prepare(pcm) < 0)
		return;
	if (playback && prefill(pcm) < 0)
		return;
	snd_pcm_start(pcm);
}

long cable_pump(struct cable *c)
{
	short buffer[CABLE_PERIOD * PERIODS * CHANNELS] = { 0 };
	snd_pcm_sframes_t got, put;
	bool xrun = false;

	got = snd_pcm_readi(c->capt, buffer, CABLE_PERIOD * PERIODS);
	if (got == -EPIPE) {
		restart(c->capt, false);
		xrun = true;
	}
	put = snd_pcm_writei(c->play, buffer, CABLE_PERIOD * PERIODS);
	if (put == -EPIPE) {
		restart(c->play, true);
		xrun = true;
	}
	return got > 0 ? got : xrun ? -EPIPE : 0;
}

void cable_drop(struct cable *c)
{
	snd_pcm_drop(c->play);
	snd_pcm_drop(c->capt);
}

void cable_close(struct cable *c)
{
	if (c->play)
		snd_pcm_close(c->play);
	if (c->capt)
		snd_pcm_close(c->capt);
	c->play = c->capt = NULL;
}
