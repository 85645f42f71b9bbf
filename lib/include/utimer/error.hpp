// SPDX-License-Identifier: GPL-2.0-or-later
// Errors: the library throws utimer::Error (a std::system_error) from everything
// that can fail, except the hot path Timer::trigger(), which is noexcept and
// returns 0 or -errno. what() always names what failed and how to fix it.
//
// what() format (one line):
//   "<what failed>: <strerror(errnum)>. <fix>"
// where ". <fix>" is left out when there is no fix, and ": <strerror>" is left
// out when errnum is 0 (pure input errors: code() is then EINVAL). Example:
//   "/dev/snd/timer: Permission denied. Add your user to the 'audio' group ..."
#pragma once

#include <string>
#include <system_error>

namespace utimer {

class Error : public std::system_error {
public:
	// what = "<what failed>" ; fix = "<what to do>"; what() joins them as above.
	Error(int errnum, const std::string &what, const std::string &fix = {});
	const std::string &fix() const noexcept { return fix_; }
	const std::string &what_failed() const noexcept { return what_failed_; }  // without strerror, fix
	const char *what() const noexcept override { return message_.c_str(); }

private:
	std::string what_failed_;
	std::string fix_;
	std::string message_;
};

}  // namespace utimer
