// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-app: the seed demo of utimer. It creates a userspace-driven ALSA
 * timer, loads snd-aloop clocked by it, plays "ABCD" frames into the
 * loopback, ticks the timer once per period and prints what comes out of
 * the capture side.
 *
 * It predates lib/, so it carries its own copy of the timer ABI and issues
 * the ioctls itself. snd-aloop must not be loaded beforehand: the timer is
 * handed to it as a module parameter (timer_source=-1.4.<id>). An already
 * loaded snd-aloop is an error (it may be in use; the app does not unload
 * what it did not load). The app unloads the module it loaded on exit.
 *
 * Exit status: 0 when every period came through intact, 1 on any failure,
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <alsa/asoundlib.h>

/* The userspace-driven timer ABI (Linux 6.12 <sound/asound.h>). */
struct utimer_info {
	uint64_t resolution;		/* ns per tick */
	int fd;				/* out: owns the timer */
	unsigned int id;		/* out: global timer subdevice */
	unsigned char reserved[16];
};

#define UTIMER_IOCTL_CREATE	_IOWR('T', 0xa5, struct utimer_info)
#define UTIMER_IOCTL_TRIGGER	_IO('T', 0xa6)
#define UTIMER_GLOBAL_DEVICE	4	/* SNDRV_TIMER_GLOBAL_UDRIVEN */

#define CHANNELS	2		/* S16_LE stereo: 4 bytes a frame */
#define FRAME		"ABCD"
#define FRAME_BYTES	4
#define BUFFER_PERIODS	4
#define WAIT_MS		10000

struct app {
	unsigned int rate;
	unsigned int period;		/* frames */
	unsigned int periods;		/* how many to pass through */
	int timer_fd;
	unsigned int timer_id;
	int module_loaded;
	snd_pcm_t *play, *capt;
};

/*
 * The PCM core's period time (snd_pcm_timer_resolution_change()): snd-aloop
 * refuses a timer whose resolution differs from it, and the naive
 * 1e9 / rate * period does differ at 44.1 and 48 kHz.
 */
static uint64_t period_time_ns(unsigned int rate, unsigned int period)
{
	uint64_t mult = 1000000000, fsize = period, r = rate, a, b, t;
	uint64_t post = 1;

	for (a = mult, b = r; b; t = a % b, a = b, b = t)
		;
	mult /= a;
	r /= a;
	for (a = r, b = fsize; b; t = a % b, a = b, b = t)
		;
	r /= a;
	fsize /= a;
	while ((mult * fsize) / fsize != mult) {
		mult /= 2;
		post *= 2;
	}
	return mult * fsize / r * post;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "test-app: %s: %s\n", what, err ? strerror(err) : "failed");
	return -1;
}

