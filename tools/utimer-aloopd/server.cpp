// SPDX-License-Identifier: GPL-2.0-or-later
#include "server.hpp"

#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <utimer/aloopd.hpp>
#include <utimer/error.hpp>
#include <utimer/list.hpp>

namespace aloopd {

namespace {

using utimer::Error;
using utimer::detail::UniqueFd;

// More would only let one user pin descriptors; there are 128 timers at most.
constexpr std::size_t max_clients = 256;
constexpr std::size_t max_fds_per_message = 8;

void log(const std::string &line)
{
	std::fprintf(stderr, "utimer-aloopd: %s\n", line.c_str());
}

Peer peer_of(int fd)
{
	Peer peer;
	ucred cred{};
	socklen_t length = sizeof(cred);
	if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0)
		throw Error(errno, "SO_PEERCRED");
	peer.pid = cred.pid;
	peer.uid = cred.uid;
	peer.gid = cred.gid;
	peer.groups.resize(64);
	for (;;) {
		length = static_cast<socklen_t>(peer.groups.size() * sizeof(gid_t));
		if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer.groups.data(), &length) == 0)
			break;
		if (errno != ERANGE)
			throw Error(errno, "SO_PEERGROUPS");
		peer.groups.resize(length / sizeof(gid_t) + 1);
	}
	peer.groups.resize(length / sizeof(gid_t));
	return peer;
}

std::string user_name(uid_t uid)
{
	passwd entry{}, *found = nullptr;
	char buffer[1024];
	if (::getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) == 0 && found)
		return found->pw_name;
	return "uid " + std::to_string(uid);
}

void send_reply(int fd, const std::string &reply)
{
	// A client that does not read its replies loses them, not the service
	// its time: the socket is non-blocking.
	if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log("cannot reply: " + std::string(std::strerror(errno)));
}

}  // namespace

bool peer_allowed(const Peer &peer, std::optional<gid_t> group)
{
	if (peer.uid == 0)
		return true;
	if (!group)
		return false;
	return peer.gid == *group ||
	       std::find(peer.groups.begin(), peer.groups.end(), *group) != peer.groups.end();
}

Server::Server(utimer::Paths paths, std::optional<gid_t> group, std::string group_name)
	: paths_(std::move(paths)), group_(group), group_name_(std::move(group_name))
{
}

std::string Server::describe(const Peer &peer) const
{
	return "pid " + std::to_string(peer.pid) + " (" + user_name(peer.uid) + ")";
}

void Server::run(int listen_fd, int stop_fd)
{
	std::vector<pollfd> fds;
	for (;;) {
		fds.assign({{stop_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}});
		for (const Client &client : clients_)
			fds.push_back({client.connection.get(), POLLIN, 0});
		if (::poll(fds.data(), fds.size(), -1) < 0) {
			if (errno == EINTR)
				continue;
			throw Error(errno, "poll");
		}
		if (fds[0].revents)
			break;
		if (fds[1].revents & (POLLERR | POLLNVAL))
			throw Error(EIO, "the listening socket failed");
		for (std::size_t i = 2; i < fds.size(); ++i) {
			Client &client = clients_[i - 2];
			if (fds[i].revents & POLLIN)
				serve(client);  // reads EOF as the end, too
			else if (fds[i].revents & (POLLHUP | POLLERR | POLLNVAL))
				client.closing = true;
			if (client.closing)
				unbind(client, "connection closed");
		}
		std::erase_if(clients_, [](const Client &c) { return c.closing; });
		if (fds[1].revents & POLLIN)
			accept_client(listen_fd);
	}
	for (Client &client : clients_)
		unbind(client, "service stopping");
	clients_.clear();
}

void Server::accept_client(int listen_fd)
{
	UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
	if (!fd) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log("accept: " + std::string(std::strerror(errno)));
		return;
	}
	Client client;
	try {
		client.peer = peer_of(fd.get());
	} catch (const Error &e) {
		log(std::string("a connection without credentials: ") + e.what());
		return;
	}
	client.connection = std::move(fd);
	if (clients_.size() >= max_clients) {
		send_reply(client.connection.get(),
			   utimer::aloopd::format_error(Error(
				   EMFILE, std::to_string(max_clients) + " connections are open",
				   "Close bindings you no longer need")));
		return;
	}
	clients_.push_back(std::move(client));
}

