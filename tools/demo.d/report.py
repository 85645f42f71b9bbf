#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The demo's table and plot from the guest's results (tools/demo runs it).

Usage: report.py OUT_DIR SECONDS
"""
import os
import shlex
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pace  # noqa: E402

out, seconds = sys.argv[1], sys.argv[2]
modes = ["jiffies", "utimer"]
titles = {"jiffies": "snd-aloop on jiffies (today)", "utimer": "snd-aloop on utimer"}


def load(mode):
    path = os.path.join(out, f"result-{mode}.env")
    if not os.path.exists(path):
        return None
    env = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = " ".join(shlex.split(v)) if v else ""
    drift = []
    cycles = []
    tsv = os.path.join(out, f"drift-{mode}.tsv")
    if os.path.exists(tsv):
        for line in open(tsv):
            if not line.startswith("#") and line.strip():
                t, ticks, hw, d = line.split()
                drift.append((float(t), int(d)))
                cycles.append((float(t), int(ticks)))
    env["drift"] = drift
    env["cycles"] = cycles
    return env


res = {m: load(m) for m in modes}


def kept_up():
    """pace.py's verdicts for every mode that has a result."""
    verdicts = []
    for m in modes:
        r = res[m]
        if r is None:
            continue
        period, rate = int(r.get("period") or 1024), int(r.get("rate") or 48000)
        verdicts.append(pace.graph_check(r["cycles"], period, rate, f"{m} run"))
        verdicts.append(pace.clock_check(out, f"{m}-start", f"{m}-end", f"{m} run"))
    return verdicts


# A DLL tracking a clock 500 ppm off settles within a few hundred ppm of 1; on
# a busy host its samples stray by a percent or two (cycles come late, in
# runs here 0.982 to 1.017, several in a row), but an ALSA source whose median
# rate is further than this from 1 is not tracking a clock: it ran away.
RUNAWAY = 0.01


def rate_runaway(r):
    """'first -> last ...' when the ALSA source's rate matching ran away, else None."""
    try:
        s = [float(x) for x in (r or {}).get("rate_samples", "").split()]
    except ValueError:
        return None
    if not s or abs(statistics.median(s) - 1) <= RUNAWAY:
        return None
    return f"{s[0]:.6f} -> {s[-1]:.6f} over {len(s)} samples 3 s apart, median {statistics.median(s):.6f}"


def causes():
    """Why each mode that failed a check did: measured reasons only."""
    lines, blame_host = [], False
    for m in modes:
        if not any(v.text.startswith(f"{m} run") and not v.ok for v in verdicts):
            continue
        busy, evidence = pace.host_busy(out, f"{m}-start", f"{m}-end")
        runaway = rate_runaway(res[m])
        late = res[m].get("late_cycles", "")
        if busy:
            blame_host = True
            lines.append(f"{m} run: the host was busy ({evidence}): this run measured the host's load, "
                         "not the timers")
        elif busy is False:
            lines.append(f"{m} run: the host was not busy ({evidence}): not its load")
        else:
            lines.append(f"{m} run: the host's CPU use was not measured ({evidence})")
        if runaway:
            lines.append(f"{m} run: the ALSA source's rate matching ran away ({runaway}); a settled "
                         f"DLL reads within {RUNAWAY * 100:.0f} % of 1 (the skew is 500 ppm)")
        if late not in ("", "0"):
            lines.append(f"{m} run: the driver waited {late} times for a graph that had not finished "
                         "its cycle (a node took longer than a period)")
        if not busy and not runaway:
            lines.append(f"{m} run: why the guest fell behind was not measured here")
    return lines, blame_host


verdicts = kept_up()
load = " / ".join(f"{m} {pace.load_during(out, f'{m}-start', f'{m}-end')}" for m in modes if res[m])
if not any(res[m] for m in modes):
    print(f"REFUSED: no results (no result-*.env in {out}): the guest part did not run the mission "
          f"(kernel log: {out}/.vm/console.log).")
    sys.exit(3)
if not all(v.ok for v in verdicts):
    why, blame_host = causes()
    print("REFUSED: the guest did not keep up (no table, no plot from this run):")
    for line in why:
        print(f"  {line}")
    for v in verdicts:
        print(f"  {'ok  ' if v.ok else 'FAIL'} {v.text}")
    print(f"  host load average (1 min) during the measurements: {load}")
    print(f"Limits: graph within {pace.GRAPH_TOLERANCE * 100:.0f} % of real time, guest clock "
          f"within {pace.CLOCK_TOLERANCE_PPM} ppm of the host's. " +
          (f"Run again on a quieter host (raw data in {out})." if blame_host else f"Raw data in {out}."))
    sys.exit(3)
rows = []


