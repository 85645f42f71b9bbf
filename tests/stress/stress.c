// SPDX-License-Identifier: GPL-2.0-or-later
/* Helpers of the utimer stress suite: see stress.h. */
#include "stress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sound/asound.h>

uint64_t stress_seed;
double stress_budget = 10;
unsigned long stress_fuzz_calls = 100000;

static void __attribute__((noreturn)) usage_error(const char *what, const char *value)
{
	fprintf(stderr,
		"%s '%s'\n"
		"usage: [--seed N] [--budget SECONDS] [--fuzz-calls N] [kselftest harness options]\n"
		"  (or UTIMER_STRESS_SEED, UTIMER_STRESS_BUDGET, UTIMER_STRESS_FUZZ_CALLS)\n",
		what, value);
	exit(2);
}

static uint64_t parse_u64(const char *what, const char *text)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-')
		usage_error(what, text);
	return v;
}

static double parse_seconds(const char *what, const char *text)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || !(v > 0) || v > 86400)
		usage_error(what, text);
	return v;
}

void stress_options(int *argc, char **argv)
{
	const char *seed = getenv("UTIMER_STRESS_SEED");
	const char *budget = getenv("UTIMER_STRESS_BUDGET");
	const char *calls = getenv("UTIMER_STRESS_FUZZ_CALLS");
	int in, out = 1;

	for (in = 1; in < *argc; in++) {
		const char **slot = NULL;

		if (!strcmp(argv[in], "--seed"))
			slot = &seed;
		else if (!strcmp(argv[in], "--budget"))
			slot = &budget;
		else if (!strcmp(argv[in], "--fuzz-calls"))
			slot = &calls;
		if (!slot) {
			argv[out++] = argv[in];
			continue;
		}
		if (in + 1 >= *argc)
			usage_error("missing value after", argv[in]);
		*slot = argv[++in];
	}
	argv[out] = NULL;
	*argc = out;

	if (seed && *seed) {
		stress_seed = parse_u64("--seed: expected an unsigned number, got", seed);
	} else if (getrandom(&stress_seed, sizeof(stress_seed), 0) != sizeof(stress_seed)) {
		stress_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	}
	if (budget && *budget)
		stress_budget = parse_seconds("--budget: expected seconds (0 < s <= 86400), got", budget);
	if (calls && *calls) {
		stress_fuzz_calls = parse_u64("--fuzz-calls: expected a count, got", calls);
		if (!stress_fuzz_calls)
			usage_error("--fuzz-calls: expected a count > 0, got", calls);
	}
}

static char test_name[256];

uint64_t stress_test_seed(const char *fixture, const char *variant, const char *test)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a of the name */
	struct rng r;

	snprintf(test_name, sizeof(test_name), "%s%s%s.%s", fixture, variant ? "." : "",
		 variant ? variant : "", test);
	for (const char *p = test_name; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	r = rng_for(stress_seed, h);
	printf("# %s: seed 0x%016" PRIx64 " (replay: --seed 0x%016" PRIx64 " -r %s), budget %.1f s\n",
	       test_name, r.state, stress_seed, test_name, stress_budget);
	fflush(stdout);
	return r.state;
}

double stress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double stress_deadline(double share)
{
	return stress_now() + share * stress_budget;
}