void Server::serve(Client &client)
{
	char buffer[utimer::aloopd::max_message + 1];
	iovec iov{buffer, sizeof(buffer)};
	alignas(cmsghdr) char control[CMSG_SPACE(max_fds_per_message * sizeof(int))];
	msghdr msg{};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control;
	msg.msg_controllen = sizeof(control);
	ssize_t n = ::recvmsg(client.connection.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client.closing = true;
		return;
	}
	// Every descriptor received is owned (and closed) here, whatever happens.
	std::vector<UniqueFd> fds;
	for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (std::size_t i = 0; i < count; ++i) {
			int fd;
			std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			fds.emplace_back(fd);
		}
	}

	std::string reply;
	try {
		if (msg.msg_flags & MSG_TRUNC)
			throw Error(EPROTO, "request longer than " +
						    std::to_string(utimer::aloopd::max_message) + " bytes");
		if (msg.msg_flags & MSG_CTRUNC)
			throw Error(EINVAL, "more than " + std::to_string(max_fds_per_message) +
						    " descriptors in one request",
				    "Send exactly one: the timer's");
		if (!peer_allowed(client.peer, group_)) {
			client.closing = true;
			const std::string user = user_name(client.peer.uid);
			throw Error(EACCES,
				    user + " may not bind loopback cards: only root and members "
					   "of the '" + group_name_ + "' group may",
				    "usermod -aG " + group_name_ + " " + user +
					    ", then log in again (and restart the program, e.g. "
					    "systemctl --user restart pipewire)");
		}
		utimer::aloopd::Request request = utimer::aloopd::parse_request(
			std::string_view(buffer, static_cast<std::size_t>(n)));
		if (request.kind == utimer::aloopd::Request::Kind::unbind) {
			if (!fds.empty())
				throw Error(EINVAL, "descriptors sent with unbind", "Send none");
			unbind(client, "unbind requested");
			reply = utimer::aloopd::format_unbound();
		} else {
			reply = bind(client, request.card, request.timer_id, fds);
		}
	} catch (const Error &e) {
		log(describe(client.peer) + ": " + e.what());
		reply = utimer::aloopd::format_error(e);
	} catch (const std::exception &e) {
		log(describe(client.peer) + ": " + e.what());
		reply = utimer::aloopd::format_error(Error(EIO, e.what()));
	}
	send_reply(client.connection.get(), reply);
}

std::string Server::bind(Client &client, const std::string &card_name, unsigned timer_id,
			 std::vector<UniqueFd> &fds)
{
	if (client.bound)
		throw Error(EBUSY, "this connection binds card " + client.binding.card().id +
					   " already",
			    "One binding per connection: unbind first or open another connection");
	if (fds.size() != 1)
		throw Error(EINVAL, "bind came with " + std::to_string(fds.size()) + " descriptors",
			    "Send exactly one: the timer's (SCM_RIGHTS)");
	utimer::aloopd::verify_timer_fd(fds[0].get(), timer_id, paths_);
	utimer::LoopbackCard card = utimer::find_loopback_card(card_name, paths_);
	for (const Client &other : clients_)
		if (other.bound && other.binding.card().number == card.number)
			throw Error(EBUSY, "loopback card " + card.id + " is bound by " +
						   describe(other.peer) + " to timer -1.4." +
						   std::to_string(other.timer_id),
				    "Stop that program or use another loopback card (modprobe "
				    "snd-aloop enable=1,1 makes two)");
	std::vector<unsigned> live;
	for (const utimer::TimerInfo &info : utimer::list_timers(paths_))
		live.push_back(info.id);
	const utimer::TimerSource source = utimer::TimerSource::utimer(timer_id);
	utimer::check_card_free(card, utimer::read_timer_source(card, paths_), timer_id, live);

	client.binding = utimer::TimerSourceBinding(card, source, paths_);
	client.timer = std::move(fds[0]);
	client.timer_id = timer_id;
	client.bound = true;
	log(describe(client.peer) + ": card " + card.id + " (card " + std::to_string(card.number) +
	    ") -> " + source.to_string() + "; restores \"" + client.binding.previous().to_string() +
	    "\"");
	return utimer::aloopd::format_bound(card, source);
}

void Server::unbind(Client &client, const char *why)
{
	if (!client.bound)
		return;
	client.bound = false;
	const std::string what = describe(client.peer) + ": card " + client.binding.card().id +
				 " released (" + why + ")";
	try {
		if (client.binding.restore())
			log(what + ": timer_source \"" + client.binding.previous().to_string() + "\"");
		else
			log(what + ": its timer_source was changed meanwhile, left as it is");
	} catch (const Error &e) {
		log(what + ": cannot restore: " + e.what());
	}
	client.binding = {};
	client.timer.reset();
}

}  // namespace aloopd
