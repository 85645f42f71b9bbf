// SPDX-License-Identifier: GPL-2.0-or-later
//
// utimer-aloopd's connections: who may bind, and the bindings it holds.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <utimer/aloop.hpp>
#include <utimer/paths.hpp>

#include "fd.hpp"

namespace aloopd {

// The process at the other end of a connection, as the kernel recorded it at
// connect() (SO_PEERCRED, SO_PEERGROUPS).
struct Peer {
	pid_t pid = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	std::vector<gid_t> groups;
};

// root, or a member of the group (primary or supplementary). Without the
// group (it does not exist) only root.
bool peer_allowed(const Peer &peer, std::optional<gid_t> group);

class Server {
public:
	Server(utimer::Paths paths, std::optional<gid_t> group, std::string group_name);
	// Serves listen_fd until stop_fd becomes readable, then ends every
	// binding. Throws only when the listening socket fails.
	void run(int listen_fd, int stop_fd);

private:
	struct Client {
		utimer::detail::UniqueFd connection;
		Peer peer;
		utimer::detail::UniqueFd timer;  // held while bound: the id cannot be reused
		unsigned timer_id = 0;
		utimer::TimerSourceBinding binding;
		bool bound = false;
		bool closing = false;  // refused: close after the reply
	};

	void accept_client(int listen_fd);
	void serve(Client &client);  // one message
	std::string bind(Client &client, const std::string &card, unsigned timer_id,
			 std::vector<utimer::detail::UniqueFd> &fds);
	void unbind(Client &client, const char *why);
	std::string describe(const Peer &peer) const;

	utimer::Paths paths_;
	std::optional<gid_t> group_;
	std::string group_name_;
	std::vector<Client> clients_;
};

}  // namespace aloopd
