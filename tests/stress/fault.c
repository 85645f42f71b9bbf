// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Allocation failures, injected as Documentation/fault-injection/
 * fault-injection.rst describes (failslab, fail_page_alloc; debug kernels):
 *
 *   fault.create_nth       CREATE with its 1st, 2nd, ... allocation failing
 *                          (/proc/thread-self/fail-nth): every point is found
 *   fault.instance_nth     the same for an instance on a utimer: open, TREAD,
 *                          SELECT, PARAMS, START
 *   fault.aloop_open_nth   the same for opening a snd-aloop PCM clocked by a
 *                          utimer (snd-aloop opens the timer)
 *   fault.random           failslab, then fail_page_alloc, with probability,
 *                          interval and times, task-filtered by make-it-fail,
 *                          on all of the above in a loop
 *
 * A failure must return an error and leave nothing behind: no id (the next
 * CREATE gets id 0 again), no fd (/proc/self/fd), no instance (GINFO), no
 * memory (kmemleak, scanned by the VM runner after the run).
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sound/asound.h>

#include "cable.h"
#include "stress.h"

#define DEBUGFS		"/sys/kernel/debug"
#define MAX_NTH		400	/* no path here has nearly that many allocations */

static const char *const capabilities[] = { "failslab", "fail_page_alloc" };
#define NCAP 2

/* The knobs we set, restored afterwards. */
static const char *const knobs[] = {
	"probability", "interval", "times", "space", "verbose", "task-filter",
	"ignore-gfp-wait", "min-order", "ignore-gfp-highmem",
};
#define NKNOB (sizeof(knobs) / sizeof(knobs[0]))

static int knob_write(const char *cap, const char *knob, const char *value)
{
	char path[128];
	int fd, err = 0;

	snprintf(path, sizeof(path), DEBUGFS "/%s/%s", cap, knob);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int knob_read(const char *cap, const char *knob, char *value, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), DEBUGFS "/%s/%s", cap, knob);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, value, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	value[n] = 0;
	value[strcspn(value, "\n")] = 0;
	return 0;
}

/*
 * This thread's /proc/thread-self/make-it-fail, opened before any fault is
 * armed: turning it off must not need an allocation that could fail.
 */
static int make_it_fail(int fd, bool on)
{
	return pwrite(fd, on ? "1" : "0", 1, 0) == 1 ? 0 : -errno;
}

/*
 * fail-nth: armed for the next operation, then asked whether it fired. The
 * file is opened before arming, so that only the operation counts.
 */
struct nth {
	int fd;
};

static void nth_arm(struct nth *n, unsigned int which)
{
	char text[16];
	int len = snprintf(text, sizeof(text), "%u", which);

	if (pwrite(n->fd, text, (size_t)len, 0) != len)
		abort();
}

/* Disarms; true when the fault was injected. */
static bool nth_fired(struct nth *n)
{
	char text[16] = "";
	ssize_t got = pread(n->fd, text, sizeof(text) - 1, 0);
	bool fired = got > 0 && atoi(text) == 0;

	if (pwrite(n->fd, "0", 1, 0) != 1)
		abort();
	return fired;
}

FIXTURE(fault) {
	char saved[NCAP][NKNOB][32];
	bool have[NCAP][NKNOB];
	struct nth nth;
	int mif, fds, card;
	int errors[160];	/* injected failures by errno */
	unsigned long points, absorbed, failed;
};

FIXTURE_SETUP(fault)
{
	const char *why = stress_unsupported();
	struct stat st;
	unsigned int c, k;

	self->nth.fd = self->mif = -1;
	if (why)
		SKIP(return, "%s", why);
	if (stat(DEBUGFS "/failslab", &st))
		mount("debugfs", DEBUGFS, "debugfs", 0, NULL);
	if (stat(DEBUGFS "/failslab", &st) || stat(DEBUGFS "/fail_page_alloc", &st))
		SKIP(return, "no failslab/fail_page_alloc in debugfs: the kernel lacks "
			     "CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC or CONFIG_FAULT_INJECTION_DEBUG_FS "
			     "(stock kernels do)");
	self->nth.fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (self->nth.fd < 0)
		SKIP(return, "no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
	self->mif = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);
	ASSERT_GE(self->mif, 0);
	for (c = 0; c < NCAP; c++) {
		for (k = 0; k < NKNOB; k++)
			self->have[c][k] = !knob_read(capabilities[c], knobs[k], self->saved[c][k],
						      sizeof(self->saved[c][k]));
		/* silent (a stack dump would read as a kernel report), off until armed */
		ASSERT_EQ(knob_write(capabilities[c], "verbose", "0"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "probability", "0"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "interval", "1"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "times", "-1"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "space", "0"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "task-filter", "Y"), 0);
		/* GFP_KERNEL allocations are the ones that matter here */
		ASSERT_EQ(knob_write(capabilities[c], "ignore-gfp-wait", "N"), 0);
	}
	ASSERT_EQ(knob_write("fail_page_alloc", "min-order", "0"), 0);
	ASSERT_EQ(knob_write("fail_page_alloc", "ignore-gfp-highmem", "N"), 0);
	self->fds = stress_count_fds();
	self->card = aloop_card();
}

