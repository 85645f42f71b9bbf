#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Clock sources: --count N triggers at the fixed rate and exits 0; ticks are
# never early (N periods take at least N * period); bad arguments change nothing.
# Usage: utimerctl-clock.sh UTIMERCTL
. "$(dirname "$0")/common.sh"
utimerctl=$1
load_aloop

for clock in monotonic realtime boottime tai; do
	t0=$(date +%s%N)
	"$utimerctl" run --rate 48000 --period 480 --source clock:$clock --count 100 >"$work/$clock.out" ||
		fail "clock:$clock exited $?"
	t1=$(date +%s%N)
	grep -q "^utimer id=[0-9]* timer_source=-1.4.[0-9]* resolution=10000000 source=clock:$clock$" "$work/$clock.out" ||
		fail "clock:$clock startup: $(cat "$work/$clock.out")"
	grep -q "triggers=100$" "$work/$clock.out" || fail "clock:$clock: $(tail -n1 "$work/$clock.out")"
	# 100 periods of 10 ms: never less than one second.
	[ $((t1 - t0)) -ge 1000000000 ] || fail "clock:$clock: 100 ticks of 10 ms in $(((t1 - t0) / 1000000)) ms"
	note "clock:$clock: 100 x 10 ms in $(((t1 - t0) / 1000000)) ms"
done

# A loopback clocked from a fixed-rate clock source: capture runs, advancing in
# whole periods.
"$utimerctl" run --rate 48000 --period 256 --aloop Loopback >"$work/ctl.out" 2>&1 &
ctl=$!
children+=($ctl)
wait_until 10 has_startup_line "$work/ctl.out" || fail "no startup line"
arecord -q -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 --period-size=256 --buffer-size=2048 -d 2 \
	-t raw "$work/cap.raw" || fail "arecord on the utimer-clocked loopback failed"
size=$(stat -c %s "$work/cap.raw")
[ "$size" = $((96000 * 4)) ] || fail "arecord -d 2 wrote $size bytes"
ptr=$(capture_hw_ptr || true)
kill -TERM $ctl; wait $ctl || fail "utimerctl exited $? on SIGTERM"
note "2 s recorded from the clock-driven loopback"

# Bad arguments: exit 2, the message names the argument, no timer is created.
set +e
"$utimerctl" run --rate 48000 --period 256 --aloop NoSuchCard >"$work/bad.out" 2>&1
st=$?
set -e
[ $st = 2 ] || fail "--aloop NoSuchCard exited $st (expected 2: bad argument)"
grep -q "Loopback" "$work/bad.out" || fail "--aloop NoSuchCard message does not list the loopback cards: $(cat "$work/bad.out")"
[ -z "$(cat /proc/asound/Loopback/timer_source)" ] || fail "timer_source changed by a failed run"
set +e
"$utimerctl" run --rate abc --period 256 >"$work/bad2.out" 2>&1
st=$?
set -e
[ $st = 2 ] || fail "--rate abc exited $st"
"$utimerctl" list | grep -q "^no userspace-driven timers$" || fail "timers left behind"
echo "PASS: utimerctl-clock ($UTIMER_KERNEL)"
