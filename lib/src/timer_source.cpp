// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/timer_source.hpp"

#include <cctype>
#include <climits>
#include <cstdint>
#include <vector>

#include "utimer/abi.hpp"
#include "utimer/error.hpp"

namespace utimer {

namespace {

constexpr std::size_t max_card_id_length = 15;  // struct snd_card::id is char[16]

[[noreturn]] void reject(std::string_view text, const std::string &problem)
{
	throw Error(0, "timer_source \"" + std::string(text) + "\": " + problem,
		    "accepted forms: \"\" (jiffies), -1.<device>.<subdevice> (a global timer, "
		    "e.g. -1.4.<id> for a userspace-driven timer), "
		    "[prefix:]<card number or id>[.<device>[.<subdevice>]] ('.' or ',' between "
		    "the numbers, no spaces, at most " +
			    std::to_string(TimerSource::max_length) + " characters)");
}

enum class NumberStatus { ok, invalid, out_of_range };

struct Number {
	NumberStatus status = NumberStatus::invalid;
	int value = 0;
};

// kstrtoint(s, 0, &v) without the trailing-newline allowance (whitespace is
// rejected before we get here).
Number kstrtoint(std::string_view s)
{
	bool negative = false;
	if (!s.empty() && s.front() == '-') {
		negative = true;
		s.remove_prefix(1);
	} else if (!s.empty() && s.front() == '+') {
		s.remove_prefix(1);
	}
	unsigned base = 10;
	if (!s.empty() && s[0] == '0') {
		if (s.size() >= 3 && std::tolower(static_cast<unsigned char>(s[1])) == 'x' &&
		    std::isxdigit(static_cast<unsigned char>(s[2]))) {
			base = 16;
			s.remove_prefix(2);
		} else {
			base = 8;
		}
	}
	if (s.empty())
		return {};
	std::uint64_t magnitude = 0;
	bool overflow = false;
	for (char c : s) {
		unsigned digit;
		if (c >= '0' && c <= '9')
			digit = static_cast<unsigned>(c - '0');
		else if (std::isxdigit(static_cast<unsigned char>(c)))
			digit = static_cast<unsigned>(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
		else
			return {};
		if (digit >= base)
			return {};
		if (magnitude > (UINT64_MAX - digit) / base)
			overflow = true;
		else
			magnitude = magnitude * base + digit;
	}
	if (overflow)
		return {NumberStatus::out_of_range, 0};
	if (negative) {
		if (magnitude > std::uint64_t{INT_MAX} + 1)
			return {NumberStatus::out_of_range, 0};
		return {NumberStatus::ok, static_cast<int>(-static_cast<std::int64_t>(magnitude))};
	}
	if (magnitude > INT_MAX)
		return {NumberStatus::out_of_range, 0};
	return {NumberStatus::ok, static_cast<int>(magnitude)};
}

bool looks_numeric(std::string_view s)
{
	return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' ||
			      s[0] == '+');
}

bool is_card_id(std::string_view s)
{
	if (s.empty() || s.size() > max_card_id_length ||
	    !std::isalpha(static_cast<unsigned char>(s[0])))
		return false;
	for (char c : s)
		if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
			return false;
	return true;
}

// A device or subdevice number; keeps the spelling when it is not decimal.
int parse_index(std::string_view text, std::string_view what, std::string_view component,
		std::string &spelling)
{
	Number n = kstrtoint(component);
	std::string quoted = "\"" + std::string(component) + "\"";
	if (n.status == NumberStatus::invalid)
		reject(text, std::string(what) + " " + quoted + " is not a number");
	if (n.status == NumberStatus::out_of_range)
		reject(text, std::string(what) + " " + quoted + " is out of range");
	if (n.value < 0)
		reject(text, std::string(what) + " " + quoted + " is negative");
	spelling = component == std::to_string(n.value) ? std::string() : std::string(component);
	return n.value;
}

}  // namespace

TimerSource TimerSource::global(int device, int subdevice)
{
	TimerSource source;
	source.kind = Kind::global;
	source.card = "-1";
	source.device = device;
	source.subdevice = subdevice;
	return source;
}

TimerSource TimerSource::parse(std::string_view text)
{
	TimerSource source;
	if (text.empty())
		return source;
	if (text.size() > max_length)
		reject(text, std::to_string(text.size()) + " characters is too long for snd-aloop");
	for (std::size_t i = 0; i < text.size(); ++i) {
		auto c = static_cast<unsigned char>(text[i]);
		if (c <= ' ' || c >= 0x7f)
			reject(text, "whitespace or a non-printable character at position " +
					     std::to_string(i));
	}

	std::string_view rest = text;
	if (auto colon = rest.find(':'); colon != std::string_view::npos) {
		if (colon == 0)
			reject(text, "empty prefix before ':'");
		source.prefix = std::string(rest.substr(0, colon));
		rest.remove_prefix(colon + 1);
		if (rest.find(':') != std::string_view::npos)
			reject(text, "more than one ':'");
	}

	std::vector<std::string_view> components;
	std::string separators;
	for (;;) {
		auto sep = rest.find_first_of(".,");
		components.push_back(rest.substr(0, sep));
		if (sep == std::string_view::npos)
			break;
		separators += rest[sep];
		rest.remove_prefix(sep + 1);
	}
	if (components.size() > 3)
		reject(text, "more than three components (card, device, subdevice)");
	static const char *const names[] = {"card", "device", "subdevice"};
	for (std::size_t i = 0; i < components.size(); ++i)
		if (components[i].empty())
			reject(text, std::string("empty ") + names[i]);
	if (separators.size() == 2 && separators[0] != separators[1])
		reject(text, "mixed '.' and ',' separators: use one kind");
	if (!separators.empty())
		source.separator = separators[0];

	std::string_view card = components[0];
	if (looks_numeric(card)) {
		Number n = kstrtoint(card);
		if (n.status == NumberStatus::invalid)
			reject(text, "card \"" + std::string(card) + "\" is neither a number nor a card id");
		if (n.status == NumberStatus::out_of_range)
			reject(text, "card \"" + std::string(card) + "\" is out of range");
		if (n.value < -1)
			reject(text, "card " + std::string(card) +
					     " does not exist (cards are >= 0; -1 means a global timer)");
		source.kind = n.value == -1 ? Kind::global : Kind::card;
	} else if (is_card_id(card)) {
		source.kind = Kind::card;
	} else {
		reject(text, "card \"" + std::string(card) +
				     "\" is neither a number nor a card id (a letter, then letters, "
				     "digits or '_', at most 15)");
	}
	source.card = std::string(card);
	if (components.size() > 1)
		source.device = parse_index(text, "device", components[1], source.device_text);
	if (components.size() > 2)
		source.subdevice =
			parse_index(text, "subdevice", components[2], source.subdevice_text);
	return source;
}

std::string TimerSource::to_string() const
{
	if (kind == Kind::jiffies)
		return {};
	std::string text;
	if (!prefix.empty())
		text += prefix + ':';
	text += card;
	if (device) {
		text += separator;
		text += device_text.empty() ? std::to_string(*device) : device_text;
		if (subdevice) {
			text += separator;
			text += subdevice_text.empty() ? std::to_string(*subdevice) : subdevice_text;
		}
	}
	return text;
}

std::optional<unsigned> TimerSource::utimer_id() const
{
	if (kind != Kind::global || device.value_or(0) != abi::global_udriven)
		return std::nullopt;
	int id = subdevice.value_or(0);
	if (id < 0 || id >= abi::max_timers)
		return std::nullopt;
	return static_cast<unsigned>(id);
}

}  // namespace utimer
