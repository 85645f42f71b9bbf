// SPDX-License-Identifier: GPL-2.0-or-later
// A throwaway /dev, /proc and /sys tree in a temp dir for utimer::Paths.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <utimer/paths.hpp>

struct FixtureTree {
	std::filesystem::path root;
	utimer::Paths paths;

	FixtureTree()
	{
		std::string tmpl = (std::filesystem::temp_directory_path() / "utimer-unit-XXXXXX").string();
		root = ::mkdtemp(tmpl.data());
		paths.dev = root / "dev";
		paths.proc = root / "proc";
		paths.sys = root / "sys";
		paths.run = root / "run";
		std::filesystem::create_directories(paths.dev);
		std::filesystem::create_directories(paths.proc);
		std::filesystem::create_directories(paths.sys);
		std::filesystem::create_directories(paths.run);
	}
	~FixtureTree() { std::filesystem::remove_all(root); }
	FixtureTree(const FixtureTree &) = delete;
	FixtureTree &operator=(const FixtureTree &) = delete;

	void write(const std::filesystem::path &relative, const std::string &text) const
	{
		std::filesystem::create_directories((root / relative).parent_path());
		std::ofstream(root / relative) << text;
	}
	std::string read(const std::filesystem::path &relative) const
	{
		std::ifstream in(root / relative);
		return std::string(std::istreambuf_iterator<char>(in), {});
	}
	void add_card(int number, const std::string &id, const char *timer_source = nullptr) const
	{
		const std::string dir = "proc/asound/card" + std::to_string(number);
		write(dir + "/id", id + "\n");
		if (timer_source)
			write(dir + "/timer_source", std::string(timer_source) + "\n");
	}
};
