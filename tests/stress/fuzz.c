// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz.ioctls: known and random 'T' ioctls, random sizes and directions,
 * with well-formed, random, NULL, kernel, half-unmapped and half-read-only
 * arguments, on /dev/snd/timer fds (plain, attached to a live utimer,
 * attached to a closed one) and on utimer fds. Built 64-bit and 32-bit
 * (utimer-stress-fuzz32: the compat paths). Afterwards every fd it opened is
 * closed and all 128 ids must be free.
 *
 * What it asserts beyond the kernel's own reports: ioctl() returns 0 or -1,
 * and never a kernel-internal errno (>= 512, e.g. ENOIOCTLCMD).
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sound/asound.h>

#include "stress.h"

#define BUF_SIZE	(64 * 1024)
#define MAX_ERRNO	512
#define CTLS		4	/* plain, attached, detached (owner closed), TREAD */
#define UTIMERS		2

struct fuzz {
	struct rng r;
	long page;
	unsigned char *buf;		/* BUF_SIZE, read-write, random */
	unsigned char *edge;		/* one page; the next is unmapped */
	unsigned char *ro_edge;		/* one read-write page; the next is read-only */
	int ctl[CTLS], ufd[UTIMERS];
	unsigned int uid[UTIMERS];
	unsigned int floor;		/* fds from here up are the fuzzer's */
	int baseline;			/* lowest fd the fuzzer may close wholesale */
	unsigned long calls, positive, errnos[MAX_ERRNO], bad_errno, reads;
};

/* for the watchdog's message */
static volatile unsigned long current_call, current_cmd;
static volatile int in_read;

