// SPDX-License-Identifier: GPL-2.0-or-later
//
// Loopback bindings on fixture trees: what is restored (the stale -1.4.N rule,
// the module default), when a card counts as taken, utimer-aloopd's protocol,
// and the client's errors when the service cannot be reached. The service
// itself runs in tests/aloopd; bindings against real kernels in the vm suite.
#include <doctest/doctest.h>

#include <cerrno>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utimer/aloopd.hpp>
#include <utimer/utimer.hpp>

#include "fixture.hpp"

using namespace utimer;

namespace {

TimerSource ts(const char *text)
{
	return TimerSource::parse(text);
}

// snd-aloop's parameter array as sysfs prints it, and card N's platform device.
void add_module(const FixtureTree &tree, const std::string &timer_source_param)
{
	tree.write("sys/module/snd_aloop/parameters/timer_source", timer_source_param + "\n");
}
void add_platform_device(const FixtureTree &tree, int card, const std::string &device)
{
	const auto dir = tree.root / "sys/class/sound" / ("card" + std::to_string(card));
	std::filesystem::create_directories(dir);
	std::filesystem::create_symlink("../../../devices/platform/" + device, dir / "device");
}

// A Timer object around an eventfd: enough for the client to send something.
Timer fake_timer(unsigned id)
{
	return Timer::adopt(::eventfd(0, EFD_CLOEXEC), id, 1000000);
}

}  // namespace

