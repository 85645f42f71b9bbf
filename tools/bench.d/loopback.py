#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/bench's loopback latency part, in the guest: how low can a loopback go.

For each quantum Q and each clock of snd-aloop -- its default jiffies timer
(timer_source ""), snd-hrtimer ("-1.3.0", a global timer: our aloop patch) and
the utimer that PipeWire's api.utimer.driver ticks once per graph cycle --
loopback-latency plays into hw:Loopback,0 and records hw:Loopback,1 for
SECONDS with period Q, the player's buffer 2 periods: xruns, bit-exactness,
write-to-arrival latency of ten markers per second.

The same PipeWire graph runs at quantum Q in every case (api.utimer.driver and
a null sink, tests/pwfixture), bound to the loopback only in the utimer case:
the three runs carry the same load, and the graph's cycles over the run
(api.utimer.cycles, read before and after) tell whether the guest kept up
(tools/demo.d/pace.py; report.py refuses the table otherwise). (An ALSA timer
reader on the driver's timer would count them exactly, but one on the timer
the loopback runs on stopped the loopback at quantum 32 on the 6.1 series.) As on a
desktop, the graph's data thread runs SCHED_FIFO 88 (PipeWire's module-rt
default) and loopback-latency SCHED_FIFO 80.

Usage: loopback.py BUILD_DIR OUT_DIR SECONDS [QUANTUM...]   (default 32 64 128 256)
Writes OUT_DIR/loopback.jsonl, one object per run, and the runs' logs under
OUT_DIR/loopback/.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

repo = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(repo / "tests" / "pwfixture"))
sys.path.insert(0, str(repo / "tools" / "demo.d"))
import pace  # noqa: E402
from pwfixture import PipeWire, PipeWireError, null_sink, utimer_node  # noqa: E402

RATE = 48000
# snd-aloop's timer_source per clock; the utimer's is set by the driver node.
SOURCES = {"jiffies": "", "hrtimer": "-1.3.0", "utimer": None}
ALOOP = Path("/proc/asound/Loopback")


def sh(*cmd: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")


def load_aloop(source: str) -> None:
    subprocess.run(["modprobe", "-r", "snd-aloop"], capture_output=True)
    if source == "hrtimer":
        sh("modprobe", "snd-hrtimer")
        if not any(line.startswith("G3:") for line in open("/proc/asound/timers")):
            raise RuntimeError("snd-hrtimer is loaded but /proc/asound/timers lists no G3 (HR timer)")
    sh("modprobe", "snd-aloop", "pcm_substreams=1")
    if SOURCES[source] is not None:
        (ALOOP / "timer_source").write_text(SOURCES[source] + "\n")


def realtime(pid: int, priority: int) -> None:
    """The daemon's threads but its main thread SCHED_FIFO (what module-rt
    does for the data thread on a desktop; pwfixture's daemon loads no
    module-rt)."""
    for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
        if tid != pid:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))


def cycles_at(pw: PipeWire) -> tuple[float, int, int]:
    """(guest CLOCK_MONOTONIC_RAW s, api.utimer.cycles, api.utimer.errors); the
    time is the middle of the pw-dump call that read the counters."""
    before = time.clock_gettime(time.CLOCK_MONOTONIC_RAW)
    c = pw.counters("bench-driver")
    after = time.clock_gettime(time.CLOCK_MONOTONIC_RAW)
    return (before + after) / 2, c["api.utimer.cycles"], c["api.utimer.errors"]


def kernel_says() -> str:
    """snd-aloop's last kernel message (why a stream did not start)."""
    r = subprocess.run(["dmesg"], capture_output=True, text=True)
    lines = [line for line in r.stdout.splitlines() if "snd_aloop" in line]
    starts = [line for line in lines if "start" in line]
    return f" (kernel: {(starts or lines)[-1].split('] ', 1)[-1]})" if lines else ""


