#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/bench's report: OUT/<kernel>/*.jsonl + cycle-cost.txt -> bench.md, bench.json.

Usage: report.py OUT KERNEL...
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demo.d"))
import pace  # noqa: E402

out, kernels = sys.argv[1], sys.argv[2:]
verdicts = []
data = {}
for k in kernels:
    d = {}
    for name in ("trigger-cost", "latency", "scale"):
        p = os.path.join(out, k, name + ".jsonl")
        if os.path.exists(p):
            for line in open(p):
                line = line.strip()
                if line.startswith("{"):
                    try:
                        m = json.loads(line)
                    except ValueError:
                        continue  # a line from an older bench build
                    d[m["metric"]] = m
    p = os.path.join(out, k, "cycle-cost.txt")
    if os.path.exists(p):
        text = open(p).read()
        b = re.search(r"support\.node\.driver\s+data thread\s+([0-9.]+) ns/cycle", text)
        o = re.search(r"api\.utimer\.driver\s+data thread\s+([0-9.]+) ns/cycle\s+ratio ([0-9.]+)", text)
        c = re.search(r"quantum (\d+), (\d+) s, (\d+) cycles expected \((\d+) counted", text)
        if c:
            # Cycles of the 1.3 ms graph against the guest's clock: a guest
            # that fell behind makes fewer (and ns/cycle means nothing).
            quantum, secs, counted = int(c.group(1)), int(c.group(2)), int(c.group(4))
            verdicts.append(pace.graph_check([(0.0, 0), (float(secs), counted)], quantum, 48000,
                                             f"{k}: PipeWire cycle cost"))
        if b and o:
            d["pipewire.cycle.support_node_driver"] = {"value": float(b.group(1)), "unit": "ns CPU/cycle"}
            d["pipewire.cycle.utimer_driver"] = {"value": float(o.group(1)), "unit": "ns CPU/cycle",
                                                 "ratio": float(o.group(2))}
    p = os.path.join(out, k, "kernel.txt")
    if os.path.exists(p):
        release, clocksource = (open(p).read().split() + ["?", "?"])[:2]
        d["kernel"] = {"release": release, "clocksource": clocksource}
    p = os.path.join(out, k, "loopback.jsonl")
    if os.path.exists(p):
        d["loopback"] = [json.loads(line) for line in open(p) if line.startswith("{")]
        for r in d["loopback"]:
            if "error" in r:
                continue  # no measurement: its row says why
            label = f"{k}: loopback quantum {r['quantum']} on {r['source']}"
            # The same graph runs in every case: its cycles tell whether the
            # guest kept up while the loopback was measured.
            verdicts.append(pace.graph_check([(0.0, 0), (r["graph_seconds"], r["graph_cycles"])],
                                             r["quantum"], r["rate"], label))
            tag = f"loopback-{r['quantum']}-{r['source']}"
            verdicts.append(pace.clock_check(os.path.join(out, k), f"{tag}-start", f"{tag}-end", label))
    data[k] = d
    verdicts.append(pace.clock_check(os.path.join(out, k), "bench-start", "bench-end", f"kernel {k}"))


loads = " / ".join(f"{k} {pace.load_during(os.path.join(out, k), 'bench-start', 'bench-end')}" for k in kernels)
if not all(v.ok for v in verdicts):
    print("REFUSED: the guest did not keep up, so this run measured the host's load, not the timers.")
    for v in verdicts:
        print(f"  {'ok  ' if v.ok else 'FAIL'} {v.text}")
    print(f"  host load average (1 min) during the runs: {loads}")
    print(f"Limits: graph within {pace.GRAPH_TOLERANCE * 100:.0f} % of real time, guest clock "
          f"within {pace.CLOCK_TOLERANCE_PPM} ppm of the host's. Run again on a quieter host "
          f"(no table from this run; raw data in {out}).")
    sys.exit(3)


def val(k, metric, field="value", fmt="{:.0f}"):
    m = data.get(k, {}).get(metric)
    if m is None or m.get(field) is None:
        return "-"
    return fmt.format(m[field])


rows = [
    ("1. eventfd write (baseline)", "trigger_cost.eventfd_write", "ns/call", None),
    ("1. TRIGGER, 0 cables", "trigger_cost.cables_0", "ns/call", "ratio"),
    ("1. TRIGGER, 1 cable", "trigger_cost.cables_1", "ns/call", "ratio"),
    ("1. TRIGGER, 8 cables", "trigger_cost.cables_8", "ns/call", "ratio"),
    ("2. eventfd write->read p50 (baseline)", "latency.eventfd", "ns", None),
    ("2. eventfd write->read p99 (baseline)", "latency.eventfd", "ns", None, "p99"),
    ("2. trigger->timer read p50", "latency.timer_instance_read", "ns", "ratio_p50"),
    ("2. trigger->timer read p99", "latency.timer_instance_read", "ns", "ratio_p99", "p99"),
    ("2. trigger->aloop capture poll p50", "latency.aloop_capture_poll", "ns", "ratio_p50"),
    ("2. trigger->aloop capture poll p99", "latency.aloop_capture_poll", "ns", "ratio_p99", "p99"),
    ("3. PipeWire support.node.driver (baseline)", "pipewire.cycle.support_node_driver", "ns CPU/cycle", None),
    ("3. PipeWire api.utimer.driver", "pipewire.cycle.utimer_driver", "ns CPU/cycle", "ratio"),
    ("4. 128 eventfds + reader (baseline)", "scale.eventfd_128", "writes/s", None),
    ("4. 128 timers + readers", "scale.utimer_128", "triggers/s", "ratio"),
    ("4. eventfd reads by the reader", "scale.eventfd_128", "reads/s", None, "received_per_s"),
    ("4. timer ticks read by the reader", "scale.utimer_128", "ticks/s", None, "received_per_s"),
]
lines = ["| measurement | unit | " + " | ".join(f"{k} value | {k} ratio" for k in kernels) + " |",
         "|---|---|" + "---|---|" * len(kernels)]
