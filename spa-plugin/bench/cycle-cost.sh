#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Per-cycle CPU cost of the data thread with api.utimer.driver as the graph
# driver, next to support.node.driver (the baseline) in the same minimal graph
# (one null sink kept running by a link), at a small quantum.
#
# Usage: cycle-cost.sh <dir with libspa-utimer.so> [seconds=20] [quantum=32] [rate=48000]
# Prints ns of data-thread CPU per cycle for both and the ratio. The data
# thread's CPU time comes from /proc/<pid>/task/<tid>/schedstat (ns). Cycles
# are counted by our node (utimer.cycles) and, for the baseline, taken as
# seconds * rate / quantum (both drivers pace the same nominal period).
# On a host without /dev/snd/timer our node runs without a timer, so the
# difference excludes the TRIGGER ioctl; run it in the VM to include it.
set -u

plugin_build_dir=$(realpath "$1")
seconds=${2:-20}
quantum=${3:-32}
rate=${4:-48000}
spa_dir=$(pkg-config --variable=plugindir libspa-0.2 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/spa-0.2)
work=$(mktemp -d "${TMPDIR:-/tmp}/utimer-bench.XXXXXX")
daemon_pid=
trap '[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

mkdir -p "$work/plugins" "$work/run" "$work/home"
for d in "$spa_dir"/*/; do ln -s "$d" "$work/plugins/$(basename "$d")"; done
ln -s "$plugin_build_dir" "$work/plugins/utimer"
# A plugin built with -Db_sanitize=address,undefined needs the sanitizer
# runtimes loaded first into the (uninstrumented) pipewire binary. Leaks of
# pipewire itself at exit are not ours: the factory test checks the plugin's.
sanitizer_preload=$(ldd "$plugin_build_dir/libspa-utimer.so" |
	awk '/lib(asan|ubsan)\.so/ { printf "%s:", $3 }')
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export XDG_RUNTIME_DIR="$work/run" PIPEWIRE_RUNTIME_DIR="$work/run" SPA_PLUGIN_DIR="$work/plugins"
export PIPEWIRE_REMOTE=pipewire-0 HOME="$work/home" XDG_CONFIG_HOME="$work/home"
unset PIPEWIRE_CONFIG_DIR PIPEWIRE_DEBUG

# run_one FACTORY -> prints "<data-thread ns> <cycles or empty>"
run_one() {
	cat > "$work/bench.conf" <<EOF
context.properties = {
    core.daemon = true
    core.name = pipewire-0
    support.dbus = false
    default.clock.rate = $rate
    default.clock.quantum = $quantum
    default.clock.min-quantum = $quantum
    default.clock.max-quantum = $quantum
}
context.spa-libs = {
    audio.convert.* = audioconvert/libspa-audioconvert
    support.*       = support/libspa-support
    api.utimer.*    = utimer/libspa-utimer
}
context.modules = [
    { name = libpipewire-module-protocol-native }
    { name = libpipewire-module-spa-node-factory }
    { name = libpipewire-module-client-node }
    { name = libpipewire-module-access args = { } }
    { name = libpipewire-module-adapter }
    { name = libpipewire-module-link-factory }
]
context.objects = [
    { factory = spa-node-factory
        args = { factory.name = $1 node.name = bench-driver node.group = bench priority.driver = 30000 }
    }
    { factory = adapter
        args = {
            factory.name = support.null-audio-sink node.name = bench-sink media.class = Audio/Sink
            node.group = bench audio.position = [ FL FR ]
            adapter.auto-port-config = { mode = dsp monitor = true }
        }
    }
]
EOF
	LD_PRELOAD="$sanitizer_preload" pipewire -c "$work/bench.conf" > "$work/pipewire.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 50); do timeout 5 pw-cli info 0 > /dev/null 2>&1 && break; sleep 0.2; done
	pw-link bench-sink:monitor_FL bench-sink:playback_FL ||
		{ echo "link failed; pipewire log:" >&2; tail -20 "$work/pipewire.log" >&2; return 1; }
	sleep 2
	local tid
	# 0.3.65 names no thread: the data loop is the one thread besides main.
	tid=$(ls /proc/"$daemon_pid"/task | grep -vx "$daemon_pid" | head -1)
	local c0 t0 c1 t1
	c0=$(cycles); t0=$(cpu_ns "$daemon_pid" "$tid")
	sleep "$seconds"
	c1=$(cycles); t1=$(cpu_ns "$daemon_pid" "$tid")
	timeout 10 pw-dump bench-driver 2>/dev/null | jq -r '.[0].info.props |
		select(.["utimer.state"] != null) |
		"# \(.["factory.name"]): utimer.state \(.["utimer.state"]), \(.["utimer.triggers"]) triggers, \(.["utimer.errors"]) errors"' >&2
	kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
	if [ -n "$c0" ]; then echo "$((t1 - t0)) $((c1 - c0))"; else echo "$((t1 - t0))"; fi
}
# cpu_ns PID TID: CPU time of the thread in ns; schedstat where the kernel has
# it, else utime + stime from stat (clock-tick resolution).
cpu_ns() {
	if [ -r /proc/"$1"/task/"$2"/schedstat ]; then
		cut -d' ' -f1 /proc/"$1"/task/"$2"/schedstat
	else
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1e9 / hz }' \
			/proc/"$1"/task/"$2"/stat
	fi
}
cycles() {
	timeout 10 pw-dump bench-driver 2>/dev/null | jq -r '.[0].info.props["utimer.cycles"] // empty'
}

# (no process substitution: the VM guest has no /dev/fd)
base=$(run_one support.node.driver) || exit 1
ours=$(run_one api.utimer.driver) || exit 1
read -r base_ns _ <<< "$base"
read -r ours_ns ours_cycles <<< "$ours"
expected=$((seconds * rate / quantum))
awk -v b="$base_ns" -v o="$ours_ns" -v oc="$ours_cycles" -v e="$expected" -v q="$quantum" -v s="$seconds" 'BEGIN {
	printf "quantum %d, %d s, %d cycles expected (%d counted by utimer.cycles)\n", q, s, e, oc
	printf "support.node.driver  data thread %8.0f ns/cycle (baseline)\n", b / e
	printf "api.utimer.driver    data thread %8.0f ns/cycle  ratio %.3f\n", o / oc, (o / oc) / (b / e)
}'