def run_one(build: Path, out: Path, seconds: int, quantum: int, source: str) -> dict:
    tag = f"loopback-{quantum}-{source}"
    result: dict = {"quantum": quantum, "source": source, "rate": RATE}
    load_aloop(source)
    driver_args = {"api.utimer.rate": RATE, "api.utimer.period": quantum}
    if source == "utimer":
        driver_args["api.utimer.aloop.card"] = "Loopback"
    props = {"default.clock.rate": RATE, "default.clock.quantum": quantum,
             "default.clock.min-quantum": quantum, "default.clock.max-quantum": quantum}
    # The daemon's socket must be on a local file system (OUT is 9p): a work
    # directory in the guest's /tmp, its log copied to OUT/loopback/.
    work = Path(tempfile.mkdtemp(prefix=f"{tag}.", dir="/tmp"))
    pw = PipeWire(work, [utimer_node("bench-driver", "bench", args=driver_args),
                         null_sink("bench-sink", "bench")],
                  properties=props, plugin_dir=build / "spa-plugin")
    try:
        return measure(pw, build, out, seconds, tag, result)
    finally:
        (out / "loopback").mkdir(exist_ok=True)
        if pw.log.exists():
            shutil.copy(pw.log, out / "loopback" / f"{tag}-pipewire.log")
        shutil.rmtree(work, ignore_errors=True)


def measure(pw: PipeWire, build: Path, out: Path, seconds: int, tag: str, result: dict) -> dict:
    quantum, source = result["quantum"], result["source"]
    with pw:
        pw.run_group("bench-sink")
        time.sleep(2)
        state, error = pw.state("bench-driver")
        if state != "running":
            raise RuntimeError(f"the graph's driver is {state} ({error}; "
                               f"{pw.props('bench-driver').get('api.utimer.error')})")
        result["timer_source"] = (ALOOP / "timer_source").read_text().strip()
        if source == "utimer" and result["timer_source"] != pw.prop("bench-driver",
                                                                    "api.utimer.timer-source"):
            raise RuntimeError(f"the loopback's timer_source is {result['timer_source']!r}, not "
                               "the driver's timer")
        realtime(pw.daemon.pid, 88)
        pace.mark(str(out), f"{tag}-start")
        t0, c0, e0 = cycles_at(pw)
        r = subprocess.run([str(build / "tools" / "bench.d" / "loopback-latency"),
                            "--period", str(quantum), "--seconds", str(seconds), "--fifo", "80"],
                           capture_output=True, text=True, timeout=seconds + 60)
        t1, c1, e1 = cycles_at(pw)
        pace.mark(str(out), f"{tag}-end")
        result.update({"graph_seconds": round(t1 - t0, 3), "graph_cycles": c1 - c0,
                       "trigger_errors": e1 - e0})
    if r.returncode != 0:
        result["error"] = (r.stderr.strip() or f"loopback-latency exited {r.returncode}") + kernel_says()
    else:
        result.update(json.loads(r.stdout))
    return result


def main(argv: list[str]) -> int:
    if len(argv) < 4 or not argv[3].isdigit() or not all(q.isdigit() for q in argv[4:]):
        print(__doc__.split("Usage:")[1].strip(), file=sys.stderr)
        return 2
    build, out, seconds = Path(argv[1]).resolve(), Path(argv[2]).resolve(), int(argv[3])
    quanta = [int(q) for q in argv[4:]] or [32, 64, 128, 256]
    failed = 0
    with open(out / "loopback.jsonl", "w") as jsonl:
        for quantum in quanta:
            for source in SOURCES:
                print(f"bench: loopback quantum {quantum}, {source}, {seconds} s", flush=True)
                try:
                    result = run_one(build, out, seconds, quantum, source)
                except (RuntimeError, PipeWireError, OSError, subprocess.TimeoutExpired) as e:
                    result = {"quantum": quantum, "source": source, "error": str(e)}
                failed += "error" in result
                print(json.dumps(result), flush=True)
                jsonl.write(json.dumps(result) + "\n")
                jsonl.flush()
    subprocess.run(["modprobe", "-r", "snd-aloop"], capture_output=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
