#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo's guest part (tools/demo runs it with tools/vm/utimer-vm): the seed
# test app, then the mission twice -- snd-aloop on its default jiffies timer and
# on a userspace-driven timer ticked by PipeWire's api.utimer.driver -- with the
# graph clock skewed against the system clock.
#
# Usage: guest.sh BUILD_DIR OUT_DIR SECONDS [TEST_APP]
# (DEMO_WARMUP: seconds the graph runs before measuring, default 20, so that
# the driver's clock tracking has locked to CLOCK_MONOTONIC_RAW.)
# OUT_DIR holds pattern.raw (made by tools/demo) and receives, per mode:
# drift-MODE.tsv, result-MODE.env and the logs.
#
# The skew: the driver node paces the graph by CLOCK_MONOTONIC_RAW
# (clock.id = monotonic-raw) while adjtimex makes the system clock
# (CLOCK_MONOTONIC, which jiffies follow) run 500 ppm fast. The skew is known
# and exact: NTP frequency offset is what a real system clock does when it is
# disciplined against a reference that is not the audio clock.
set -u
build=$1 out=$2 seconds=$3 test_app=${4:-}
rate=48000 period=${DEMO_PERIOD:-1024} buffer_periods=256
skew_ppm=500
warmup=${DEMO_WARMUP:-20}
plugin_dir=$build/spa-plugin
drift_monitor=$build/tools/demo.d/drift-monitor
pace=$(dirname "${BASH_SOURCE[0]}")/pace.py
spa_dir=$(pkg-config --variable=plugindir libspa-0.2 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/spa-0.2)
work=$(mktemp -d /tmp/demo.XXXXXX)
daemon_pid=
bg_pids=()

say() { echo "demo: $*"; }
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	stop_daemon
}
stop_daemon() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
	fi
}
trap cleanup EXIT

# A TCG guest whose TSC calibration failed (it depends on host load) runs on
# the refined-jiffies clocksource: every clock then moves in 4 ms steps and
# timing results are meaningless. Exit 3 so the host boots again.
clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)
case $clocksource in
*jiffies*) [ -n "${DEMO_ANY_CLOCKSOURCE:-}" ] || { echo "demo: guest clocksource is $clocksource (TSC calibration failed): booting again"; exit 3; } ;;
esac
echo "$clocksource" >"$out/clocksource.txt"

# ---- 1. the seed test app ---------------------------------------------------
if [ -n "$test_app" ] && [ -x "$test_app" ]; then
	say "seed test app ($test_app):"
	"$test_app" 2>&1 | tee "$out/test-app.log"
	echo "test_app_status=${PIPESTATUS[0]}" >"$out/test-app.env"
else
	say "seed test app not built (tools/test-app): skipped"
	echo "test_app_status=skipped" >"$out/test-app.env"
fi

