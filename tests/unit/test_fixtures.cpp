// SPDX-License-Identifier: GPL-2.0-or-later
// probe(), Timer, list_timers() and the snd-aloop helpers against fixture
// trees. A regular file cannot answer the timer ioctls, so these cover the
// open/permission/ENOTTY branches; the ioctl paths (PVERSION, CREATE, TRIGGER,
// NEXT_DEVICE, GINFO) run against real kernels in tests/lib (suite 'vm').
#include <doctest/doctest.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utimer/utimer.hpp>

#include "fixture.hpp"

using namespace utimer;

namespace {

bool fd_open(int fd)
{
	return ::fcntl(fd, F_GETFD) >= 0;
}

// probe() as an unprivileged user: root ignores file modes, so drop to
// nobody in a child and pass the result back through a pipe.
std::pair<Support, std::string> probe_as_nobody(const Paths &paths)
{
	int fds[2];
	REQUIRE(::pipe(fds) == 0);
	pid_t pid = ::fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		::close(fds[0]);
		if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
			::_exit(2);
		ProbeResult r = probe(paths);
		std::string out = std::to_string(static_cast<int>(r.support)) + "\n" + r.message;
		ssize_t ignored = ::write(fds[1], out.data(), out.size());
		(void)ignored;
		::_exit(0);
	}
	::close(fds[1]);
	std::string out;
	char buffer[512];
	for (ssize_t n; (n = ::read(fds[0], buffer, sizeof(buffer))) > 0;)
		out.append(buffer, static_cast<std::size_t>(n));
	::close(fds[0]);
	int status = 0;
	::waitpid(pid, &status, 0);
	REQUIRE(WIFEXITED(status));
	REQUIRE(WEXITSTATUS(status) == 0);
	auto nl = out.find('\n');
	REQUIRE(nl != std::string::npos);
	return {static_cast<Support>(std::stoi(out.substr(0, nl))), out.substr(nl + 1)};
}

}  // namespace

TEST_SUITE("probe")
{
	TEST_CASE("no timer device")
	{
		FixtureTree tree;
		ProbeResult r = probe(tree.paths);
		CHECK(r.support == Support::no_timer_device);
		CHECK(!r.ok());
		CHECK(r.protocol_version == 0);
		CHECK(r.message.find(tree.paths.timer_device().string() + " does not exist") == 0);
		CHECK(r.message.find("modprobe snd-timer") != std::string::npos);
		CHECK(std::string(to_string(r.support)) == "no-timer-device");
	}

	TEST_CASE("permission denied")
	{
		FixtureTree tree;
		tree.write("dev/snd/timer", "");
		::chmod(tree.paths.timer_device().c_str(), 0);
		auto [support, message] = probe_as_nobody(tree.paths);
		CHECK(support == Support::permission_denied);
		CHECK(message.find(tree.paths.timer_device().string() + ": Permission denied") == 0);
		CHECK(message.find("'audio' group") != std::string::npos);
		CHECK(message.find("udev") != std::string::npos);
	}

	TEST_CASE("a file that is not the timer device")
	{
		FixtureTree tree;
		tree.write("dev/snd/timer", "");
		ProbeResult r = probe(tree.paths);
		CHECK(r.support == Support::error);
		CHECK(r.message.find("SNDRV_TIMER_IOCTL_PVERSION failed: Inappropriate ioctl") !=
		      std::string::npos);
	}

	TEST_CASE("every Support value has a name")
	{
		CHECK(std::string(to_string(Support::supported)) == "supported");
		CHECK(std::string(to_string(Support::permission_denied)) == "permission-denied");
		CHECK(std::string(to_string(Support::kernel_too_old)) == "kernel-too-old");
		CHECK(std::string(to_string(Support::error)) == "error");
	}
}