TEST_SUITE("binding")
{
	TEST_CASE("a -1.4.N found on the card is never restored")
	{
		const TimerSource jiffies = TimerSource::jiffies();
		// Anything else is restored as found.
		CHECK(restore_value(jiffies, jiffies) == jiffies);
		CHECK(restore_value(ts("hw:0,0"), jiffies) == ts("hw:0,0"));
		CHECK(restore_value(ts("-1.3.0"), ts("-1.4.0")) == ts("-1.3.0"));
		// -1.4.N in any spelling: the module default, or jiffies.
		CHECK(restore_value(ts("-1.4.9"), jiffies) == jiffies);
		CHECK(restore_value(ts("-1,4,9"), ts("hw:0.0")) == ts("hw:0.0"));
		CHECK(restore_value(ts("hw:-1.0x4.9"), ts("-1.3.0")) == ts("-1.3.0"));
		CHECK(restore_value(ts("-1.4.9"), ts("-1.4.0")) == jiffies);
		CHECK(restore_value(ts("-1.4.127"), jiffies) == jiffies);
	}

	TEST_CASE("-1.4 (no subdevice) is utimer 0 to the kernel, and stale too")
	{
		// snd-aloop leaves the subdevice 0 when it is not written.
		CHECK(ts("-1.4").utimer_id() == 0u);
		CHECK(restore_value(ts("-1.4"), TimerSource::jiffies()) == TimerSource::jiffies());
	}

	TEST_CASE("module default: the card's entry of snd-aloop's timer_source parameter")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "");
		tree.add_card(2, "Loopback_1", "");
		tree.add_card(3, "Loopback_2", "");
		const LoopbackCard card1{1, "Loopback"}, card2{2, "Loopback_1"}, card3{3, "Loopback_2"};
		// Nothing to read: jiffies.
		CHECK(module_default_timer_source(card1, tree.paths) == TimerSource::jiffies());
		add_platform_device(tree, 1, "snd_aloop.0");
		add_platform_device(tree, 2, "snd_aloop.2");
		add_platform_device(tree, 3, "snd_dummy.0");
		CHECK(module_default_timer_source(card1, tree.paths) == TimerSource::jiffies());
		add_module(tree, "(null),(null),hw:0.0,(null)");
		CHECK(module_default_timer_source(card1, tree.paths) == TimerSource::jiffies());
		CHECK(module_default_timer_source(card2, tree.paths) == ts("hw:0.0"));
		CHECK(module_default_timer_source(card3, tree.paths) == TimerSource::jiffies());
		add_module(tree, "-1.4.0,(null)");
		CHECK(module_default_timer_source(card1, tree.paths) == ts("-1.4.0"));
		CHECK(module_default_timer_source(card2, tree.paths) == TimerSource::jiffies());  // short array
		add_module(tree, "not a source!,(null)");
		CHECK(module_default_timer_source(card1, tree.paths) == TimerSource::jiffies());
	}

	TEST_CASE("a binding over a leftover -1.4.N restores the module default or jiffies")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "-1.4.9");
		add_platform_device(tree, 1, "snd_aloop.0");
		const std::string file = "proc/asound/card1/timer_source";
		const LoopbackCard card{1, "Loopback"};

		add_module(tree, "hw:0.0");
		{
			TimerSourceBinding binding(card, TimerSource::utimer(3), tree.paths);
			CHECK(binding.previous() == ts("hw:0.0"));
			CHECK(tree.read(file) == "-1.4.3\n");
		}
		CHECK(tree.read(file) == "hw:0.0\n");

		tree.write(file, "-1.4.3\n");  // left by a crash, same id as ours
		add_module(tree, "-1.4.0");    // loaded with aloop_modprobe_args()
		{
			TimerSourceBinding binding(card, TimerSource::utimer(3), tree.paths);
			CHECK(binding.previous() == TimerSource::jiffies());
		}
		CHECK(tree.read(file) == "\n");
	}

	TEST_CASE("a card rebound by someone else meanwhile is left alone")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "hw:0");
		const std::string file = "proc/asound/card1/timer_source";
		TimerSourceBinding binding(LoopbackCard{1, "Loopback"}, TimerSource::utimer(3), tree.paths);
		tree.write(file, "-1.4.7\n");
		CHECK_FALSE(binding.restore());
		CHECK(tree.read(file) == "-1.4.7\n");
		CHECK(binding.restore());  // ended: nothing more to do
		CHECK(tree.read(file) == "-1.4.7\n");
	}

	TEST_CASE("a card clocked by another live timer is taken")
	{
		const LoopbackCard card{1, "Loopback"};
		CHECK_NOTHROW(check_card_free(card, TimerSource::jiffies(), 3, {3, 5}));
		CHECK_NOTHROW(check_card_free(card, ts("hw:0"), 3, {3, 5}));
		CHECK_NOTHROW(check_card_free(card, ts("-1.4.3"), 3, {3, 5}));  // ours
		CHECK_NOTHROW(check_card_free(card, ts("-1.4.6"), 3, {3, 5}));  // gone: a leftover
		try {
			check_card_free(card, ts("-1,4,5"), 3, {3, 5});
			FAIL("no error");
		} catch (const Error &e) {
			CHECK(e.code().value() == EBUSY);
			CHECK(std::string(e.what()).find("Loopback (card 1)") != std::string::npos);
			CHECK(std::string(e.what()).find("-1,4,5") != std::string::npos);
			CHECK(e.fix().find("enable=1,1") != std::string::npos);
		}
	}
}

