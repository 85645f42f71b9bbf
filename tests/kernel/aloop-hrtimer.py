#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""snd-aloop clocked by snd-hrtimer (timer_source "-1.3.0"), in a utimer-vm guest.

A global timer whose resolution divides the period time (snd-hrtimer ticks in
nanoseconds) runs the cable: aplay plays a pattern into hw:Loopback,0, arecord
records hw:Loopback,1, and the recording holds the pattern bit-exact with no
xrun. Needs the 6.1 series' snd-aloop (kernel-patches/6.1, "Run on a global
timer that ticks faster than the period"); mainline's snd-aloop refuses to
start on it. TAP output; run as root.
"""
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "pwfixture"))
from pwfixture import Checks, pattern_bytes, pattern_index  # noqa: E402

RATE, CHANNELS, PERIOD, PERIODS = 48000, 2, 1024, 4
SECONDS = 4
FRAME = 2 * CHANNELS
# The loopback suites' pattern: no stretch of it repeats an earlier one (a
# 15-bit counter did: with its start lost, the search found its second lap
# and reported a difference at the end).
PATTERN = pattern_bytes(RATE * SECONDS)

t = Checks()
check = t.check


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def loopback_dir():
    for card in pathlib.Path("/proc/asound").glob("card[0-9]*"):
        if (card / "id").read_text().strip() == "Loopback":
            return card
    return None


def first_sound(data):
    """Where the first non-silent frame is, and which pattern frame it says it is."""
    for i in range(0, len(data) - FRAME + 1, FRAME):
        if data[i:i + FRAME] != bytes(FRAME):
            left = int.from_bytes(data[i:i + 2], "little")
            right = int.from_bytes(data[i + 2:i + 4], "little")
            return f"frame {i // FRAME} = pattern frame {pattern_index(left, right)}"
    return "none"


def capture_running(card, timeout=20.0):
    """arecord starts its stream at its first read: the pattern must not come
    before that, or the cable drops its first periods (nobody captures them)."""
    status = card / "pcm1c" / "sub0" / "status"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "RUNNING" in status.read_text():
            return True
        time.sleep(0.05)
    return False


def main():
    print("TAP version 13", flush=True)
    if not check(run("modprobe", "snd-hrtimer").returncode == 0, "modprobe snd-hrtimer"):
        return
    check(run("modprobe", "snd-aloop").returncode == 0, "modprobe snd-aloop")
    timers = pathlib.Path("/proc/asound/timers").read_text()
    check(re.search(r"^G3: ", timers, re.M) is not None, "snd-hrtimer is global timer 3")
    card = loopback_dir()
    if not check(card is not None, "a Loopback card"):
        return
    (card / "timer_source").write_text("-1.3.0\n")
    check((card / "timer_source").read_text().strip() == "-1.3.0",
          "timer_source -1.3.0 (snd-hrtimer)")
    run("dmesg", "-C")

    params = ["-q", "-t", "raw", "-f", "S16_LE", "-r", str(RATE), "-c", str(CHANNELS),
              f"--period-size={PERIOD}", f"--buffer-size={PERIOD * PERIODS}"]
    with tempfile.TemporaryDirectory() as tmp:
        play, capture = pathlib.Path(tmp, "play.raw"), pathlib.Path(tmp, "capture.raw")
        play.write_bytes(PATTERN)
        # two seconds more than the pattern: its start may come late
        rec = subprocess.Popen(["arecord", "-D", "hw:Loopback,1", *params, "-d",
                                str(SECONDS + 2), str(capture)],
                               stderr=subprocess.PIPE, text=True)
        check(capture_running(card), "arecord's stream runs before aplay starts")
        out = run("aplay", "-D", "hw:Loopback,0", *params, str(play))
        err = rec.communicate(timeout=60)[1]
        check(out.returncode == 0, f"aplay on the hrtimer-clocked cable ({out.stderr.strip()!r})")
        check(rec.returncode == 0, f"arecord on the hrtimer-clocked cable ({err.strip()!r})")
        check("underrun" not in out.stderr and "overrun" not in err, "no xrun on either end")
        data = capture.read_bytes() if capture.exists() else b""
    dmesg = run("dmesg").stdout
    check("snd_timer_start" not in dmesg and "not corresponding to timer resolution" not in dmesg,
          "snd-aloop logged no timer error: "
          + ("; ".join(l for l in dmesg.splitlines() if "aloop" in l) or "none"))
    start = data.find(PATTERN[:FRAME * PERIOD])
    check(start >= 0 and start % FRAME == 0, f"the pattern arrives from its first frame "
          f"({len(data) // FRAME} frames recorded, pattern at frame "
          f"{start // FRAME if start >= 0 else None}, first sound: {first_sound(data)})")
    got = data[start:start + len(PATTERN)] if start >= 0 else b""
    diff = next((i // FRAME for i in range(0, min(len(got), len(PATTERN)), FRAME)
                 if got[i:i + FRAME] != PATTERN[i:i + FRAME]), None)
    check(got == PATTERN, f"bit-exact: {len(got) // FRAME} of {len(PATTERN) // FRAME} frames compared, "
          f"first difference at frame {diff}")
    (card / "timer_source").write_text("\n")


main()
sys.exit(t.done())
