// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/aloopd.hpp"

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <vector>

#include "utimer/abi.hpp"
#include "utimer/list.hpp"

namespace utimer::aloopd {

namespace {

constexpr std::string_view fd_name_prefix = "anon_inode:snd-utimer";

[[noreturn]] void malformed(std::string_view kind, std::string_view message,
			    const std::string &problem)
{
	std::string what = "malformed utimer-aloopd " + std::string(kind) + " \"" +
			   std::string(message.substr(0, 80)) + (message.size() > 80 ? "...\"" : "\"") +
			   ": " + problem;
	// It goes to a log: no control characters from the peer.
	for (char &c : what)
		if ((c >= 0 && c < 0x20) || c == 0x7f)
			c = '?';
	throw Error(EPROTO, what,
		    "Client and service must both speak protocol " + std::to_string(version) +
			    " (install them from the same utimer build)");
}

std::vector<std::string_view> split(std::string_view text, char separator)
{
	std::vector<std::string_view> words;
	for (;;) {
		std::size_t at = text.find(separator);
		words.push_back(text.substr(0, at));
		if (at == std::string_view::npos)
			return words;
		text.remove_prefix(at + 1);
	}
}

// Plain decimal (no sign, no leading zeros) below limit.
std::optional<unsigned> parse_decimal(std::string_view text, unsigned limit)
{
	unsigned value = 0;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
	    (text.size() > 1 && text[0] == '0') || value >= limit)
		return std::nullopt;
	return value;
}

bool valid_card_name(std::string_view name)
{
	if (name.empty() || name.size() > max_card_name)
		return false;
	for (char c : name)
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == ':' || c == '-'))
			return false;
	return true;
}

}  // namespace

std::string format_request(const Request &request)
{
	const std::string head = std::string(magic) + ' ' + std::to_string(version) + ' ';
	if (request.kind == Request::Kind::unbind)
		return head + "unbind";
	if (!valid_card_name(request.card))
		throw Error(EINVAL, "loopback card name \"" + request.card + "\"",
			    "Name the card by id, number, cardN or hw:<id> (letters, digits, '_', "
			    "':', '-'; at most " + std::to_string(max_card_name) + " characters)");
	if (request.timer_id >= static_cast<unsigned>(abi::max_timers))
		throw Error(EINVAL, "timer id " + std::to_string(request.timer_id),
			    "Userspace-driven timer ids are 0..127");
	return head + "bind " + request.card + ' ' + std::to_string(request.timer_id);
}

Request parse_request(std::string_view message)
{
	if (message.size() > max_message)
		malformed("request", message, "longer than " + std::to_string(max_message) + " bytes");
	std::vector<std::string_view> words = split(message, ' ');
	if (words.size() < 3 || words[0] != magic)
		malformed("request", message, "expected \"" + std::string(magic) + " " +
						      std::to_string(version) + " bind|unbind ...\"");
	if (words[1] != std::to_string(version))
		malformed("request", message, "protocol version " + std::string(words[1]) +
						      ", this service speaks " + std::to_string(version));
	Request request;
	if (words[2] == "unbind") {
		if (words.size() != 3)
			malformed("request", message, "unbind takes no arguments");
		request.kind = Request::Kind::unbind;
		return request;
	}
	if (words[2] != "bind")
		malformed("request", message, "unknown command \"" + std::string(words[2]) + "\"");
	if (words.size() != 5)
		malformed("request", message, "expected bind <card> <timer id>");
	if (!valid_card_name(words[3]))
		malformed("request", message, "card name: letters, digits, '_', ':', '-', at most " +
						      std::to_string(max_card_name) + " characters");
	std::optional<unsigned> id = parse_decimal(words[4], abi::max_timers);
	if (!id)
		malformed("request", message, "timer id: a decimal number 0..127");
	request.card = std::string(words[3]);
	request.timer_id = *id;
	return request;
}

