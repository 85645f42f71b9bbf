/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the utimer stress binaries share: options (seed, time budget), a
 * seeded random generator, deadlines, and small wrappers around the timer
 * ioctls. Built 64- and 32-bit; no ALSA library here (see cable.h).
 */
#ifndef UTIMER_STRESS_H
#define UTIMER_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "abi.h"

/*
 * Options, from the command line (taken out of argv before the harness sees
 * it) or the environment:
 *   --seed N        UTIMER_STRESS_SEED    base of every random choice (default: random)
 *   --budget SEC    UTIMER_STRESS_BUDGET  wall time each test may loop for (default 10)
 *   --fuzz-calls N  UTIMER_STRESS_FUZZ_CALLS  ioctls per fuzzer run (default 100000)
 * Every test prints its own seed; `--seed S -r FIXTURE.TEST` replays one.
 */
extern uint64_t stress_seed;
extern double stress_budget;
extern unsigned long stress_fuzz_calls;

void stress_options(int *argc, char **argv);

/*
 * main() for a binary that includes kselftest_harness.h before this file.
 * A test's harness timeout is its TEST_F_TIMEOUT (the slack for setup and
 * checks) plus 10 budgets: its loops end at their deadlines well before.
 */
#define STRESS_MAIN \
	int main(int argc, char **argv) \
	{ \
		stress_options(&argc, argv); \
		for (struct __fixture_metadata *f = __fixture_list; f; f = f->next) \
			for (struct __test_metadata *t = f->tests; t; t = t->next) \
				t->timeout += (int)(10 * stress_budget); \
		return test_harness_run(argc, argv); \
	}

/*
 * The harness's runtime counterpart of XFAIL_ADD, for a failure that is
 * known (a mainline difference): reported as "# XFAIL reason".
 */
#define STRESS_XFAIL(statement, fmt, ...) do { \
	snprintf(_metadata->results->reason, sizeof(_metadata->results->reason), \
		 fmt, ##__VA_ARGS__); \
	_metadata->exit_code = KSFT_XFAIL; \
	statement; \
} while (0)

/*
 * The seed of one test, printed with how to replay it; also names the test
 * FIXTURE[.VARIANT].TEST for stress_stats(). In a TEST_F:
 * STRESS_SEED(variant name or NULL).
 */
uint64_t stress_test_seed(const char *fixture, const char *variant, const char *test);
#define STRESS_SEED(variant_name) \
	stress_test_seed(_metadata->fixture->name, variant_name, _metadata->name)

struct rng {
	uint64_t state;
};

static inline uint64_t rng_next(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* 0 <= result < n (n > 0) */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

static inline struct rng rng_for(uint64_t seed, uint64_t stream)
{
	struct rng r = { seed ^ (stream * 0xd1342543de82ef95ULL) };

	rng_next(&r);
	return r;
}

/* CLOCK_MONOTONIC in seconds */
double stress_now(void);
/* now + share x the budget */
double stress_deadline(double share);
void stress_sleep_us(unsigned long us);

/* Prints "# stats: FIXTURE[.VARIANT].TEST key=value ..." for the runner's summary. */
void stress_stats(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Why the kernel cannot run these tests (no /dev/snd/timer, no
 * userspace-driven timers), or NULL.
 */
const char *stress_unsupported(void);

/*
 * Our series rejects non-zero reserved bytes in CREATE; mainline ignores
 * them. The other known differences follow from which one runs.
 */
bool stress_is_mainline(void);

/*
 * A 32-bit process on mainline: the timer protocol is 2.0.8 (utimers exist)
 * but CREATE fails with ENOTTY, as mainline's compat ioctl does not pass it
 * through (our series does).
 */
bool stress_compat_create_missing(void);

/* open("/dev/snd/timer") */
int timer_ctl_open(void);
/* CREATE on ctl (opened here when ctl < 0): the new fd, or -errno */
int utimer_create(int ctl, uint64_t resolution, unsigned int *id);
int utimer_trigger(int fd);	/* 0 or -errno */

/*
 * An ordinary timer instance on utimer id: open, optionally TREAD64,
 * SELECT and PARAMS (auto-reload every `ticks` ticks). The fd, or -errno.
 */
int instance_open(unsigned int id, int open_flags, bool tread, unsigned int ticks);
int instance_ioctl(int fd, unsigned long request);	/* 0 or -errno, for _IO requests */
/* Instances attached to utimer id (GINFO clients), or -errno. */
int utimer_clients(unsigned int id);

/*
 * Checks that all 128 ids are free: CREATE succeeds exactly 128 times with
 * ids 0..127 and the next fails with ENOSPC. Returns true, or false with
 * the difference in why.
 */
bool stress_all_ids_free(char *why, size_t len);

int stress_count_fds(void);

/*
 * Waits (up to timeout s) until thread tid sleeps in syscall nr. False if it
 * did not get there.
 */
bool stress_wait_blocked(pid_t tid, long nr, double timeout);

/* A SIGUSR1 handler without SA_RESTART, to interrupt a stuck syscall. */
void stress_install_interrupter(void);

#endif