for row in rows:
    label, metric, unit, ratio = row[:4]
    field = row[4] if len(row) > 4 else "value"
    cells = []
    for k in kernels:
        cells.append(val(k, metric, field))
        if ratio:
            cells.append(val(k, metric, ratio, "{:.2f}x"))
        else:
            cells.append("1.00x (baseline)" if "baseline" in label else "")
    lines.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
lines.append("| guest kernel, clocksource | | " + " | ".join(
    f"{data.get(k, {}).get('kernel', {}).get('release', '-')} | {data.get(k, {}).get('kernel', {}).get('clocksource', '-')}"
    for k in kernels) + " |")
md = "\n".join(lines) + "\n"
measured = any(val(k, row[1]) != "-" for row in rows for k in kernels)


def loopback_table(k):
    """5.: one row per quantum and clock of snd-aloop."""
    clocks = {"jiffies": "jiffies (default)", "hrtimer": "snd-hrtimer (-1.3.0)",
              "utimer": "utimer (graph ticks)"}
    rows = [f"\n5. How low a loopback can go, kernel {k}: loopback-latency plays into hw:Loopback,0 and "
            "records hw:Loopback,1 (SCHED_FIFO), period = quantum, the player's buffer 2 periods "
            "(the recorder's 16: room for a late wakeup, which then shows as latency); latency "
            "from the write of a marker (10/s) to the read that got it. The same PipeWire graph "
            "(api.utimer.driver, quantum = period) runs in every case; it clocks the loopback "
            "only in the utimer rows.\n",
            "| quantum | clock | xruns play/capture | bit-exact | dropouts (silent/lost frames) "
            "| player's data taken | latency min / median / p99 / max | median in frames |",
            "|---|---|---|---|---|---|---|---|"]
    for r in data[k]["loopback"]:
        q = r["quantum"]
        head = f"| {q} ({q * 1000 / 48000:.2f} ms) | {clocks.get(r['source'], r['source'])} |"
        if "error" in r:
            why = (r["error"].splitlines() or ["?"])[0][:160].replace("|", "/")
            rows.append(head + f" failed: {why} | | | | | |")
            continue
        lat = r["latency_us"]
        exact = "yes" if r["bit_exact"] else f"NO ({r['altered']} frames altered)"
        # What the loopback consumed of the player's stream, against real
        # time: below 100 % the rest of the recording is not the player's.
        taken = r["written"] / (r["rate"] * r["seconds"])
        rows.append(head + f" {r['xruns_playback']} / {r['xruns_capture']} | {exact} | "
                    f"{r['silent']} / {r['lost']} | {taken * 100:.0f} % of {r['seconds']:.0f} s | "
                    f"{lat['min'] / 1000:.2f} / {lat['median'] / 1000:.2f} / {lat['p99'] / 1000:.2f} / "
                    f"{lat['max'] / 1000:.2f} ms ({r['markers']} markers) | "
                    f"{lat['median'] * r['rate'] / 1e6:.0f} |")
    return "\n".join(rows) + "\n"


loopback_md = "".join(loopback_table(k) for k in kernels if data[k].get("loopback"))
notes = ("\nMedians of repeated runs (1: 31 interleaved runs of 2000 calls each; 2: 2000 samples; 3: 10 s per "
         "driver at quantum 64; 4: 3 s). Guests are QEMU/TCG: compare ratios, not absolute "
         "numbers. TRIGGER cost is the caller's time in the ioctl; snd-aloop's per-cable work "
         "that the kernel defers to softirq context is not in it.\n")
if not measured:  # --parts without 1-4
    md, notes = "", ""
notes += loopback_md
open(os.path.join(out, "bench.md"), "w").write(md + notes)
json.dump(data, open(os.path.join(out, "bench.json"), "w"), indent=1)
kept = "\nThe guest kept up:\n" + "".join(f"  {v.text}\n" for v in verdicts) + \
    f"  host load average (1 min) during the runs: {loads}\n"
open(os.path.join(out, "bench.md"), "a").write(kept)
print(md + notes + kept)
print(f"markdown: {os.path.join(out, 'bench.md')}\njson: {os.path.join(out, 'bench.json')}")
