// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Timer ids as a resource:
 *
 *   ids.sigkill_holders     processes holding and triggering many timers
 *                           (with instances attached, some mid-CREATE) die by
 *                           SIGKILL: afterwards all 128 ids come back
 *   ids.concurrent_create   threads CREATE until the kernel refuses: exactly
 *                           128 unique ids, then ENOSPC for every thread
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sound/asound.h>

#include "stress.h"

#define HOLDERS		4
#define PER_HOLDER	(UTIMER_MAX / HOLDERS)
#define CREATORS	4

FIXTURE(ids) {
	int fds;
};

FIXTURE_SETUP(ids)
{
	const char *why = stress_unsupported();

	if (why)
		SKIP(return, "%s", why);
	self->fds = stress_count_fds();
}

FIXTURE_TEARDOWN(ids)
{
}

struct holder {
	int fds[PER_HOLDER];
	int n;
	struct rng rng;
};

static void *holder_trigger(void *arg)
{
	struct holder *h = arg;
	struct rng r = rng_for(h->rng.state, (uint64_t)pthread_self());

	for (;;)
		utimer_trigger(h->fds[rng_below(&r, (uint32_t)h->n)]);
	return NULL;
}

/*
 * A holder process: takes its share of the ids, attaches a started
 * instance to some, triggers all from two threads; the churner variant
 * creates and closes timers without pause. Reports readiness on `ready`,
 * then runs until killed.
 */
