// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/probe.hpp"

#include <cerrno>
#include <cstring>
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

}  // namespace

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
