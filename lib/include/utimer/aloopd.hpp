// SPDX-License-Identifier: GPL-2.0-or-later
//
// utimer-aloopd's protocol, shared by its client (LoopbackBinding, binding.hpp)
// and the service (tools/utimer-aloopd), and the service's check of the timer
// descriptors it receives.
//
// A SOCK_SEQPACKET connection to Paths::aloopd_socket(); every message is one
// packet of text, at most max_message bytes; one binding per connection:
//
//   client:  "utimer-aloopd 1 bind <card> <timer id>"  + SCM_RIGHTS: the timer's fd
//   service: "ok <card number> <card id> <timer_source>"
//   client:  "utimer-aloopd 1 unbind"                  (or close the connection)
//   service: "ok"
//   service, instead of ok: "error <errno> <what failed>\n<fix>"
//
// The service keeps the descriptor until the binding ends, so the timer and
// its id live at least as long as the card names it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "aloop.hpp"
#include "error.hpp"
#include "paths.hpp"

namespace utimer::aloopd {

inline constexpr std::string_view magic = "utimer-aloopd";
inline constexpr int version = 1;
inline constexpr std::size_t max_message = 1024;
inline constexpr std::size_t max_card_name = 32;

struct Request {
	enum class Kind { bind, unbind };
	Kind kind = Kind::bind;
	std::string card;       // bind: as find_loopback_card() takes it
	unsigned timer_id = 0;  // bind: 0..127
	bool operator==(const Request &) const = default;
};

// Throws Error (EINVAL) for a card name that is empty, too long, or holds
// anything but letters, digits and '_', ':', '-'; or an id >= 128.
std::string format_request(const Request &request);
// Throws Error (EPROTO) saying what is wrong with the message.
Request parse_request(std::string_view message);

struct Reply {
	bool ok = false;
	LoopbackCard card;         // ok after bind
	std::string timer_source;  // ok after bind
	int errnum = 0;            // error
	std::string what;          // error: what failed
	std::string fix;           // error: how to fix it (may be empty)
};
std::string format_bound(const LoopbackCard &card, const TimerSource &source);
std::string format_unbound();
std::string format_error(const Error &error);
// Throws Error (EPROTO) for a malformed reply.
Reply parse_reply(std::string_view message);

// What the kernel calls a descriptor (readlink of /proc/self/fd/N):
// "anon_inode:snd-utimer<id>" on Linux >= 6.12, "anon_inode:snd-utimer" from
// kernel-patches/6.1 (no id). Nothing in userspace can make either name.
struct TimerFdName {
	bool utimer = false;
	std::optional<unsigned> id;  // when the name carries it
};
TimerFdName classify_fd_name(std::string_view link);

// The service's check of a received descriptor: it is a userspace-driven timer
// and timer_id is its id -- read from its name where the kernel puts it there,
// else (kernel-patches/6.1) only checked to exist (GINFO). Throws Error
// (EBADF: not a utimer descriptor; EINVAL: not timer_id's; ENODEV: no such timer).
void verify_timer_fd(int fd, unsigned timer_id, const Paths &paths = {});

}  // namespace utimer::aloopd