FIXTURE_TEARDOWN(fault)
{
	unsigned int c, k;

	if (self->mif >= 0) {
		make_it_fail(self->mif, false);
		close(self->mif);
	}
	if (self->nth.fd >= 0)
		close(self->nth.fd);
	for (c = 0; c < NCAP; c++)
		for (k = 0; k < NKNOB; k++)
			if (self->have[c][k])
				knob_write(capabilities[c], knobs[k], self->saved[c][k]);
}

/* What an injected failure must leave behind: nothing. */
static bool left_nothing(FIXTURE_DATA(fault) *self, int utimer_id, char *why, size_t len)
{
	unsigned int id = 0;
	int fd, clients;

	if (stress_count_fds() != self->fds) {
		snprintf(why, len, "%d fds open, %d before", stress_count_fds(), self->fds);
		return false;
	}
	if (utimer_id >= 0 && (clients = utimer_clients((unsigned int)utimer_id)) != 0) {
		snprintf(why, len, "timer %d has %d instance(s) left", utimer_id, clients);
		return false;
	}
	/* ids are given lowest first: a leaked one shows as id != 0 here */
	fd = utimer_create(-1, 1000000, &id);
	if (fd >= 0)
		close(fd);
	if (utimer_id < 0 && (fd < 0 || id != 0)) {
		snprintf(why, len, "the next CREATE gave %s %u, not id 0", fd < 0 ? "error" : "id",
			 fd < 0 ? (unsigned int)-fd : id);
		return false;
	}
	return true;
}

static void note_result(FIXTURE_DATA(fault) *self, int ret)
{
	self->points++;
	if (ret >= 0) {
		self->absorbed++;
	} else {
		self->failed++;
		self->errors[-ret < 160 ? -ret : 0]++;
	}
}

static const char *errors_text(FIXTURE_DATA(fault) *self, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (int i = 0; i < 160 && used < len; i++)
		if (self->errors[i])
			used += (size_t)snprintf(buf + used, len - used, "%s%s:%d", used ? "," : "",
						 i ? strerrorname_np(i) : "other", self->errors[i]);
	return used ? buf : "none";
}

