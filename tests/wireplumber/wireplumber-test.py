#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The shipped WirePlumber rules with WirePlumber managing snd-aloop's card
(TAP output). Runs in a guest with a real kernel: as root in a
tools/vm/utimer-vm guest (it starts udevd, loads snd-aloop and starts a
private D-Bus), or as an ordinary user in 'audio' on a system that has those
(udev, snd-aloop loaded, utimer-aloopd for the card binding).

Usage: wireplumber-test.py <dir with libspa-utimer.so> <jack-pattern>

A private pipewire (tests/pwfixture) with spa-plugin/conf/wireplumber/
utimer-loopback-driver.conf as a drop-in, and the real wireplumber on it with
the rule for its version (0.4: 51-utimer-loopback.lua in main.lua.d/; 0.5:
51-utimer-loopback.conf in wireplumber.conf.d/), in the user's configuration
directory. WirePlumber's ALSA monitor makes the card's nodes (with the rule:
one per PCM device and direction). jack-pattern (a JACK client: the graph's
data path) plays into the node on hw:Loopback,0 playback; snd-aloop's cable
brings it to the node on hw:Loopback,1 capture; jack-pattern records that.
From the live graph (pw-dump): both nodes are in the driver's node.group,
their driver is the utimer node (node.driver-id where PipeWire has it,
>= 1.1.81; before, the daemon's own "change driver" record at pw.node:3),
they carry the driver's clock.name; each ALSA node's setup says matching:0
resample:0 and its DLL rate 1.000000 (the daemon's log); the pattern comes
back bit-exact.

The same checks without the rule, and with the rule less its clock.name,
must fail (without: WirePlumber's default nodes, under their own driver;
without clock.name: rate matching, resampling, not bit-exact): that is what
shows they judge the rule.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

repo = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(repo / "tests" / "pwfixture"))
from pwfixture import Checks, PipeWire, PipeWireError, pattern_compare  # noqa: E402

if len(sys.argv) != 3:
    sys.exit("usage: wireplumber-test.py PLUGIN_DIR JACK_PATTERN (PLUGIN_DIR: the build's "
             "spa-plugin/, JACK_PATTERN: the build's tests/spa-vm/jack-pattern)")
plugin_dir = Path(sys.argv[1]).resolve()
jack_pattern = Path(sys.argv[2]).resolve()
for p in (plugin_dir / "libspa-utimer.so", jack_pattern):
    if not p.exists():
        sys.exit(f"wireplumber-test.py: {p} does not exist: build it first (ninja -C BUILD)")
confdir = repo / "spa-plugin" / "conf" / "wireplumber"
DRIVER_CONF = confdir / "utimer-loopback-driver.conf"
DRIVER = "utimer-loopback-driver"
CARD_LONGNAME = "Loopback 1"   # what the rule matches: snd-aloop's first card
RATE, PERIOD = 48000, 256      # the driver drop-in's
# Seconds of pattern through the loopback with the rule (the runs that show
# the checks fail without it need less).
SECONDS = float(os.environ.get("WP_TEST_SECONDS", "8"))
out = Path(os.environ.get("UTIMER_VM_OUT") or tempfile.mkdtemp())
work = Path(tempfile.mkdtemp(prefix="utimer-wp.", dir="/tmp"))
os.chmod(work, 0o755)
tcg = os.environ.get("UTIMER_VM_ACCEL") == "tcg"
t = Checks()
started: list[subprocess.Popen] = []  # what this script started outside the fixture


def sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


# ---- the system: udev, snd-aloop, a session bus ------------------------------------

def card_dir() -> Path | None:
    for card in Path("/proc/asound").glob("card*"):
        try:
            if (card / "id").read_text().strip() == "Loopback":
                return card
        except OSError:
            pass
    return None


root = os.geteuid() == 0
if root and not Path("/run/udev/control").exists():
    # WirePlumber's ALSA monitor takes a card only once udev has tagged it
    # (SOUND_INITIALIZED, from 78-sound-card.rules): a desktop's udevd.
    started.append(subprocess.Popen(["/lib/systemd/systemd-udevd"],
                                    stdout=open(out / "udevd.log", "wb"),
                                    stderr=subprocess.STDOUT))
    for _ in range(50):
        if Path("/run/udev/control").exists():
            break
        time.sleep(0.1)
if root and not Path("/sys/module/snd_aloop").exists():
    if sh("modprobe", "snd-aloop").returncode != 0:
        t.bail("modprobe snd-aloop failed")
card = card_dir()
if card is None:
    t.bail("no snd-aloop card with id Loopback: modprobe snd-aloop (as root)")
if root:
    sh("udevadm", "trigger", "--subsystem-match=sound", "--action=add")
sh("udevadm", "settle", "--timeout=30")
udev = sh("udevadm", "info", f"/sys/class/sound/{card.name}").stdout
if "SOUND_INITIALIZED=1" not in udev:
    t.bail(f"udev has not initialized {card.name} (no SOUND_INITIALIZED): is udevd running? {udev}")
if root:
    # No logind in the guest: WirePlumber's logind plugin watches these and
    # gives up when they are missing. Empty: no seats (the truth).
    for d in ("seats", "sessions", "users", "machines"):
        os.makedirs(f"/run/systemd/{d}", exist_ok=True)

version_text = sh("wireplumber", "--version").stdout
m = re.search(r"Linked with libwireplumber (\d+)\.(\d+)\.(\d+)", version_text)
if not m:
    t.bail(f"cannot tell WirePlumber's version from `wireplumber --version`: {version_text!r}")
wp_version = tuple(int(x) for x in m.groups())
if wp_version >= (0, 5):
    RULE, RULE_DIR = confdir / "51-utimer-loopback.conf", "wireplumber.conf.d"
else:
    RULE, RULE_DIR = confdir / "51-utimer-loopback.lua", "main.lua.d"
if os.environ.get("WP_TEST_RULE"):  # another rule of the same form, to try one
    RULE = Path(os.environ["WP_TEST_RULE"]).resolve()
pw_version = sh("pipewire", "--version").stdout.split("libpipewire")[-1].strip()
t.note(f"WirePlumber {'.'.join(map(str, wp_version))}, rule {RULE.name}; "
       f"libpipewire {pw_version}; kernel {os.uname().release}")

# A login session's bus: WirePlumber's D-Bus plugins (device reservation)
# want one.
bus_env = None
if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                            "--print-address=1"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    started.append(bus)
    bus_env = bus.stdout.readline().strip()

# WirePlumber exports the monitor's devices into the daemon (client-device);
# the fixture's minimal daemon does not load that module.
modules_conf = work / "wp-modules.conf"
modules_conf.write_text("context.modules = [ { name = libpipewire-module-client-device } ]\n")


# ---- reading the graph -------------------------------------------------------------

def card_nodes(pw: PipeWire) -> dict[str, dict]:
    """The card's PCM nodes that WirePlumber made: {"playback"|"capture":
    {PCM device: node}}."""
    found: dict[str, dict] = {"playback": {}, "capture": {}}
    for o in pw.dump():
        props = o.get("info", {}).get("props", {}) if o.get("type") == \
            "PipeWire:Interface:Node" else {}
        stream = props.get("api.alsa.pcm.stream")
        if props.get("api.alsa.card.longname") == CARD_LONGNAME and stream in found:
            device = props.get("api.alsa.pcm.device", props.get("alsa.device"))
            found[stream][int(device)] = o
    return found


def wait_for(what, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.5)
    return what()


def driver_of(pw: PipeWire, node: dict, client: str) -> int:
    """The id of the driver that node runs under now."""
    props = pw.node(node["info"]["props"]["node.name"])["info"]["props"]
    if "node.driver-id" in props:
        return int(props["node.driver-id"])
    # PipeWire < 1.1.81 does not publish it: its log at pw.node:3 records
    # each move, "(name-id) -> change driver (old-id -> new-id)"; a node
    # starts as its own driver. The client's move into the graph shows that
    # the log has these records at all.
    log = pw.log.read_text(errors="replace")
    moves = lambda name: re.findall(r"\(" + re.escape(name) + r"-\d+\) -> change driver "  # noqa: E731
                                    r"\(.*-(-?\d+) -> .*-(-?\d+)\)", log)
    if not moves(client):
        raise PipeWireError(f"no node.driver-id and no 'change driver' for {client} in "
                            f"{pw.log}: pw.node:3 missing?")
    mine = moves(props["node.name"])
    return int(mine[-1][1]) if mine else node["id"]


def alsa_setups(log: str) -> list[tuple[str, ...]]:
    """The decisions an ALSA node logs (spa.alsa:3): (driver clock, its rate,
    our clock, our rate, matching, resample). PipeWire 0.3.65 logs them when
    the node starts following, 1.4 already when it joins the group (rates
    @0 then). The line does not name the node: log is the whole daemon's
    log, in which only the card's nodes are ALSA nodes."""
    return re.findall(r"driver clock:'([^']*)'@(\d+) our clock:'([^']*)'@(\d+) "
                      r"matching:(\d) resample:(\d)", log)


def dll_samples(log: str, path: str) -> list[tuple[str, str, str]]:
    """(follower, match, rate) that the ALSA node on path logs every few
    seconds while it follows (spa.alsa:4); PipeWire 1.4 names it path + p/c."""
    return re.findall(re.escape(path) + r"[pc]?: follower:(\d) match:(\d) rate:([0-9.]+)", log)


# ---- one daemon, one rule ----------------------------------------------------------

def run(tag: str, rule_text: str | None, seconds: float) -> dict:
    """PipeWire + WirePlumber with rule_text (None: no rule) as the user's
    rule file: what the checks read."""
    pw = PipeWire(work / tag, properties={"default.clock.rate": RATE,
                                          "default.clock.quantum": PERIOD},
                  plugin_dir=plugin_dir, wireplumber=True, dropins=[DRIVER_CONF, modules_conf],
                  debug="2,spa.alsa:4,pw.node:3", name=f"pipewire-{tag}")
    if bus_env:
        pw.env["DBUS_SESSION_BUS_ADDRESS"] = bus_env
    if rule_text is not None:
        target = Path(pw.env["XDG_CONFIG_HOME"]) / "wireplumber" / RULE_DIR / RULE.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rule_text)
        if pw.user:
            for p in (target, target.parent, target.parent.parent):
                os.chown(p, pw.user.pw_uid, pw.user.pw_gid)
    try:
        with pw:
            began = time.monotonic()
            r = run_daemon(tag, pw, seconds)
            t.note(f"{tag}: {time.monotonic() - began:.0f} s with WirePlumber up")
            return r
    finally:
        for f in (work / tag).glob("*.log"):
            shutil.copy(f, out / f"{tag}-{f.name}")


