#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# utimerctl run --aloop drives snd-aloop: each trigger (one line on stdin) moves
# exactly one period to arecord on the capture side; the card's timer_source
# points at the timer while utimerctl runs and is restored after.
# Usage: utimerctl-aloop.sh UTIMERCTL
. "$(dirname "$0")/common.sh"
utimerctl=$1
load_aloop
[ -z "$(cat /proc/asound/Loopback/timer_source)" ] || fail "timer_source not empty at start"

"$utimerctl" probe || fail "utimerctl probe: not supported on $UTIMER_KERNEL"

mkfifo "$work/lines"
"$utimerctl" run --rate 48000 --period 256 --aloop Loopback --source stdin-lines \
	<"$work/lines" >"$work/ctl.out" 2>"$work/ctl.err" &
ctl=$!
children+=($ctl)
exec 3>"$work/lines"
wait_until 10 has_startup_line "$work/ctl.out" || fail "no startup line: $(cat "$work/ctl.out" "$work/ctl.err")"
cat "$work/ctl.out"
id=$(startup_id "$work/ctl.out")
grep -q "^utimer id=$id timer_source=-1.4.$id resolution=5333333 source=stdin-lines aloop=card[0-9]*:Loopback$" "$work/ctl.out" ||
	fail "startup line: $(cat "$work/ctl.out")"
[ "$(cat /proc/asound/Loopback/timer_source)" = "-1.4.$id" ] || fail "timer_source is '$(cat /proc/asound/Loopback/timer_source)'"

"$utimerctl" list >"$work/list"
cat "$work/list"
grep -Eq "^$id +snd-utimer$id +5333333 " "$work/list" || fail "utimerctl list does not show timer $id"

# -N: blocking reads fail after max(100 ms, 1.1 buffer times) without a period
# (6.12's snd_pcm wait timeout); the stdin/UDP sources pause longer than that.
arecord -q -N -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 --period-size=256 --buffer-size=2048 \
	-t raw "$work/cap.raw" 2>"$work/arecord.err" &
rec=$!
children+=($rec)
wait_until 10 capture_running || fail "capture not running: $(cat "$work/arecord.err"; cat $capture_status)"
[ "$(capture_hw_ptr)" = 0 ] || fail "capture moved before any trigger: hw_ptr $(capture_hw_ptr)"

# 3 lines in one write, then 47 in writes of up to 4 lines: 50 periods. (More
# than the 8-period buffer at once would overrun the capture.)
printf 'a\nb\nc\n' >&3
wait_until 10 hw_ptr_is 768 || fail "after 3 triggers hw_ptr is $(capture_hw_ptr), expected 768"
sent=3
while [ $sent -lt 50 ]; do
	n=$((50 - sent < 4 ? 50 - sent : 4))
	printf '%s\n' $(seq $n) >&3
	sent=$((sent + n))
	wait_until 10 hw_ptr_is $((sent * 256)) || fail "after $sent triggers hw_ptr is $(capture_hw_ptr), expected $((sent * 256))"
done
sleep 0.5
hw_ptr_is 12800 || fail "capture moved without triggers: hw_ptr $(capture_hw_ptr)"
note "50 triggers -> hw_ptr $(capture_hw_ptr) frames (50 periods of 256)"

kill -INT $rec
wait $rec || true
size=$(stat -c %s "$work/cap.raw")
[ "$size" = $((12800 * 4)) ] || fail "arecord wrote $size bytes, expected $((12800 * 4))"

exec 3>&-   # end of input: utimerctl exits 0
wait $ctl || fail "utimerctl exited $?: $(cat "$work/ctl.err")"
grep -q "^utimer id=$id triggers=50$" "$work/ctl.out" || fail "final line: $(tail -n1 "$work/ctl.out")"
[ -z "$(cat /proc/asound/Loopback/timer_source)" ] || fail "timer_source not restored: '$(cat /proc/asound/Loopback/timer_source)'"
"$utimerctl" list | grep -q "^no userspace-driven timers$" || fail "timer $id still listed after exit"
echo "PASS: utimerctl-aloop ($UTIMER_KERNEL)"
