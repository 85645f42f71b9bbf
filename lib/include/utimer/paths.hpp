// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>

namespace utimer {

// Filesystem roots, injectable so unit tests run against fixture trees.
struct Paths {
	std::filesystem::path dev = "/dev";
	std::filesystem::path proc = "/proc";
	std::filesystem::path sys = "/sys";

	std::filesystem::path timer_device() const { return dev / "snd" / "timer"; }
};

}  // namespace utimer
