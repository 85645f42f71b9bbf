// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/binding.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd.hpp"
#include "utimer/aloopd.hpp"
#include "utimer/error.hpp"
#include "utimer/list.hpp"

namespace utimer {

struct LoopbackBinding::Service {
	detail::UniqueFd connection;
};

namespace {

namespace fs = std::filesystem;

constexpr const char *install_advice =
	"Install utimer (meson install) and enable the service: systemctl enable --now "
	"utimer-aloopd.socket";

std::string service_what(const fs::path &socket)
{
	return "cannot reach utimer-aloopd (" + socket.string() +
	       "), which binds loopback cards for processes that may not write timer_source";
}

detail::UniqueFd connect_service(const fs::path &socket, int timeout_ms)
{
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	const std::string path = socket.string();
	if (path.size() >= sizeof(address.sun_path))
		throw Error(ENAMETOOLONG, service_what(socket));
	std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

	detail::UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
	if (!fd) {
		int err = errno;
		throw Error(err, service_what(socket));
	}
	timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	if (::connect(fd.get(), reinterpret_cast<const sockaddr *>(&address), sizeof(address)) < 0) {
		int err = errno;
		switch (err) {
		case ENOENT:
			throw Error(err, service_what(socket) + ": the service is not installed or its "
								  "socket is not enabled",
				    std::string(install_advice) +
					    "; or run the program as root, which writes "
					    "timer_source itself");
		case ECONNREFUSED:
			throw Error(err, service_what(socket) + ": nothing listens on the socket",
				    "Restart it: systemctl restart utimer-aloopd.socket (journalctl -u "
				    "utimer-aloopd says why it stopped)");
		case EACCES:
		case EPERM:
			throw Error(err, service_what(socket),
				    "Only members of the 'audio' group may use it: usermod -aG audio "
				    "USER, then log in again (and restart the program, e.g. systemctl "
				    "--user restart pipewire)");
		default:
			throw Error(err, service_what(socket));
		}
	}
	return fd;
}

void send_message(int fd, const std::string &message, int passed_fd)
{
	iovec iov{const_cast<char *>(message.data()), message.size()};
	msghdr msg{};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
	if (passed_fd >= 0) {
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		std::memcpy(CMSG_DATA(cmsg), &passed_fd, sizeof(int));
	}
	ssize_t n;
	do
		n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;
		throw Error(err, "cannot send a request to utimer-aloopd",
			    err == EPIPE || err == ECONNRESET
				    ? "The service closed the connection: journalctl -u utimer-aloopd "
				      "says why"
				    : "");
	}
}

aloopd::Reply receive_reply(int fd)
{
	char buffer[aloopd::max_message + 1];
	ssize_t n;
	do
		n = ::recv(fd, buffer, sizeof(buffer), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;
		throw Error(err, "no answer from utimer-aloopd",
			    err == EAGAIN || err == EWOULDBLOCK
				    ? "It did not answer in time: journalctl -u utimer-aloopd says "
				      "what it is doing"
				    : "");
	}
	if (n == 0)
		throw Error(ECONNRESET, "utimer-aloopd closed the connection without an answer",
			    "journalctl -u utimer-aloopd says why");
	return aloopd::parse_reply(std::string_view(buffer, static_cast<std::size_t>(n)));
}

[[noreturn]] void throw_reply_error(const aloopd::Reply &reply)
{
	throw Error(reply.errnum, "utimer-aloopd: " + reply.what, reply.fix);
}

bool may_write_directly(const LoopbackCard &card, const Paths &paths)
{
	const fs::path file =
		paths.proc / "asound" / ("card" + std::to_string(card.number)) / "timer_source";
	return ::faccessat(AT_FDCWD, file.c_str(), W_OK, AT_EACCESS) == 0;
}

std::vector<unsigned> live_timer_ids(const Paths &paths)
{
	std::vector<unsigned> ids;
	for (const TimerInfo &info : list_timers(paths))
		ids.push_back(info.id);
	return ids;
}

}  // namespace

LoopbackBinding LoopbackBinding::bind(const std::string &card_name, const Timer &timer,
				      const BindOptions &options, const Paths &paths)
{
	if (!timer)
		throw Error(EBADF, "cannot bind loopback card \"" + card_name + "\" to an empty Timer",
			    "Create the timer first (Timer::create())");
	LoopbackBinding binding;
	binding.source_ = timer.source();

	if (options.via != BindOptions::Via::service) {
		// The card must exist either way; looking it up here gives the
		// same error as the service would, without a round trip.
		binding.card_ = find_loopback_card(card_name, paths);
	}
	if (options.via == BindOptions::Via::direct ||
	    (options.via == BindOptions::Via::automatic && may_write_directly(binding.card_, paths))) {
		check_card_free(binding.card_, read_timer_source(binding.card_, paths), timer.id(),
				live_timer_ids(paths));
		binding.direct_.emplace(binding.card_, binding.source_, paths);
		return binding;
	}

	const fs::path socket = paths.aloopd_socket();
	auto service = std::make_unique<Service>();
	service->connection = connect_service(socket, options.timeout_ms);
	send_message(service->connection.get(),
		     aloopd::format_request({aloopd::Request::Kind::bind, card_name, timer.id()}),
		     timer.fd());
	aloopd::Reply reply = receive_reply(service->connection.get());
	if (!reply.ok)
		throw_reply_error(reply);
	if (reply.timer_source != binding.source_.to_string())
		throw Error(EPROTO, "utimer-aloopd bound card " + reply.card.id + " to " +
					    reply.timer_source + ", not " + binding.source_.to_string());
	binding.card_ = reply.card;
	binding.service_ = std::move(service);
	return binding;
}

LoopbackBinding::LoopbackBinding() noexcept = default;
LoopbackBinding::LoopbackBinding(LoopbackBinding &&) noexcept = default;

LoopbackBinding &LoopbackBinding::operator=(LoopbackBinding &&other) noexcept
{
	if (this != &other) {
		LoopbackBinding old(std::move(*this));  // ends our binding when it goes
		card_ = std::move(other.card_);
		source_ = std::move(other.source_);
		direct_ = std::move(other.direct_);
		other.direct_.reset();
		service_ = std::move(other.service_);
	}
	return *this;
}

LoopbackBinding::~LoopbackBinding()
{
	try {
		release();
	} catch (...) {
		// Closing the connection (below, or by release()) still makes the
		// service restore the card.
	}
}

int LoopbackBinding::fd() const noexcept
{
	return service_ ? service_->connection.get() : -1;
}

void LoopbackBinding::release()
{
	if (direct_) {
		std::optional<TimerSourceBinding> direct = std::move(direct_);
		direct_.reset();
		direct->restore();
		return;
	}
	if (!service_)
		return;
	// Wait for the service's answer before closing: a binding made right
	// after this one (same card, new connection) must not overtake it.
	std::unique_ptr<Service> service = std::move(service_);
	send_message(service->connection.get(),
		     aloopd::format_request({aloopd::Request::Kind::unbind, {}, 0}), -1);
	aloopd::Reply reply = receive_reply(service->connection.get());
	if (!reply.ok)
		throw_reply_error(reply);
}

}  // namespace utimer