def run_daemon(tag: str, pw: PipeWire, seconds: float) -> dict:
    """jack-pattern -> the node on hw:Loopback,0 playback -> cable 0 -> the
    node on hw:Loopback,1 capture (when WirePlumber made one) ->
    jack-pattern."""
    driver = pw.node(DRIVER)
    dprops = driver["info"]["props"]
    if dprops.get("api.utimer.state") == "error":
        t.bail(f"{tag}: the driver drop-in's node failed: {dprops.get('api.utimer.error')}")
    found = wait_for(lambda: (lambda n: n if 0 in n["playback"] else None)(card_nodes(pw)), 60)
    if not found:
        t.bail(f"{tag}: WirePlumber made no node for {CARD_LONGNAME!r} hw:Loopback,0 playback "
               f"in 60 s; see {tag}-wireplumber.log")
    time.sleep(1)   # the rest of the card's nodes
    found = card_nodes(pw)
    t.note(f"{tag}: the card's nodes: " + ", ".join(
        f"{o['info']['props']['node.name']} ({o['info']['props'].get('api.alsa.path')})"
        for s in found.values() for o in s.values()))
    nodes = {"playback": found["playback"][0]}
    if 1 in found["capture"]:
        nodes["capture"] = found["capture"][1]
    r: dict = {"driver_id": driver["id"], "driver_group": dprops.get("node.group"),
               "driver_clock": dprops.get("clock.name"), "nodes": {}}
    client = "utimer-wp-pattern"
    rec = work / f"{tag}-record.raw"
    c0 = pw.counters(DRIVER)["api.utimer.triggers"]
    log_from = pw.log.stat().st_size
    jack = pw.spawn(["pw-jack", str(jack_pattern), client, str(rec), str(int(seconds) + 10)],
                    work / f"{tag}-{client}.log")
    if not wait_for(lambda: pw.has_node(client), 30):
        t.bail(f"{tag}: jack-pattern's node did not appear; see {tag}-{client}.log")
    for ch in ("FL", "FR"):
        pw.link(f"{client}:out_{ch}", f"{nodes['playback']['info']['props']['node.name']}:"
                f"playback_{ch}")
        if "capture" in nodes:
            pw.link(f"{nodes['capture']['info']['props']['node.name']}:capture_{ch}",
                    f"{client}:in_{ch}")
    time.sleep(seconds / 2)
    # The graph as it runs, for whoever reads a failure.
    (out / f"{tag}-pw-dump.json").write_text(json.dumps(pw.dump(), indent=1))
    for direction, node in nodes.items():
        name = node["info"]["props"]["node.name"]
        props = pw.node(name)["info"]["props"]
        r["nodes"][direction] = {
            "name": name, "path": props.get("api.alsa.path"), "group": props.get("node.group"),
            "clock": props.get("clock.name"), "driver": driver_of(pw, node, client),
            "state": pw.state(name)[0]}
    time.sleep(seconds / 2)
    r["triggers"] = pw.counters(DRIVER)["api.utimer.triggers"] - c0
    jack.send_signal(signal.SIGINT)
    jack.wait(30)
    with open(pw.log, "rb") as f:
        f.seek(log_from)
        log = f.read().decode(errors="replace")
    r["setups"] = alsa_setups(pw.log.read_text(errors="replace"))
    for n in r["nodes"].values():
        n["dll"] = dll_samples(log, n["path"])
    r["xruns"] = re.findall(r"\((alsa_\S+)-\d+\) XRun![^\n]*count:(\d+)", log)
    if "capture" in nodes:
        data = rec.read_bytes() if rec.exists() else b""
        r["exact"] = pattern_compare(data, int(seconds / 2 * RATE))
        if not r["exact"][0] and data:
            shutil.copy(rec, out / rec.name)
    t.note(f"{tag}: {json.dumps(r)}")
    return r