std::string format_bound(const LoopbackCard &card, const TimerSource &source)
{
	return "ok " + std::to_string(card.number) + ' ' + card.id + ' ' + source.to_string();
}

std::string format_unbound()
{
	return "ok";
}

std::string format_error(const Error &error)
{
	std::string what = error.what_failed(), fix = error.fix();
	for (std::string *text : {&what, &fix})
		for (char &c : *text)
			if (c == '\n')
				c = ' ';
	std::string reply = "error " + std::to_string(error.code().value()) + ' ' + what + '\n' + fix;
	if (reply.size() > max_message)
		reply.resize(max_message);
	return reply;
}

Reply parse_reply(std::string_view message)
{
	if (message.size() > max_message)
		malformed("reply", message, "longer than " + std::to_string(max_message) + " bytes");
	Reply reply;
	if (message == "ok") {
		reply.ok = true;
		return reply;
	}
	if (message.rfind("error ", 0) == 0) {
		std::string_view rest = message.substr(6);
		std::size_t space = rest.find(' ');
		std::size_t newline = rest.find('\n');
		std::optional<unsigned> errnum = parse_decimal(rest.substr(0, space), 4096);
		if (!errnum || *errnum == 0 || space == std::string_view::npos ||
		    newline == std::string_view::npos || newline < space)
			malformed("reply", message, "expected error <errno> <what>\\n<fix>");
		reply.errnum = static_cast<int>(*errnum);
		reply.what = std::string(rest.substr(space + 1, newline - space - 1));
		reply.fix = std::string(rest.substr(newline + 1));
		return reply;
	}
	std::vector<std::string_view> words = split(message, ' ');
	if (words.size() != 4 || words[0] != "ok")
		malformed("reply", message, "expected ok [<card number> <card id> <timer_source>]");
	std::optional<unsigned> number = parse_decimal(words[1], 4096);
	if (!number || !valid_card_name(words[2]))
		malformed("reply", message, "card number and id");
	try {
		TimerSource::parse(words[3]);
	} catch (const Error &e) {
		malformed("reply", message, e.what());
	}
	reply.ok = true;
	reply.card = LoopbackCard{static_cast<int>(*number), std::string(words[2])};
	reply.timer_source = std::string(words[3]);
	return reply;
}

TimerFdName classify_fd_name(std::string_view link)
{
	if (link.rfind(fd_name_prefix, 0) != 0)
		return {};
	std::string_view rest = link.substr(fd_name_prefix.size());
	if (rest.empty())
		return {true, std::nullopt};
	std::optional<unsigned> id = parse_decimal(rest, abi::max_timers);
	if (!id)
		return {};
	return {true, id};
}

void verify_timer_fd(int fd, unsigned timer_id, const Paths &paths)
{
	namespace fs = std::filesystem;
	const std::string timer = "timer -1.4." + std::to_string(timer_id);
	std::error_code ec;
	const fs::path link = fs::read_symlink(paths.proc / "self" / "fd" / std::to_string(fd), ec);
	if (ec)
		throw Error(ec.value(), "cannot tell what descriptor " + std::to_string(fd) + " is");
	TimerFdName name = classify_fd_name(link.string());
	if (!name.utimer)
		throw Error(EBADF, "the descriptor sent for " + timer + " is not a userspace-driven timer (it is " +
					   link.string() + ")",
			    "Send the descriptor utimer::Timer::create() returned (Timer::fd())");
	if (name.id && *name.id != timer_id)
		throw Error(EINVAL, "the descriptor sent is timer -1.4." + std::to_string(*name.id) +
					    ", not " + timer,
			    "Send the id of the timer whose descriptor you send (Timer::id())");
	std::optional<TimerInfo> info = timer_info(timer_id, paths);
	if (!info)
		throw Error(ENODEV, "no userspace-driven " + timer + " exists",
			    "Send the id of the timer whose descriptor you send (Timer::id())");
}

}  // namespace utimer::aloopd