TEST_SUITE("timer")
{
	TEST_CASE("create without a timer device carries probe's advice")
	{
		FixtureTree tree;
		try {
			Timer::for_period(48000, 256, tree.paths);
			FAIL("created a timer without a device");
		} catch (const Error &e) {
			const std::string what = e.what();
			CHECK(what.find("cannot open " + tree.paths.timer_device().string() +
					": No such file or directory. ") == 0);
			CHECK(e.fix().find("modprobe snd-timer") != std::string::npos);
			CHECK(e.code().value() == ENOENT);
		}
	}

	TEST_CASE("resolution 0 is refused before any syscall")
	{
		FixtureTree tree;
		CHECK_THROWS_WITH_AS(Timer::create(0, tree.paths),
				     doctest::Contains("resolution 0 ns"), Error);
	}

	TEST_CASE("adopt, move, release, reset own the fd exactly once")
	{
		int pipe_fds[2];
		REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
		::close(pipe_fds[1]);
		const int fd = pipe_fds[0];

		Timer a = Timer::adopt(fd, 5, 5333333);
		CHECK(static_cast<bool>(a));
		CHECK(a.fd() == fd);
		CHECK(a.id() == 5);
		CHECK(a.resolution() == 5333333);
		CHECK(a.timer_source() == "-1.4.5");
		CHECK(a.source() == TimerSource::utimer(5));
		CHECK(a.timer_id() == TimerId{1, 0, -1, 4, 5});
		// A pipe is not a timer: the one ioctl fails and trigger reports it.
		CHECK(a.trigger() == -ENOTTY);

		Timer b(std::move(a));
		CHECK(!a);
		CHECK(a.fd() == -1);
		CHECK(b.fd() == fd);
		CHECK(b.id() == 5);

		Timer c;
		CHECK(c.trigger() == -EBADF);
		c = std::move(b);
		CHECK(!b);
		CHECK(c.fd() == fd);
		CHECK(fd_open(fd));

		const int released = c.release();
		CHECK(released == fd);
		CHECK(!c);
		CHECK(fd_open(fd));  // release() hands it over without closing

		{
			Timer d = Timer::adopt(released, 1, 1000);
			Timer e = Timer::adopt(::dup(released), 2, 1000);
			const int e_fd = e.fd();
			d = std::move(e);  // closes d's old fd, takes e's
			CHECK(!fd_open(released));
			CHECK(d.fd() == e_fd);
			d.reset();
			CHECK(!d);
			CHECK(!fd_open(e_fd));
		}
	}

	TEST_CASE("the destructor closes")
	{
		int pipe_fds[2];
		REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
		::close(pipe_fds[1]);
		{
			Timer t = Timer::adopt(pipe_fds[0], 0, 1);
		}
		CHECK(!fd_open(pipe_fds[0]));
	}

	TEST_CASE("adopt rejects what cannot be a timer")
	{
		CHECK_THROWS_WITH_AS(Timer::adopt(-1, 0, 1), doctest::Contains("cannot adopt timer fd -1"),
				     Error);
		int fd = ::dup(0);
		CHECK_THROWS_WITH_AS(Timer::adopt(fd, 128, 1), doctest::Contains("ids are 0..127"),
				     Error);
		::close(fd);  // not adopted: still ours
	}
}

TEST_SUITE("list")
{
	TEST_CASE("patched 6.1 /proc/asound/timers names the timers")
	{
		const std::string text = "G0: system timer : 4000.000us (10000000 ticks)\n"
					 "G3: HR timer : 0.001us (1000000000 ticks)\n"
					 "  Client snd-aloop : stopped\n"
					 "G4: snd-utimer0 : 5333.333us (1 ticks)\n"
					 "  Client Loopback : running\n"
					 "  Client Loopback : stopped\n"
					 "G4: snd-utimer3 : 20.833us (1 ticks)\n"
					 "G4: snd-utimer12 : 10000.000us (1 ticks)\n"
					 "  Client timer : running\n"
					 "P0-0-0: PCM playback 0-0-0 : SLAVE\n"
					 "  Client Loopback : running\n";
		std::vector<TimerInfo> timers = parse_proc_timers(text);
		REQUIRE(timers.size() == 3);
		CHECK(timers[0].id == 0);
		CHECK(timers[0].name == "snd-utimer0");
		CHECK(timers[0].resolution_ns == 5333333);
		CHECK(timers[0].instances == 2u);
		CHECK(timers[1].id == 3);
		CHECK(timers[1].resolution_ns == 20833);
		CHECK(timers[1].instances == 0u);
		CHECK(timers[2].id == 12);
		CHECK(timers[2].resolution_ns == 10000000);
		CHECK(timers[2].instances == 1u);
	}

	TEST_CASE("stock 6.12 lines without a name are skipped")
	{
		const std::string text = "G4:  : 5333.333us (1 ticks)\n"
					 "  Client Loopback : running\n"
					 "G4: snd-utimerX : 1.000us (1 ticks)\n"
					 "G4: snd-utimer128 : 1.000us (1 ticks)\n"
					 "G5: snd-utimer1 : 1.000us (1 ticks)\n";
		CHECK(parse_proc_timers(text).empty());
		CHECK(parse_proc_timers("").empty());
	}

	TEST_CASE("list_timers without a device says why")
	{
		FixtureTree tree;
		CHECK_THROWS_WITH_AS(list_timers(tree.paths),
				     doctest::Contains("cannot list timers: cannot open"), Error);
	}
}