def judge(tag: str, r: dict, want: bool) -> None:
    """The checks of one run: with want, each must hold; else (no rule)
    each must fail, which shows that it reads what the rule does."""
    def claim(ok: bool, text: str, have: bool = True) -> None:
        # Without the rule a check must fail on what it read, not for want
        # of reading anything (have: the log had the lines it reads).
        t.check(ok if want else have and not ok, f"{tag}: {text}" if want else
                f"{tag}: the check fails without the rule: not '{text}'")

    for n in r["nodes"].values():
        what = n["name"]
        claim(n["group"] == r["driver_group"],
              f"{what} in the driver's node.group ({n['group']!r}, the driver's "
              f"{r['driver_group']!r})")
        claim(n["driver"] == r["driver_id"],
              f"{what} runs under the utimer driver (driver id {n['driver']}, utimer node "
              f"{r['driver_id']})")
        claim(n["clock"] == r["driver_clock"],
              f"{what} carries the driver's clock.name ({n['clock']!r})")
        if want:  # (a node that drives itself logs it every 3 s of its own time, if at all)
            claim(bool(n["dll"]) and all(s == ("1", "0", "1.000000") for s in n["dll"]),
                  f"{what}'s DLL: follower:1 match:0 rate 1.000000 ({len(n['dll'])} samples, "
                  f"{sorted(set(n['dll']))[:3]})")
    ours = [s for s in r["setups"] if s[0] == r["driver_clock"]]
    claim(len(ours) >= len(r["nodes"]) and
          all(s[2] == s[0] and s[4] == "0" and s[5] == "0" for s in ours),
          f"each node set up under the driver's clock with matching:0 resample:0 ({r['setups']})",
          have=bool(r["setups"]))


