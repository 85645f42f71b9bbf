// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Races on one userspace-driven timer, run on a guest with >= 2 CPUs:
 *
 *   storm.*             threads TRIGGER one timer while other threads open,
 *                       read and close ordinary instances and snd-aloop
 *                       streams on it (CVE-2026-68200: a callback re-entered
 *                       while it runs, its instance freed under it)
 *   owner_close.races   the owner closes the timer while another thread
 *                       TRIGGERs it, instances do INFO/STATUS/START/STOP,
 *                       snd-aloop opens it and a reader blocks in read()
 *   owner_close.blocked_read_wakes, .read_after_close
 *                       the reader's part alone, deterministic
 *
 * The kernel's verdict (KASAN, lockdep, BUG) is read by the VM runner; the
 * tests check what userspace sees: errors where the timer is gone, every
 * read() woken, every id and fd back.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sound/asound.h>

#include "cable.h"
#include "stress.h"

#define MAX_THREADS	8
#define WAKE_TIMEOUT	5.0	/* s a woken reader may take, even on a slow guest */

static int online_cpus(void)
{
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % online_cpus(), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Counts errors by errno, for a one-line report. */
struct errnos {
	atomic_ulong count[160];
};

static void errnos_add(struct errnos *e, int err)
{
	if (err < 0)
		err = -err;
	atomic_fetch_add(&e->count[err < 160 ? err : 0], 1);
}

static unsigned long errnos_total(struct errnos *e)
{
	unsigned long n = 0;

	for (int i = 0; i < 160; i++)
		n += atomic_load(&e->count[i]);
	return n;
}

static const char *errnos_text(struct errnos *e, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (int i = 0; i < 160 && used < len; i++) {
		unsigned long n = atomic_load(&e->count[i]);

		if (n)
			used += (size_t)snprintf(buf + used, len - used, "%s%s:%lu",
						 used ? "," : "", i ? strerrorname_np(i) : "other", n);
	}
	return used ? buf : "none";
}

/* ------------------------------------------------------------------ storm */

struct storm {
	int fds;	/* open before the test's own */
	int ufd;
	unsigned int id;
	int card;
	uint64_t seed;
	atomic_bool stop;
	atomic_ulong triggers, opens, events, instance_ops, streams, frames, xruns;
	struct errnos trigger_errors, open_errors, stream_errors;
};

struct worker {
	pthread_t thread;
	struct storm *s;
	int index;
};

static void *storm_trigger(void *arg)
{
	struct worker *w = arg;
	struct storm *s = w->s;
	struct rng r = rng_for(s->seed, 100 + w->index);

	/* one trigger thread per CPU: two TRIGGERs really at the same time */
	pin_to_cpu(w->index);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		int err = utimer_trigger(s->ufd);

		if (err)
			errnos_add(&s->trigger_errors, err);
		atomic_fetch_add_explicit(&s->triggers, 1, memory_order_relaxed);
		if (!rng_below(&r, 64))
			sched_yield();
	}
	return NULL;
}

