// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/error.hpp"

#include <cerrno>
#include <cstring>

namespace utimer {

namespace {

std::string join(int errnum, const std::string &what, const std::string &fix)
{
	std::string message = what;
	if (errnum != 0) {
		message += ": ";
		message += std::strerror(errnum);
	}
	if (!fix.empty()) {
		message += ". ";
		message += fix;
	}
	return message;
}

}  // namespace

Error::Error(int errnum, const std::string &what, const std::string &fix)
	: std::system_error(errnum != 0 ? errnum : EINVAL, std::generic_category(), what),
	  what_failed_(what), fix_(fix), message_(join(errnum, what, fix))
{
}

}  // namespace utimer
