// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/probe.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <system_error>
#include <utility>
#include <sound/asound.h>
#include <sys/ioctl.h>

#include "advice.hpp"
#include "fd.hpp"
#include "utimer/abi.hpp"

namespace utimer {

namespace {

std::string version_text(int version)
{
	return std::to_string((version >> 16) & 0xffff) + "." + std::to_string((version >> 8) & 0xff) +
	       "." + std::to_string(version & 0xff);
}

ProbeResult result(Support support, int version, std::string message)
{
	ProbeResult r;
	r.support = support;
	r.protocol_version = version;
	r.message = std::move(message);
	return r;
}

ProbeResult probe_unchecked(const Paths &paths)
{
	const std::string device = paths.timer_device().string();
	detail::UniqueFd fd = detail::open_timer_device(paths.timer_device());
	if (!fd) {
		int err = errno;
		switch (err) {
		case ENOENT:
		case ENODEV:
		case ENXIO:
			return result(Support::no_timer_device, 0,
				      device + " does not exist (" + std::strerror(err) + "). " +
					      detail::open_advice(err));
		case EACCES:
		case EPERM:
			return result(Support::permission_denied, 0,
				      device + ": " + std::strerror(err) + ". " +
					      detail::open_advice(err));
		default:
			return result(Support::error, 0,
				      "cannot open " + device + ": " + std::strerror(err));
		}
	}

	int version = 0;
	if (::ioctl(fd.get(), SNDRV_TIMER_IOCTL_PVERSION, &version) < 0) {
		const char *why = std::strerror(errno);
		return result(Support::error, 0,
			      device + ": SNDRV_TIMER_IOCTL_PVERSION failed: " + why +
				      ". Is this really the ALSA timer device?");
	}
	if (version < abi::protocol_version)
		return result(Support::kernel_too_old, version,
			      device + " speaks timer protocol " + version_text(version) +
				      "; userspace-driven timers need " +
				      version_text(abi::protocol_version) + ". " + detail::upgrade_advice);

	// A NULL argument makes a kernel that knows CREATE fail while copying it
	// in (EFAULT; EINVAL on kernels that check first) before anything is made.
	if (::ioctl(fd.get(), abi::ioctl_create, nullptr) == 0)
		return result(Support::error, version,
			      device + ": SNDRV_TIMER_IOCTL_CREATE accepted a NULL argument; "
				       "this kernel behaves unlike any known one");
	int err = errno;
	switch (err) {
	case EFAULT:
	case EINVAL:
		return result(Support::supported, version,
			      device + ": userspace-driven timers are supported (timer protocol " +
				      version_text(version) + ")");
	case ENOTTY:
		return result(Support::kernel_too_old, version,
			      device + " speaks timer protocol " + version_text(version) +
				      " but does not know SNDRV_TIMER_IOCTL_CREATE. " + detail::upgrade_advice);
	default:
		return result(Support::error, version,
			      device + ": probing SNDRV_TIMER_IOCTL_CREATE failed unexpectedly: " +
				      std::strerror(err));
	}
}

// The first line of a file, empty if it cannot be read.
std::string first_line(const std::filesystem::path &file)
{
	std::ifstream in(file);
	std::string line;
	std::getline(in, line);
	return line;
}

bool is_snd_timer(const std::string &path)
{
	const auto slash = path.rfind('/');
	const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
	for (const char *ko : {"snd-timer.ko", "snd-timer.ko.xz", "snd-timer.ko.zst", "snd-timer.ko.gz"})
		if (name == ko)
			return true;
	return false;
}

// snd-timer's path as depmod resolved it ("updates/dkms/snd-timer.ko.xz",
// "kernel/sound/core/snd-timer.ko.xz"): depmod lists the one modprobe loads
// (updates/ before the kernel's own), or none.
std::optional<std::string> snd_timer_module(const std::filesystem::path &dir)
{
	std::ifstream dep(dir / "modules.dep");
	for (std::string line; std::getline(dep, line);) {
		const auto colon = line.find(':');
		if (colon != std::string::npos && is_snd_timer(line.substr(0, colon)))
			return line.substr(0, colon);
	}
	std::ifstream builtin(dir / "modules.builtin");
	for (std::string line; std::getline(builtin, line);)
		if (is_snd_timer(line))
			return line + " (built in)";
	return std::nullopt;
}

enum class Option { set, not_set, absent, unread };

// CONFIG_SND_UTIMER in the kernel's config, and the file that said so.
std::pair<Option, std::filesystem::path> utimer_option(const std::filesystem::path &boot,
						       const std::filesystem::path &modules_dir,
						       const std::string &release)
{
	for (const auto &file : {boot / ("config-" + release), modules_dir / "config"}) {
		std::ifstream in(file);
		if (!in)
			continue;
		for (std::string line; std::getline(in, line);) {
			if (line == "CONFIG_SND_UTIMER=y")
				return {Option::set, file};
			if (line == "# CONFIG_SND_UTIMER is not set")
				return {Option::not_set, file};
		}
		return {Option::absent, file};
	}
	return {Option::unread, {}};
}

constexpr const char *userspace_only =
	"install the userspace only (libutimer0, utimer-tools, pipewire-utimer, utimer-aloopd), "
	"not utimer-dkms";

KernelReport kernel_report_unchecked(const ProbeResult &probed, const Paths &paths,
				     const std::filesystem::path &modules,
				     const std::filesystem::path &boot)
{
	KernelReport r;
	r.release = first_line(paths.proc / "sys" / "kernel" / "osrelease");
	if (r.release.empty()) {
		r.evidence = "cannot read " + (paths.proc / "sys/kernel/osrelease").string();
		return r;
	}
	const auto modules_dir = modules / r.release;
	const auto module = snd_timer_module(modules_dir);
	const auto [option, config] = utimer_option(boot, modules_dir, r.release);
	std::error_code ec;
	const bool loaded = std::filesystem::exists(paths.sys / "module" / "snd_timer", ec);
	const std::string headers = "linux-headers-" + r.release;

	std::string said;  // what the config says
	switch (option) {
	case Option::set:
		said = "CONFIG_SND_UTIMER=y in " + config.string();
		break;
	case Option::not_set:
		said = "\"# CONFIG_SND_UTIMER is not set\" in " + config.string();
		break;
	case Option::absent:
		said = "no CONFIG_SND_UTIMER in " + config.string() + " (the kernel predates it, 6.12)";
		break;
	case Option::unread:
		said = "no config-" + r.release + " in " + boot.string() + " nor config in " +
		       modules_dir.string();
		break;
	}

	if (module && module->rfind("updates/", 0) == 0) {
		r.kernel_case = KernelCase::dkms;
		r.evidence = "snd-timer: " + (modules_dir / *module).string() + "; " + said;
		if (option == Option::set)
			r.advice = "this kernel has them itself: utimer-dkms is not needed here";
		else if (probed.support == Support::kernel_too_old && loaded)
			r.advice = "the installed snd-timer is not the loaded one: reload it "
				   "(modprobe -r snd-aloop snd-timer; modprobe snd-timer) or reboot";
		return r;
	}
	r.evidence = said + (module ? "; snd-timer: " + (modules_dir / *module).string()
				    : "; no snd-timer in " + (modules_dir / "modules.dep").string());
	switch (option) {
	case Option::set:
		r.kernel_case = KernelCase::built_in;
		r.advice = userspace_only;
		break;
	case Option::not_set:
	case Option::absent:
		r.kernel_case = KernelCase::missing;
		r.advice = "install utimer-dkms and " + headers +
			   " (DKMS builds snd-timer for this kernel), then reload snd-timer or reboot";
		break;
	case Option::unread:
		if (probed.ok())
			r.advice = "the kernel has them, from where could not be told";
		break;
	}
	return r;
}

}  // namespace

KernelReport kernel_report(const ProbeResult &probe_result, const Paths &paths,
			   const std::filesystem::path &modules, const std::filesystem::path &boot)
{
	try {
		return kernel_report_unchecked(probe_result, paths, modules, boot);
	} catch (...) {  // std::bad_alloc, std::filesystem::filesystem_error
		KernelReport r;
		r.evidence = "out of memory or unreadable /sys";
		return r;
	}
}

const char *to_string(KernelCase kernel_case)
{
	switch (kernel_case) {
	case KernelCase::built_in:
		return "built-in";
	case KernelCase::dkms:
		return "dkms";
	case KernelCase::missing:
		return "missing";
	case KernelCase::unknown:
		return "unknown";
	}
	return "unknown";
}

ProbeResult probe(const Paths &paths)
{
	try {
		return probe_unchecked(paths);
	} catch (...) {  // only std::bad_alloc can get here
		ProbeResult r;
		r.message = "out of memory";  // fits std::string's inline buffer
		return r;
	}
}

const char *to_string(Support support)
{
	switch (support) {
	case Support::supported:
		return "supported";
	case Support::no_timer_device:
		return "no-timer-device";
	case Support::permission_denied:
		return "permission-denied";
	case Support::kernel_too_old:
		return "kernel-too-old";
	case Support::error:
		return "error";
	}
	return "error";
}

}  // namespace utimer
