#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The network case: datagrams sent to 127.0.0.1 trigger the timer, one trigger
# per N payload bytes, and drive the loopback; SIGTERM ends it cleanly.
# Usage: utimerctl-udp.sh UTIMERCTL
. "$(dirname "$0")/common.sh"
utimerctl=$1
load_aloop
port=9999

"$utimerctl" run --rate 48000 --period 256 --aloop Loopback --source udp:$port:1000 \
	>"$work/ctl.out" 2>"$work/ctl.err" &
ctl=$!
children+=($ctl)
wait_until 10 has_startup_line "$work/ctl.out" || fail "no startup line: $(cat "$work/ctl.out" "$work/ctl.err")"
cat "$work/ctl.out"
id=$(startup_id "$work/ctl.out")
grep -q "source=udp:$port " "$work/ctl.out" || fail "startup line lacks source=udp:$port"

# -N: blocking reads fail after max(100 ms, 1.1 buffer times) without a period
# (6.12's snd_pcm wait timeout); the stdin/UDP sources pause longer than that.
arecord -q -N -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 --period-size=256 --buffer-size=2048 \
	-t raw /dev/null 2>"$work/arecord.err" &
rec=$!
children+=($rec)
wait_until 10 capture_running || fail "capture not running: $(cat "$work/arecord.err")"

payload=$(printf '%0300d' 0)
send() { printf '%s' "${payload:0:$1}" >/dev/udp/127.0.0.1/$port; }
# 20 x 300 bytes = 6000 bytes = 6 triggers; then 999 bytes: still 6; 1 more: 7.
for i in $(seq 20); do send 300; done
wait_until 10 hw_ptr_is $((6 * 256)) || fail "after 6000 bytes hw_ptr is $(capture_hw_ptr), expected $((6 * 256))"
for i in 1 2 3; do send 300; done
send 99
sleep 0.5
hw_ptr_is $((6 * 256)) || fail "999 pending bytes triggered: hw_ptr $(capture_hw_ptr)"
send 1
wait_until 10 hw_ptr_is $((7 * 256)) || fail "after 7000 bytes hw_ptr is $(capture_hw_ptr), expected $((7 * 256))"
note "7000 bytes in 25 datagrams -> 7 periods"

kill $rec; wait $rec || true
kill -TERM $ctl
wait $ctl || fail "utimerctl exited $? on SIGTERM: $(cat "$work/ctl.err")"
grep -q "^utimer id=$id triggers=7$" "$work/ctl.out" || fail "final line: $(tail -n1 "$work/ctl.out")"
[ -z "$(cat /proc/asound/Loopback/timer_source)" ] || fail "timer_source not restored after SIGTERM"

# Per-datagram mode with --count: exits by itself after 5 datagrams.
"$utimerctl" run --resolution 1000000 --source udp:$port --count 5 >"$work/ctl2.out" 2>&1 &
ctl2=$!
children+=($ctl2)
wait_until 10 has_startup_line "$work/ctl2.out" || fail "no startup line (per datagram)"
for i in $(seq 8); do send 10; done
wait $ctl2 || fail "utimerctl --count 5 exited $?"
grep -q "triggers=5$" "$work/ctl2.out" || fail "per-datagram: $(cat "$work/ctl2.out")"

# A port in use: clear error, exit 1, nothing left behind.
"$utimerctl" run --resolution 1000000 --source udp:$port >"$work/ctl3.out" 2>&1 &
ctl3=$!
children+=($ctl3)
wait_until 10 has_startup_line "$work/ctl3.out" || fail "no startup line (third)"
"$utimerctl" run --resolution 1000000 --source udp:$port >"$work/busy.out" 2>&1 && fail "second bind of udp:$port succeeded"
grep -q "bind UDP port $port" "$work/busy.out" || fail "busy port message: $(cat "$work/busy.out")"
kill -INT $ctl3; wait $ctl3 || fail "utimerctl exited $? on SIGINT"
echo "PASS: utimerctl-udp ($UTIMER_KERNEL)"
