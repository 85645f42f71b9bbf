// SPDX-License-Identifier: GPL-2.0-or-later
// snd-aloop binding: which loopback cards exist and what clocks them.
#pragma once

#include <string>
#include <vector>

#include "paths.hpp"
#include "timer_source.hpp"

namespace utimer {

struct LoopbackCard {
	int number = -1;   // N in /proc/asound/cardN
	std::string id;    // "Loopback", "Loopback_1", ...
};

bool aloop_loaded(const Paths &paths = {});          // /sys/module/snd_aloop
std::vector<LoopbackCard> loopback_cards(const Paths &paths = {});
// "Loopback", "1", "card1", "hw:Loopback" -> the card. Throws Error listing the
// loopback cards that do exist.
LoopbackCard find_loopback_card(const std::string &name_or_number, const Paths &paths = {});

// /proc/asound/cardN/timer_source. A new value takes effect at the next open of
// a cable (a playback/capture pair) that has no open substream; cables already
// open keep their timer.
TimerSource read_timer_source(const LoopbackCard &card, const Paths &paths = {});
void write_timer_source(const LoopbackCard &card, const TimerSource &source,
			const Paths &paths = {});

// Restores the card's previous timer_source on destruction (move-only).
class TimerSourceBinding {
public:
	TimerSourceBinding() = default;
	TimerSourceBinding(LoopbackCard card, const TimerSource &source, const Paths &paths = {});
	TimerSourceBinding(TimerSourceBinding &&) noexcept;
	TimerSourceBinding &operator=(TimerSourceBinding &&) noexcept;
	~TimerSourceBinding();
	const LoopbackCard &card() const { return card_; }
	const TimerSource &previous() const { return previous_; }

private:
	LoopbackCard card_;
	TimerSource previous_;
	Paths paths_;
	bool active_ = false;
};

// modprobe arguments for the module-parameter form: timer_source is a per-card
// array, e.g. {"snd-aloop", "enable=1,1", "timer_source=-1.4.0,"}.
std::vector<std::string> aloop_modprobe_args(const std::vector<TimerSource> &per_card);

}  // namespace utimer