TEST_SUITE("aloopd protocol")
{
	using aloopd::Request;

	TEST_CASE("requests round-trip")
	{
		const Request bind{Request::Kind::bind, "hw:Loopback_1", 127};
		CHECK(aloopd::format_request(bind) == "utimer-aloopd 1 bind hw:Loopback_1 127");
		CHECK(aloopd::parse_request(aloopd::format_request(bind)) == bind);
		const Request unbind{Request::Kind::unbind, {}, 0};
		CHECK(aloopd::format_request(unbind) == "utimer-aloopd 1 unbind");
		CHECK(aloopd::parse_request("utimer-aloopd 1 unbind") == unbind);
		CHECK(aloopd::parse_request("utimer-aloopd 1 bind 1 0").card == "1");
	}

	TEST_CASE("malformed requests are refused, saying why")
	{
		const std::pair<std::string, const char *> bad[] = {
			{"", "expected"},
			{"utimer-aloopd", "expected"},
			{"utimer-aloopd 1", "expected"},
			{"utimer-aloopd 2 bind Loopback 0", "protocol version 2"},
			{"utimer-aloopd 01 bind Loopback 0", "protocol version"},
			{"aloopd 1 bind Loopback 0", "expected"},
			{"utimer-aloopd 1 bind Loopback", "bind <card> <timer id>"},
			{"utimer-aloopd 1 bind Loopback 0 extra", "bind <card> <timer id>"},
			{"utimer-aloopd 1 bind  Loopback 0", "bind <card> <timer id>"},
			{"utimer-aloopd 1 bind Loopback 0 ", "bind <card> <timer id>"},
			{"utimer-aloopd 1 bind Loop/back 0", "card name"},
			{"utimer-aloopd 1 bind Loopback\n 0", "card name"},
			{"utimer-aloopd 1 bind " + std::string(33, 'a') + " 0", "card name"},
			{"utimer-aloopd 1 bind Loopback 128", "timer id"},
			{"utimer-aloopd 1 bind Loopback -1", "timer id"},
			{"utimer-aloopd 1 bind Loopback 007", "timer id"},
			{"utimer-aloopd 1 bind Loopback 0x3", "timer id"},
			{"utimer-aloopd 1 bind Loopback 99999999999999999999", "timer id"},
			{"utimer-aloopd 1 unbind now", "no arguments"},
			{"utimer-aloopd 1 rebind Loopback 0", "unknown command"},
			{std::string("utimer-aloopd 1 bind Loopback 0\0", 33), "timer id"},
			{std::string(2000, 'x'), "longer than 1024"},
		};
		for (const auto &[message, why] : bad) {
			CAPTURE(message);
			try {
				aloopd::parse_request(message);
				FAIL("accepted");
			} catch (const Error &e) {
				CHECK(e.code().value() == EPROTO);
				CHECK(std::string(e.what()).find(why) != std::string::npos);
				// Control characters never reach the log.
				CHECK(std::string(e.what()).find('\n') == std::string::npos);
			}
		}
	}

	TEST_CASE("the client refuses to send what the service would refuse")
	{
		CHECK_THROWS_AS(aloopd::format_request({Request::Kind::bind, "", 0}), Error);
		CHECK_THROWS_AS(aloopd::format_request({Request::Kind::bind, "a b", 0}), Error);
		CHECK_THROWS_AS(aloopd::format_request({Request::Kind::bind, "Loopback", 128}), Error);
	}

	TEST_CASE("replies round-trip")
	{
		aloopd::Reply ok = aloopd::parse_reply(
			aloopd::format_bound(LoopbackCard{2, "Loopback_1"}, TimerSource::utimer(5)));
		CHECK(ok.ok);
		CHECK(ok.card.number == 2);
		CHECK(ok.card.id == "Loopback_1");
		CHECK(ok.timer_source == "-1.4.5");
		CHECK(aloopd::parse_reply(aloopd::format_unbound()).ok);

		aloopd::Reply err = aloopd::parse_reply(
			aloopd::format_error(Error(EBUSY, "card\nX is taken", "stop it")));
		CHECK_FALSE(err.ok);
		CHECK(err.errnum == EBUSY);
		CHECK(err.what == "card X is taken");
		CHECK(err.fix == "stop it");
		err = aloopd::parse_reply(aloopd::format_error(Error(EACCES, "no")));
		CHECK(err.errnum == EACCES);
		CHECK(err.fix.empty());

		for (const char *bad : {"", "ok 1", "ok x Loopback -1.4.0", "ok 1 Loopback bad!value",
					"error", "error 0 x\ny", "error 5 no newline", "okay"}) {
			CAPTURE(bad);
			CHECK_THROWS_AS(aloopd::parse_reply(bad), Error);
		}
	}

	TEST_CASE("descriptor names: only the kernel's utimer names count")
	{
		CHECK(aloopd::classify_fd_name("anon_inode:snd-utimer").utimer);
		CHECK_FALSE(aloopd::classify_fd_name("anon_inode:snd-utimer").id);
		CHECK(aloopd::classify_fd_name("anon_inode:snd-utimer7").id == 7u);
		CHECK(aloopd::classify_fd_name("anon_inode:snd-utimer127").id == 127u);
		for (const char *other : {"anon_inode:snd-utimer128", "anon_inode:snd-utimer07",
					  "anon_inode:snd-utimerx", "anon_inode:[eventfd]",
					  "/dev/snd/timer", "/tmp/anon_inode:snd-utimer", "socket:[123]",
					  "anon_inode:snd-utimer 1", ""}) {
			CAPTURE(other);
			CHECK_FALSE(aloopd::classify_fd_name(other).utimer);
		}
	}

	TEST_CASE("the service refuses a descriptor that is no timer")
	{
		Timer timer = fake_timer(3);
		try {
			aloopd::verify_timer_fd(timer.fd(), 3);
			FAIL("accepted");
		} catch (const Error &e) {
			CHECK(e.code().value() == EBADF);
			CHECK(std::string(e.what()).find("anon_inode:[eventfd]") != std::string::npos);
		}
	}
}