/* One life of an instance: open, start, some reads and ioctls, close. */
static void instance_life(struct storm *s, struct rng *r)
{
	bool tread = rng_below(r, 2);
	int fd = instance_open(s->id, O_RDONLY | O_NONBLOCK, tread, 1 + rng_below(r, 2));
	unsigned char buf[4096];
	unsigned int steps;
	int err;

	if (fd < 0) {
		errnos_add(&s->open_errors, fd);
		return;
	}
	atomic_fetch_add(&s->opens, 1);
	err = instance_ioctl(fd, SNDRV_TIMER_IOCTL_START);
	if (err)
		errnos_add(&s->open_errors, err);
	for (steps = rng_below(r, 8); steps; steps--) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct snd_timer_status st;
		struct snd_timer_info info;
		ssize_t n;

		switch (rng_below(r, 8)) {
		case 0:
		case 1:
			if (poll(&p, 1, 1) == 1 && (n = read(fd, buf, sizeof(buf))) > 0)
				atomic_fetch_add(&s->events, (unsigned long)n / (tread ?
					sizeof(struct snd_timer_tread) : sizeof(struct snd_timer_read)));
			break;
		case 2:
			ioctl(fd, SNDRV_TIMER_IOCTL_INFO, &info);
			break;
		case 3:
			ioctl(fd, SNDRV_TIMER_IOCTL_STATUS, &st);
			break;
		case 4:
			ioctl(fd, SNDRV_TIMER_IOCTL_PAUSE);
			ioctl(fd, SNDRV_TIMER_IOCTL_CONTINUE);
			break;
		case 5:
			ioctl(fd, SNDRV_TIMER_IOCTL_STOP);
			ioctl(fd, SNDRV_TIMER_IOCTL_START);
			break;
		default:
			stress_sleep_us(rng_below(r, 300));
		}
		atomic_fetch_add(&s->instance_ops, 1);
	}
	/* close while running (mostly) or stopped */
	if (!rng_below(r, 4))
		ioctl(fd, SNDRV_TIMER_IOCTL_STOP);
	close(fd);
}

static void *storm_instances(void *arg)
{
	struct worker *w = arg;
	struct rng r = rng_for(w->s->seed, 200 + w->index);

	while (!atomic_load(&w->s->stop))
		instance_life(w->s, &r);
	return NULL;
}

static void *storm_cables(void *arg)
{
	struct worker *w = arg;
	struct storm *s = w->s;
	struct rng r = rng_for(s->seed, 300 + w->index);

	while (!atomic_load(&s->stop)) {
		struct cable c;
		int err = cable_open(&c, s->card, (unsigned int)w->index);
		unsigned int pumps;

		if (!err)
			err = cable_start(&c);
		if (err) {
			errnos_add(&s->stream_errors, err);
			cable_close(&c);
			stress_sleep_us(1000);
			continue;
		}
		atomic_fetch_add(&s->streams, 1);
		for (pumps = 1 + rng_below(&r, 20); pumps; pumps--) {
			long got = cable_pump(&c);

			/* ticks far faster than we read: an overrun is the timer moving it too */
			if (got < 0)
				atomic_fetch_add(&s->xruns, 1);
			else
				atomic_fetch_add(&s->frames, (unsigned long)got);
			stress_sleep_us(rng_below(&r, 1000));
		}
		if (rng_below(&r, 2))
			cable_drop(&c);
		cable_close(&c);
	}
	return NULL;
}

FIXTURE(storm) {
	struct storm s;
};

FIXTURE_VARIANT(storm) {
	const char *name;
	int triggers, instances, cables;
};

/* CVE-2026-68200 as reported: two triggers, instances opened and closed */
FIXTURE_VARIANT_ADD(storm, instances) {
	.name = "instances", .triggers = 2, .instances = 3, .cables = 0,
};

/* snd-aloop's callback (PCM locks, period_elapsed) under the same storm */
FIXTURE_VARIANT_ADD(storm, aloop) {
	.name = "aloop", .triggers = 2, .instances = 1, .cables = 2,
};

FIXTURE_SETUP(storm)
{
	const char *why = stress_unsupported();

	memset(&self->s, 0, sizeof(self->s));
	self->s.ufd = -1;
	if (why)
		SKIP(return, "%s", why);
	self->s.fds = stress_count_fds();
	ASSERT_GE(online_cpus(), 2) TH_LOG("races need >= 2 CPUs; the guest has %d", online_cpus());
	self->s.card = aloop_card();
	if (variant->cables)
		ASSERT_GE(self->s.card, 0) TH_LOG("no snd-aloop card \"Loopback\": modprobe snd-aloop");
	self->s.ufd = utimer_create(-1, CABLE_TICK_NS, &self->s.id);
	ASSERT_GE(self->s.ufd, 0) TH_LOG("CREATE: %s", strerror(-self->s.ufd));
	if (variant->cables)
		ASSERT_EQ(aloop_bind(self->s.card, self->s.id), 0);
}