void stress_sleep_us(unsigned long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void stress_stats(const char *fmt, ...)
{
	va_list ap;

	printf("# stats: %s ", test_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int timer_ctl_open(void)
{
	int fd = open("/dev/snd/timer", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int create_on(int ctl, struct utimer_uinfo *info)
{
	return ioctl(ctl, UTIMER_IOCTL_CREATE, info) < 0 ? -errno : info->fd;
}

int utimer_create(int ctl, uint64_t resolution, unsigned int *id)
{
	struct utimer_uinfo info = { .resolution = resolution, .fd = -1 };
	int own = -1, ret;

	if (ctl < 0) {
		own = ctl = timer_ctl_open();
		if (ctl < 0)
			return ctl;
	}
	ret = create_on(ctl, &info);
	if (ret >= 0 && id)
		*id = info.id;
	if (own >= 0)
		close(own);
	return ret;
}

int utimer_trigger(int fd)
{
	return ioctl(fd, UTIMER_IOCTL_TRIGGER) < 0 ? -errno : 0;
}

static struct snd_timer_id utimer_tid(unsigned int id)
{
	return (struct snd_timer_id){
		.dev_class = SNDRV_TIMER_CLASS_GLOBAL,
		.dev_sclass = SNDRV_TIMER_SCLASS_NONE,
		.card = -1,
		.device = UTIMER_GLOBAL_DEVICE,
		.subdevice = (int)id,
	};
}

int instance_open(unsigned int id, int open_flags, bool tread, unsigned int ticks)
{
	struct snd_timer_select sel = { .id = utimer_tid(id) };
	struct snd_timer_params params = {
		.flags = SNDRV_TIMER_PSFLG_AUTO,
		.ticks = ticks,
		.queue_size = 128,
		.filter = tread ? (1u << SNDRV_TIMER_EVENT_TICK) : 0,
	};
	int on = 1, err = 0;
	int fd = open("/dev/snd/timer", open_flags | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if ((tread && ioctl(fd, SNDRV_TIMER_IOCTL_TREAD64, &on) < 0) ||
	    ioctl(fd, SNDRV_TIMER_IOCTL_SELECT, &sel) < 0 ||
	    ioctl(fd, SNDRV_TIMER_IOCTL_PARAMS, &params) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int instance_ioctl(int fd, unsigned long request)
{
	return ioctl(fd, request) < 0 ? -errno : 0;
}

int utimer_clients(unsigned int id)
{
	struct snd_timer_ginfo ginfo = { .tid = utimer_tid(id) };
	int ctl = timer_ctl_open(), err = 0;

	if (ctl < 0)
		return ctl;
	if (ioctl(ctl, SNDRV_TIMER_IOCTL_GINFO, &ginfo) < 0)
		err = -errno;
	close(ctl);
	return err ? err : (int)ginfo.clients;
}

const char *stress_unsupported(void)
{
	static char why[128];
	int ctl = timer_ctl_open(), fd;

	if (ctl < 0)
		return ctl == -ENOENT ? "no /dev/snd/timer (snd-timer not loaded, or not a utimer-vm guest)"
				      : "/dev/snd/timer cannot be opened";
	fd = utimer_create(ctl, 1000000, NULL);
	close(ctl);
	if (fd == -ENOTTY)
		return "the kernel has no userspace-driven timers (CREATE: ENOTTY)";
	if (fd < 0) {
		snprintf(why, sizeof(why), "CREATE of a 1 ms timer failed: %s", strerror(-fd));
		return why;
	}
	close(fd);
	return NULL;
}

bool stress_is_mainline(void)
{
	struct utimer_uinfo info = { .resolution = 1000000, .reserved = { 1 } };
	int ctl = timer_ctl_open(), fd;

	if (ctl < 0)
		return false;
	fd = create_on(ctl, &info);
	close(ctl);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

bool stress_compat_create_missing(void)
{
	int ctl = timer_ctl_open(), version = 0, fd;

	if (sizeof(void *) != 4 || ctl < 0)
		return false;
	if (ioctl(ctl, SNDRV_TIMER_IOCTL_PVERSION, &version) < 0)
		version = 0;
	fd = utimer_create(ctl, 1000000, NULL);
	close(ctl);
	if (fd >= 0)
		close(fd);
	return fd == -ENOTTY && version >= SNDRV_PROTOCOL_VERSION(2, 0, 8);
}

bool stress_all_ids_free(char *why, size_t len)
{
	int fds[UTIMER_MAX + 1], n = 0, err = 0, ctl = timer_ctl_open();
	bool seen[UTIMER_MAX] = { false }, ok = true;
	unsigned int id;

	if (ctl < 0) {
		snprintf(why, len, "open /dev/snd/timer: %s", strerror(-ctl));
		return false;
	}
	while (n <= UTIMER_MAX) {
		int fd = utimer_create(ctl, 1000000, &id);

		if (fd < 0) {
			err = -fd;
			break;
		}
		fds[n++] = fd;
		if (id >= UTIMER_MAX || seen[id]) {
			snprintf(why, len, "CREATE #%d returned id %u (out of range or twice)", n, id);
			ok = false;
		} else {
			seen[id] = true;
		}
	}
	if (ok && n != UTIMER_MAX) {
		snprintf(why, len, "%d timers could be created, not 128 (then %s): %s", n,
			 err ? strerror(err) : "no error", n < UTIMER_MAX ? "ids leaked" : "no limit");
		ok = false;
	} else if (ok && err != ENOSPC) {
		snprintf(why, len, "CREATE #129 failed with %s, not ENOSPC", strerror(err));
		ok = false;
	}
	while (n)
		close(fds[--n]);
	close(ctl);
	return ok;
}

int stress_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

bool stress_wait_blocked(pid_t tid, long nr, double timeout)
{
	double until = stress_now() + timeout;
	char path[64], text[256];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	do {
		FILE *f = fopen(path, "r");
		long got = -2;

		if (f) {
			if (fgets(text, sizeof(text), f))
				got = strtol(text, NULL, 10);
			fclose(f);
		}
		if (got == nr) {
			/* in the syscall: now let it get to sleep */
			stress_sleep_us(2000);
			return true;
		}
		stress_sleep_us(1000);
	} while (stress_now() < until);
	return false;
}

static void interrupted(int sig)
{
	(void)sig;
}

void stress_install_interrupter(void)
{
	struct sigaction sa = { .sa_handler = interrupted };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}