static int run(const char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int create_timer(struct app *app)
{
	struct utimer_info info;
	int ctl = open("/dev/snd/timer", O_RDONLY | O_CLOEXEC);

	if (ctl < 0)
		return fail("open /dev/snd/timer", errno);
	memset(&info, 0, sizeof(info));
	info.resolution = period_time_ns(app->rate, app->period);
	if (ioctl(ctl, UTIMER_IOCTL_CREATE, &info)) {
		int err = errno;

		close(ctl);
		if (err == ENOTTY)
			return fail("SNDRV_TIMER_IOCTL_CREATE: the kernel has no userspace-driven timers (CONFIG_SND_UTIMER)",
				    err);
		return fail("SNDRV_TIMER_IOCTL_CREATE", err);
	}
	close(ctl);
	app->timer_fd = info.fd;
	app->timer_id = info.id;
	printf("timer: id %u (snd-utimer%u), resolution %llu ns\n", info.id,
	       info.id, (unsigned long long)info.resolution);
	return 0;
}

/* The timer is a load-time parameter: a loaded snd-aloop cannot take it. */
static int aloop_absent(void)
{
	struct stat st;

	if (stat("/sys/module/snd_aloop", &st) == 0) {
		fprintf(stderr,
			"test-app: snd-aloop is already loaded; this app hands it the timer as a load-time parameter: unload it first (rmmod snd-aloop)\n");
		return -1;
	}
	return 0;
}

static int load_aloop(struct app *app)
{
	char param[64];
	const char *modprobe[] = { "modprobe", "snd-aloop", param, NULL };
	int tries;

	snprintf(param, sizeof(param), "timer_source=-1.%d.%u",
		 UTIMER_GLOBAL_DEVICE, app->timer_id);
	if (run(modprobe))
		return fail("modprobe snd-aloop", 0);
	app->module_loaded = 1;
	printf("loaded: modprobe snd-aloop %s\n", param);
	/* the card's device nodes appear shortly after the module loads */
	for (tries = 0; tries < 50; tries++) {
		if (snd_card_get_index("Loopback") >= 0)
			return 0;
		usleep(100000);
	}
	return fail("snd-aloop loaded but no card \"Loopback\" appeared", 0);
}

static void unload_aloop(struct app *app)
{
	const char *rmmod[] = { "modprobe", "-r", "snd-aloop", NULL };

	if (app->module_loaded && run(rmmod))
		fprintf(stderr, "test-app: could not unload snd-aloop\n");
}

static int open_pcm(struct app *app, snd_pcm_t **pcm, const char *name,
		    snd_pcm_stream_t stream)
{
	snd_pcm_uframes_t boundary;
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	int err;

	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	err = snd_pcm_open(pcm, name, stream, 0);
	if (err < 0)
		goto fail;
	err = snd_pcm_hw_params_any(*pcm, hw);
	if (!err)
		err = snd_pcm_hw_params_set_access(*pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (!err)
		err = snd_pcm_hw_params_set_format(*pcm, hw, SND_PCM_FORMAT_S16_LE);
	if (!err)
		err = snd_pcm_hw_params_set_channels(*pcm, hw, CHANNELS);
	if (!err)
		err = snd_pcm_hw_params_set_rate(*pcm, hw, app->rate, 0);
	if (!err)
		err = snd_pcm_hw_params_set_period_size(*pcm, hw, app->period, 0);
	if (!err)
		err = snd_pcm_hw_params_set_buffer_size(*pcm, hw,
							BUFFER_PERIODS * app->period);
	if (!err)
		err = snd_pcm_hw_params(*pcm, hw);
	/* started explicitly, never by a fill level */
	if (!err)
		err = snd_pcm_sw_params_current(*pcm, sw);
	if (!err)
		err = snd_pcm_sw_params_get_boundary(sw, &boundary);
	if (!err)
		err = snd_pcm_sw_params_set_start_threshold(*pcm, sw, boundary);
	if (!err)
		err = snd_pcm_sw_params(*pcm, sw);
	if (!err)
		return 0;
fail:
	fprintf(stderr, "test-app: %s (%u Hz, period %u frames): %s\n", name,
		app->rate, app->period, snd_strerror(err));
	return -1;
}

static int play(struct app *app, unsigned int periods)
{
	snd_pcm_uframes_t frames = (snd_pcm_uframes_t)periods * app->period;
	unsigned char *buf = malloc(frames * FRAME_BYTES);
	snd_pcm_sframes_t n;
	size_t i;

	if (!buf)
		return fail("malloc", errno);
	for (i = 0; i < frames; i++)
		memcpy(buf + i * FRAME_BYTES, FRAME, FRAME_BYTES);
	n = snd_pcm_writei(app->play, buf, frames);
	free(buf);
	if (n != (snd_pcm_sframes_t)frames) {
		fprintf(stderr, "test-app: playback write: %s\n",
			n < 0 ? snd_strerror(n) : "short write");
		return -1;
	}
	return 0;
}

/* One tick: exactly one period of "ABCD" frames must come out. */
static int tick(struct app *app, unsigned int index)
{
	size_t bytes = (size_t)app->period * FRAME_BYTES, i;
	unsigned char *buf;
	snd_pcm_sframes_t n;
	int err;

	if (ioctl(app->timer_fd, UTIMER_IOCTL_TRIGGER))
		return fail("SNDRV_TIMER_IOCTL_TRIGGER", errno);
	err = snd_pcm_wait(app->capt, WAIT_MS);
	if (err != 1) {
		fprintf(stderr, "test-app: period %u: capture %s\n", index,
			err < 0 ? snd_strerror(err) : "got nothing after the tick");
		return -1;
	}
	n = snd_pcm_avail(app->capt);
	if (n != (snd_pcm_sframes_t)app->period) {
		fprintf(stderr, "test-app: period %u: %ld frames captured after one tick, expected %u\n",
			index, (long)n, app->period);
		return -1;
	}
	buf = malloc(bytes + 1);
	if (!buf)
		return fail("malloc", errno);
	n = snd_pcm_readi(app->capt, buf, app->period);
	if (n != (snd_pcm_sframes_t)app->period) {
		free(buf);
		fprintf(stderr, "test-app: capture read: %s\n",
			n < 0 ? snd_strerror(n) : "short read");
		return -1;
	}
	for (i = 0; i < bytes; i++) {
		if (buf[i] != FRAME[i % FRAME_BYTES])
			break;
	}
	buf[bytes < 32 ? bytes : 32] = '\0';
	for (n = 0; buf[n]; n++)
		if (buf[n] < ' ' || buf[n] > '~')
			buf[n] = '.';
	printf("period %u: captured: %s... (%zu bytes)\n", index, buf, bytes);
	free(buf);
	if (i != bytes) {
		fprintf(stderr, "test-app: period %u: byte %zu is not part of an \"ABCD\" frame\n",
			index, i);
		return -1;
	}
	return play(app, 1);
}

static int stream(struct app *app)
{
	char name[32];
	int card = snd_card_get_index("Loopback");
	unsigned int i;

	snprintf(name, sizeof(name), "hw:%d,0,0", card);
	if (open_pcm(app, &app->play, name, SND_PCM_STREAM_PLAYBACK))
		return -1;
	snprintf(name, sizeof(name), "hw:%d,1,0", card);
	if (open_pcm(app, &app->capt, name, SND_PCM_STREAM_CAPTURE))
		return -1;
	if (play(app, BUFFER_PERIODS))
		return -1;
	if (snd_pcm_start(app->play) || snd_pcm_start(app->capt))
		return fail("start the loopback streams", 0);
	for (i = 1; i <= app->periods; i++) {
		if (tick(app, i))
			return -1;
	}
	printf("captured %u periods of \"ABCD\" frames, one per tick\n",
	       app->periods);
	return 0;
}

static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: test-app [-r RATE] [-p PERIOD] [-n PERIODS]\n"
		"  -r RATE     sample rate in Hz, 8000..192000 (default 48000)\n"
		"  -p PERIOD   period size in frames, 16..65536 (default 256)\n"
		"  -n PERIODS  periods to pass through, 1..10000 (default 8)\n"
		"Needs root, a kernel with userspace-driven timers and snd-aloop not loaded.\n");
}

int main(int argc, char **argv)
{
	struct app app = { .rate = 48000, .period = 256, .periods = 8, .timer_fd = -1 };
	int opt, ret = 1;

	while ((opt = getopt(argc, argv, "r:p:n:h")) != -1) {
		switch (opt) {
		case 'r':
			if (parse_uint(optarg, 8000, 192000, &app.rate))
				goto bad_usage;
			break;
		case 'p':
			if (parse_uint(optarg, 16, 65536, &app.period))
				goto bad_usage;
			break;
		case 'n':
			if (parse_uint(optarg, 1, 10000, &app.periods))
				goto bad_usage;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "test-app: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (!aloop_absent() && !create_timer(&app) && !load_aloop(&app) &&
	    !stream(&app))
		ret = 0;

	if (app.play)
		snd_pcm_close(app.play);
	if (app.capt)
		snd_pcm_close(app.capt);
	unload_aloop(&app);
	if (app.timer_fd >= 0)
		close(app.timer_fd);
	return ret;

bad_usage:
	fprintf(stderr, "test-app: -%c '%s': out of range or not a number\n",
		opt, optarg);
	usage(stderr);
	return 2;
}