static void __attribute__((noreturn)) holder_main(int ready, uint64_t seed, bool churn)
{
	struct holder h = { .rng = rng_for(seed, 1) };
	pthread_t t;
	unsigned int id;
	char ok = 1;

	if (churn) {
		if (write(ready, &ok, 1) != 1)
			_exit(1);
		for (;;) {
			int fd = utimer_create(-1, 1000000, &id);

			if (fd >= 0) {
				int inst = instance_open(id, O_RDONLY | O_NONBLOCK, false, 1);

				utimer_trigger(fd);
				close(fd);
				if (inst >= 0)
					close(inst);
			}
		}
	}
	for (h.n = 0; h.n < PER_HOLDER; h.n++) {
		h.fds[h.n] = utimer_create(-1, 1000000 + rng_below(&h.rng, 1000000), &id);
		if (h.fds[h.n] < 0)
			break;
		if (rng_below(&h.rng, 2)) {
			int inst = instance_open(id, O_RDONLY | O_NONBLOCK, rng_below(&h.rng, 2), 1);

			if (inst >= 0)
				instance_ioctl(inst, SNDRV_TIMER_IOCTL_START);
		}
	}
	if (h.n == 0)
		_exit(1);
	pthread_create(&t, NULL, holder_trigger, &h);
	pthread_create(&t, NULL, holder_trigger, &h);
	if (write(ready, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

TEST_F_TIMEOUT(ids, sigkill_holders, 120)
{
	uint64_t seed = STRESS_SEED(NULL);
	struct rng r = rng_for(seed, 0);
	double deadline = stress_deadline(1.0);
	unsigned long rounds, killed = 0;
	char why[256] = "";

	for (rounds = 0; rounds < 10000 && stress_now() < deadline; rounds++) {
		pid_t pids[HOLDERS + 1];
		int p[2], i, ready = 0;
		char c;

		ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
		for (i = 0; i <= HOLDERS; i++) {
			pids[i] = fork();
			ASSERT_GE(pids[i], 0);
			if (pids[i] == 0) {
				close(p[0]);
				holder_main(p[1], rng_next(&r) + (uint64_t)i, i == HOLDERS);
			}
		}
		close(p[1]);
		/* bounded: a holder that failed never writes, the others keep the pipe open */
		for (double until = stress_now() + 30; ready <= HOLDERS && stress_now() < until;) {
			struct pollfd pfd = { .fd = p[0], .events = POLLIN };

			if (poll(&pfd, 1, 100) == 1 && read(p[0], &c, 1) == 1)
				ready++;
		}
		close(p[0]);
		/* let them trigger (and the churner create) for a while */
		stress_sleep_us(rng_below(&r, 20000));
		for (i = 0; i <= HOLDERS; i++)
			kill(pids[i], SIGKILL);
		for (i = 0; i <= HOLDERS; i++) {
			int status;

			ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
			killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		}
		ASSERT_EQ(ready, HOLDERS + 1) TH_LOG("round %lu: a holder could not take its %d timers",
						     rounds, PER_HOLDER);
		/* once the killed processes are reaped, their files are released */
		if (!stress_all_ids_free(why, sizeof(why)))
			break;
	}
	stress_stats("rounds=%lu processes_killed=%lu timers_per_round=%d",
		     rounds, killed, UTIMER_MAX);
	EXPECT_STREQ(why, "") TH_LOG("after round %lu", rounds);
	EXPECT_GT(rounds, 0);
	EXPECT_EQ(killed, rounds * (HOLDERS + 1));
	EXPECT_EQ(stress_count_fds(), self->fds);
}

struct creators {
	pthread_barrier_t start;
	uint64_t seed;
	struct {
		pthread_t thread;
		int fds[UTIMER_MAX + 1];
		unsigned int ids[UTIMER_MAX + 1];
		int n, last_error;
	} t[CREATORS];
};

struct creator_arg {
	struct creators *cs;
	int index;
};

static void *create_until_refused(void *arg)
{
	struct creator_arg *a = arg;
	struct creators *cs = a->cs;
	typeof(cs->t[0]) *t = &cs->t[a->index];
	struct rng r = rng_for(cs->seed, (uint64_t)a->index);
	int ctl = timer_ctl_open();

	pthread_barrier_wait(&cs->start);
	for (t->n = 0; t->n <= UTIMER_MAX; t->n++) {
		int fd = utimer_create(rng_below(&r, 2) ? ctl : -1, 1000000, &t->ids[t->n]);

		if (fd < 0) {
			t->last_error = -fd;
			break;
		}
		t->fds[t->n] = fd;
		if (!rng_below(&r, 8))
			sched_yield();
	}
	/* everyone is done creating before anyone frees an id */
	pthread_barrier_wait(&cs->start);
	for (int i = 0; i < t->n; i++)
		close(t->fds[i]);
	close(ctl);
	return NULL;
}

TEST_F_TIMEOUT(ids, concurrent_create, 120)
{
	static struct creators cs;
	struct creator_arg args[CREATORS];
	double deadline = stress_deadline(0.5);
	unsigned long rounds, creates = 0;
	char why[512] = "";

	cs.seed = STRESS_SEED(NULL);
	for (rounds = 0; rounds < 10000 && stress_now() < deadline && !why[0]; rounds++) {
		bool seen[UTIMER_MAX] = { false };
		int total = 0, i, j;

		cs.seed = rng_for(cs.seed, rounds).state;
		ASSERT_EQ(pthread_barrier_init(&cs.start, NULL, CREATORS), 0);
		for (i = 0; i < CREATORS; i++) {
			args[i] = (struct creator_arg){ &cs, i };
			ASSERT_EQ(pthread_create(&cs.t[i].thread, NULL, create_until_refused, &args[i]), 0);
		}
		for (i = 0; i < CREATORS; i++)
			pthread_join(cs.t[i].thread, NULL);
		pthread_barrier_destroy(&cs.start);
		for (i = 0; i < CREATORS; i++) {
			total += cs.t[i].n;
			if (cs.t[i].last_error != ENOSPC && !why[0])
				snprintf(why, sizeof(why), "round %lu: thread %d stopped with %s, not ENOSPC",
					 rounds, i, cs.t[i].last_error ?
					 strerrorname_np(cs.t[i].last_error) : "no error");
			for (j = 0; j < cs.t[i].n; j++) {
				unsigned int id = cs.t[i].ids[j];

				if ((id >= UTIMER_MAX || seen[id]) && !why[0])
					snprintf(why, sizeof(why), "round %lu: id %u given twice or out of range",
						 rounds, id);
				else if (id < UTIMER_MAX)
					seen[id] = true;
			}
		}
		creates += (unsigned long)total;
		if (total != UTIMER_MAX && !why[0])
			snprintf(why, sizeof(why), "round %lu: %d CREATEs succeeded, not %d",
				 rounds, total, UTIMER_MAX);
	}
	stress_stats("rounds=%lu creates=%lu threads=%d", rounds, creates, CREATORS);
	EXPECT_STREQ(why, "");
	EXPECT_GT(rounds, 0);
	EXPECT_EQ(stress_count_fds(), self->fds);
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

STRESS_MAIN