results = run("rule", RULE.read_text(), SECONDS)
for n in results["nodes"].values():
    t.equal(n["state"], "running", f"rule: {n['name']} state")
t.check(set(results["nodes"]) == {"playback", "capture"},
        f"rule: the card's hw:Loopback,0 playback and hw:Loopback,1 capture are nodes "
        f"({sorted(results['nodes'])})")
judge("rule", results, True)
ok, text = results.get("exact", (False, "no capture node"))
what = (f"rule: jack-pattern -> {results['nodes']['playback']['name']} -> loopback -> "
        f"the capture node -> jack-pattern bit-exact ({text}; {results['triggers']} ticks)")
# Late cycles in a TCG guest drop or pad some of the pattern; a recording
# without any of it is never the emulator's doing.
if not ok and results["xruns"] and tcg and "silent" not in text:
    t.unjudged(what, f"the TCG guest did not keep up (ALSA xruns {results['xruns']})")
else:
    t.check(ok and results["triggers"] > 0, what)

# Without the rule: the card's nodes as WirePlumber makes them by default.
judge("norule", run("norule", None, 5), False)

# The rule less clock.name: in the group, under our driver, but resampling.
rule_text = RULE.read_text()
no_clock = "\n".join(line for line in rule_text.splitlines()
                     if not re.match(r'\s*(\["clock\.name"\]|clock\.name)\s*=', line))
if no_clock == rule_text.rstrip("\n"):
    t.bail(f"{RULE.name} sets no clock.name to take away")
r = run("noclock", no_clock, 4)
t.check(all(n["group"] == r["driver_group"] and n["driver"] == r["driver_id"]
            for n in r["nodes"].values()),
        "noclock: the nodes are in the group, under the utimer driver")
t.check(any(s[4] == "1" for s in r["setups"]),
        f"noclock: the setup check sees rate matching without the driver's clock.name "
        f"({r['setups']})")
t.check(not r.get("exact", (True, ""))[0],
        f"noclock: resampled, not bit-exact ({r.get('exact')})")

for p in reversed(started):
    p.terminate()
    p.wait(10)
shutil.rmtree(work, ignore_errors=True)
sys.exit(t.done())
