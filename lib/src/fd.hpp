// SPDX-License-Identifier: GPL-2.0-or-later
// Internal: RAII owner of a file descriptor, and small file helpers.
#pragma once

#include <filesystem>
#include <string>
#include <unistd.h>

namespace utimer::detail {

class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) noexcept : fd_(fd) {}
	UniqueFd(UniqueFd &&other) noexcept : fd_(other.release()) {}
	UniqueFd &operator=(UniqueFd &&other) noexcept
	{
		if (this != &other)
			reset(other.release());
		return *this;
	}
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;
	~UniqueFd() { reset(); }

	int get() const noexcept { return fd_; }
	explicit operator bool() const noexcept { return fd_ >= 0; }
	int release() noexcept
	{
		int fd = fd_;
		fd_ = -1;
		return fd;
	}
	void reset(int fd = -1) noexcept
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = fd;
	}

private:
	int fd_ = -1;
};

// Opens the ALSA timer device read-only, close-on-exec. Returns an empty fd
// and sets errno on failure.
UniqueFd open_timer_device(const std::filesystem::path &path) noexcept;

// Whole file as text; throws Error naming the file.
std::string read_text_file(const std::filesystem::path &path);

// Trailing '\n' and spaces removed (procfs values end in a newline).
std::string trim_right(std::string text);

}  // namespace utimer::detail
