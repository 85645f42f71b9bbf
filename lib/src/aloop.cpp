// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/aloop.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <optional>
#include <system_error>
#include <utility>

#include "fd.hpp"
#include "utimer/error.hpp"

namespace utimer {

namespace {

namespace fs = std::filesystem;

constexpr int max_cards = 32;  // SNDRV_CARDS: the length of snd-aloop's parameter arrays

std::optional<int> parse_card_number(std::string_view text)
{
	int number = -1;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
	if (ec != std::errc() || end != text.data() + text.size() || number < 0 || text.empty())
		return std::nullopt;
	return number;
}

bool is_loopback_id(std::string_view id)
{
	constexpr std::string_view base = "Loopback";
	if (id == base)
		return true;
	// The kernel makes duplicate ids unique by appending "_<n>".
	if (id.size() <= base.size() + 1 || id.substr(0, base.size() + 1) != "Loopback_")
		return false;
	return parse_card_number(id.substr(base.size() + 1)).has_value();
}

fs::path card_dir(const LoopbackCard &card, const Paths &paths)
{
	return paths.proc / "asound" / ("card" + std::to_string(card.number));
}

std::string card_names(const std::vector<LoopbackCard> &cards)
{
	std::string names;
	for (const LoopbackCard &card : cards)
		names += (names.empty() ? "" : ", ") + card.id + " (card " +
			 std::to_string(card.number) + ")";
	return names;
}

}  // namespace

bool aloop_loaded(const Paths &paths)
{
	std::error_code ec;
	return fs::is_directory(paths.sys / "module" / "snd_aloop", ec);
}

std::vector<LoopbackCard> loopback_cards(const Paths &paths)
{
	std::vector<LoopbackCard> cards;
	std::error_code ec;
	fs::directory_iterator it(paths.proc / "asound", ec);
	if (ec)
		return cards;  // no sound support at all: no loopback cards either
	for (const fs::directory_entry &entry : it) {
		std::string name = entry.path().filename().string();
		if (name.rfind("card", 0) != 0)
			continue;
		std::optional<int> number = parse_card_number(std::string_view(name).substr(4));
		if (!number)
			continue;
		std::string id;
		try {
			id = detail::trim_right(detail::read_text_file(entry.path() / "id"));
		} catch (const Error &) {
			continue;  // a card going away while we look
		}
		if (is_loopback_id(id))
			cards.push_back(LoopbackCard{*number, id});
	}
	std::sort(cards.begin(), cards.end(),
		  [](const LoopbackCard &a, const LoopbackCard &b) { return a.number < b.number; });
	return cards;
}

LoopbackCard find_loopback_card(const std::string &name_or_number, const Paths &paths)
{
	std::string_view name = name_or_number;
	if (name.rfind("hw:", 0) == 0)
		name.remove_prefix(3);
	std::optional<int> number = parse_card_number(name);
	if (!number && name.rfind("card", 0) == 0)
		number = parse_card_number(name.substr(4));

	std::vector<LoopbackCard> cards = loopback_cards(paths);
	for (const LoopbackCard &card : cards)
		if (number ? card.number == *number : card.id == name)
			return card;

	const std::string what = "no snd-aloop card \"" + name_or_number + "\"";
	if (cards.empty())
		throw Error(ENODEV, what + " (there are no loopback cards)",
			    aloop_loaded(paths) ? "snd-aloop is loaded but has no card: reload it "
						  "with enable=1"
					        : "Load snd-aloop: modprobe snd-aloop");
	throw Error(ENODEV, what,
		    "Loopback cards present: " + card_names(cards) +
			    "; name one by id, number, cardN or hw:<id>");
}

TimerSource read_timer_source(const LoopbackCard &card, const Paths &paths)
{
	const fs::path file = card_dir(card, paths) / "timer_source";
	std::string text = detail::trim_right(detail::read_text_file(file));
	try {
		return TimerSource::parse(text);
	} catch (const Error &e) {
		throw Error(0, file.string() + " holds a value snd-aloop cannot use (" + e.what() + ")",
			    "Write a valid one, e.g. echo -1.4.0 > " + file.string() +
				    ", or an empty line for the jiffies timer");
	}
}

void write_timer_source(const LoopbackCard &card, const TimerSource &source, const Paths &paths)
{
	const fs::path file = card_dir(card, paths) / "timer_source";
	const std::string text = source.to_string();
	TimerSource::parse(text);  // a hand-built TimerSource must still be valid

	const std::string line = text + "\n";
	detail::UniqueFd fd(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
	if (!fd) {
		int err = errno;
		throw Error(err, "cannot open " + file.string() + " for writing",
			    err == EACCES ? "Writing timer_source needs root"
			    : err == ENOENT
				    ? "Is card " + std::to_string(card.number) +
					      " a loopback card? (loopback_cards() lists them)"
				    : std::string());
	}
	// snd_info applies the line when the file is closed, so close() is part
	// of the write and its error counts.
	ssize_t n = ::write(fd.get(), line.data(), line.size());
	int err = n < 0 ? errno : EIO;
	if (n == static_cast<ssize_t>(line.size()))
		err = ::close(fd.release()) < 0 ? errno : 0;
	if (err != 0)
		throw Error(err, "cannot write \"" + text + "\" to " + file.string());

	const std::string now = detail::trim_right(detail::read_text_file(file));
	if (now != text)
		throw Error(EIO, "wrote \"" + text + "\" to " + file.string() + " but it reads \"" +
					 now + "\"",
			    "Another process may be changing it at the same time");
}

TimerSource module_default_timer_source(const LoopbackCard &card, const Paths &paths)
{
	// /sys/class/sound/cardN/device -> .../platform/snd_aloop.<index>: the
	// index into snd-aloop's per-card parameter arrays.
	std::error_code ec;
	const fs::path device = fs::read_symlink(
		paths.sys / "class" / "sound" / ("card" + std::to_string(card.number)) / "device", ec);
	constexpr std::string_view platform_prefix = "snd_aloop.";
	const std::string name = device.filename().string();
	if (ec || name.rfind(platform_prefix, 0) != 0)
		return TimerSource::jiffies();
	std::optional<int> index = parse_card_number(std::string_view(name).substr(platform_prefix.size()));
	if (!index)
		return TimerSource::jiffies();

	// The array prints as its entries joined by ',', "(null)" for unset ones.
	std::string values;
	try {
		values = detail::trim_right(detail::read_text_file(
			paths.sys / "module" / "snd_aloop" / "parameters" / "timer_source"));
	} catch (const Error &) {
		return TimerSource::jiffies();
	}
	std::string_view rest = values;
	for (int i = 0; i < *index; ++i) {
		std::size_t comma = rest.find(',');
		if (comma == std::string_view::npos)
			return TimerSource::jiffies();
		rest.remove_prefix(comma + 1);
	}
	std::string_view value = rest.substr(0, rest.find(','));
	if (value == "(null)")
		return TimerSource::jiffies();
	try {
		return TimerSource::parse(value);
	} catch (const Error &) {
		return TimerSource::jiffies();  // the card would not have opened with it either
	}
}

TimerSource restore_value(const TimerSource &previous, const TimerSource &module_default)
{
	if (!previous.utimer_id())
		return previous;
	if (!module_default.utimer_id())
		return module_default;
	return TimerSource::jiffies();
}

void check_card_free(const LoopbackCard &card, const TimerSource &current, unsigned timer_id,
		     const std::vector<unsigned> &live_ids)
{
	std::optional<unsigned> id = current.utimer_id();
	if (!id || *id == timer_id || std::find(live_ids.begin(), live_ids.end(), *id) == live_ids.end())
		return;
	throw Error(EBUSY,
		    "loopback card " + card.id + " (card " + std::to_string(card.number) +
			    ") is clocked by another live userspace-driven timer (timer_source " +
			    current.to_string() + ")",
		    "Stop the program that bound it, or use another loopback card (modprobe "
		    "snd-aloop enable=1,1 makes two)");
}

TimerSourceBinding::TimerSourceBinding(LoopbackCard card, const TimerSource &source,
				       const Paths &paths)
	: card_(std::move(card)), source_(source), paths_(paths)
{
	// A value snd-aloop cannot use (left by hand, say) is not worth restoring:
	// it gets what a stale -1.4.N gets, the module's default or jiffies.
	std::optional<TimerSource> found;
	try {
		found = read_timer_source(card_, paths_);
	} catch (const Error &) {
	}
	const TimerSource module_default = module_default_timer_source(card_, paths_);
	previous_ = found ? restore_value(*found, module_default)
	: module_default.utimer_id() ? TimerSource::jiffies()
				     : module_default;
	try {
		write_timer_source(card_, source_, paths_);
	} catch (...) {
		// The write may have half-happened (read-back mismatch): put the
		// value found back before reporting.
		try {
			write_timer_source(card_, found ? *found : previous_, paths_);
		} catch (...) {
		}
		throw;
	}
	active_ = true;
}

TimerSourceBinding::TimerSourceBinding(TimerSourceBinding &&other) noexcept
	: card_(std::move(other.card_)), source_(std::move(other.source_)),
	  previous_(std::move(other.previous_)), paths_(std::move(other.paths_)),
	  active_(std::exchange(other.active_, false))
{
}

TimerSourceBinding &TimerSourceBinding::operator=(TimerSourceBinding &&other) noexcept
{
	if (this != &other) {
		TimerSourceBinding old(std::move(*this));  // restores our card when it goes
		card_ = std::move(other.card_);
		source_ = std::move(other.source_);
		previous_ = std::move(other.previous_);
		paths_ = std::move(other.paths_);
		active_ = std::exchange(other.active_, false);
	}
	return *this;
}

bool TimerSourceBinding::restore()
{
	if (!active_)
		return true;
	active_ = false;
	try {
		if (read_timer_source(card_, paths_) != source_)
			return false;  // rebound by someone else: theirs stays
	} catch (const Error &) {
		return false;  // someone wrote something else (unusable): not ours to touch
	}
	write_timer_source(card_, previous_, paths_);
	return true;
}

TimerSourceBinding::~TimerSourceBinding()
{
	try {
		restore();
	} catch (...) {
		// A destructor cannot report; the card keeps the bound value, which is
		// still a consistent (if unwanted) state.
	}
}

std::vector<std::string> aloop_modprobe_args(const std::vector<TimerSource> &per_card)
{
	if (per_card.empty())
		throw Error(0, "no snd-aloop cards requested",
			    "Pass one timer source per card (TimerSource::jiffies() for the default)");
	if (per_card.size() > max_cards)
		throw Error(0, std::to_string(per_card.size()) + " snd-aloop cards requested",
			    "snd-aloop supports at most " + std::to_string(max_cards) + " cards");
	std::string enable = "enable=";
	std::string sources = "timer_source=";
	for (std::size_t i = 0; i < per_card.size(); ++i) {
		const std::string text = per_card[i].to_string();
		TimerSource::parse(text);
		if (text.find(',') != std::string::npos)
			throw Error(0, "timer_source \"" + text + "\" for card " + std::to_string(i) +
						 " contains ','",
				    "modprobe splits array parameters at ','; write it with '.' "
				    "separators, e.g. -1.4.0");
		enable += i ? ",1" : "1";
		sources += (i ? "," : "") + text;
	}
	return {"snd-aloop", enable, sources};
}

}  // namespace utimer