def cell(mode, fn):
    r = res[mode]
    if r is None:
        return "(no result)"
    try:
        return fn(r)
    except Exception as e:  # a missing field: say so in the table
        return f"? ({e.__class__.__name__})"


def drift_cell(r):
    # Least-squares slope: the loopback's hw_ptr moves in whole periods (and in
    # jiffies steps), so single samples jitter by up to a period.
    d = r["drift"]
    if len(d) < 2:
        return "no samples"
    n = len(d)
    mt = sum(t for t, _ in d) / n
    mx = sum(x for _, x in d) / n
    slope = sum((t - mt) * (x - mx) for t, x in d) / sum((t - mt) ** 2 for t, _ in d)
    span = d[-1][0] - d[0][0]
    ppm = slope / 48000 * 1e6
    return f"{slope * span:+.0f} in {span:.0f} s ({ppm:+.0f} ppm; last sample {d[-1][1]:+d})"


def rate_cell(r):
    s = [float(x) for x in r.get("rate_samples", "").split()]
    m = r.get("matching", "")
    flag = "matching:0" in m
    if not s:
        return "none (not matching)" if flag else "no samples"
    med = statistics.median(s)
    return f"{med:.6f} ({(med - 1) * 1e6:+.0f} ppm, {len(s)} samples)" + (" not matching" if flag else "")


table = [
    ("frames drifted (loopback - graph)", drift_cell),
    ("xruns (PipeWire log / aplay)", lambda r: f"{r['xruns_pipewire']} / {r['xruns_aplay']}"),
    ("rate adaptation (ALSA node DLL rate, median)", rate_cell),
    ("bit-exact (pw-record == aplay input)",
     lambda r: f"{r['bitexact']} ({r['compared']} frames compared" +
               (f", first difference at {r['first_diff']})" if r['first_diff'] != '-' else ")")),
    ("gaps in the recording (pw-record late)",
     lambda r: f"{r['gaps']} ({r['lost']} frames)" if r['bitexact'] == 'yes' else "n/a (not bit-exact)"),
    ("timer ticks (graph cycles)", lambda r: r.get("triggers", "?")),
]
w0 = max(len(t) for t, _ in table)
cells = [[cell(m, fn) for m in modes] for _, fn in table]
w = [max(len(titles[m]), *(len(c[i]) for c in cells)) for i, m in enumerate(modes)]
line = f"| {'':{w0}} | " + " | ".join(f"{titles[m]:{w[i]}}" for i, m in enumerate(modes)) + " |"
print(line)
print("|" + "-" * (w0 + 2) + "|" + "|".join("-" * (x + 2) for x in w) + "|")
for (t, _), c in zip(table, cells):
    print(f"| {t:{w0}} | " + " | ".join(f"{c[i]:{w[i]}}" for i in range(len(modes))) + " |")

print("\nthe guest kept up:")
for v in verdicts:
    print(f"  {v.text}")
print(f"  host load average (1 min) during the measurements: {load}")

cs = os.path.join(out, "clocksource.txt")
if os.path.exists(cs) and "jiffies" in open(cs).read():
    print(f"\nWARNING: the guest ran on the {open(cs).read().strip()} clocksource (its TSC calibration "
          "failed five boots in a row, as under heavy host load): every clock moved in 4 ms steps, "
          "so drift and rate numbers above are not meaningful. Run again on a quieter host.")

ta = os.path.join(out, "test-app.env")
if os.path.exists(ta):
    st = open(ta).read().strip().split("=", 1)[1]
    word = {"0": "passed", "skipped": "skipped (tools/test-app not built)"}.get(st, f"FAILED (exit {st})")
    print(f"\nseed test app (ABCD through the loopback, test-app.log): {word}")

png = os.path.join(out, "drift.png")
data = [m for m in modes if res[m] and res[m]["drift"]]
if data:
    plots = ", ".join(
        f"'{os.path.join(out, f'drift-{m}.tsv')}' using 1:4 with linespoints title '{titles[m]}'" for m in data)
    script = f"""
set terminal pngcairo size 900,500 noenhanced
set output '{png}'
set title 'loopback frames - graph frames (system clock +500 ppm, graph on MONOTONIC_RAW)'
set xlabel 'seconds'
set ylabel 'loopback frames - graph frames'
set grid
set key left top
plot {plots}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        print(f"\nplot: {png}")
    except (OSError, subprocess.CalledProcessError) as e:
        script = script.replace("pngcairo", "png")
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=False)
        except OSError:
            pass  # no gnuplot at all: said below
        print(f"\nplot: {png}" if os.path.exists(png) else f"\nplot failed: {e}")
print(f"details: {out} (pipewire-*.log, drift-*.tsv, compare-*.txt, test-app.log)")