static void watchdog(int sig)
{
	char msg[160];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg), "# fuzzer stuck after call #%lu in %s 0x%lx: watchdog\n",
		     current_call, in_read ? "read() after ioctl" : "ioctl", current_cmd);
	if (write(1, msg, (size_t)n) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

static unsigned long kernel_pointer(struct rng *r)
{
	if (sizeof(void *) == 4)
		return 0xfffff000UL + rng_below(r, 0x1000);	/* above TASK_SIZE of a 32-bit task */
	return rng_below(r, 2) ? (unsigned long)0xffffffff81000000ULL : (unsigned long)0xffff888000000000ULL;
}

static struct snd_timer_id random_tid(struct fuzz *f)
{
	struct rng *r = &f->r;
	struct snd_timer_id id = {
		.dev_class = SNDRV_TIMER_CLASS_GLOBAL,
		.dev_sclass = SNDRV_TIMER_SCLASS_NONE,
		.card = -1,
		.device = UTIMER_GLOBAL_DEVICE,
		.subdevice = (int)f->uid[rng_below(r, UTIMERS)],
	};

	switch (rng_below(r, 6)) {
	case 0:	/* a free or foreign utimer id, or out of range */
		id.subdevice = (int)rng_below(r, 140) - 4;
		break;
	case 1:	/* the system timer, hrtimer, ... */
		id.device = (int)rng_below(r, 6);
		id.subdevice = 0;
		break;
	case 2:
		id.dev_class = (int)rng_below(r, 6) - 1;
		id.card = (int)rng_below(r, 4) - 1;
		id.device = (int)rng_below(r, 4);
		break;
	case 3:
		id = (struct snd_timer_id){ (int)rng_next(r), (int)rng_next(r), (int)rng_next(r),
					    (int)rng_next(r), (int)rng_next(r) };
		break;
	}
	return id;
}

/* A well-formed argument for one of the known ioctls, in f->buf. */
static void *structured(struct fuzz *f, unsigned int nr)
{
	struct rng *r = &f->r;
	void *p = f->buf;

	memset(p, 0, 1024);
	switch (nr) {
	case 0x01:	/* NEXT_DEVICE */
	case 0x03:	/* GINFO: tid first */
	case 0x04:	/* GPARAMS */
	case 0x05:	/* GSTATUS */
		*(struct snd_timer_id *)p = random_tid(f);
		if (nr == 0x04)
			((struct snd_timer_gparams *)p)->period_num = rng_below(r, 3),
			((struct snd_timer_gparams *)p)->period_den = rng_below(r, 3);
		break;
	case 0x02:	/* TREAD_OLD */
	case 0xa4:	/* TREAD64 */
		*(int *)p = (int)rng_below(r, 3) - (rng_below(r, 8) ? 0 : 100);
		break;
	case 0x10: {	/* SELECT */
		struct snd_timer_select *s = p;

		s->id = random_tid(f);
		if (!rng_below(r, 8))
			s->reserved[rng_below(r, 32)] = (unsigned char)rng_next(r);
		break;
	}
	case 0x12: {	/* PARAMS */
		static const unsigned int queues[] = { 0, 1, 31, 32, 128, 1024, 1025, 0xffffffff };
		struct snd_timer_params *pa = p;

		pa->flags = rng_below(r, 8);
		pa->ticks = rng_below(r, 3) ? 1 + rng_below(r, 4) : (unsigned int)rng_next(r);
		pa->queue_size = queues[rng_below(r, 8)];
		pa->filter = rng_below(r, 2) ? (unsigned int)rng_next(r) : 1u << SNDRV_TIMER_EVENT_TICK;
		break;
	}
	case 0xa5: {	/* CREATE */
		static const uint64_t resolutions[] = { 0, 1, 1000, 1000000, 1000000000,
							0xffffffffULL, 0x100000000ULL, ~0ULL };
		struct utimer_uinfo *u = p;

		u->resolution = rng_below(r, 4) ? resolutions[rng_below(r, 8)] : rng_next(r);
		u->fd = -1;
		if (!rng_below(r, 8))
			u->reserved[rng_below(r, 16)] = (unsigned char)(1 + rng_below(r, 255));
		break;
	}
	default:
		for (int i = 0; i < 256; i++)
			((unsigned char *)p)[i] = (unsigned char)rng_next(r);
	}
	return p;
}

/* The argument: NULL, kernel, straddling a hole or a read-only page, random, well-formed. */
static unsigned long argument(struct fuzz *f, unsigned int nr, unsigned int size)
{
	struct rng *r = &f->r;
	/* how far before the page's end: the access straddles it, within our two pages */
	unsigned int span = size > 1 && size <= (unsigned long)f->page ? size - 1 : 64;
	unsigned int k = 1 + rng_below(r, span);

	switch (rng_below(r, 12)) {
	case 0:
		return 0;
	case 1:
		return kernel_pointer(r);
	case 2:
		return (unsigned long)(f->edge + f->page - k);
	case 3:
		return (unsigned long)(f->ro_edge + f->page - k);
	case 4:
		return (unsigned long)(f->ro_edge + f->page);	/* read-only */
	case 5:
		return (unsigned long)(f->buf + rng_below(r, 4096));	/* random bytes, maybe misaligned */
	case 6:	/* an integer, or an address below mmap_min_addr: never ours */
		return rng_below(r, 2) ? rng_below(r, 16) : rng_below(r, 65536);
	default:
		return (unsigned long)structured(f, nr);
	}
}

static const unsigned int known[] = {
	SNDRV_TIMER_IOCTL_PVERSION, SNDRV_TIMER_IOCTL_NEXT_DEVICE, SNDRV_TIMER_IOCTL_TREAD_OLD,
	SNDRV_TIMER_IOCTL_GINFO, SNDRV_TIMER_IOCTL_GPARAMS, SNDRV_TIMER_IOCTL_GSTATUS,
	SNDRV_TIMER_IOCTL_SELECT, SNDRV_TIMER_IOCTL_INFO, SNDRV_TIMER_IOCTL_PARAMS,
	SNDRV_TIMER_IOCTL_STATUS, SNDRV_TIMER_IOCTL_START, SNDRV_TIMER_IOCTL_STOP,
	SNDRV_TIMER_IOCTL_CONTINUE, SNDRV_TIMER_IOCTL_PAUSE, SNDRV_TIMER_IOCTL_TREAD64,
	UTIMER_IOCTL_CREATE, UTIMER_IOCTL_TRIGGER,
	/* the other ABI's layouts: 32-bit and 64-bit time, 32-bit longs */
	_IOW('T', 0x04, char[60]), _IOW('T', 0x04, char[72]),
	_IOR('T', 0x11, char[224]), _IOR('T', 0x11, char[232]),
	_IOR('T', 0x14, char[88]), _IOR('T', 0x14, char[96]),
	/* the old START/STOP/CONTINUE/PAUSE */
	_IO('T', 0x20), _IO('T', 0x21), _IO('T', 0x22), _IO('T', 0x23),
};

static unsigned int random_cmd(struct rng *r)
{
	unsigned int cmd = known[rng_below(r, sizeof(known) / sizeof(known[0]))];

	switch (rng_below(r, 4)) {
	case 0:	/* anything in 'T' */
		return _IOC(rng_below(r, 4), 'T', rng_below(r, 256),
			    rng_below(r, 2) ? rng_below(r, 512) : rng_below(r, _IOC_SIZEMASK + 1));
	case 1:	/* a known number with another direction or size */
		return _IOC(rng_below(r, 4), 'T', _IOC_NR(cmd),
			    rng_below(r, 2) ? _IOC_SIZE(cmd) : rng_below(r, 1024));
	default:
		return cmd;
	}
}

static int attached_instance(unsigned int id, bool tread)
{
	int fd = instance_open(id, O_RDONLY | O_NONBLOCK, tread, 1);

	if (fd >= 0)
		instance_ioctl(fd, SNDRV_TIMER_IOCTL_START);
	return fd;
}

/* (Re)opens the fds the fuzzer aims at; closes whatever the fuzzer made. */
static void fuzz_targets(struct fuzz *f, bool reopen)
{
	unsigned int gone = 0;
	int i, fd;

	close_range(f->floor, ~0U, 0);
	if (!reopen)
		return;
	for (i = 0; i < UTIMERS; i++)
		f->ufd[i] = utimer_create(-1, 1000000 + 1000000 * (unsigned int)i, &f->uid[i]);
	f->ctl[0] = open("/dev/snd/timer", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	f->ctl[1] = attached_instance(f->uid[0], false);
	fd = utimer_create(-1, 1000000, &gone);
	f->ctl[2] = attached_instance(gone, false);
	close(fd);	/* ctl[2] is now an instance of a destroyed timer */
	f->ctl[3] = attached_instance(f->uid[1], true);
	f->baseline = 0;
	for (i = 0; i < CTLS; i++)
		f->baseline = f->ctl[i] > f->baseline ? f->ctl[i] : f->baseline;
	for (i = 0; i < UTIMERS; i++)
		f->baseline = f->ufd[i] > f->baseline ? f->ufd[i] : f->baseline;
	f->baseline++;
}

/* One of the fds that could be opened (ctl[0] always is). */
static int target(struct fuzz *f)
{
	for (;;) {
		unsigned int i = rng_below(&f->r, CTLS + UTIMERS);
		int fd = i < CTLS ? f->ctl[i] : f->ufd[i - CTLS];

		if (fd >= 0 || i == 0)
			return fd;
	}
}

static void one_call(struct fuzz *f)
{
	unsigned int cmd = random_cmd(&f->r);
	unsigned long arg = argument(f, _IOC_NR(cmd), _IOC_SIZE(cmd));
	int fd = target(f), ret;

	current_call = f->calls;
	current_cmd = cmd;
	ret = ioctl(fd, cmd, arg);
	f->calls++;
	if (ret > 0)
		f->positive++;
	if (ret < 0) {
		if (errno >= MAX_ERRNO)
			f->bad_errno = (unsigned long)errno;
		else
			f->errnos[errno]++;
	}
	/* a CREATE that worked: its fd is in the argument (or lost, on mainline) */
	if (ret == 0 && cmd == UTIMER_IOCTL_CREATE && arg == (unsigned long)f->buf) {
		int created = ((struct utimer_uinfo *)f->buf)->fd;

		if (created >= f->baseline)
			close(created);
	}
}

/*
 * A read() with a random buffer. Non-blocking again first: FIONBIO is
 * _IO('T', 0x21), SNDRV_TIMER_IOCTL_STOP_OLD's number, and the VFS takes it.
 */
static void drain(struct fuzz *f)
{
	unsigned long arg = argument(f, 0, 64);
	int fd = target(f);

	fcntl(fd, F_SETFL, O_NONBLOCK);
	in_read = 1;
	if (read(fd, (void *)arg, rng_below(&f->r, 512)) >= 0)
		f->reads++;
	in_read = 0;
}

FIXTURE(fuzz) {
	int fds;
	bool no_create;	/* 32-bit on mainline: no utimer of our own */
};

FIXTURE_SETUP(fuzz)
{
	const char *why = stress_unsupported();

	self->no_create = why && stress_compat_create_missing();
	if (why && !self->no_create)
		SKIP(return, "%s", why);
	self->fds = stress_count_fds();
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* One fuzzing process: its own fds, rng and pages; counts go to f (shared). */
static void __attribute__((noreturn)) fuzz_process(struct fuzz *f, unsigned long calls,
						   double deadline, unsigned int alarm_s)
{
	f->page = sysconf(_SC_PAGESIZE);
	f->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->edge = mmap(NULL, 2 * f->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->ro_edge = mmap(NULL, 2 * f->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->buf == MAP_FAILED || f->edge == MAP_FAILED || f->ro_edge == MAP_FAILED ||
	    munmap(f->edge + f->page, f->page) || mprotect(f->ro_edge + f->page, f->page, PROT_READ))
		_exit(KSFT_FAIL);
	for (int i = 0; i < BUF_SIZE; i++)
		f->buf[i] = (unsigned char)rng_next(&f->r);

	signal(SIGALRM, watchdog);
	alarm(alarm_s);
	fuzz_targets(f, true);
	while (f->calls < calls && stress_now() < deadline) {
		one_call(f);
		if (!(f->calls % 32))
			drain(f);
		if (!(f->calls % 256))
			close_range((unsigned int)f->baseline, ~0U, 0);
		if (!(f->calls % 4096))
			fuzz_targets(f, true);
	}
	fuzz_targets(f, false);
	_exit(0);
}

/* every fd from the returned one up is free */
static unsigned int first_unused_above_all(void)
{
	unsigned int floor = 0;
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) &&
		    (unsigned int)atoi(e->d_name) >= floor)
			floor = (unsigned int)atoi(e->d_name) + 1;
	if (d)
		closedir(d);
	return floor;
}

/*
 * Two fuzzing processes, one per CPU of the guest: twice the calls in the
 * same time, and each other's concurrency.
 */
#define FUZZERS 2

TEST_F_TIMEOUT(fuzz, ioctls, 120)
{
	/* 40 budgets: the count, not the clock, ends a normal run */
	double deadline = stress_deadline(40.0);
	unsigned int alarm_s = (unsigned int)(40.0 * stress_budget) + 60;
	struct fuzz *f = mmap(NULL, FUZZERS * sizeof(*f), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t seed = STRESS_SEED(NULL);
	unsigned long errors = 0, calls = 0, reads = 0, positive = 0, bad_errno = 0;
	unsigned long errnos[MAX_ERRNO] = { 0 };
	char why[256], hist[1024];
	pid_t pids[FUZZERS];
	size_t used = 0;
	int i, j, fds = stress_count_fds();
	unsigned int floor = first_unused_above_all();
	double started = stress_now();

	ASSERT_NE(f, MAP_FAILED);
	for (i = 0; i < FUZZERS; i++) {
		f[i] = (struct fuzz){ .r = rng_for(seed, (uint64_t)i), .floor = floor };
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0)
			fuzz_process(&f[i], (stress_fuzz_calls + FUZZERS - 1) / FUZZERS, deadline, alarm_s);
	}
	for (i = 0; i < FUZZERS; i++) {
		int status;

		ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("fuzzing process %d: %s %d", i, WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		calls += f[i].calls;
		reads += f[i].reads;
		positive += f[i].positive;
		bad_errno = f[i].bad_errno ? f[i].bad_errno : bad_errno;
		for (j = 0; j < MAX_ERRNO; j++)
			errnos[j] += f[i].errnos[j];
	}
	for (i = 0; i < MAX_ERRNO; i++) {
		errors += errnos[i];
		if (errnos[i] && used < sizeof(hist))
			used += (size_t)snprintf(hist + used, sizeof(hist) - used, "%s%s:%lu",
						 used ? "," : "", strerrorname_np(i), errnos[i]);
	}
	stress_stats("bits=%zu calls=%lu processes=%d seconds=%.0f reads=%lu succeeded=%lu errors=%s",
		     sizeof(void *) * 8, calls, FUZZERS, stress_now() - started, reads, calls - errors,
		     used ? hist : "none");
	EXPECT_GE(calls, stress_fuzz_calls) TH_LOG("only %lu calls before the %.0f s deadline",
						   calls, 40.0 * stress_budget);
	EXPECT_EQ(bad_errno, 0) TH_LOG("an ioctl returned kernel-internal errno %lu", bad_errno);
	EXPECT_EQ(positive, 0) TH_LOG("%lu ioctls returned a positive value", positive);
	EXPECT_EQ(stress_count_fds(), fds);
	if (self->no_create && _metadata->exit_code == KSFT_PASS)
		STRESS_XFAIL(return, "known mainline difference: a 32-bit process cannot CREATE "
			     "(ENOTTY: mainline's compat ioctl does not pass it through); "
			     "fuzzed /dev/snd/timer fds only, %lu calls, no failure", calls);
	/* the fuzzing processes are gone, and with them all they held */
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

STRESS_MAIN
