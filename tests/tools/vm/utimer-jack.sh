#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# utimer-jack under PipeWire's JACK (pw-jack): one trigger per process cycle
# drives snd-aloop (capture hw_ptr == triggers * period); a quantum change
# makes a new timer with the new period's resolution; exit restores the card.
# Usage: utimer-jack.sh UTIMER_JACK
. "$(dirname "$0")/common.sh"
utimer_jack=$1
load_aloop
mkdir -p "$work/run" "$work/home"
export XDG_RUNTIME_DIR="$work/run" PIPEWIRE_RUNTIME_DIR="$work/run" HOME="$work/home" PIPEWIRE_REMOTE=pipewire-0
# The configuration from the one PipeWire fixture (tests/pwfixture).
python3 "$(dirname "$0")/../../pwfixture/pwfixture.py" config \
	default.clock.min-quantum=64 default.clock.max-quantum=1024 \
	--object '{"factory": "spa-node-factory", "args": {"factory.name": "support.node.driver",
	  "node.name": "Dummy-Driver", "node.group": "pipewire.dummy", "priority.driver": 20000}}' \
	>"$work/pw.conf" || fail "pwfixture.py config failed"
pipewire -c "$work/pw.conf" >"$work/pipewire.log" 2>&1 &
children+=($!)
wait_until 20 pw-cli info 0 >/dev/null 2>&1 || fail "pipewire did not start: $(cat "$work/pipewire.log")"

pw-jack "$utimer_jack" --aloop Loopback >"$work/jack.out" 2>"$work/jack.err" &
jack=$!
children+=($jack)
wait_until 20 has_startup_line "$work/jack.out" || fail "no startup line: $(cat "$work/jack.out" "$work/jack.err")"
cat "$work/jack.out"
id=$(startup_id "$work/jack.out")
grep -q "^utimer id=$id timer_source=-1.4.$id resolution=5333333 rate=48000 period=256 aloop=card[0-9]*:Loopback$" "$work/jack.out" ||
	fail "startup line: $(cat "$work/jack.out")"
[ "$(cat /proc/asound/Loopback/timer_source)" = "-1.4.$id" ] || fail "timer_source is '$(cat /proc/asound/Loopback/timer_source)'"

# The loopback runs at the JACK graph's pace: 2 s of capture at period 256.
# Non-blocking (-N): a TCG guest on a loaded host can stall longer than the
# PCM core's 100 ms wait on 6.12, which fails a blocking read with EIO.
arecord -N -q -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 --period-size=256 --buffer-size=4096 -d 2 \
	-t raw "$work/cap.raw" 2>"$work/arecord.err" || fail "arecord on the JACK-clocked loopback: $(cat "$work/arecord.err")"
[ "$(stat -c %s "$work/cap.raw")" = $((96000 * 4)) ] || fail "arecord wrote $(stat -c %s "$work/cap.raw") bytes"
note "2 s captured from the loopback clocked by JACK cycles"

# A quantum change: a new timer for period 512.
pw-metadata -n settings 0 clock.force-quantum 512 >/dev/null
wait_until 20 grep -q "resolution=10666666 rate=48000 period=512" "$work/jack.out" ||
	fail "no new timer after the quantum change: $(cat "$work/jack.out")"
id2=$(sed -n 's/^utimer id=\([0-9]*\) .*period=512.*/\1/p' "$work/jack.out" | head -n1)
[ "$(cat /proc/asound/Loopback/timer_source)" = "-1.4.$id2" ] || fail "timer_source after the change: '$(cat /proc/asound/Loopback/timer_source)'"
arecord -N -q -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 --period-size=512 --buffer-size=4096 -d 1 \
	-t raw "$work/cap2.raw" 2>"$work/arecord2.err" || fail "arecord at period 512: $(cat "$work/arecord2.err")"
note "quantum 256 -> 512: timer $id -> $id2, loopback follows"

kill -TERM $jack
wait $jack || fail "utimer-jack exited $?: $(cat "$work/jack.err")"
grep -q "^utimer triggers=[1-9][0-9]* errors=0$" "$work/jack.out" || fail "final line: $(tail -n1 "$work/jack.out")"
[ -z "$(cat /proc/asound/Loopback/timer_source)" ] || fail "timer_source not restored: '$(cat /proc/asound/Loopback/timer_source)'"

# --count: stops by itself; bad arguments: exit 2.
pw-jack "$utimer_jack" --count 100 >"$work/count.out" 2>&1 || fail "--count 100 exited $?: $(cat "$work/count.out")"
grep -q "^utimer triggers=100 errors=0$" "$work/count.out" || fail "--count: $(cat "$work/count.out")"
set +e
"$utimer_jack" --count zero >"$work/bad.out" 2>&1
st=$?
set -e
[ $st = 2 ] && grep -q "utimer-jack: --count 'zero': expected a positive integer" "$work/bad.out" ||
	fail "bad --count: status $st, $(cat "$work/bad.out")"
echo "PASS: utimer-jack ($UTIMER_KERNEL)"