TEST_SUITE("binding client")
{
	std::string bind_error(const Paths &paths, BindOptions::Via via = BindOptions::Via::service)
	{
		Timer timer = fake_timer(3);
		try {
			LoopbackBinding::bind("Loopback", timer, {via, 2000}, paths);
		} catch (const Error &e) {
			return e.what();
		}
		return "(bound)";
	}

	TEST_CASE("no service: how to install and enable it")
	{
		FixtureTree tree;
		const std::string message = bind_error(tree.paths);
		CHECK(message.find("utimer-aloopd") != std::string::npos);
		CHECK(message.find("not installed") != std::string::npos);
		CHECK(message.find("systemctl enable --now utimer-aloopd.socket") != std::string::npos);
	}

	TEST_CASE("a socket nobody listens on: restart it")
	{
		FixtureTree tree;
		sockaddr_un address{AF_UNIX, {}};
		const std::string path = tree.paths.aloopd_socket().string();
		path.copy(address.sun_path, sizeof(address.sun_path) - 1);
		int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
		REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0);
		::close(fd);  // the file stays; nothing listens
		const std::string message = bind_error(tree.paths);
		CHECK(message.find("nothing listens") != std::string::npos);
		CHECK(message.find("systemctl restart utimer-aloopd.socket") != std::string::npos);
	}

	TEST_CASE("not allowed to connect: join the audio group")
	{
		if (::geteuid() != 0)
			return;  // only root can drop to nobody (root passes any file mode)
		FixtureTree tree;
		sockaddr_un address{AF_UNIX, {}};
		const std::string path = tree.paths.aloopd_socket().string();
		path.copy(address.sun_path, sizeof(address.sun_path) - 1);
		int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
		REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0);
		REQUIRE(::listen(fd, 1) == 0);
		::chmod(path.c_str(), 0660);
		std::filesystem::permissions(tree.root, std::filesystem::perms::all);
		std::filesystem::permissions(tree.paths.run, std::filesystem::perms::all);
		int pipe_fds[2];
		REQUIRE(::pipe(pipe_fds) == 0);
		pid_t child = ::fork();
		if (child == 0) {
			::close(pipe_fds[0]);
			if (::setgid(65534) != 0 || ::setuid(65534) != 0)
				::_exit(1);
			std::string message = bind_error(tree.paths);
			(void)!::write(pipe_fds[1], message.data(), message.size());
			::_exit(0);
		}
		::close(pipe_fds[1]);
		std::string message;
		char buffer[1024];
		for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0;)
			message.append(buffer, static_cast<std::size_t>(n));
		::close(pipe_fds[0]);
		::waitpid(child, nullptr, 0);
		::close(fd);
		CHECK(message.find("Permission denied") != std::string::npos);
		CHECK(message.find("usermod -aG audio") != std::string::npos);
	}

	TEST_CASE("an empty timer or a missing card are errors before anything is sent")
	{
		FixtureTree tree;
		Timer empty;
		CHECK_THROWS_WITH_AS(LoopbackBinding::bind("Loopback", empty, {}, tree.paths),
				     doctest::Contains("empty Timer"), Error);
		Timer timer = fake_timer(3);
		CHECK_THROWS_WITH_AS(LoopbackBinding::bind("Loopback", timer, {}, tree.paths),
				     doctest::Contains("no snd-aloop card"), Error);
	}
}
