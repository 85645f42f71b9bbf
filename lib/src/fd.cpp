// SPDX-License-Identifier: GPL-2.0-or-later
#include "fd.hpp"

#include <cerrno>
#include <fcntl.h>

#include "utimer/error.hpp"

namespace utimer::detail {

UniqueFd open_timer_device(const std::filesystem::path &path) noexcept
{
	return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

std::string read_text_file(const std::filesystem::path &path)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd) {
		int err = errno;
		throw Error(err, "cannot open " + path.string() + " for reading",
			    err == EACCES ? "Run as a user allowed to read it" : "");
	}
	std::string text;
	char buffer[512];
	for (;;) {
		ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			throw Error(err, "cannot read " + path.string());
		}
		if (n == 0)
			return text;
		text.append(buffer, static_cast<std::size_t>(n));
	}
}

std::string trim_right(std::string text)
{
	while (!text.empty() && (text.back() == '\n' || text.back() == ' ' ||
				 text.back() == '\t' || text.back() == '\r'))
		text.pop_back();
	return text;
}

}  // namespace utimer::detail
