#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install into a temporary DESTDIR, then build lib/README.md's example
# against the installed headers, library and pkg-config file, and run it: on a
# host without /dev/snd/timer it must print probe()'s "does not exist" advice.
# usage: install-test.sh BUILD_DIR README.md [EXTRA_CXXFLAGS]
set -eu
build=$1 readme=$2 extra=${3:-}
tmp=$(mktemp -d /var/tmp/utimer-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; echo "FAIL: meson install"; exit 1; }
pc=$(find "$tmp/root" -name utimer.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || { echo "FAIL: no utimer.pc installed"; exit 1; }
echo "installed $pc"

# the first ```cpp block of the README
awk '/^```cpp$/ {on=1; next} /^```$/ {if (on) exit} on' "$readme" >"$tmp/example.cpp"
[ -s "$tmp/example.cpp" ] || { echo "FAIL: no example in $readme"; exit 1; }
lines=$(grep -c . "$tmp/example.cpp")
echo "example: $lines lines"

export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$tmp/root"
flags=$(pkg-config --cflags --libs utimer)
echo "pkg-config --cflags --libs utimer: $flags"
# shellcheck disable=SC2086
g++ -std=c++20 $extra "$tmp/example.cpp" $flags -o "$tmp/example"

libdir=$(pkg-config --libs-only-L utimer | sed 's/^ *-L//; s/ *$//')
set +e
LD_LIBRARY_PATH="$libdir" "$tmp/example" >"$tmp/out" 2>&1
status=$?
set -e
cat "$tmp/out"
if [ -e /dev/snd/timer ]; then
	echo "SKIP: built and ran, but this host has /dev/snd/timer, so the expected output is unknown"
	exit 77
fi
[ "$status" -eq 1 ] || { echo "FAIL: expected exit 1, got $status"; exit 1; }
grep -q '^/dev/snd/timer does not exist' "$tmp/out" ||
	{ echo "FAIL: missing the no-timer-device message"; exit 1; }
echo "PASS"
