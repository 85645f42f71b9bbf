// Errors: the library throws utimer::Error (a std::system_error) from everything
// that can fail, except the hot path Timer::trigger(), which is noexcept and
// returns 0 or -errno. what() always names what failed and how to fix it.
#pragma once

#include <string>
#include <system_error>

namespace utimer {

class Error : public std::system_error {
public:
	// what = "<what failed>: <why>" ; fix = "<what to do>"; what() joins them.
	Error(int errnum, const std::string &what, const std::string &fix = {});
	const std::string &fix() const noexcept { return fix_; }

private:
	std::string fix_;
};

}  // namespace utimer
