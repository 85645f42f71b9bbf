// SPDX-License-Identifier: GPL-2.0-or-later
// TimerSource mirrors snd-aloop's loopback_parse_timer_id().
#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <utimer/error.hpp>
#include <utimer/timer_source.hpp>

using utimer::TimerSource;
using Kind = utimer::TimerSource::Kind;

TEST_SUITE("timer_source")
{
	TEST_CASE("accepted strings round-trip exactly")
	{
		const char *accepted[] = {
			"", "-1.4.0", "-1.4.127", "-1,4,0", "-1", "-1.4", "hw:-1.4.0", "0", "0.0.0",
			"7,0,1", "Loopback", "Loopback.0.1", "Loopback_1,0,0", "hw:Loopback.0",
			"-1.0x4.0", "-0x1.4.0", "+1.0.0", "1.010.07", "PCH.0.0", "any.thing:2.0",
			"-1.4.0X1f", "0x7fffffff", "2147483647.0"};
		for (const char *text : accepted) {
			CAPTURE(text);
			REQUIRE_NOTHROW(TimerSource::parse(text));
			CHECK(TimerSource::parse(text).to_string() == text);
		}
	}

	TEST_CASE("values as the kernel reads them")
	{
		TimerSource g = TimerSource::parse("-1.4.3");
		CHECK(g.kind == Kind::global);
		CHECK(g.device == 4);
		CHECK(g.subdevice == 3);
		CHECK(g == TimerSource::utimer(3));
		CHECK(g.utimer_id() == 3u);
		CHECK(TimerSource::utimer(3).to_string() == "-1.4.3");
		CHECK(TimerSource::global(0, 0).to_string() == "-1.0.0");

		TimerSource bare = TimerSource::parse("-1");  // the kernel reads -1.0.0
		CHECK(bare.kind == Kind::global);
		CHECK(!bare.device);
		CHECK(!bare.utimer_id());

		CHECK(TimerSource::parse("-1.4").utimer_id() == 0u);  // subdevice defaults to 0
		CHECK(TimerSource::parse("-1.0x4.0x10").utimer_id() == 16u);
		CHECK(TimerSource::parse("-0x1.4.010").utimer_id() == 8u);  // octal
		CHECK(!TimerSource::parse("-1.4.128").utimer_id());
		CHECK(!TimerSource::parse("0.4.1").utimer_id());

		TimerSource c = TimerSource::parse("hw:Loopback,1,2");
		CHECK(c.kind == Kind::card);
		CHECK(c.prefix == "hw");
		CHECK(c.card == "Loopback");
		CHECK(c.separator == ',');
		CHECK(c.device == 1);
		CHECK(c.subdevice == 2);

		CHECK(TimerSource::parse("").kind == Kind::jiffies);
		CHECK(TimerSource::parse("") == TimerSource::jiffies());
		CHECK(TimerSource::jiffies().to_string().empty());
	}

	TEST_CASE("the longest accepted value is 62 characters")
	{
		std::string at_limit = std::string(60, 'p') + ":0";
		CHECK(at_limit.size() == TimerSource::max_length);
		CHECK(TimerSource::parse(at_limit).to_string() == at_limit);
		CHECK_THROWS_WITH_AS(TimerSource::parse(at_limit + "0"),
				     doctest::Contains("63 characters is too long"), utimer::Error);
	}

	TEST_CASE("rejections quote the input and say what was wrong")
	{
		struct Case {
			const char *text;
			const char *problem;
		};
		const Case cases[] = {
			{"1.", "empty device"},
			{".1", "empty card"},
			{"1..2", "empty device"},
			{"1.2.", "empty subdevice"},
			{"1.2.3.4", "more than three components"},
			{"1.x", "device \"x\" is not a number"},
			{"1.2x", "device \"2x\" is not a number"},
			{"1.2.y", "subdevice \"y\" is not a number"},
			{"1 .2", "whitespace"},
			{" 1", "whitespace"},
			{"-1.4.0\n", "whitespace"},
			{"1\t", "whitespace"},
			{"-2", "card -2 does not exist"},
			{"0.-1", "device \"-1\" is negative"},
			{"1.0,2", "mixed '.' and ',' separators"},
			{":1", "empty prefix"},
			{"a:b:1", "more than one ':'"},
			{"hw:", "empty card"},
			{"1.99999999999", "out of range"},
			{"2147483648", "out of range"},
			{"08", "neither a number nor a card id"},
			{"0x", "neither a number nor a card id"},
			{"-", "neither a number nor a card id"},
			{"-+1", "neither a number nor a card id"},
			{"Loop-back", "neither a number nor a card id"},
			{"_Loopback", "neither a number nor a card id"},
			{"ABCDEFGHIJKLMNOP", "neither a number nor a card id"},  // 16 > 15
			{"L\xc3\xb6op", "non-printable"},
		};
		for (const Case &c : cases) {
			CAPTURE(c.text);
			try {
				TimerSource::parse(c.text);
				FAIL("accepted: " << c.text);
			} catch (const utimer::Error &e) {
				const std::string what = e.what();
				CHECK(what.find(std::string("timer_source \"") + c.text + "\"") == 0);
				CHECK(what.find(c.problem) != std::string::npos);
				CHECK(what.find("accepted forms:") != std::string::npos);
				CHECK(e.code().value() == EINVAL);
			}
		}
	}
}
