// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Module lifetime (run last: it unloads and reloads ALSA modules):
 *
 *   module.snd_timer_pinned   with everything that uses snd-timer unloaded,
 *                             an open utimer fd holds a reference on it:
 *                             it cannot be unloaded then, and can after
 *   module.aloop_reload       snd-aloop bound to a live utimer by its
 *                             timer_source=-1.4.<id> module parameter is
 *                             unloaded and reloaded, and streams each time
 *
 * Unloading is delete_module(O_NONBLOCK), what rmmod does; loading is
 * modprobe, which finds our modules in updates/. What was unloaded is
 * loaded again at the end.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sound/asound.h>

#include "cable.h"
#include "stress.h"

static bool loaded(const char *module)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", module);
	return !stat(path, &st);
}

static int refcnt(const char *module)
{
	char path[128], text[32] = "";
	int fd, n;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", module);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = (int)read(fd, text, sizeof(text) - 1);
	close(fd);
	return n > 0 ? atoi(text) : -1;
}

/* rmmod: 0 or -errno */
static int unload(const char *module)
{
	return syscall(SYS_delete_module, module, O_NONBLOCK) ? -errno : 0;
}

/* modprobe NAME [PARAM]: 0 or its exit status */
static int modprobe(const char *module, const char *param)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execlp("modprobe", "modprobe", module, param, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * Unloads the modules that use `module` (its holders), theirs first;
 * appends what it unloaded to list (n entries). 0 or -errno of the first
 * that would not go.
 */
static int unload_holders(const char *module, char list[][64], int *n, char *why, size_t len)
{
	char path[128];
	struct dirent *e;
	DIR *d;
	int err = 0;

	snprintf(path, sizeof(path), "/sys/module/%s/holders", module);
	d = opendir(path);
	if (!d)
		return 0;
	while (!err && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		err = unload_holders(e->d_name, list, n, why, len);
		if (!err && (err = unload(e->d_name)))
			snprintf(why, len, "cannot unload %.64s (refcnt %d): %s", e->d_name,
				 refcnt(e->d_name), strerror(-err));
		if (!err && *n < 16)
			snprintf(list[(*n)++], 64, "%.63s", e->d_name);
	}
	closedir(d);
	return err;
}

FIXTURE(module) {
	char unloaded[16][64];
	int n;
	bool mainline;
};

FIXTURE_SETUP(module)
{
	const char *why = stress_unsupported();

	self->n = 0;
	if (why)
		SKIP(return, "%s", why);
	if (!getenv("UTIMER_VM_OUT") && !getenv("UTIMER_STRESS_MODULES"))
		SKIP(return, "unloads ALSA modules: runs in a utimer-vm guest (UTIMER_VM_OUT set) "
		     "or with UTIMER_STRESS_MODULES=1");
	if (!loaded("snd_timer"))
		SKIP(return, "snd-timer is built in: nothing to unload");
	self->mainline = stress_is_mainline();
}

/* Loads again what the test unloaded, last unloaded first. */
FIXTURE_TEARDOWN(module)
{
	if (!loaded("snd_timer"))
		modprobe("snd-timer", NULL);
	while (self->n > 0)
		modprobe(self->unloaded[--self->n], NULL);
}

TEST_F_TIMEOUT(module, snd_timer_pinned, 120)
{
	char why[256] = "";
	unsigned int id;
	int ufd, ref, err;

	STRESS_SEED(NULL);
	ASSERT_EQ(unload_holders("snd_timer", self->unloaded, &self->n, why, sizeof(why)), 0)
		TH_LOG("%s", why);
	/* nothing else may hold it, or the check below proves nothing */
	ref = refcnt("snd_timer");
	if (ref && self->mainline)
		STRESS_XFAIL(return, "known mainline difference: snd_timer's refcount is %d with "
			     "nothing open: an instance closed after its utimer leaks a module "
			     "reference (the timer is gone, so its close skips module_put())", ref);
	ASSERT_EQ(ref, 0) TH_LOG("snd_timer is in use by something else");
	ufd = utimer_create(-1, 1000000, &id);	/* /dev/snd/timer is closed again */
	ASSERT_GE(ufd, 0);
	ref = refcnt("snd_timer");
	if (ref == 0 && self->mainline) {
		close(ufd);
		STRESS_XFAIL(return, "known mainline difference: a utimer fd holds no reference on "
			     "snd-timer (its file_operations have no .owner), so unloading snd-timer "
			     "would free the timer under the open fd; not unloaded");
	}
	EXPECT_EQ(ref, 1) TH_LOG("snd_timer refcnt with one utimer fd open");
	err = unload("snd_timer");
	EXPECT_EQ(err, -EWOULDBLOCK) TH_LOG("rmmod snd_timer with a utimer fd open: %s",
					    err ? strerror(-err) : "unloaded");
	if (!err) {	/* the fd now points into a freed module: do not touch it */
		modprobe("snd-timer", NULL);
		return;
	}
	EXPECT_EQ(utimer_trigger(ufd), 0);
	close(ufd);
	EXPECT_EQ(refcnt("snd_timer"), 0);
	err = unload("snd_timer");
	EXPECT_EQ(err, 0) TH_LOG("rmmod snd_timer after the last fd closed: %s", strerror(-err));
	EXPECT_FALSE(loaded("snd_timer"));
	EXPECT_EQ(modprobe("snd-timer", NULL), 0);
	EXPECT_EQ(stress_unsupported(), NULL) TH_LOG("after reloading snd-timer: %s", stress_unsupported());
	stress_stats("unloaded_holders=%d", self->n);
}

/* One stream on the cable: a few ticks move frames. 0 or -errno. */
static int stream(int card, int ufd, long *frames)
{
	struct cable c;
	int err = cable_open(&c, card, 0);

	*frames = 0;
	if (!err)
		err = cable_start(&c);
	for (int i = 0; !err && i < 8; i++) {
		err = utimer_trigger(ufd);
		stress_sleep_us(2000);
		long got = cable_pump(&c);

		if (got > 0)
			*frames += got;
	}
	cable_close(&c);
	return err;
}

TEST_F_TIMEOUT(module, aloop_reload, 120)
{
	uint64_t seed = STRESS_SEED(NULL);
	struct rng r = rng_for(seed, 0);
	unsigned long rounds;
	char param[96], source[64];
	unsigned int id;
	int ufd, err;
	double deadline = stress_deadline(0.5);

	if (!loaded("snd_aloop") && modprobe("snd-aloop", NULL))
		SKIP(return, "snd-aloop cannot be loaded");
	/* a timer that is not id 0: the parameter must really select it */
	int other = utimer_create(-1, CABLE_TICK_NS, NULL);

	ufd = utimer_create(-1, CABLE_TICK_NS, &id);
	ASSERT_GE(ufd, 0);
	snprintf(source, sizeof(source), "-1.%d.%u", UTIMER_GLOBAL_DEVICE, id);
	snprintf(param, sizeof(param), "timer_source=%s", source);
	for (rounds = 0; rounds < 50 && (rounds < 2 || stress_now() < deadline); rounds++) {
		long frames;
		char path[64], text[64] = "";
		int fd, card;

		err = unload("snd_aloop");
		ASSERT_EQ(err, 0) TH_LOG("round %lu: rmmod snd_aloop: %s", rounds, strerror(-err));
		ASSERT_EQ(modprobe("snd-aloop", param), 0);
		card = aloop_card();
		ASSERT_GE(card, 0);
		snprintf(path, sizeof(path), "/proc/asound/card%d/timer_source", card);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ASSERT_GE(fd, 0);
		ASSERT_GT(read(fd, text, sizeof(text) - 1), 0);
		close(fd);
		text[strcspn(text, "\n")] = 0;
		EXPECT_STREQ(text, source);
		EXPECT_EQ(utimer_clients(id), 0);

		ASSERT_EQ(stream(card, ufd, &frames), 0);
		EXPECT_GT(frames, 0) TH_LOG("round %lu: ticks moved no frames", rounds);
		if (rng_below(&r, 2)) {
			/* an open stream pins snd-aloop */
			struct cable c;

			ASSERT_EQ(cable_open(&c, card, 0), 0);
			EXPECT_EQ(utimer_clients(id), 1);
			EXPECT_EQ(unload("snd_aloop"), -EWOULDBLOCK);
			cable_close(&c);
		}
		EXPECT_EQ(utimer_clients(id), 0);
		EXPECT_EQ(utimer_trigger(ufd), 0);
	}
	/* back to a plain snd-aloop for whoever comes next */
	EXPECT_EQ(unload("snd_aloop"), 0);
	EXPECT_EQ(modprobe("snd-aloop", NULL), 0);
	close(ufd);
	if (other >= 0)
		close(other);
	stress_stats("rounds=%lu", rounds);
}

STRESS_MAIN
