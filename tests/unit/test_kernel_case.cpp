// SPDX-License-Identifier: GPL-2.0-or-later
// utimer::kernel_report(): which case the running kernel is (its own
// CONFIG_SND_UTIMER, our DKMS snd-timer, or neither), from fixture trees laid
// out as Debian, Ubuntu and Fedora install their kernels.
#include <doctest/doctest.h>

#include <utimer/probe.hpp>

#include "fixture.hpp"

using utimer::KernelCase;
using utimer::KernelReport;
using utimer::ProbeResult;
using utimer::Support;

namespace {

struct Kernel : FixtureTree {
	std::string release;
	explicit Kernel(std::string r) : release(std::move(r))
	{
		write("proc/sys/kernel/osrelease", release + "\n");
	}
	void config(const std::string &line, bool in_boot = true) const
	{
		const std::string text = "CONFIG_SND_TIMER=m\n" + line + "\nCONFIG_SND_HRTIMER=m\n";
		write(in_boot ? "boot/config-" + release : "lib/modules/" + release + "/config", text);
	}
	void snd_timer(const std::string &path) const
	{
		write("lib/modules/" + release + "/modules.dep",
		      "kernel/sound/core/snd-pcm.ko.xz: " + path + "\n" + path + ":\n");
	}
	KernelReport report(Support support = Support::supported) const
	{
		ProbeResult probed;
		probed.support = support;
		return utimer::kernel_report(probed, paths, root / "lib/modules", root / "boot");
	}
};

bool contains(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("kernel case")
{
TEST_CASE("a kernel with the feature built in (Ubuntu 26.04): the userspace only")
{
	Kernel k("7.0.0-14-generic");
	k.config("CONFIG_SND_UTIMER=y");
	k.snd_timer("kernel/sound/core/snd-timer.ko.zst");
	const auto r = k.report();
	CHECK(r.kernel_case == KernelCase::built_in);
	CHECK(std::string(utimer::to_string(r.kernel_case)) == "built-in");
	CHECK(r.release == "7.0.0-14-generic");
	CHECK(contains(r.evidence, "CONFIG_SND_UTIMER=y in " + (k.root / "boot/config-7.0.0-14-generic").string()));
	CHECK(contains(r.evidence, "kernel/sound/core/snd-timer.ko.zst"));
	CHECK(contains(r.advice, "userspace only"));
	CHECK(contains(r.advice, "not utimer-dkms"));
}

TEST_CASE("Fedora: the config in /lib/modules, snd-timer built into the image")
{
	Kernel k("6.17.7-300.fc43.x86_64");
	k.config("CONFIG_SND_UTIMER=y", false);
	k.write("lib/modules/6.17.7-300.fc43.x86_64/modules.builtin", "kernel/sound/core/snd-timer.ko\n");
	const auto r = k.report();
	CHECK(r.kernel_case == KernelCase::built_in);
	CHECK(contains(r.evidence, "/lib/modules/6.17.7-300.fc43.x86_64/config"));
	CHECK(contains(r.evidence, "snd-timer.ko (built in)"));
}

TEST_CASE("Debian 13's 6.12 with utimer-dkms: our snd-timer from updates/dkms")
{
	Kernel k("6.12.57+deb13-amd64");
	k.config("# CONFIG_SND_UTIMER is not set");
	k.snd_timer("updates/dkms/snd-timer.ko.xz");
	auto r = k.report();
	CHECK(r.kernel_case == KernelCase::dkms);
	CHECK(std::string(utimer::to_string(r.kernel_case)) == "dkms");
	CHECK(contains(r.evidence, "lib/modules/6.12.57+deb13-amd64/updates/dkms/snd-timer.ko.xz"));
	CHECK(contains(r.evidence, "is not set"));
	CHECK(r.advice.empty());
	// Installed, but the kernel's own snd-timer is still the loaded one.
	k.write("sys/module/snd_timer/initstate", "live\n");
	r = k.report(Support::kernel_too_old);
	CHECK(r.kernel_case == KernelCase::dkms);
	CHECK(contains(r.advice, "modprobe -r snd-aloop snd-timer"));
}

TEST_CASE("Debian 13's stock 6.12 and Debian 12's 6.1: install utimer-dkms")
{
	Kernel trixie("6.12.57+deb13-amd64");
	trixie.config("# CONFIG_SND_UTIMER is not set");
	trixie.snd_timer("kernel/sound/core/snd-timer.ko.xz");
	auto r = trixie.report(Support::kernel_too_old);
	CHECK(r.kernel_case == KernelCase::missing);
	CHECK(std::string(utimer::to_string(r.kernel_case)) == "missing");
	CHECK(contains(r.evidence, "\"# CONFIG_SND_UTIMER is not set\" in "));
	CHECK(contains(r.advice, "install utimer-dkms and linux-headers-6.12.57+deb13-amd64"));

	Kernel bookworm("6.1.0-41-amd64");
	bookworm.config("# CONFIG_SND_SEQUENCER is not set");  // 6.1 has no CONFIG_SND_UTIMER
	bookworm.snd_timer("kernel/sound/core/snd-timer.ko");
	r = bookworm.report(Support::kernel_too_old);
	CHECK(r.kernel_case == KernelCase::missing);
	CHECK(contains(r.evidence, "no CONFIG_SND_UTIMER in "));
	CHECK(contains(r.evidence, "predates"));
	CHECK(contains(r.advice, "linux-headers-6.1.0-41-amd64"));
}

TEST_CASE("nothing to read: unknown, and it says what is missing")
{
	Kernel k("6.18.0-custom");
	auto r = k.report(Support::no_timer_device);
	CHECK(r.kernel_case == KernelCase::unknown);
	CHECK(contains(r.evidence, "no config-6.18.0-custom in "));
	CHECK(contains(r.evidence, "no snd-timer in "));
	CHECK(r.advice.empty());

	FixtureTree empty;  // no /proc/sys/kernel/osrelease
	ProbeResult probed;
	r = utimer::kernel_report(probed, empty.paths, empty.root / "lib/modules", empty.root / "boot");
	CHECK(r.kernel_case == KernelCase::unknown);
	CHECK(r.release.empty());
	CHECK(contains(r.evidence, "cannot read "));
}
}
