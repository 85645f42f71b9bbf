#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""utimer-aloopd and a per-user PipeWire on a real kernel (tools/vm/utimer-vm
runs this as root in the guest; TAP output).

Usage: vm-test.py BUILD_DIR

1. Users: the guest's / is the host's, read-only. The test's users exist for
   this boot only: /etc/passwd and /etc/group with two more entries are bind-
   mounted over the real ones (in the guest, which is thrown away). The
   alternative, tools/install-deps creating them on the host, would leave
   accounts on every CI machine and make a fresh clone's test fail until
   someone ran it as root. utimer-user is in 'audio', utimer-outsider is not.
   /dev/snd/* get group audio, mode 0660: what Debian's udev rule does
   (50-udev-default.rules: SUBSYSTEM=="sound", GROUP="audio").
2. The service runs as root, started as systemd would start it: by
   systemd-socket-activate on /run/utimer-aloopd.socket, whose group and mode
   are then set as utimer-aloopd.socket's SocketGroup=/SocketMode= say.
3. Bindings through the service as the user: bind and release, a killed
   client, a stale -1.4.N left on the card, a card another live timer clocks,
   two clients on one card, a non-member, a client lying about its timer id,
   the service stopping while bound, root binding directly.
4. PipeWire as the user, with WirePlumber (on a session D-Bus, as in a
   login session), reading the shipped example
   (spa-plugin/conf/utimer-loopback-example.conf) as a drop-in: its driver
   node binds Loopback through the service; aplay into hw:Loopback,0 feeds
   the example's ALSA source through the cable the graph's timer paces, and
   pw-record's file must hold the played pattern bit for bit (gaps from a
   late recorder are counted, not forgiven as differences).
"""
from __future__ import annotations

import array
import grp
import os
import pwd
import shutil
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

repo = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(repo / "tests" / "pwfixture"))
from pwfixture import Checks, PipeWire, PipeWireError, pattern_bytes, pattern_index  # noqa: E402

build = Path(sys.argv[1]).resolve()
client_bin = build / "tests" / "aloopd" / "aloopd-client"
service_bin = build / "tools" / "utimer-aloopd" / "utimer-aloopd"
utimerctl = build / "tools" / "utimerctl" / "utimerctl"
out = Path(os.environ.get("UTIMER_VM_OUT", "/tmp"))
socket_path = "/run/utimer-aloopd.socket"
USER, OUTSIDER = "utimer-user", "utimer-outsider"
t = Checks()


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        t.bail(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r


# ---- 1. users and devices -------------------------------------------------------

def overlay_etc() -> None:
    work = Path("/tmp/etc-overlay")
    work.mkdir(exist_ok=True)
    passwd = Path("/etc/passwd").read_text()
    passwd += (f"{USER}:x:4242:4242:utimer test user:/tmp/home/{USER}:/bin/sh\n"
               f"{OUTSIDER}:x:4243:4243:utimer test outsider:/tmp/home/{OUTSIDER}:/bin/sh\n")
    lines = []
    for line in Path("/etc/group").read_text().splitlines():
        f = line.split(":")
        if f[0] == "audio":
            f[3] = ",".join([m for m in f[3].split(",") if m] + [USER])
        lines.append(":".join(f))
    lines += [f"{USER}:x:4242:", f"{OUTSIDER}:x:4243:"]
    (work / "passwd").write_text(passwd)
    (work / "group").write_text("\n".join(lines) + "\n")
    for name in ("passwd", "group"):
        sh("mount", "--bind", str(work / name), f"/etc/{name}")
    for user in (USER, OUTSIDER):
        home = Path("/tmp/home") / user
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)


def as_user(user: str) -> dict:
    p = pwd.getpwnam(user)
    return {"user": p.pw_uid, "group": p.pw_gid,
            "extra_groups": os.getgrouplist(p.pw_name, p.pw_gid)}


def grant_uaccess(path: str, uid: int) -> None:
    """What logind's uaccess does for the user at the seat: an ACL entry giving
    rw on the device, without the audio group (no setfacl in the guest: the
    system.posix_acl_access xattr, version 2, entries tag/perm/id)."""
    st = os.stat(path)
    entry = lambda tag, perm, ident=0xFFFFFFFF: struct.pack("<HHI", tag, perm, ident)  # noqa: E731
    acl = struct.pack("<I", 2) + entry(0x01, (st.st_mode >> 6) & 7) + entry(0x02, 6, uid) + \
        entry(0x04, (st.st_mode >> 3) & 7) + entry(0x10, 6) + entry(0x20, st.st_mode & 7)
    os.setxattr(path, "system.posix_acl_access", acl)


overlay_etc()
# No systemd-logind in the guest; WirePlumber's logind plugin watches its
# state directories and quits when they are missing. Empty: no seats (the truth).
for d in ("seats", "sessions", "users", "machines"):
    os.makedirs(f"/run/systemd/{d}", exist_ok=True)
audio = grp.getgrnam("audio").gr_gid
t.check(audio in as_user(USER)["extra_groups"] and audio not in as_user(OUTSIDER)["extra_groups"],
        f"{USER} is in audio, {OUTSIDER} is not")

sh("modprobe", "-r", "snd-aloop", check=False)
# One substream on Loopback: one cable, aplay's and the example's source.
# (The example's sink finds it taken. Two running cables on one timer lose
# ticks on 6.1 -- see the README; that case is the kernel suites' to pin.)
sh("modprobe", "snd-aloop", "enable=1,1", "pcm_substreams=1,2")
for dev in Path("/dev/snd").iterdir():
    os.chown(dev, 0, audio)
    os.chmod(dev, 0o660)
# The outsider sits at the seat: it may create timers, but is not in audio.
grant_uaccess("/dev/snd/timer", pwd.getpwnam(OUTSIDER).pw_uid)
cards = {p.name: p.resolve().name for p in Path("/proc/asound").iterdir()
         if p.name.startswith("Loopback")}
t.check(sorted(cards) == ["Loopback", "Loopback_1"], f"two loopback cards: {cards}")


def timer_source(card: str = "Loopback") -> str:
    return Path(f"/proc/asound/{card}/timer_source").read_text().strip()


def set_timer_source(value: str, card: str = "Loopback") -> None:
    Path(f"/proc/asound/{card}/timer_source").write_text(value + "\n")


# ---- 2. the service ---------------------------------------------------------------

service_log = out / "utimer-aloopd.log"


def start_service() -> subprocess.Popen:
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    svc = subprocess.Popen(["systemd-socket-activate", "--seqpacket", "-l", socket_path,
                            str(service_bin), "--group", "audio"],
                           stdout=open(service_log, "a"), stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(socket_path):
            break
        time.sleep(0.05)
    os.chown(socket_path, 0, audio)  # SocketGroup=audio
    os.chmod(socket_path, 0o660)     # SocketMode=0660
    return svc


def stop_service(svc: subprocess.Popen) -> None:
    svc.terminate()
    svc.wait(20)


class Client:
    """aloopd-client as user: the first line it prints, then release()/kill()."""

    def __init__(self, user: str | None, card: str, *args: str):
        self.p = subprocess.Popen([str(client_bin), card, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  **(as_user(user) if user else {}))
        self.first = self.p.stdout.readline().strip()
        self.fields = dict(kv.split("=", 1) for kv in self.first.split()[1:] if "=" in kv)

    @property
    def bound(self) -> bool:
        return self.first.startswith("bound ")

    def release(self) -> str:
        try:
            self.p.stdin.write("release\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        rest = self.p.stdout.read().strip()
        self.p.wait(20)
        return rest

    def kill(self) -> None:
        self.p.kill()
        self.p.wait(20)


def settled(read, tries: int = 5):
    """read() again when pw-dump's output was cut or mixed (a snapshot taken
    while objects change); a persistent failure raises."""
    for attempt in range(tries):
        try:
            return read()
        except PipeWireError:
            if attempt == tries - 1:
                raise
            time.sleep(0.5)


def wait_for(predicate, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


svc = start_service()
try:
    # ---- 3. bindings ------------------------------------------------------------
    set_timer_source("-1.3.0")
    c = Client(USER, "Loopback")
    t.check(c.bound and c.fields.get("via") == "service", f"the user binds through the service: {c.first}")
    t.equal(timer_source(), f"-1.4.{c.fields.get('timer')}", "the card names the user's timer")
    t.equal(c.release(), "released", "release answers")
    t.equal(timer_source(), "-1.3.0", "release restores the previous value")

    c = Client(USER, "Loopback")
    t.check(c.bound, f"bound again: {c.first}")
    c.kill()
    t.check(wait_for(lambda: timer_source() == "-1.3.0"),
            f"a killed client's binding ends, the value comes back: {timer_source()!r}")

    set_timer_source("-1.4.99")  # left by a crash
    c = Client(USER, "Loopback")
    t.check(c.bound, f"a card holding a dead -1.4.N can be bound: {c.first}")
    c.release()
    t.equal(timer_source(), "", "the dead -1.4.99 is not restored (module default: jiffies)")

    root = Client(None, "Loopback", "direct")
    t.check(root.bound and root.fields.get("via") == "direct", f"root binds directly: {root.first}")
    c = Client(USER, "Loopback")
    t.check(c.first.startswith("error errno=16") and "another live userspace-driven timer" in c.first,
            f"a card another live timer clocks is refused: {c.first}")
    c.release()
    root.release()
    t.equal(timer_source(), "", "root's binding restored")

    a = Client(USER, "Loopback")
    b = Client(USER, "Loopback")
    t.check(a.bound and b.first.startswith("error errno=16") and "is bound by pid" in b.first,
            f"one binding per card: {b.first}")
    b.release()

    o = Client(OUTSIDER, "Loopback_1")
    t.check(o.first.startswith("error errno=13") and "cannot reach utimer-aloopd" in o.first and
            "usermod -aG audio" in o.first,
            f"a non-member (with uaccess to /dev/snd/timer) is refused and told how to fix it: {o.first}")
    o.release()

    # A client naming a timer that is not its descriptor's (a's, live).
    kernel_names_id = a.fields.get("fdname", "") != "anon_inode:snd-utimer"
    t.note(f"the kernel names a timer's descriptor {a.fields.get('fdname')!r}")
    liar = Client(USER, "Loopback_1", "--claim", a.fields.get("timer", "0"))
    if kernel_names_id:
        t.check(liar.first.startswith("error errno=22") and "not timer -1.4." in liar.first,
                f"a wrong id for the descriptor is refused: {liar.first}")
    else:
        t.note("this kernel (kernel-patches/6.1) names the inode without the id: the service can "
               "only check that the claimed id exists (utimer-aloopd(8))")
        t.check(liar.bound, f"a wrong but existing id gets through on this kernel: {liar.first}")
    liar.release()
    a.release()

    set_timer_source("-1.3.0")
    c = Client(USER, "Loopback")
    t.check(c.bound, f"bound before the service stops: {c.first}")
    stop_service(svc)
    t.equal(timer_source(), "-1.3.0", "the service restores bindings when it stops")
    c.kill()
    svc = start_service()

    c = Client(None, "Loopback")
    t.equal(c.fields.get("via"), "direct", "root binds directly by default")
    c.release()
    set_timer_source("")

    # ---- 4. PipeWire as the user ----------------------------------------------------
    work = Path("/tmp/pw-user")
    example = repo / "spa-plugin" / "conf" / "utimer-loopback-example.conf"
    rate, seconds = 48000, 10
    pattern = work / "pattern.raw"
    recording = work / "recording.wav"
    bus = None
    try:
        pw = PipeWire(work, plugin_dir=build / "spa-plugin", user=USER, dropins=[example],
                      debug="2,spa.alsa:3,spa.utimer:4")
        # A user's session has a D-Bus session bus; WirePlumber quits without
        # one (exit 70 when its D-Bus plugins cannot connect).
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                "--print-address=1"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=pw.env, **as_user(USER))
        pw.env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        with pw:
            pw.spawn(["wireplumber"], work / "wireplumber.log")
            wp_up = wait_for(lambda: any(
                o.get("type") == "PipeWire:Interface:Metadata" and
                o.get("props", {}).get("metadata.name") == "default" for o in settled(pw.dump)), 90)
            t.check(wp_up, "WirePlumber runs as the user and manages the graph (its 'default' metadata)")
            node = "utimer-loopback-driver"
            wait_for(lambda: settled(lambda: pw.has_node(node)), 20)
            props = settled(lambda: pw.props(node))
            t.note(f"driver node: {props}")
            tid = props.get("api.utimer.id")
            t.check(tid is not None, f"the example's driver node has a timer: {props.get('api.utimer.error')}")
            t.equal(timer_source(), f"-1.4.{tid}", "Loopback is bound to the node's timer")
            t.check(f"pid {pw.daemon.pid} ({USER})" in service_log.read_text(),
                    f"through utimer-aloopd, by the user's pipewire (pid {pw.daemon.pid})")

            n = (seconds + 4) * rate
            pattern.write_bytes(pattern_bytes(n))
            # A legacy player through the user's graph: aplay -> hw:Loopback,0,0
            # -> cable 0 -> the example's ALSA source (hw:Loopback,1 = 1,0) ->
            # pw-record. The cable is paced by the node's timer. Periods are
            # the timer's (snd-aloop stops a stream whose period differs);
            # non-blocking (-N) so that the kernel's 10 s wait limit does not
            # end aplay before the graph starts (seconds under TCG).
            play = pw.spawn(["aplay", "-D", "hw:Loopback,0,0", "-q", "-N", "-f", "S16_LE", "-c", "2",
                             "-r", str(rate), "-t", "raw", "--period-size=256",
                             "--buffer-size=65536", str(pattern)], work / "aplay.log")
            rec = pw.spawn(["pw-record", "--rate", str(rate), "--channels", "2", "--format", "s16",
                            "-P", "{ node.name = aloopd-record node.autoconnect = false }",
                            str(recording)], work / "pw-record.log")
            time.sleep(2)
            for ch in ("FL", "FR"):
                settled(lambda: pw.link(f"utimer-loopback-capture:capture_{ch}",
                                        f"aloopd-record:input_{ch}"))

            def instances() -> int:
                listing = subprocess.run([str(utimerctl), "list"], capture_output=True, text=True).stdout
                row = [l.split() for l in listing.splitlines() if l.split()[:1] == [str(tid)]]
                return int(row[0][3]) if row and row[0][3].isdigit() else -1

            def hw_ptr(status: str) -> int:
                text = Path(status).read_text()
                fields = {k.strip(): v.strip() for k, v in
                          (l.split(":", 1) for l in text.splitlines() if ":" in l)}
                return int(fields["hw_ptr"]) if fields.get("state") == "RUNNING" else -1

            # The kernel's view: the cable moves only when the timer ticks.
            capture = "/proc/asound/Loopback/pcm1c/sub0/status"
            first, moving = -1, False
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not moving:
                now = hw_ptr(capture)
                moving = first >= 0 and now > first
                first = now if first < 0 else first
                time.sleep(0.5)
            t.check(moving, "the cable moves: the user's graph ticks the node's timer")
            for name in ("utimer-loopback-driver", "utimer-loopback-capture"):
                t.note(f"{name}: {settled(lambda: pw.state(name))}")
            t.check(instances() >= 1, f"the kernel lists the cable on the node's timer ({instances()})")
            before = settled(lambda: pw.counters(node))["api.utimer.triggers"]
            play.wait(seconds * 6 + 120)  # to the pattern's end
            time.sleep(2)
            rec.terminate()
            rec.wait(20)
            after = settled(lambda: pw.counters(node))["api.utimer.triggers"]
            t.check(after > before, f"the graph ticks the timer ({before} -> {after} triggers)")
        t.equal(timer_source(), "", "the user's PipeWire gave the card back when it stopped")
    except PipeWireError as e:
        t.check(False, f"PipeWire as {USER}: {e}")
    finally:
        if bus:
            bus.terminate()
            bus.wait(10)
        logs = out / "pw-user"
        logs.mkdir(exist_ok=True)
        for log in work.glob("*.log"):
            shutil.copy(log, logs)

    if recording.exists():
        rec16 = array.array("H")
        with wave.open(str(recording), "rb") as w:
            rec16.frombytes(w.readframes(w.getnframes()))
        pat16 = array.array("H")
        pat16.frombytes(pattern.read_bytes())
        frames = len(rec16) // 2

        def index(l: int, r: int):
            return pattern_index(l, r) if l & 0x8000 and (r & 0xc000) == 0x4000 else None

        # Every recorded frame must be the pattern frame its markers name, in
        # order. A jump to another pattern frame (a client that was late:
        # aplay's underrun, pw-record missing a cycle, the ALSA source
        # re-reading a period when it resyncs) and silence (PipeWire filling
        # a late cycle) are counted and reported -- real-time misses of a
        # loaded TCG guest; a value the pattern does not have at the frame its
        # markers name, as resampling or a wrong clock makes, fails.
        start = next((i for i in range(frames) if index(rec16[2 * i], rec16[2 * i + 1]) is not None), None)
        compared, gaps, repeats, dropouts, first_diff = 0, 0, 0, 0, None
        if start is not None:
            j = index(rec16[2 * start], rec16[2 * start + 1])
            for i in range(start, frames):
                l, r = rec16[2 * i], rec16[2 * i + 1]
                k = index(l, r)
                if k is None and l == 0 and r == 0:
                    if all(x == 0 for x in rec16[2 * i:]):
                        break  # the recorder ran on after the player ended
                    dropouts += 1  # silence PipeWire inserted for a late cycle
                    continue
                if 2 * j + 1 < len(pat16) and ((l == 0 and r == pat16[2 * j + 1]) or
                                               (r == 0 and l == pat16[2 * j])):
                    dropouts += 1  # one port's buffer was late: that channel silent
                    j += 1
                    continue
                if k is not None and k != j and 2 * k + 1 < len(pat16) and (k - j) % 256 == 0:
                    # Glitches skip or repeat whole cycles of 256 frames;
                    # resampling makes other steps, and values between
                    # pattern frames.
                    if k > j:
                        gaps += 1
                    else:
                        repeats += 1
                    j = k
                if 2 * j + 1 >= len(pat16) or (l, r) != (pat16[2 * j], pat16[2 * j + 1]):
                    first_diff = i
                    break
                compared += 1
                j += 1
            t.note(f"recording: {frames} frames, pattern from frame {start}; {gaps} gap(s), "
                   f"{repeats} repeat(s), {dropouts} frames of inserted silence (late cycles)")
        t.check(first_diff is None and compared >= 5 * rate,
                f"pw-record got aplay's pattern through the cable bit for bit ({compared} frames "
                f"compared, first altered frame {first_diff}; {gaps} gaps, {repeats} repeats, "
                f"{dropouts} silent frames)")
        shutil.copy(recording, out / "pw-user")
    else:
        t.check(False, "pw-record wrote nothing")
finally:
    if svc.poll() is None:
        stop_service(svc)
    t.note("service log:\n" + service_log.read_text())
sys.exit(t.done())
