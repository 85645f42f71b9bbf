// SPDX-License-Identifier: GPL-2.0-or-later
//
// Clocking a loopback card by a timer for as long as a binding object lives,
// from any process: root writes /proc/asound/cardN/timer_source itself, every
// other process asks utimer-aloopd (tools/utimer-aloopd), the system service
// that does it for members of the 'audio' group.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "aloop.hpp"
#include "paths.hpp"
#include "timer.hpp"
#include "timer_source.hpp"

namespace utimer {

struct BindOptions {
	enum class Via {
		automatic,  // direct when this process may write timer_source, else the service
		direct,     // write /proc ourselves (root)
		service,    // always ask utimer-aloopd
	};
	Via via = Via::automatic;
	int timeout_ms = 10000;  // for each answer from the service
};

// The card's timer_source is "-1.4.<timer id>" while this object lives; on
// destruction (or release()) it gets restore_value() of what it held before,
// unless someone else has changed it meanwhile.
//
// Through the service, the binding is a connection to utimer-aloopd that holds
// a copy of the timer's fd: the timer (and its id) lives at least as long as
// the binding, so the card never names a timer that is gone or reused. When
// the process dies, the connection closes and the service restores the card.
// fd() is that connection (-1 for a direct binding): a main loop may watch it
// for POLLHUP, which means the service went away and the binding is void.
class LoopbackBinding {
public:
	// card: "Loopback", "1", "card1" or "hw:Loopback" (find_loopback_card()).
	// Throws Error saying what to do: no such card, card clocked by another
	// live timer (EBUSY), service not installed or not running, not in the
	// 'audio' group, ...
	static LoopbackBinding bind(const std::string &card, const Timer &timer,
				    const BindOptions &options = {}, const Paths &paths = {});

	LoopbackBinding() noexcept;
	LoopbackBinding(LoopbackBinding &&) noexcept;
	LoopbackBinding &operator=(LoopbackBinding &&) noexcept;
	LoopbackBinding(const LoopbackBinding &) = delete;
	LoopbackBinding &operator=(const LoopbackBinding &) = delete;
	~LoopbackBinding();

	explicit operator bool() const noexcept { return direct_.has_value() || service_ != nullptr; }
	const LoopbackCard &card() const noexcept { return card_; }
	const TimerSource &source() const noexcept { return source_; }
	bool via_service() const noexcept { return service_ != nullptr; }
	int fd() const noexcept;
	// Ends the binding now. Throws Error when the service reports a failure
	// (the destructor ignores it).
	void release();

private:
	LoopbackCard card_;
	TimerSource source_;
	std::optional<TimerSourceBinding> direct_;
	struct Service;  // the connection to utimer-aloopd (binding.cpp)
	std::unique_ptr<Service> service_;
};

}  // namespace utimer
