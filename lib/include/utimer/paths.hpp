// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>

namespace utimer {

// Filesystem roots, injectable so unit tests run against fixture trees.
struct Paths {
	std::filesystem::path dev = "/dev";
	std::filesystem::path proc = "/proc";
	std::filesystem::path sys = "/sys";
	std::filesystem::path run = "/run";

	std::filesystem::path timer_device() const { return dev / "snd" / "timer"; }
	// utimer-aloopd's socket (tools/utimer-aloopd: binds loopback cards for
	// processes that may not write /proc/asound/cardN/timer_source).
	std::filesystem::path aloopd_socket() const { return run / "utimer-aloopd.socket"; }
};

}  // namespace utimer