FIXTURE_TEARDOWN(storm)
{
	if (self->s.ufd >= 0)
		close(self->s.ufd);
	if (variant->cables && self->s.card >= 0)
		aloop_set_source(self->s.card, "");
}

TEST_F_TIMEOUT(storm, run, 120)
{
	struct storm *s = &self->s;
	struct worker w[MAX_THREADS];
	int n = 0, i;
	double deadline = stress_deadline(1.0);
	char why[256], e1[256], e2[256], e3[256];

	s->seed = STRESS_SEED(variant->name);
	for (i = 0; i < variant->triggers; i++, n++)
		w[n] = (struct worker){ .s = s, .index = i };
	for (i = 0; i < variant->instances; i++, n++)
		w[n] = (struct worker){ .s = s, .index = i };
	for (i = 0; i < variant->cables; i++, n++)
		w[n] = (struct worker){ .s = s, .index = i };
	for (i = 0; i < n; i++) {
		void *(*fn)(void *) = i < variant->triggers ? storm_trigger :
			i < variant->triggers + variant->instances ? storm_instances : storm_cables;

		ASSERT_EQ(pthread_create(&w[i].thread, NULL, fn, &w[i]), 0);
	}
	while (stress_now() < deadline && atomic_load(&s->triggers) < 100000000UL)
		stress_sleep_us(50000);
	atomic_store(&s->stop, true);
	for (i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);

	stress_stats("triggers=%lu instance_opens=%lu instance_ops=%lu events=%lu "
		     "streams=%lu frames=%lu xruns=%lu trigger_errors=%s open_errors=%s stream_errors=%s",
		     atomic_load(&s->triggers), atomic_load(&s->opens), atomic_load(&s->instance_ops),
		     atomic_load(&s->events), atomic_load(&s->streams), atomic_load(&s->frames),
		     atomic_load(&s->xruns),
		     errnos_text(&s->trigger_errors, e1, sizeof(e1)),
		     errnos_text(&s->open_errors, e2, sizeof(e2)),
		     errnos_text(&s->stream_errors, e3, sizeof(e3)));
	EXPECT_GT(atomic_load(&s->triggers), 0);
	EXPECT_EQ(errnos_total(&s->trigger_errors), 0) TH_LOG("TRIGGER failed: %s", e1);
	EXPECT_EQ(errnos_total(&s->open_errors), 0) TH_LOG("instance open/start failed: %s", e2);
	if (variant->instances) {
		EXPECT_GT(atomic_load(&s->opens), 0);
		EXPECT_GT(atomic_load(&s->events), 0) TH_LOG("no instance read a tick");
	}
	if (variant->cables) {
		EXPECT_GT(atomic_load(&s->streams), 0);
		EXPECT_EQ(errnos_total(&s->stream_errors), 0) TH_LOG("cables failed: %s", e3);
		EXPECT_GT(atomic_load(&s->frames) + atomic_load(&s->xruns), 0)
			TH_LOG("the timer moved no cable (no frame captured, no overrun)");
	}
	EXPECT_EQ(utimer_clients(s->id), 0) TH_LOG("instances left attached");
	close(s->ufd);
	s->ufd = -1;
	EXPECT_EQ(stress_count_fds(), s->fds);
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

/* ------------------------------------------------------------ owner_close */

#define INSTANCES 3

struct round {
	int ufd, tfd, card;
	unsigned int id;
	bool dup_trigger;	/* the trigger thread TRIGGERs its own dup */
	int inst[INSTANCES], reader_fd;
	struct rng rng[4];
	atomic_bool stop, owner_closed;
	atomic_int running;		/* threads that have started */
	atomic_int trigger_closed;	/* dup closed (or no dup) */
	atomic_ulong triggers, ioctls, streams, stream_opens, events;
	struct errnos ioctl_errors, stream_errors;
	/* reader */
	pthread_t reader;
	atomic_int reader_tid;
	atomic_bool reader_done;
	int reader_errno;
	double reader_entered, reader_returned;
};

static void *round_trigger(void *arg)
{
	struct round *rd = arg;
	unsigned long limit = 1 + rng_below(&rd->rng[0], 2000);

	pin_to_cpu(0);
	atomic_fetch_add(&rd->running, 1);
	while (!atomic_load(&rd->stop)) {
		int err = utimer_trigger(rd->tfd);

		if (err == -EBADF || err == -ENOTTY)	/* the owner closed it (fd reused) */
			break;
		atomic_fetch_add(&rd->triggers, 1);
		if (rd->dup_trigger && (atomic_load(&rd->owner_closed) || !--limit))
			break;
	}
	if (rd->dup_trigger)
		close(rd->tfd);
	atomic_store(&rd->trigger_closed, 1);
	return NULL;
}

static void *round_ioctls(void *arg)
{
	struct round *rd = arg;
	struct rng *r = &rd->rng[1];

	pin_to_cpu(1);
	atomic_fetch_add(&rd->running, 1);
	while (!atomic_load(&rd->stop)) {
		int fd = rd->inst[rng_below(r, INSTANCES)], ret;
		struct snd_timer_params params = { .flags = SNDRV_TIMER_PSFLG_AUTO, .ticks = 1 };
		struct snd_timer_status st;
		struct snd_timer_info info;

		switch (rng_below(r, 8)) {
		case 0:
		case 1:
		case 2:	/* INFO reads ti->timer and then allocates: the widest window */
			ret = ioctl(fd, SNDRV_TIMER_IOCTL_INFO, &info);
			break;
		case 3:
			ret = ioctl(fd, SNDRV_TIMER_IOCTL_STATUS, &st);
			break;
		case 4:
			ret = ioctl(fd, SNDRV_TIMER_IOCTL_START);
			break;
		case 5:
			ret = ioctl(fd, SNDRV_TIMER_IOCTL_STOP);
			break;
		case 6:
			ret = ioctl(fd, SNDRV_TIMER_IOCTL_PARAMS, &params);
			break;
		default:
			ret = ioctl(fd, rng_below(r, 2) ? SNDRV_TIMER_IOCTL_PAUSE : SNDRV_TIMER_IOCTL_CONTINUE);
		}
		if (ret < 0)
			errnos_add(&rd->ioctl_errors, errno);
		atomic_fetch_add(&rd->ioctls, 1);
	}
	return NULL;
}

static void *round_cable(void *arg)
{
	struct round *rd = arg;
	struct rng *r = &rd->rng[2];

	atomic_fetch_add(&rd->running, 1);
	while (!atomic_load(&rd->stop)) {
		struct cable c;
		int err = cable_open(&c, rd->card, 0);

		atomic_fetch_add(&rd->stream_opens, 1);
		if (!err)
			err = cable_start(&c);
		if (err) {
			errnos_add(&rd->stream_errors, err);
		} else {
			atomic_fetch_add(&rd->streams, 1);
			for (unsigned int i = rng_below(r, 4); i; i--) {
				cable_pump(&c);
				stress_sleep_us(rng_below(r, 500));
			}
		}
		cable_close(&c);
	}
	return NULL;
}

static void *round_reader(void *arg)
{
	struct round *rd = arg;
	unsigned char buf[1024];

	atomic_store(&rd->reader_tid, (int)syscall(SYS_gettid));
	atomic_fetch_add(&rd->running, 1);
	for (;;) {
		ssize_t n;

		rd->reader_entered = stress_now();
		n = read(rd->reader_fd, buf, sizeof(buf));
		if (n > 0) {
			atomic_fetch_add(&rd->events, 1);
			continue;
		}
		rd->reader_errno = n < 0 ? errno : 0;
		rd->reader_returned = stress_now();
		atomic_store(&rd->reader_done, true);
		return NULL;
	}
}

/*
 * Waits until the reader returned, at most WAKE_TIMEOUT s after `since`.
 * Interrupts it with SIGUSR1 when it did not, and says so in why.
 */
static bool reader_woke(struct round *rd, double since, char *why, size_t len)
{
	while (!atomic_load(&rd->reader_done) && stress_now() < since + WAKE_TIMEOUT)
		stress_sleep_us(2000);
	if (atomic_load(&rd->reader_done)) {
		pthread_join(rd->reader, NULL);
		return true;
	}
	snprintf(why, len, "read() entered %.3f s %s the timer was destroyed did not return within %.0f s",
		 rd->reader_entered > since ? rd->reader_entered - since : since - rd->reader_entered,
		 rd->reader_entered > since ? "after" : "before", WAKE_TIMEOUT);
	while (!atomic_load(&rd->reader_done)) {
		pthread_kill(rd->reader, SIGUSR1);
		stress_sleep_us(10000);
	}
	pthread_join(rd->reader, NULL);
	return false;
}

FIXTURE(owner_close) {
	int card;
	bool mainline;
};

FIXTURE_SETUP(owner_close)
{
	const char *why = stress_unsupported();

	self->card = -1;
	if (why)
		SKIP(return, "%s", why);
	ASSERT_GE(online_cpus(), 2) TH_LOG("races need >= 2 CPUs; the guest has %d", online_cpus());
	self->card = aloop_card();
	ASSERT_GE(self->card, 0) TH_LOG("no snd-aloop card \"Loopback\": modprobe snd-aloop");
	self->mainline = stress_is_mainline();
	stress_install_interrupter();
}

FIXTURE_TEARDOWN(owner_close)
{
	if (self->card >= 0)
		aloop_set_source(self->card, "");
}

/* One round; false with the reason when userspace saw something wrong. */
static bool owner_close_round(struct round *rd, int card, uint64_t seed, unsigned long round,
			      char *why, size_t len)
{
	pthread_t trig, ioc, cab;
	double destroyed;
	int i;

	memset(rd, 0, sizeof(*rd));
	why[0] = 0;
	for (i = 0; i < 4; i++)
		rd->rng[i] = rng_for(seed, round * 8 + i);
	rd->card = card;
	rd->ufd = utimer_create(-1, CABLE_TICK_NS, &rd->id);
	if (rd->ufd < 0) {
		snprintf(why, len, "CREATE: %s", strerror(-rd->ufd));
		return false;
	}
	aloop_bind(card, rd->id);
	for (i = 0; i < INSTANCES; i++) {
		rd->inst[i] = instance_open(rd->id, O_RDONLY | O_NONBLOCK, i & 1, 1);
		if (rd->inst[i] >= 0)
			instance_ioctl(rd->inst[i], SNDRV_TIMER_IOCTL_START);
	}
	rd->reader_fd = instance_open(rd->id, O_RDONLY, rng_below(&rd->rng[3], 2), 1);
	if (rd->reader_fd < 0 || rd->inst[0] < 0) {
		snprintf(why, len, "instance open: %s",
			 strerror(-(rd->reader_fd < 0 ? rd->reader_fd : rd->inst[0])));
		for (i = 0; i < INSTANCES; i++)
			if (rd->inst[i] >= 0)
				close(rd->inst[i]);
		if (rd->reader_fd >= 0)
			close(rd->reader_fd);
		close(rd->ufd);
		return false;
	}
	/*
	 * The reader's instance is attached but not started: no tick wakes it,
	 * so its read() sleeps until the close. (A read() entered after the
	 * close is read_after_close's case.)
	 */
	rd->dup_trigger = rng_below(&rd->rng[3], 2);
	rd->tfd = rd->dup_trigger ? dup(rd->ufd) : rd->ufd;

	pthread_create(&rd->reader, NULL, round_reader, rd);
	pthread_create(&trig, NULL, round_trigger, rd);
	pthread_create(&ioc, NULL, round_ioctls, rd);
	pthread_create(&cab, NULL, round_cable, rd);

	/* all four running, the reader asleep, and in half the rounds a stream running */
	for (double until = stress_now() + WAKE_TIMEOUT; stress_now() < until;) {
		if (atomic_load(&rd->running) == 4 &&
		    (round % 2 || atomic_load(&rd->streams) || stress_now() > until - WAKE_TIMEOUT / 2))
			break;
		stress_sleep_us(500);
	}
	if (!stress_wait_blocked(atomic_load(&rd->reader_tid), SYS_read, WAKE_TIMEOUT))
		snprintf(why, len, "the reader did not get to sleep in read()");
	stress_sleep_us(rng_below(&rd->rng[3], 3000));
	close(rd->ufd);
	destroyed = stress_now();
	atomic_store(&rd->owner_closed, true);
	stress_sleep_us(rng_below(&rd->rng[3], 2000));
	while (!atomic_load(&rd->trigger_closed))
		stress_sleep_us(500);
	if (rd->dup_trigger)
		destroyed = stress_now();	/* the dup held it until now */
	atomic_store(&rd->stop, true);
	pthread_join(trig, NULL);
	pthread_join(ioc, NULL);
	pthread_join(cab, NULL);

	bool ok = reader_woke(rd, destroyed, why, len) && !why[0];

	if (ok && rd->reader_errno != ENODEV) {
		snprintf(why, len, "the blocked read() returned %s, not ENODEV",
			 rd->reader_errno ? strerrorname_np(rd->reader_errno) : "0 (end of file)");
		ok = false;
	}
	for (i = 0; i < INSTANCES; i++)
		if (rd->inst[i] >= 0)
			close(rd->inst[i]);
	close(rd->reader_fd);
	return ok;
}

TEST_F_TIMEOUT(owner_close, races, 120)
{
	uint64_t seed = STRESS_SEED(NULL);
	double deadline = stress_deadline(1.0);
	unsigned long rounds = 0, triggers = 0, ioctls = 0, streams = 0, stream_opens = 0, failures = 0;
	int fds = stress_count_fds();
	struct errnos ioctl_errors = { 0 }, stream_errors = { 0 };
	char why[256] = "", first[256] = "", e1[512], e2[256];
	static struct round rd;

	if (self->mainline)
		SKIP(return, "known mainline difference, not run: closing a utimer frees its timer under "
		     "attached instances without disconnecting them (see blocked_read_wakes), "
		     "so these races would corrupt the guest's memory");
	for (rounds = 0; rounds < 100000 && stress_now() < deadline; rounds++) {
		if (!owner_close_round(&rd, self->card, seed, rounds, why, sizeof(why))) {
			if (!failures++)
				snprintf(first, sizeof(first), "round %lu: %s", rounds, why);
			if (failures >= 5)
				break;
		}
		triggers += rd.triggers;
		ioctls += rd.ioctls;
		streams += rd.streams;
		stream_opens += rd.stream_opens;
		for (int i = 0; i < 160; i++) {
			atomic_fetch_add(&ioctl_errors.count[i], atomic_load(&rd.ioctl_errors.count[i]));
			atomic_fetch_add(&stream_errors.count[i], atomic_load(&rd.stream_errors.count[i]));
		}
	}
	stress_stats("rounds=%lu triggers=%lu ioctls=%lu stream_opens=%lu streams=%lu "
		     "failed_rounds=%lu ioctl_errors=%s stream_errors=%s", rounds, triggers, ioctls,
		     stream_opens, streams, failures, errnos_text(&ioctl_errors, e1, sizeof(e1)),
		     errnos_text(&stream_errors, e2, sizeof(e2)));
	EXPECT_EQ(failures, 0) TH_LOG("%lu failed rounds; first: %s", failures, first);
	EXPECT_GT(rounds, 0);
	EXPECT_GT(triggers, 0);
	EXPECT_GT(streams, 0) TH_LOG("no snd-aloop stream ran on a live timer");
	EXPECT_EQ(stress_count_fds(), fds);
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

/*
 * A reader sleeping in read() when the owner closes the timer wakes with
 * ENODEV (as on card removal).
 */
TEST_F_TIMEOUT(owner_close, blocked_read_wakes, 120)
{
	unsigned long rounds, woke = 0;
	char why[256] = "";
	static struct round rd;

	STRESS_SEED(NULL);
	for (rounds = 0; rounds < 20 && !why[0]; rounds++) {
		memset(&rd, 0, sizeof(rd));
		rd.ufd = utimer_create(-1, CABLE_TICK_NS, &rd.id);
		ASSERT_GE(rd.ufd, 0);
		rd.reader_fd = instance_open(rd.id, O_RDONLY, rounds & 1, 1);
		ASSERT_GE(rd.reader_fd, 0);
		ASSERT_EQ(instance_ioctl(rd.reader_fd, SNDRV_TIMER_IOCTL_START), 0);
		ASSERT_EQ(pthread_create(&rd.reader, NULL, round_reader, &rd), 0);
		while (!atomic_load(&rd.reader_tid))
			stress_sleep_us(1000);
		ASSERT_TRUE(stress_wait_blocked(atomic_load(&rd.reader_tid), SYS_read, WAKE_TIMEOUT))
			TH_LOG("the reader did not block in read()");
		close(rd.ufd);
		if (reader_woke(&rd, stress_now(), why, sizeof(why))) {
			woke++;
			if (rd.reader_errno != ENODEV)
				snprintf(why, sizeof(why), "read() returned %s, not ENODEV",
					 rd.reader_errno ? strerrorname_np(rd.reader_errno) : "0");
		}
		close(rd.reader_fd);
	}
	stress_stats("rounds=%lu woke=%lu", rounds, woke);
	if (why[0] && self->mainline)
		STRESS_XFAIL(return, "known mainline difference: closing a utimer does not disconnect "
			     "its instances: %s", why);
	EXPECT_STREQ(why, "");
}

/* read() on an instance whose timer is already gone returns, with ENODEV. */
TEST_F_TIMEOUT(owner_close, read_after_close, 120)
{
	char why[256] = "";
	static struct round rd;
	struct pollfd p;
	double destroyed;

	STRESS_SEED(NULL);
	memset(&rd, 0, sizeof(rd));
	rd.ufd = utimer_create(-1, CABLE_TICK_NS, &rd.id);
	ASSERT_GE(rd.ufd, 0);
	rd.reader_fd = instance_open(rd.id, O_RDONLY, false, 1);
	ASSERT_GE(rd.reader_fd, 0);
	ASSERT_EQ(instance_ioctl(rd.reader_fd, SNDRV_TIMER_IOCTL_START), 0);
	close(rd.ufd);
	destroyed = stress_now();
	p = (struct pollfd){ .fd = rd.reader_fd, .events = POLLIN };
	EXPECT_EQ(poll(&p, 1, 0), 1);
	EXPECT_TRUE(p.revents & POLLERR) TH_LOG("poll() does not report the timer gone");
	ASSERT_EQ(pthread_create(&rd.reader, NULL, round_reader, &rd), 0);
	if (reader_woke(&rd, destroyed, why, sizeof(why)) && rd.reader_errno != ENODEV)
		snprintf(why, sizeof(why), "read() returned %s, not ENODEV",
			 rd.reader_errno ? strerrorname_np(rd.reader_errno) : "0");
	close(rd.reader_fd);
	if (why[0] && self->mainline)
		STRESS_XFAIL(return, "known mainline difference: %s", why);
	EXPECT_STREQ(why, "");
}

STRESS_MAIN
