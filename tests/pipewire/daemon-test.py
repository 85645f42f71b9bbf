#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A real pipewire daemon on the build host (no /dev/snd/timer: the kernel
cases are in tests/spa-vm) running this build's api.utimer.driver:

 - the node and its api.utimer.* properties in pw-cli/pw-dump: set or absent,
   never empty, no bare utimer.* keys; counters as a Props param;
 - without kernel support the node's Start fails when its group runs: the
   node's state is error, api.utimer.error says why, the daemon stays up;
 - a follower of support.node.driver is started when its group runs (its
   node.link-group shared with the group's linked sink), not before, and
   keeps no idle driver running;
 - nodes with bad properties name every mistake;
 - properties are not re-published while nothing changes (pw-dump -m);
 - the shipped examples as drop-ins: nodes as documented, nothing else;
 - PIPEWIRE_DEBUG patterns set the spa.utimer topic's level;
 - the fixture: a start that fails ends the daemon it started.

Usage: daemon-test.py <dir with libspa-utimer.so> <spa-plugin/conf> <work dir>
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pwfixture"))
from pwfixture import (Checks, PipeWire, PipeWireError, null_sink, system_driver,  # noqa: E402
                       utimer_node)

plugin_dir, conf_dir = Path(sys.argv[1]), Path(sys.argv[2])
work = Path(tempfile.mkdtemp(prefix="utimer-pw-test.", dir=sys.argv[3] if len(sys.argv) > 3 else None))
t = Checks()
kernel = Path("/dev/snd/timer").exists()
if kernel:
    t.bail("this host has /dev/snd/timer: the host test asserts the no-kernel errors; "
           "the kernel cases run in the vm suite")

objects = [
    utimer_node("utimer-driver", group="utimer.test.a"),
    null_sink("utimer-sink-a", "utimer.test.a"),
    utimer_node("utimer-bad-props", group="utimer.test.c",
                args={"clock.id": "sundial", "api.utimer.period": -5}),
    utimer_node("utimer-bad-device", group="utimer.test.d",
                args={"clock.device": "/nonexistent/ptp7"}),
]


def wait_state(pw: PipeWire, name: str, ok, seconds: float = 10) -> str:
    """The node's state once ok(state) holds, or the last one after seconds."""
    state = ""
    for _ in range(int(seconds / 0.2)):
        state = pw.state(name)[0]
        if ok(state):
            break
        time.sleep(0.2)
    return state

with PipeWire(work / "a", objects, plugin_dir=plugin_dir) as pw:
    # 1. Listed, with properties set or absent.
    ls = pw.run(["pw-cli", "ls", "Node"]).stdout
    t.check('node.name = "utimer-driver"' in ls, "pw-cli ls Node lists utimer-driver")
    props = pw.props("utimer-driver")
    t.note(f"utimer-driver: {props}")
    t.equal(props.get("node.driver"), "true", "node.driver")
    t.equal(props.get("clock.name"), "api.utimer.monotonic", "clock.name")
    t.equal(props.get("clock.id"), "monotonic", "clock.id")
    t.check(all(v != "" for v in props.values()), "no property is an empty string")
    t.check(not [k for k in props if k.startswith("utimer.")], "no bare utimer.* keys")
    t.equal(props.get("api.utimer.state"), "error", "no kernel support: api.utimer.state")
    t.check("/dev/snd/timer" in props.get("api.utimer.error", ""),
            f"api.utimer.error names /dev/snd/timer: {props.get('api.utimer.error')}")
    for absent in ("api.utimer.id", "api.utimer.timer-source", "api.utimer.period",
                   "api.utimer.rate", "api.utimer.aloop.card", "clock.device"):
        t.check(absent not in props, f"{absent} absent without a timer / configuration")
    counters = pw.counters("utimer-driver")
    t.equal(sorted(counters), ["api.utimer.cycles", "api.utimer.errors",
                               "api.utimer.late-cycles", "api.utimer.triggers"],
            "Props params hold the counters")
    t.equal(counters["api.utimer.triggers"], 0, "no triggers")

    # 2. Nothing changes: nothing is re-published (the vm suite checks this
    # while the graph runs and the counters move).
    later = pw.changes(3.5)
    t.check("utimer-driver" not in later and "api.utimer" not in later,
            f"no updates of our nodes in 3.5 s while idle ({len(later)} bytes of other updates)")

    # 3. Running the group asks the driver to Start: it fails, the node's state says so.
    pw.run_group("utimer-sink-a")
    state, error = "", None
    for _ in range(50):
        state, error = pw.state("utimer-driver")
        if state == "error":
            break
        time.sleep(0.2)
    t.equal(state, "error", "group running without kernel support: node state")
    t.check(error is not None and "Start error" in error, f"node error: {error}")
    t.check(pw.alive(), "daemon still running")
    time.sleep(1.5)
    log = pw.log.read_text()
    n = log.count("utimer-driver: /dev/snd/timer does not exist")
    t.check(n == 1, f"the error is logged once, on the transition ({n} times)")
    t.check("spa.utimer" in log, "logged on the spa.utimer topic")

    # 4. Bad properties: every mistake named.
    bad = pw.props("utimer-bad-props")
    t.equal(bad.get("api.utimer.state"), "error", "bad props: state")
    t.check('clock.id = "sundial" is not a clock' in bad.get("api.utimer.error", ""),
            f"bad props: clock.id named: {bad.get('api.utimer.error')}")
    t.check('api.utimer.period = "-5"' in bad.get("api.utimer.error", ""),
            "bad props: api.utimer.period named")
    dev = pw.props("utimer-bad-device").get("api.utimer.error", "")
    t.check('clock.device = "/nonexistent/ptp7": cannot open it' in dev,
            f"bad clock.device named: {dev}")
    t.check(pw.alive(), "daemon still running")

# 3b. A follower runs when its group does, and only then. The node has no
# ports: since PipeWire 0.3.68 a follower is started only when something makes
# it runnable; it publishes node.link-group = its node.group, so the linked
# sink of that link group does (1.4.2 without it: never started). Without a
# kernel its Start fails, which PipeWire logs: that shows it was asked to run
# (0.3.65 leaves a follower's state as it was, 1.4 sets error).
follower_objects = [
    system_driver("utimer-system-driver-f", "utimer.test.f"),
    utimer_node("utimer-follower", group="utimer.test.f", priority=100),
    null_sink("utimer-sink-f", "utimer.test.f", link_group="utimer.test.f"),
    utimer_node("utimer-driver-g", group="utimer.test.g"),
]


def starts(pw: PipeWire) -> int:
    """How often PipeWire has logged our follower's Start failing."""
    return len(re.findall(r"\(utimer-follower-\d+\) start node error", pw.log.read_text()))


with PipeWire(work / "f", follower_objects, plugin_dir=plugin_dir) as pw:
    t.equal(pw.props("utimer-follower").get("node.link-group"), "utimer.test.f",
            "follower: node.link-group published from node.group")
    t.equal(pw.props("utimer-driver-g").get("node.link-group"), "utimer.test.g",
            "driver: node.link-group published from node.group")
    following = ""
    for _ in range(25):
        following = pw.prop("utimer-follower", "api.utimer.following")
        if following == "true":
            break
        time.sleep(0.2)
    t.equal(following, "true", "follower: follows support.node.driver while the group is idle")
    time.sleep(1)
    state = pw.state("utimer-system-driver-f")[0]
    t.check(state != "running", f"follower: our node keeps no idle driver running ({state})")
    t.equal(starts(pw), 0, "follower: not started while its group is idle")
    pw.run_group("utimer-sink-f")
    t.equal(wait_state(pw, "utimer-system-driver-f", lambda s: s == "running"), "running",
            "follower: the linked sink runs support.node.driver")
    n = 0
    for _ in range(50):
        n = starts(pw)
        if n:
            break
        time.sleep(0.2)
    t.equal(n, 1, "follower: started once its group runs (no kernel: PipeWire logs the failed Start)")
    pw.stop_group("utimer-sink-f")
    state = wait_state(pw, "utimer-system-driver-f", lambda s: s != "running")
    t.check(state != "running", f"follower: the driver stops when the sink's link goes ({state})")
    t.check(pw.alive(), "follower: daemon still running")

# 5. The shipped examples as drop-ins next to a base config.
dropins = [conf_dir / "utimer-driver.conf", conf_dir / "utimer-loopback-example.conf"]
with PipeWire(work / "b", plugin_dir=plugin_dir, dropins=dropins) as pw:
    t.check(pw.alive(), "drop-ins: daemon up")
    t.equal(pw.prop("utimer-driver", "node.group"), "utimer", "utimer-driver.conf: node.group")
    t.equal(pw.prop("utimer-driver", "priority.driver"), "30000",
            "utimer-driver.conf: priority.driver")
    ex = pw.props("utimer-loopback-driver")
    t.equal(ex.get("api.utimer.period"), "256", "example: pinned period")
    t.equal(ex.get("api.utimer.rate"), "48000", "example: pinned rate")
    t.equal(ex.get("node.force-quantum"), "256", "example: node.force-quantum on our node")
    t.equal(ex.get("node.force-rate"), "48000", "example: node.force-rate on our node")
    t.equal(ex.get("clock.name"), "api.utimer.loopback", "example: the shared clock.name")
    t.equal(ex.get("api.utimer.state"), "error", "example: no kernel support reported")
    if not Path("/proc/asound/Loopback").exists():
        t.check(not pw.has_node("utimer-loopback-capture"),
                "example without snd-aloop: ALSA nodes skipped (nofail)")
    settings = pw.run(["pw-metadata", "-n", "settings", "0"]).stdout
    t.note(settings)
    t.check("'clock.force-rate' value:'0'" in settings and
            "'clock.force-quantum' value:'0'" in settings,
            "example: no global clock overrides (settings clock.force-* = 0)")

# 6. PIPEWIRE_DEBUG reaches the node's topic (0.3.65: through topic_init;
# >= 1.1.81: only for topics the plugin exports as spa_log_topic_enum): with
# everything else silent, spa.utimer's errors are logged.
with PipeWire(work / "d", [utimer_node("utimer-topic", group="utimer.test.t")],
              plugin_dir=plugin_dir, debug="0,spa.utimer:1") as pw:
    t.equal(pw.prop("utimer-topic", "api.utimer.state"), "error", "topic: node in error")
    time.sleep(0.5)
    log = pw.log.read_text()
    t.check("utimer-driver: /dev/snd/timer does not exist" in log,
            f"PIPEWIRE_DEBUG=0,spa.utimer:1 logs the node's error ({len(log)} bytes of log)")

# 7. The fixture itself: a start that fails (here: pipewire not accepting
# clients within 0 s) ends what it started before it raises.
failing = PipeWire(work / "c", plugin_dir=plugin_dir)
try:
    failing.start(timeout=0)
    t.check(False, "fixture: start(timeout=0) raises")
except PipeWireError as e:
    t.check("timed out" in str(e), f"fixture: a failed start raises ({str(e).splitlines()[0]})")
pid = failing.daemon.pid
t.check(failing.daemon.poll() is not None and not Path(f"/proc/{pid}").exists(),
        f"fixture: the failed start ended its pipewire (pid {pid})")

if t.failed:
    t.note(f"kept {work}")
else:
    import shutil
    shutil.rmtree(work, ignore_errors=True)
sys.exit(t.done())