TEST_F_TIMEOUT(fault, create_nth, 120)
{
	double deadline = stress_deadline(1.0);
	char why[256] = "", errs[256];
	bool complete = false;
	unsigned int n, id;
	int ctl = timer_ctl_open();

	STRESS_SEED(NULL);
	ASSERT_GE(ctl, 0);
	self->fds = stress_count_fds();
	for (n = 1; n <= MAX_NTH && stress_now() < deadline && !why[0]; n++) {
		int fd;

		nth_arm(&self->nth, n);
		fd = utimer_create(ctl, 1000000, &id);
		if (!nth_fired(&self->nth)) {
			/* fewer than n allocations: the walk is complete */
			ASSERT_GE(fd, 0) TH_LOG("CREATE without an injected fault: %s", strerror(-fd));
			close(fd);
			complete = true;
			break;
		}
		note_result(self, fd);
		if (fd >= 0)
			close(fd);
		else if (fd != -ENOMEM)
			snprintf(why, sizeof(why), "allocation #%u failed: CREATE returned %s, not ENOMEM",
				 n, strerrorname_np(-fd));
		if (!why[0] && !left_nothing(self, -1, why, sizeof(why)))
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (allocation #%u failed)", n);
	}
	stress_stats("fault_points=%lu failed=%lu absorbed=%lu errors=%s",
		     self->points, self->failed, self->absorbed, errors_text(self, errs, sizeof(errs)));
	close(ctl);
	EXPECT_STREQ(why, "");
	EXPECT_TRUE(complete) TH_LOG("the walk stopped at %u of at most %d points", n, MAX_NTH);
	EXPECT_GT(self->failed, 0) TH_LOG("no injected allocation failure made CREATE fail");
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

/* The steps of opening an instance; each takes the fd from the step before. */
enum { OPEN, TREAD, SELECT, PARAMS, START, STEPS };
static const char *const step_names[] = { "open", "TREAD64", "SELECT", "PARAMS", "START" };

static int instance_step(int step, int *fd, unsigned int id)
{
	struct snd_timer_select sel = { .id = {
		.dev_class = SNDRV_TIMER_CLASS_GLOBAL, .dev_sclass = SNDRV_TIMER_SCLASS_NONE,
		.card = -1, .device = UTIMER_GLOBAL_DEVICE, .subdevice = (int)id } };
	struct snd_timer_params params = {
		.flags = SNDRV_TIMER_PSFLG_AUTO, .ticks = 1, .queue_size = 512,
		.filter = 1u << SNDRV_TIMER_EVENT_TICK,
	};
	int on = 1, ret;

	switch (step) {
	case OPEN:
		*fd = open("/dev/snd/timer", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		return *fd < 0 ? -errno : 0;
	case TREAD:
		ret = ioctl(*fd, SNDRV_TIMER_IOCTL_TREAD64, &on);
		break;
	case SELECT:
		ret = ioctl(*fd, SNDRV_TIMER_IOCTL_SELECT, &sel);
		break;
	case PARAMS:
		ret = ioctl(*fd, SNDRV_TIMER_IOCTL_PARAMS, &params);
		break;
	default:
		ret = ioctl(*fd, SNDRV_TIMER_IOCTL_START);
	}
	return ret < 0 ? -errno : 0;
}

/* An instance that works: started, it reads the tick of one TRIGGER. */
static bool instance_works(int ufd, unsigned int id, char *why, size_t len)
{
	struct snd_timer_tread t;
	int fd = instance_open(id, O_RDONLY | O_NONBLOCK, true, 1);
	ssize_t n = -1;

	if (fd >= 0 && !instance_ioctl(fd, SNDRV_TIMER_IOCTL_START) && !utimer_trigger(ufd))
		n = read(fd, &t, sizeof(t));
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(t)) {
		snprintf(why, len, "afterwards a new instance reads no tick (%s)",
			 fd < 0 ? strerror(-fd) : n < 0 ? strerror(errno) : "short read");
		return false;
	}
	return true;
}

TEST_F_TIMEOUT(fault, instance_nth, 120)
{
	double deadline = stress_deadline(1.0);
	char why[256] = "", errs[256];
	unsigned int id, n = 0, walked = 0;
	int ufd, step;

	STRESS_SEED(NULL);
	ufd = utimer_create(-1, 1000000, &id);
	ASSERT_GE(ufd, 0);
	self->fds = stress_count_fds();
	for (step = OPEN; step < STEPS && !why[0] && stress_now() < deadline; step++) {
		for (n = 1; n <= MAX_NTH && !why[0] && stress_now() < deadline; n++) {
			int fd = -1, ret = 0, s;
			bool fired;

			for (s = OPEN; s < step && !ret; s++)
				ret = instance_step(s, &fd, id);
			ASSERT_EQ(ret, 0) TH_LOG("%s without an injected fault: %s", step_names[s - 1],
						 strerror(-ret));
			nth_arm(&self->nth, n);
			ret = instance_step(step, &fd, id);
			fired = nth_fired(&self->nth);
			utimer_trigger(ufd);	/* a tick for whatever got attached */
			if (fd >= 0)
				close(fd);
			if (!fired) {
				ASSERT_EQ(ret, 0) TH_LOG("%s without an injected fault: %s",
							 step_names[step], strerror(-ret));
				walked++;
				break;
			}
			note_result(self, ret);
			if (ret < 0 && ret != -ENOMEM)
				snprintf(why, sizeof(why), "%s with allocation #%u failing returned %s, not ENOMEM",
					 step_names[step], n, strerrorname_np(-ret));
			else if (!left_nothing(self, (int)id, why, sizeof(why)))
				snprintf(why + strlen(why), sizeof(why) - strlen(why),
					 " (%s, allocation #%u failed)", step_names[step], n);
		}
	}
	if (!why[0])
		instance_works(ufd, id, why, sizeof(why));
	close(ufd);
	stress_stats("steps=%u fault_points=%lu failed=%lu absorbed=%lu errors=%s",
		     walked, self->points, self->failed, self->absorbed,
		     errors_text(self, errs, sizeof(errs)));
	EXPECT_STREQ(why, "");
	EXPECT_EQ(walked, STEPS) TH_LOG("walked %u of %d steps before the deadline", walked, STEPS);
	EXPECT_GT(self->failed, 0);
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

static int pcm_open(int card)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/snd/pcmC%dD0p", card);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

TEST_F_TIMEOUT(fault, aloop_open_nth, 120)
{
	double deadline = stress_deadline(1.0);
	char why[256] = "", errs[256];
	bool complete = false;
	unsigned int id, n;
	int ufd;

	STRESS_SEED(NULL);
	ASSERT_GE(self->card, 0) TH_LOG("no snd-aloop card \"Loopback\": modprobe snd-aloop");
	ufd = utimer_create(-1, CABLE_TICK_NS, &id);
	ASSERT_GE(ufd, 0);
	ASSERT_EQ(aloop_bind(self->card, id), 0);
	self->fds = stress_count_fds();
	for (n = 1; n <= MAX_NTH && !why[0] && stress_now() < deadline; n++) {
		int fd;
		bool fired;

		nth_arm(&self->nth, n);
		fd = pcm_open(self->card);
		fired = nth_fired(&self->nth);
		if (fd >= 0) {
			if (utimer_clients(id) != 1)
				snprintf(why, sizeof(why), "an open snd-aloop PCM is not attached to the timer");
			close(fd);
		}
		if (!fired) {
			ASSERT_GE(fd, 0) TH_LOG("opening the PCM without an injected fault: %s",
						strerror(-fd));
			complete = true;
			break;
		}
		note_result(self, fd);
		if (!why[0] && fd < 0 && fd != -ENOMEM)
			snprintf(why, sizeof(why), "allocation #%u failing: the PCM open returned %s, not ENOMEM",
				 n, strerrorname_np(-fd));
		if (!why[0] && !left_nothing(self, (int)id, why, sizeof(why)))
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (allocation #%u failed)", n);
	}
	aloop_set_source(self->card, "");
	close(ufd);
	stress_stats("fault_points=%lu failed=%lu absorbed=%lu errors=%s",
		     self->points, self->failed, self->absorbed, errors_text(self, errs, sizeof(errs)));
	EXPECT_STREQ(why, "");
	EXPECT_TRUE(complete) TH_LOG("the walk stopped at %u of at most %d points", n, MAX_NTH);
	EXPECT_GT(self->failed, 0);
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

/*
 * The documented way: probability, interval and times on one capability,
 * task-filter with make-it-fail set around each operation only.
 */
TEST_F_TIMEOUT(fault, random, 120)
{
	struct rng r = rng_for(STRESS_SEED(NULL), 0);
	char why[256] = "", errs[256];
	unsigned long rounds = 0, ops = 0;
	unsigned int id, c;
	int ufd;

	ufd = utimer_create(-1, CABLE_TICK_NS, &id);
	ASSERT_GE(ufd, 0);
	if (self->card >= 0)
		ASSERT_EQ(aloop_bind(self->card, id), 0);
	self->fds = stress_count_fds();
	for (c = 0; c < NCAP && !why[0]; c++) {
		double deadline = stress_deadline(0.5);

		ASSERT_EQ(knob_write(capabilities[c], "probability", "30"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "interval", "1"), 0);
		ASSERT_EQ(knob_write(capabilities[c], "times", "100000"), 0);
		for (; rounds < 1000000 && stress_now() < deadline && !why[0]; rounds++) {
			unsigned int what = rng_below(&r, self->card >= 0 ? 3 : 2), cid;
			int fd = -1, ret = 0, s;

			ASSERT_EQ(make_it_fail(self->mif, true), 0);
			switch (what) {
			case 0:
				ret = fd = utimer_create(-1, 1000000, &cid);
				break;
			case 1:
				for (s = OPEN; s < STEPS && !ret; s++)
					ret = instance_step(s, &fd, id);
				break;
			default:
				ret = fd = pcm_open(self->card);
			}
			ASSERT_EQ(make_it_fail(self->mif, false), 0);
			ops++;
			utimer_trigger(ufd);
			if (fd >= 0)
				close(fd);
			if (ret < 0) {
				note_result(self, ret);
				if (ret != -ENOMEM)
					snprintf(why, sizeof(why), "%s: %s under %s, not ENOMEM",
						 what == 0 ? "CREATE" : what == 1 ? "instance open" : "PCM open",
						 strerrorname_np(-ret), capabilities[c]);
			}
			if (!why[0] && !left_nothing(self, (int)id, why, sizeof(why)))
				snprintf(why + strlen(why), sizeof(why) - strlen(why), " (%s)", capabilities[c]);
		}
		ASSERT_EQ(knob_write(capabilities[c], "probability", "0"), 0);
	}
	if (!why[0])
		instance_works(ufd, id, why, sizeof(why));
	if (self->card >= 0)
		aloop_set_source(self->card, "");
	close(ufd);
	stress_stats("rounds=%lu failed=%lu errors=%s", rounds, self->failed,
		     errors_text(self, errs, sizeof(errs)));
	EXPECT_STREQ(why, "");
	EXPECT_GT(self->failed, 0);
	EXPECT_TRUE(stress_all_ids_free(why, sizeof(why))) TH_LOG("%s", why);
}

STRESS_MAIN