TEST_SUITE("aloop")
{
	TEST_CASE("loopback cards are found by id, number, cardN and hw:")
	{
		FixtureTree tree;
		tree.add_card(0, "PCH");
		tree.add_card(1, "Loopback", "");
		tree.add_card(3, "Loopback_1", "-1.4.3");
		tree.add_card(4, "Loopbackish");
		tree.add_card(5, "Loopback_");
		tree.write("proc/asound/cards", " 0 [PCH            ]: HDA-Intel\n");
		tree.write("proc/asound/card2", "not a card dir");

		CHECK(!aloop_loaded(tree.paths));
		std::filesystem::create_directories(tree.paths.sys / "module" / "snd_aloop");
		CHECK(aloop_loaded(tree.paths));

		std::vector<LoopbackCard> cards = loopback_cards(tree.paths);
		REQUIRE(cards.size() == 2);
		CHECK(cards[0].number == 1);
		CHECK(cards[0].id == "Loopback");
		CHECK(cards[1].number == 3);
		CHECK(cards[1].id == "Loopback_1");

		for (const char *name : {"Loopback", "1", "card1", "hw:Loopback", "hw:1"}) {
			CAPTURE(name);
			CHECK(find_loopback_card(name, tree.paths).number == 1);
		}
		for (const char *name : {"Loopback_1", "3", "card3", "hw:Loopback_1", "hw:3"}) {
			CAPTURE(name);
			CHECK(find_loopback_card(name, tree.paths).number == 3);
		}
		for (const char *name : {"PCH", "0", "card0", "hw:2", "Loopbackish", "", "card", "-1"}) {
			CAPTURE(name);
			CHECK_THROWS_WITH_AS(
				find_loopback_card(name, tree.paths),
				doctest::Contains("Loopback cards present: Loopback (card 1), Loopback_1 (card 3)"),
				Error);
		}
	}

	TEST_CASE("no loopback card: say to load snd-aloop")
	{
		FixtureTree tree;
		CHECK(loopback_cards(tree.paths).empty());
		CHECK_THROWS_WITH_AS(find_loopback_card("Loopback", tree.paths),
				     doctest::Contains("modprobe snd-aloop"), Error);
		std::filesystem::create_directories(tree.paths.sys / "module" / "snd_aloop");
		CHECK_THROWS_WITH_AS(find_loopback_card("Loopback", tree.paths),
				     doctest::Contains("enable=1"), Error);
	}

	TEST_CASE("timer_source read, write, read back")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "");
		LoopbackCard card = find_loopback_card("Loopback", tree.paths);
		CHECK(read_timer_source(card, tree.paths) == TimerSource::jiffies());

		write_timer_source(card, TimerSource::utimer(17), tree.paths);
		CHECK(tree.read("proc/asound/card1/timer_source") == "-1.4.17\n");
		CHECK(read_timer_source(card, tree.paths) == TimerSource::utimer(17));

		write_timer_source(card, TimerSource::parse("0"), tree.paths);  // shorter: no leftovers
		CHECK(tree.read("proc/asound/card1/timer_source") == "0\n");
		write_timer_source(card, TimerSource::jiffies(), tree.paths);
		CHECK(tree.read("proc/asound/card1/timer_source") == "\n");
	}

	TEST_CASE("an invalid hand-built source changes nothing")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "-1.4.1");
		LoopbackCard card{1, "Loopback"};
		TimerSource bad = TimerSource::utimer(2);
		bad.card = "1 2";
		CHECK_THROWS_WITH_AS(write_timer_source(card, bad, tree.paths),
				     doctest::Contains("whitespace"), Error);
		CHECK(tree.read("proc/asound/card1/timer_source") == "-1.4.1\n");
	}

	TEST_CASE("write failures name the file")
	{
		FixtureTree tree;
		LoopbackCard missing{7, "Loopback"};
		const std::string file = (tree.paths.proc / "asound/card7/timer_source").string();
		CHECK_THROWS_WITH_AS(write_timer_source(missing, TimerSource::utimer(0), tree.paths),
				     doctest::Contains(file.c_str()), Error);
		tree.add_card(1, "Loopback", "garbage value");
		CHECK_THROWS_WITH_AS(read_timer_source(LoopbackCard{1, "Loopback"}, tree.paths),
				     doctest::Contains("holds a value snd-aloop cannot use"), Error);
	}

	TEST_CASE("binding restores the previous value, moves carry the duty")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "hw:0,0");
		tree.add_card(2, "Loopback_1", "");
		const std::string file1 = "proc/asound/card1/timer_source";
		const std::string file2 = "proc/asound/card2/timer_source";
		LoopbackCard card1 = find_loopback_card("1", tree.paths);
		LoopbackCard card2 = find_loopback_card("2", tree.paths);
		{
			TimerSourceBinding binding(card1, TimerSource::utimer(0), tree.paths);
			CHECK(tree.read(file1) == "-1.4.0\n");
			CHECK(binding.previous() == TimerSource::parse("hw:0,0"));
			CHECK(binding.card().number == 1);

			TimerSourceBinding moved(std::move(binding));
			CHECK(tree.read(file1) == "-1.4.0\n");

			TimerSourceBinding other(card2, TimerSource::utimer(1), tree.paths);
			CHECK(tree.read(file2) == "-1.4.1\n");
			other = std::move(moved);  // restores card 2 now, card 1 later
			CHECK(tree.read(file2) == "\n");
			CHECK(tree.read(file1) == "-1.4.0\n");
		}
		CHECK(tree.read(file1) == "hw:0,0\n");
		CHECK(tree.read(file2) == "\n");
	}

	TEST_CASE("a binding that cannot write leaves the card as it was")
	{
		FixtureTree tree;
		tree.add_card(1, "Loopback", "-1.4.9");
		TimerSource bad = TimerSource::utimer(2);
		bad.prefix = "a:b";
		CHECK_THROWS_AS(TimerSourceBinding(LoopbackCard{1, "Loopback"}, bad, tree.paths), Error);
		CHECK(tree.read("proc/asound/card1/timer_source") == "-1.4.9\n");
	}

	TEST_CASE("modprobe arguments")
	{
		using V = std::vector<std::string>;
		CHECK(aloop_modprobe_args({TimerSource::utimer(0)}) ==
		      V{"snd-aloop", "enable=1", "timer_source=-1.4.0"});
		CHECK(aloop_modprobe_args({TimerSource::utimer(0), TimerSource::jiffies()}) ==
		      V{"snd-aloop", "enable=1,1", "timer_source=-1.4.0,"});
		CHECK(aloop_modprobe_args({TimerSource::jiffies(), TimerSource::parse("hw:0.0.0"),
					   TimerSource::utimer(127)}) ==
		      V{"snd-aloop", "enable=1,1,1", "timer_source=,hw:0.0.0,-1.4.127"});
		CHECK_THROWS_WITH_AS(aloop_modprobe_args({TimerSource::parse("-1,4,0")}),
				     doctest::Contains("contains ','"), Error);
		CHECK_THROWS_WITH_AS(aloop_modprobe_args({}), doctest::Contains("no snd-aloop cards"),
				     Error);
		CHECK_THROWS_WITH_AS(aloop_modprobe_args(std::vector<TimerSource>(33)),
				     doctest::Contains("at most 32 cards"), Error);
	}
}

TEST_SUITE("error")
{
	TEST_CASE("what() joins what, strerror and fix")
	{
		Error full(ENOENT, "cannot open /x", "Create it");
		CHECK(std::string(full.what()) == "cannot open /x: No such file or directory. Create it");
		CHECK(full.fix() == "Create it");
		CHECK(full.code().value() == ENOENT);

		Error no_fix(EACCES, "cannot open /y");
		CHECK(std::string(no_fix.what()) == "cannot open /y: Permission denied");
		CHECK(no_fix.fix().empty());

		Error input(0, "bad value", "Use a good one");
		CHECK(std::string(input.what()) == "bad value. Use a good one");
		CHECK(input.code().value() == EINVAL);

		const std::system_error &base = full;
		CHECK(std::string(base.what()) == full.what());
	}
}
