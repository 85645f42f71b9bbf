#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tools/bench's guest part: the measurements on one kernel.
# Usage: guest.sh BUILD_DIR OUT_DIR
# (BENCH_PARTS: which parts, default all; BENCH_LOOPBACK_SECONDS: seconds per
# loopback latency run, default 60.)
set -u
build=$1 out=$2
parts=" ${BENCH_PARTS:-trigger-cost latency scale cycle-cost loopback} "
bench=$build/tools/bench.d/utimer-bench
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# A TCG guest whose TSC calibration failed (it depends on host load) runs on
# the refined-jiffies clocksource: every clock then moves in 4 ms steps and
# timing results are meaningless. Exit 3 so the host boots again.
clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)
case $clocksource in
*jiffies*)
	# utimer-bench stamps with the TSC, so its numbers hold; the PipeWire
	# cycle cost (timer-paced, 1.3 ms cycles) does not: skipped below.
	[ -n "${BENCH_ANY_CLOCKSOURCE:-}" ] || { echo "bench: guest clocksource is $clocksource (TSC calibration failed): booting again"; exit 3; } ;;
esac
echo "bench: kernel $(uname -r) ($UTIMER_KERNEL), clocksource $clocksource"
# The host notes when the marks appear (tools/demo.d/pace.py): the report
# checks the guest's clock against the host's over the whole run.
pace=$repo/tools/demo.d/pace.py
python3 "$pace" mark "$out" bench-start
echo "$(uname -r) $clocksource" >"$out/kernel.txt"
modprobe snd-aloop enable=1,1 pcm_substreams=8,8 || { echo "bench: modprobe snd-aloop failed"; exit 1; }
for what in trigger-cost latency scale; do
	[[ $parts == *" $what "* ]] || continue
	echo "bench: $what"
	"$bench" "$what" | tee "$out/$what.jsonl"
done
cycle=$repo/spa-plugin/bench/cycle-cost.py
if [[ $parts != *" cycle-cost "* ]]; then
	:
elif [[ $clocksource == *jiffies* ]]; then
	echo "bench: clocksource $clocksource (4 ms steps): PipeWire cycle cost skipped" | tee "$out/cycle-cost.txt"
elif [ -x "$cycle" ] && [ -f "$build/spa-plugin/libspa-utimer.so" ]; then
	echo "bench: PipeWire cycle cost ($cycle)"
	# quantum 64 at 48 kHz: 750 cycles/s, 10 s per driver.
	"$cycle" "$build/spa-plugin" 10 64 48000 2>&1 | tee "$out/cycle-cost.txt"
else
	echo "bench: spa-plugin/bench/cycle-cost.py or the plugin is missing: PipeWire cycle cost skipped" |
		tee "$out/cycle-cost.txt"
fi
if [[ $parts == *" loopback "* ]]; then
	if [[ $clocksource == *jiffies* ]]; then
		echo "bench: clocksource $clocksource (4 ms steps): loopback latency skipped" | tee "$out/loopback.txt"
	else
		modprobe -r snd-aloop
		python3 "$repo/tools/bench.d/loopback.py" "$build" "$out" "${BENCH_LOOPBACK_SECONDS:-60}"
	fi
fi
python3 "$pace" mark "$out" bench-end
