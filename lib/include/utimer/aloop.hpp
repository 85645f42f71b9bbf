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

// snd-aloop's timer_source module parameter for this card: the value the card
// was created with. Read from /sys/module/snd_aloop/parameters/timer_source at
// the card's platform device index (/sys/class/sound/cardN/device ->
// .../snd_aloop.<index>). The jiffies timer when that cannot be read or does
// not parse.
TimerSource module_default_timer_source(const LoopbackCard &card, const Paths &paths = {});

// What a binding puts back when it ends, given what the card held when it
// began. A userspace-driven timer source (-1.4.N) is never put back: it is
// left by a binding that never ended (its process crashed), its timer is gone,
// and its id may name somebody else's timer by now. Then the card's module
// default is put back, or the jiffies timer when that default is a -1.4.N
// value as well.
TimerSource restore_value(const TimerSource &previous, const TimerSource &module_default);

// Throws Error (EBUSY) when `current` (the card's timer_source) names a live
// userspace-driven timer other than timer_id: another binding clocks the card.
// live_ids: the userspace-driven timers that exist (list_timers()). A -1.4.N
// that is not live is a leftover and may be replaced.
void check_card_free(const LoopbackCard &card, const TimerSource &current, unsigned timer_id,
		     const std::vector<unsigned> &live_ids);

// Writes `source` to the card's timer_source; on destruction writes back
// restore_value() of what the card held -- unless the card no longer holds
// `source` (someone else rebound it meanwhile: theirs is kept). Move-only.
class TimerSourceBinding {
public:
	TimerSourceBinding() = default;
	TimerSourceBinding(LoopbackCard card, const TimerSource &source, const Paths &paths = {});
	TimerSourceBinding(TimerSourceBinding &&) noexcept;
	TimerSourceBinding &operator=(TimerSourceBinding &&) noexcept;
	~TimerSourceBinding();
	const LoopbackCard &card() const { return card_; }
	const TimerSource &source() const { return source_; }
	// What the destructor writes back (restore_value() of the value found).
	const TimerSource &previous() const { return previous_; }
	// Ends the binding now; throws Error when the write fails. Returns false
	// when the card held another value by then (left as it was).
	bool restore();

private:
	LoopbackCard card_;
	TimerSource source_;
	TimerSource previous_;
	Paths paths_;
	bool active_ = false;
};

// modprobe arguments for the module-parameter form: timer_source is a per-card
// array, e.g. {"snd-aloop", "enable=1,1", "timer_source=-1.4.0,"}.
std::vector<std::string> aloop_modprobe_args(const std::vector<TimerSource> &per_card);

}  // namespace utimer
