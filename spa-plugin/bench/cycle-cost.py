#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-cycle CPU cost of the data thread with api.utimer.driver as the graph
driver, next to support.node.driver (the baseline) in the same minimal graph
(one null sink kept running by a link), at a small quantum.

Usage: cycle-cost.py <dir with libspa-utimer.so> [seconds=20] [quantum=32] [rate=48000]

Prints ns of data-thread CPU per cycle for both and the ratio. The data
thread's CPU time comes from /proc/<pid>/task/<tid>/schedstat (ns). Cycles are
counted by our node (api.utimer.cycles in its Props param) and, for the
baseline, taken as seconds * rate / quantum (both pace the same period).
api.utimer.driver only runs with a timer: run this where the kernel has
userspace-driven timers (the VM).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "pwfixture"))
from pwfixture import PipeWire, PipeWireError, null_sink  # noqa: E402


def cpu_ns(pid: int, tid: int) -> int:
    """CPU time of the thread: schedstat where the kernel has it, else
    utime + stime from stat (clock-tick resolution)."""
    task = Path(f"/proc/{pid}/task/{tid}")
    try:
        return int((task / "schedstat").read_text().split()[0])
    except OSError:
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")


def run_one(work: Path, factory: str, plugin_dir: Path, seconds: int, quantum: int,
            rate: int) -> tuple[int, int | None]:
    driver = {"factory": "spa-node-factory", "args": {
        "factory.name": factory, "node.name": "bench-driver", "node.group": "bench",
        "priority.driver": 30000}}
    props = {"default.clock.rate": rate, "default.clock.quantum": quantum,
             "default.clock.min-quantum": quantum, "default.clock.max-quantum": quantum}
    with PipeWire(work / factory, [driver, null_sink("bench-sink", "bench")],
                  properties=props, plugin_dir=plugin_dir) as pw:
        pw.run_group("bench-sink")
        time.sleep(2)
        pid = pw.daemon.pid
        # 0.3.65 names no thread: the data loop is the one thread besides main.
        tid = next(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
        ours = factory == "api.utimer.driver"
        if ours and pw.state("bench-driver")[0] != "running":
            raise PipeWireError(f"api.utimer.driver is not running: {pw.state('bench-driver')}, "
                                f"{pw.props('bench-driver').get('api.utimer.error')}")
        c0 = pw.counters("bench-driver")["api.utimer.cycles"] if ours else None
        t0 = cpu_ns(pid, tid)
        time.sleep(seconds)
        t1 = cpu_ns(pid, tid)
        if not ours:
            return t1 - t0, None
        c = pw.counters("bench-driver")
        p = pw.props("bench-driver")
        print(f"# api.utimer.driver: api.utimer.state {p.get('api.utimer.state')}, "
              f"{c['api.utimer.triggers']} triggers, {c['api.utimer.errors']} errors",
              file=sys.stderr)
        return t1 - t0, c["api.utimer.cycles"] - c0


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    plugin_dir = Path(sys.argv[1]).resolve()
    given = [int(a) for a in sys.argv[2:5]]
    seconds, quantum, rate = given + [20, 32, 48000][len(given):]
    with tempfile.TemporaryDirectory(prefix="utimer-bench.") as tmp:
        try:
            base_ns, _ = run_one(Path(tmp), "support.node.driver", plugin_dir, seconds, quantum, rate)
            ours_ns, ours_cycles = run_one(Path(tmp), "api.utimer.driver", plugin_dir, seconds,
                                           quantum, rate)
        except PipeWireError as e:
            print(f"cycle-cost: {e}", file=sys.stderr)
            return 1
    expected = seconds * rate // quantum
    print(f"quantum {quantum}, {seconds} s, {expected} cycles expected "
          f"({ours_cycles} counted by api.utimer.cycles)")
    print(f"support.node.driver  data thread {base_ns / expected:8.0f} ns/cycle (baseline)")
    print(f"api.utimer.driver    data thread {ours_ns / ours_cycles:8.0f} ns/cycle  "
          f"ratio {(ours_ns / ours_cycles) / (base_ns / expected):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
