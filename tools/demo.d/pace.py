#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Did the guest keep up? tools/demo and tools/bench refuse to print numbers
from a run where it did not.

A TCG guest on a loaded host falls behind: its PipeWire graph makes fewer
cycles than real time asks for (the issue's jiffies run: 570 cycles of 1024
frames in 29 s, 42 % of real time), or its clocks stop agreeing with the
host's. Numbers measured in such a run describe the host's load, not the
timers -- when the host was busy. Two checks:

  graph    graph cycles x period / rate against the guest's CLOCK_MONOTONIC_RAW
           over the measured window (drift-monitor's rows: seconds, ticks, ...)
  clocks   the guest's CLOCK_MONOTONIC_RAW against the host's CLOCK_MONOTONIC
           between two marks: the guest creates OUT/marks/NAME (holding its
           clock readings), the host's watcher notes when each appears.

When a check fails, the reports say why from what was measured: the watcher
also notes the host's 1-minute load and CPU ticks (idle, total) at each mark,
so host_busy() tells a busy host (little idle CPU over the window) from a
guest that fell behind for its own reasons (tools/demo's report names those it
measured, e.g. the baseline's rate runaway). A TCG guest falls behind for its
own reasons too: in the issue's quiet run it was the guest's AVX2/FMA code.

Usage:
  pace.py watch OUT          (host, in the background while the VM runs; stops
                              on SIGTERM) -> OUT/host-marks.tsv
  pace.py mark OUT NAME      (guest) -> OUT/marks/NAME
"""
from __future__ import annotations

import os
import signal
import sys
import time

# A healthy run: the driver paces the graph by MONOTONIC_RAW, so it is exact
# to a cycle (21 ms of 30 s at 1024 frames, 0.07 %).
GRAPH_TOLERANCE = 0.01
# A mark is timed to tens of ms under load (the guest's process start, a 9p
# round trip, the watcher's 5 ms poll): a loaded run measured +1938 and
# +3304 ppm over 26 s windows. What this check is for -- a guest clock that
# stalls or loses ticks -- shows as percent-level errors.
CLOCK_TOLERANCE_PPM = 5000
POLL_S = 0.005


def host_load() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def host_cpu_ticks() -> str:
    """'idle,total' of the host's CPUs since boot (/proc/stat, in USER_HZ):
    between two marks, how much of the host was left idle."""
    try:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    except (OSError, ValueError):
        return "?"
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return f"{idle},{sum(fields[:8])}"


def watch(out: str) -> None:
    marks = os.path.join(out, "marks")
    os.makedirs(marks, exist_ok=True)
    seen: set[str] = set(os.listdir(marks))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(os.path.join(out, "host-marks.tsv"), "a") as tsv:
        tsv.write(f"# name host_monotonic_s host_load1 host_idle,total_ticks (started {time.time():.0f}, "
                  f"cpus={os.cpu_count()})\n")
        tsv.flush()
        while not stop:
            try:
                names = os.listdir(marks)
            except OSError:
                names = []
            now = time.clock_gettime(time.CLOCK_MONOTONIC)
            for name in names:
                if name not in seen and not name.startswith("."):
                    seen.add(name)
                    tsv.write(f"{name} {now:.6f} {host_load()} {host_cpu_ticks()}\n")
                    tsv.flush()
            time.sleep(POLL_S)


def mark(out: str, name: str) -> None:
    marks = os.path.join(out, "marks")
    os.makedirs(marks, exist_ok=True)
    raw = time.clock_gettime(time.CLOCK_MONOTONIC_RAW)
    mono = time.clock_gettime(time.CLOCK_MONOTONIC)
    # Written under a hidden name and renamed: the watcher sees it whole, and
    # at once after the reading.
    tmp = os.path.join(marks, "." + name)
    with open(tmp, "w") as f:
        f.write(f"raw={raw:.6f} monotonic={mono:.6f}\n")
    os.rename(tmp, os.path.join(marks, name))


# ---- checks (report.py of demo and bench) --------------------------------------

class Verdict:
    """ok, the measured value, and one sentence for the report."""

    def __init__(self, ok: bool, value: float | None, text: str):
        self.ok, self.value, self.text = ok, value, text


def graph_check(rows: list[tuple[float, int]], period: int, rate: int, label: str) -> Verdict:
    """rows: (guest seconds since the window began, graph cycles since then)."""
    if len(rows) < 2 or rows[-1][0] <= 0:
        return Verdict(False, None, f"{label}: no graph cycles were measured (drift-monitor "
                                    "recorded no window)")
    seconds, cycles = rows[-1]
    audio = cycles * period / rate
    share = audio / seconds
    text = (f"{label}: the graph made {cycles} cycles of {period} frames in {seconds:.1f} s "
            f"= {audio:.1f} s of audio ({share * 100:.1f} % of real time)")
    return Verdict(abs(share - 1) <= GRAPH_TOLERANCE, share, text)


def read_marks(out: str) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """-> (guest raw seconds by name, host seconds by name, host load by name)."""
    guest, host, load = {}, {}, {}
    marks = os.path.join(out, "marks")
    if os.path.isdir(marks):
        for name in os.listdir(marks):
            if name.startswith("."):
                continue
            fields = dict(kv.split("=", 1) for kv in open(os.path.join(marks, name)).read().split())
            guest[name] = float(fields["raw"])
    tsv = os.path.join(out, "host-marks.tsv")
    if os.path.exists(tsv):
        for line in open(tsv):
            if line.startswith("#") or not line.strip():
                continue
            name, t, l = line.split()[:3]
            host[name], load[name] = float(t), l
    return guest, host, load


def host_cpus(out: str) -> int | None:
    """The host's CPU count, as the watcher noted it."""
    tsv = os.path.join(out, "host-marks.tsv")
    if os.path.exists(tsv):
        for line in open(tsv):
            if line.startswith("#") and "cpus=" in line:
                try:
                    return int(line.split("cpus=")[1].split(")")[0].split(",")[0])
                except ValueError:
                    return None
    return None


def host_idle_share(out: str, start: str, end: str) -> float | None:
    """Share of the host's CPU time left idle between two marks (None if the
    watcher did not note it)."""
    ticks = {}
    tsv = os.path.join(out, "host-marks.tsv")
    if os.path.exists(tsv):
        for line in open(tsv):
            f = line.split()
            if not line.startswith("#") and len(f) >= 4 and "," in f[3]:
                ticks[f[0]] = [int(x) for x in f[3].split(",")]
    if start not in ticks or end not in ticks:
        return None
    idle, total = (ticks[end][i] - ticks[start][i] for i in (0, 1))
    return idle / total if total > 0 else None


# The host was busy (its load, not the timers, set the pace) when less than
# this share of its CPU time was idle over the window -- or, where the watcher
# noted no CPU ticks, when its 1-minute load average exceeded its CPU count.
# The VM itself is part of that load: TCG keeps a host core busy per busy
# vCPU, so an idle host share is the one unambiguous "the host had room".
HOST_IDLE_MIN = 0.15


def host_busy(out: str, start: str, end: str) -> tuple[bool | None, str]:
    """-> (was the host busy over the window (None: not measured), the evidence)."""
    cpus = host_cpus(out) or os.cpu_count() or 1
    idle = host_idle_share(out, start, end)
    _, _, load = read_marks(out)
    loads = []
    for n in (start, end):
        try:
            loads.append(float(load[n]))
        except (KeyError, ValueError):
            pass
    text = f"load average {load.get(start, '?')} .. {load.get(end, '?')} on {cpus} CPUs"
    if idle is not None:
        return idle < HOST_IDLE_MIN, f"host CPUs {idle * 100:.0f} % idle, {text}"
    if loads:
        return max(loads) > cpus, text
    return None, text


def clock_check(out: str, start: str, end: str, label: str) -> Verdict:
    guest, host, _ = read_marks(out)
    missing = [n for n in (start, end) if n not in guest or n not in host]
    if missing:
        return Verdict(False, None, f"{label}: cannot compare the guest's clock with the host's "
                                    f"(mark {', '.join(missing)} missing: was pace.py watch running?)")
    g = guest[end] - guest[start]
    h = host[end] - host[start]
    if h <= 0:
        return Verdict(False, None, f"{label}: host saw the marks in the wrong order")
    ppm = (g / h - 1) * 1e6
    text = (f"{label}: {g:.2f} s passed on the guest's clock while {h:.2f} s passed on the "
            f"host's ({ppm:+.0f} ppm)")
    return Verdict(abs(ppm) <= CLOCK_TOLERANCE_PPM, ppm, text)


def load_during(out: str, start: str, end: str) -> str:
    _, _, load = read_marks(out)
    return f"{load.get(start, '?')} .. {load.get(end, '?')}"


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "watch":
        watch(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "mark":
        mark(argv[2], argv[3])
        return 0
    print(__doc__.split("Usage:")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