# ---- 2. the mission ---------------------------------------------------------
mkdir -p "$work/plugins" "$work/run" "$work/home" "$work/config"
# An installed pipewire-utimer would shadow the plugin under test: leave its utimer/ out.
for d in "$spa_dir"/*/; do [ "$(basename "$d")" = utimer ] || ln -s "$d" "$work/plugins/$(basename "$d")"; done
ln -s "$(realpath "$plugin_dir")" "$work/plugins/utimer"
export HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_RUNTIME_DIR="$work/run"
export PIPEWIRE_RUNTIME_DIR="$work/run" SPA_PLUGIN_DIR="$work/plugins" PIPEWIRE_REMOTE=pipewire-0
unset PIPEWIRE_CONFIG_DIR PIPEWIRE_DEBUG

prop() {
	timeout 20 pw-dump 2>/dev/null | jq -r --arg n "$1" --arg k "$2" \
		'.[] | select(.type == "PipeWire:Interface:Node" and .info.props["node.name"] == $n)
		     | .info.props[$k] | if . == null then "" else tostring end'
}

# The node's counters are in its Props param (a flat key, value list), not
# in its properties.
counter() {
	timeout 20 pw-dump 2>/dev/null | jq -r --arg n "$1" --arg k "$2" \
		'.[] | select(.type == "PipeWire:Interface:Node" and .info.props["node.name"] == $n)
		     | .info.params.Props[0].params as $p
		     | [range(0; $p | length; 2) | select($p[.] == $k) | $p[. + 1]] | first // empty'
}

write_config() {  # MODE FILE
	local bind= shared_clock=
	if [ "$1" = utimer ]; then
		bind="api.utimer.aloop.card = Loopback"
		# The loopback IS clocked by the driver: say so, and PipeWire's ALSA
		# node does no rate matching (same clock.name as the driver).
		shared_clock="clock.name = utimer.demo"
	fi
	# The baseline's headroom: snd-aloop on jiffies moves its pointer in
	# 4 ms steps (HZ=250: 192 frames), so at a cycle's start the capture holds
	# target +- 192 frames. PipeWire 0.3.65's ALSA follower reads nothing in a
	# cycle that finds fewer than it wants and then sees the doubled backlog
	# as an error clipped to max_error (512): each step short is one clipped
	# -512, never matched on the other side, and its DLL climbs (with the
	# C DSP code below and no headroom still +0.008 per 3 s sample, 1.026 ->
	# 1.125; with a period of headroom it stays at 0.98..1.02, median 1.000).
	# PipeWire gives a
	# period of headroom to batch devices, whose pointer moves in steps for
	# the same reason; snd-aloop does not say it is one, so the demo does.
	local headroom=
	[ "$1" = jiffies ] && headroom="api.alsa.headroom = ${DEMO_HEADROOM:-$period}"
	cat >"$2" <<CONF
context.properties = {
    core.daemon = true
    core.name = pipewire-0
    support.dbus = false
    default.clock.rate = $rate
    default.clock.allowed-rates = [ $rate ]
    default.clock.quantum = $period
    default.clock.min-quantum = $period
    default.clock.max-quantum = $period
}
context.spa-libs = {
    audio.convert.* = audioconvert/libspa-audioconvert
    support.*       = support/libspa-support
    api.alsa.*      = alsa/libspa-alsa
    api.utimer.*    = utimer/libspa-utimer
}
context.modules = [
    # Real-time data thread (root in the guest: no RTKit needed), as on a desktop.
    { name = libpipewire-module-rt args = { nice.level = -11 rt.prio = 88 } flags = [ ifexists nofail ] }
    { name = libpipewire-module-protocol-native }
    { name = libpipewire-module-metadata }
    { name = libpipewire-module-spa-node-factory }
    { name = libpipewire-module-client-node }
    { name = libpipewire-module-access args = { } }
    { name = libpipewire-module-adapter }
    { name = libpipewire-module-link-factory }
]
context.objects = [
    { factory = spa-node-factory
        args = {
            factory.name     = api.utimer.driver
            node.name        = utimer-driver
            node.group       = demo
            priority.driver  = 30000
            clock.id         = monotonic-raw
            clock.name       = utimer.demo
            api.utimer.rate   = $rate
            api.utimer.period = $period
            $bind
        }
    }
    { factory = adapter
        args = {
            factory.name     = api.alsa.pcm.source
            node.name        = loopback-capture
            media.class      = Audio/Source
            api.alsa.path    = "hw:Loopback,1"
            audio.format     = S16LE
            audio.rate       = $rate
            audio.channels   = 2
            audio.position   = [ FL FR ]
            api.alsa.period-size = $period
            node.group       = demo
            priority.driver  = 1000
            $shared_clock
            $headroom
            adapter.auto-port-config = { mode = dsp monitor = false position = preserve }
        }
    }
]
CONF
}

run_mode() {  # MODE
	local mode=$1
	local log=$out/pipewire-$mode.log
	say "---- $mode: snd-aloop on the $([ "$mode" = utimer ] && echo "utimer ticked by the graph" || echo "jiffies timer (default)")"
	modprobe -r snd-aloop 2>/dev/null
	modprobe snd-aloop pcm_substreams=1 || { say "modprobe snd-aloop failed"; return 1; }
	write_config "$mode" "$work/$mode.conf"
	# PIPEWIRE_CPU (in a TCG guest, as the tests' pwfixture does): PipeWire's
	# plain C DSP code, not its AVX2/FMA versions. TCG emulates those through softfloat: in this guest spa-resample took
	# 17.4 s for 10 s of audio with them, 1.5 s in C (same filter, same
	# quality). With them the baseline's ALSA source -- the one node that
	# resamples, to match rates -- took 50-110 ms per 21 ms cycle, the graph
	# fell to half of real time, the jiffies-paced loopback then always held
	# more than the DLL's max_error above target, and its rate ramped by its
	# maximum slope (the issue's 1.076625 1.099145 1.122253 ..., 0.023 per 3 s
	# sample): a runaway, not rate matching.
	local cpu=${DEMO_PIPEWIRE_CPU-}
	[ -n "$cpu" ] || [ "${UTIMER_VM_ACCEL:-tcg}" != tcg ] || cpu=0
	env ${cpu:+PIPEWIRE_CPU=$cpu} PIPEWIRE_DEBUG="2,spa.alsa:4" \
		pipewire -c "$work/$mode.conf" >"$log" 2>&1 &
	daemon_pid=$!
	local i
	for i in $(seq 100); do timeout 5 pw-cli info 0 >/dev/null 2>&1 && break; sleep 0.2; done
	local id state
	id=$(prop utimer-driver api.utimer.id)
	state=$(prop utimer-driver api.utimer.state)
	say "driver: api.utimer.state=$state api.utimer.id=$id timer_source(Loopback)='$(cat /proc/asound/Loopback/timer_source)'"
	[ -n "$id" ] || { say "the driver has no timer: $(prop utimer-driver api.utimer.error)"; return 1; }

	# The legacy player on the loopback's playback side; a big buffer so it
	# survives the seconds before the graph runs.
	aplay -D hw:Loopback,0 -f S16_LE -c 2 -r $rate --period-size=$period \
		--buffer-size=$((period * buffer_periods)) -t raw "$out/pattern.raw" 2>"$out/aplay-$mode.err" &
	local aplay_pid=$!
	bg_pids+=($aplay_pid)
	# The recorder on the capture side, through PipeWire's ALSA source.
	pw-record --target 0 --rate $rate --channels 2 --format s16 \
		-P '{ node.name = demo-record adapter.auto-port-config = { mode = dsp } }' \
		"$out/record-$mode.wav" 2>"$out/pw-record-$mode.err" &
	local rec_pid=$!
	bg_pids+=($rec_pid)
	sleep 2
	pw-link loopback-capture:capture_FL demo-record:input_FL &&
		pw-link loopback-capture:capture_FR demo-record:input_FR ||
		say "linking the ALSA source to pw-record failed"
	say "graph running; ${warmup}s for the driver to lock to MONOTONIC_RAW, then ${seconds}s measured"
	sleep "$warmup"
	# The host notes when each mark appears (tools/demo.d/pace.py): the
	# report compares the guest's clock with the host's over the window.
	python3 "$pace" mark "$out" "$mode-start"
	"$drift_monitor" "$id" $period /proc/asound/Loopback/pcm1c/sub0/status "$seconds" 500 \
		>"$out/drift-$mode.tsv" 2>"$out/drift-$mode.err"
	python3 "$pace" mark "$out" "$mode-end"
	kill -INT $rec_pid $aplay_pid 2>/dev/null
	wait $rec_pid $aplay_pid 2>/dev/null
	bg_pids=()
	local triggers late_cycles
	triggers=$(counter utimer-driver api.utimer.triggers)
	late_cycles=$(counter utimer-driver api.utimer.late-cycles)
	stop_daemon

	# Results, as shell assignments for the host side.
	local xrun_pw xrun_aplay rates matching
	xrun_pw=$(grep -ci 'xrun' "$log")
	xrun_aplay=$(grep -ciE 'underrun|overrun' "$out/aplay-$mode.err")
	rates=$(grep -o 'hw:Loopback,1: follower:[01] match:[01] rate:[0-9.]*' "$log" | sed 's/.*rate://' | tail -n +3)
	matching=$(grep -o "our clock:.*matching:[01] resample:[01]" "$log" | tail -1)
	python3 - "$out/pattern.raw" "$out/record-$mode.wav" >"$out/compare-$mode.txt" 2>&1 <<'PY'
# Every recorded frame must be the pattern frame its markers name (frame i =
# (i & 0x7fff | 0x8000, (i >> 15) | 0x4000)) and follow the previous one. A
# forward jump is a gap: frames the recording client lost (a late pw-record
# misses a cycle's buffer); anything else -- values the pattern does not have,
# as resampling makes -- means not bit-exact.
import array, sys, wave
pat = array.array("H"); pat.frombytes(open(sys.argv[1], "rb").read())
w = wave.open(sys.argv[2], "rb")
rec = array.array("H"); rec.frombytes(w.readframes(w.getnframes()))
n = len(rec) // 2
def index(l, r):
    return (l & 0x7fff) | ((r & 0x3fff) << 15) if l & 0x8000 and (r & 0xc000) == 0x4000 else None
# Both channels are linked one after the other: start where both carry markers.
start = next((i for i in range(n) if index(rec[2 * i], rec[2 * i + 1]) is not None), None)
if start is None:
    print("bitexact=no compared=0 gaps=0 lost=0 first_diff=no-pattern-found"); sys.exit()
expect = index(rec[2 * start], rec[2 * start + 1])
gaps = lost = compared = 0
first_diff = "-"
for i in range(start, n):
    l, r = rec[2 * i], rec[2 * i + 1]
    j = index(l, r)
    if j is not None and j > expect and 2 * j + 1 < len(pat) and pat[2 * j] == l and pat[2 * j + 1] == r:
        gaps += 1; lost += j - expect; expect = j
    if 2 * expect + 1 >= len(pat):
        if compared == 0:
            first_diff = 0  # the markers name no frame of the pattern
        break
    if (l, r) != (pat[2 * expect], pat[2 * expect + 1]):
        if l == 0 and r == 0 and all(x == 0 for x in rec[2 * i:]):
            break  # the recorder ran on after the player stopped
        first_diff = i - start
        break
    compared += 1
    expect += 1
ok = first_diff == "-" and compared > 48000
print(f"bitexact={'yes' if ok else 'no'} compared={compared} gaps={gaps} lost={lost} first_diff={first_diff}")
PY
	{
		echo "mode=$mode"
		echo "rate=$rate"
		echo "period=$period"
		echo "timer_id=$id"
		echo "triggers=$triggers"
		echo "late_cycles=$late_cycles"
		echo "xruns_pipewire=$xrun_pw"
		echo "xruns_aplay=$xrun_aplay"
		echo "rate_samples='$(echo $rates)'"
		echo "matching='$matching'"
		sed 's/ /\n/g' "$out/compare-$mode.txt" | grep '='
	} >"$out/result-$mode.env"
	cat "$out/result-$mode.env"
	modprobe -r snd-aloop 2>/dev/null
}

say "system clock skew: adjtimex frequency +$skew_ppm ppm (CLOCK_MONOTONIC, jiffies); graph on CLOCK_MONOTONIC_RAW"
adjtimex --frequency $((skew_ppm * 65536)) >/dev/null || say "adjtimex failed"
adjtimex --print | grep -E '^ *frequency' | sed 's/^/demo: /'
run_mode jiffies
run_mode utimer
adjtimex --frequency 0 >/dev/null
