#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs as root in utimer-vm's debian13 guest (a Debian 13 system: trixie's stock
kernel with the modules DKMS built from our packages, systemd, and the lingering
user 'tester' in group audio whose PipeWire and WirePlumber are socket-activated
user services, as on a desktop). Everything PipeWire does here is that user's
daemon's: each case writes the user's drop-ins in ~/.config/pipewire/pipewire.conf.d/
and restarts the user's pipewire.service, as README's "A loopback paced by PipeWire"
says; the node, running as the user, binds the card through utimer-aloopd (a
socket-activated system service).

 S. the system: the root's own kernel, snd-timer from DKMS (updates/dkms), PipeWire
    1.4 and WirePlumber 0.5, the user's manager up through linger, pipewire.socket
    listening, utimerctl probe as the user.
 B. the shipped example drop-in: the driver binds Loopback through utimer-aloopd
    (started by its socket), PipeWire's ALSA sink and source on the loopback follow
    its clock with matching:0 resample:0, and a JACK client on the graph's data path
    (jack-pattern under pw-jack) -> sink ... source -> the same client comes out
    bit-exact.
 Q. a cable (aplay -> hw:Loopback,0, hw:Loopback,1 -> arecord, as the user) under our
    driver, and while it runs: the graph's quantum changes (256 -> 128 -> 1024 -> 256),
    the graph pauses for 1 s and resumes, the graph's rate changes 48 -> 96 kHz ->
    48 kHz (pw-top shows 96 kHz; our node still ticks once per 256 frames of 48 kHz):
    the same timer all along, no EIO, no xrun, capture == pattern bit-exact,
    hw_ptr == triggers x period.
 D. the same cable with PipeWire's own support.node.driver (clock.id=realtime) driving
    the group and our node following: it ticks from process(), bit-exact.

Usage: guest-test.py JACK_PATTERN [CASE...]; TAP on stdout, logs in $UTIMER_VM_OUT.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pwfixture"))
from pwfixture import Checks, PipeWire, PipeWireError, pattern_bytes, pattern_compare  # noqa: E402

if len(sys.argv) < 2:
    sys.exit("usage: guest-test.py JACK_PATTERN [CASE...] (JACK_PATTERN: the build's "
             "tests/spa-vm/jack-pattern)")
jack_pattern = Path(sys.argv[1]).resolve()
CASES = sys.argv[2:] or ["S", "B", "Q", "D"]
USER = "tester"
RATE, QUANTUM, BUFFER = 48000, 256, 262144
PERIODS = int(os.environ.get("DEBIAN13_PERIODS", "1000"))
EXAMPLE = Path("/usr/share/doc/pipewire-utimer/examples/utimer-loopback-example.conf")
ALOOP = Path("/proc/asound/Loopback")
out = Path(os.environ.get("UTIMER_VM_OUT") or tempfile.mkdtemp())
t = Checks()
user = pwd.getpwnam(USER)
home = Path(user.pw_dir)
runtime = Path(f"/run/user/{user.pw_uid}")
confd = home / ".config/pipewire/pipewire.conf.d"
# Written by the user's session (their PipeWire writes them as the user).
work = Path(tempfile.mkdtemp(prefix="utimer-debian13.", dir="/tmp"))
os.chown(work, user.pw_uid, user.pw_gid)


def sh(cmd: list[str], check: bool = False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, **kw)


class Session(PipeWire):
    """The user's own PipeWire (user@1000.service's pipewire.service, started by
    pipewire.socket) seen through pwfixture's client side: pw-dump, pw-link,
    pw-metadata and spawned clients run as the user in their session. Its log is
    the journal of the user's pipewire.service since the last start()."""

    def __init__(self) -> None:  # pylint: disable=super-init-not-called
        self.work = work
        self.name = "pipewire"
        self.user = user
        self.wireplumber = True
        self.procs = []
        self.log = work / "pipewire.log"
        self.cursor = ""
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
                    "USER": USER, "LOGNAME": USER, "LANG": "C.UTF-8",
                    "XDG_RUNTIME_DIR": str(runtime),
                    "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus"}
        if os.environ.get("UTIMER_VM_ACCEL") == "tcg":
            self.env["PIPEWIRE_CPU"] = "0"  # as the daemon's (user_unit_environment)

    def systemctl(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(["systemctl", "--user", *args], check=False, timeout=120)

    def start(self, timeout: float = 120) -> "Session":
        self.cursor = sh(["journalctl", "-n", "0", "--show-cursor", "-q"]).stdout.strip()
        self.cursor = self.cursor.removeprefix("-- cursor: ")
        r = self.systemctl("restart", "pipewire.service")
        if r.returncode != 0:
            raise PipeWireError(f"systemctl --user restart pipewire.service: {r.stderr.strip()}")
        self._wait(lambda: self.run(["pw-cli", "info", "0"], check=False).returncode == 0,
                   timeout, "the user's pipewire to accept clients")
        self._wait(self._wireplumber_ready, timeout, "the user's wireplumber")
        return self

    def __enter__(self) -> "Session":
        return self  # started already (restart())

    def stop(self, timeout: float = 10) -> None:
        """Stops the clients it spawned; the user's daemon stays up."""
        super().stop(timeout)

    def alive(self) -> bool:
        return self.systemctl("is-active", "--quiet", "pipewire.service").returncode == 0

    def journal(self) -> str:
        args = ["journalctl", "-q", "-o", "cat", f"_UID={user.pw_uid}",
                "_SYSTEMD_USER_UNIT=pipewire.service"]
        if self.cursor:
            args.append(f"--after-cursor={self.cursor}")
        text = sh(args).stdout
        self.log.write_text(text)
        return text

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.journal().splitlines()[-lines:])


def user_unit_environment() -> None:
    """The user's pipewire.service with the log topics the checks read, and (TCG)
    PipeWire's plain C DSP code: TCG emulates its AVX2/FMA versions through
    softfloat, ten times slower; the emulator's cost, not what is tested."""
    d = home / ".config/systemd/user/pipewire.service.d"
    d.mkdir(parents=True, exist_ok=True)
    env = ['PIPEWIRE_DEBUG=2,spa.utimer:4,spa.alsa:4,pw.node:3']
    if os.environ.get("UTIMER_VM_ACCEL") == "tcg":
        env.append("PIPEWIRE_CPU=0")
    (d / "utimer-vm.conf").write_text(
        "# utimer-vm's debian13 guest (tests/debian13/guest-test.py)\n[Service]\n" +
        "".join(f"Environment={e}\n" for e in env))
    for p in (home / ".config", home / ".config/systemd", home / ".config/systemd/user", d,
              d / "utimer-vm.conf"):
        os.chown(p, user.pw_uid, user.pw_gid)
    Session().systemctl("daemon-reload")


def dropins(files: dict[str, str]) -> None:
    """The user's pipewire.conf.d holds exactly files (name -> text)."""
    confd.mkdir(parents=True, exist_ok=True)
    for p in confd.iterdir():
        p.unlink()
    for name, text in files.items():
        (confd / name).write_text(text)
    for p in [home / ".config", home / ".config/pipewire", confd, *confd.iterdir()]:
        os.chown(p, user.pw_uid, user.pw_gid)


# ---- the pattern (pwfixture.pattern_bytes) ---------------------------------------
PATTERN_FRAMES = BUFFER + (PERIODS + 3000) * 512 * 2
PATTERN = pattern_bytes(PATTERN_FRAMES)
(work / "pattern.raw").write_bytes(PATTERN)


def hw_ptr(status: Path) -> int | None:
    m = re.search(r"^hw_ptr\s*:\s*(\d+)", status.read_text(), re.M)
    return int(m.group(1)) if m else None


def aloopd_active() -> str:
    return sh(["systemctl", "is-active", "utimer-aloopd.service"]).stdout.strip()


def monotonic_us(unit: str, user_manager: bool = False) -> int:
    cmd = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", unit]
    if user_manager:
        cmd[1:1] = ["--user", "-M", f"{USER}@"]
    v = sh(cmd).stdout.strip()
    return int(v) if v.isdigit() else 0


# ---- S: the system ---------------------------------------------------------------
rel = os.uname().release
if "S" in CASES:
    t.equal(sh(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", f"linux-image-{rel}"]).stdout.strip(),
            "ii", f"S: booted the root's own kernel {rel} (its linux-image is installed)")
    t.equal(os.cpu_count(), 2, "S: 2 CPUs")
    dkms = sh(["dkms", "status", "utimer"]).stdout.strip()
    # ("Differences between built and installed modules": what is in updates/ is
    # not what DKMS built)
    t.check(re.search(rf", {re.escape(rel)}, [^:]*: installed", dkms) is not None and
            "Differences" not in dkms, f"S: dkms status: {dkms}")
    pwv = sh(["pipewire", "--version"]).stdout
    wpv = sh(["wireplumber", "--version"]).stdout
    m_pw = re.search(r"libpipewire (\S+)", pwv)
    m_wp = re.search(r"libwireplumber (\S+)", wpv)
    t.note(f"S: kernel {rel}; {' '.join(pwv.split())}; {' '.join(wpv.split())}")
    t.check(m_pw is not None and m_pw.group(1).startswith("1.4."), f"S: PipeWire 1.4 ({m_pw and m_pw.group(1)})")
    t.check(m_wp is not None and m_wp.group(1).startswith("0.5."), f"S: WirePlumber 0.5 ({m_wp and m_wp.group(1)})")
    groups = [g.gr_name for g in __import__("grp").getgrall() if USER in g.gr_mem]
    t.check("audio" in groups, f"S: {USER} is in group audio ({groups})")
    t.check(Path(f"/var/lib/systemd/linger/{USER}").exists(), f"S: {USER} lingers")

# The user's manager, started at boot by logind for the lingering user.
deadline = time.monotonic() + 180
while time.monotonic() < deadline and sh(["systemctl", "is-active", f"user@{user.pw_uid}.service"]).stdout.strip() != "active":
    time.sleep(0.5)
session = Session()
while time.monotonic() < deadline and session.systemctl("is-active", "--quiet", "sockets.target").returncode != 0:
    time.sleep(0.5)
if not t.check(session.systemctl("is-active", "--quiet", "pipewire.socket").returncode == 0,
               "S: the user's pipewire.socket listens (user@1000.service via linger)"):
    t.note(sh(["systemctl", "status", f"user@{user.pw_uid}.service"]).stdout)
    t.bail("no user session")
t.note(f"S: boot to user@{user.pw_uid}.service active {monotonic_us(f'user@{user.pw_uid}.service') / 1e6:.1f} s, "
       f"to the user's sockets.target {monotonic_us('sockets.target', True) / 1e6:.1f} s (since the kernel started)")
t.check(session.systemctl("show", "-p", "Triggers", "--value", "pipewire.socket").stdout.strip() == "pipewire.service",
        "S: pipewire.socket activates pipewire.service")
t.equal(sh(["systemctl", "is-active", "utimer-aloopd.socket"]).stdout.strip(), "active",
        "S: utimer-aloopd.socket listens (enabled by the package)")
t.equal(aloopd_active(), "inactive", "S: utimer-aloopd.service not started yet (socket-activated)")

if sh(["modprobe", "snd-aloop"]).returncode != 0 or not ALOOP.exists():
    t.bail("modprobe snd-aloop: no card Loopback")
# What the card is clocked by before any binding: each case's binding ends with it.
initial_source = (ALOOP / "timer_source").read_text().strip()
timer_path = sh(["modinfo", "-n", "snd-timer"]).stdout.strip()
t.check(timer_path.startswith(f"/lib/modules/{rel}/updates/dkms/"),
        f"S: modprobe takes DKMS's snd-timer ({timer_path})")
# The one loaded is an out-of-tree module (taint O), not Debian's own (neither
# carries a srcversion to tell them apart).
taint = Path("/sys/module/snd_timer/taint")
taint = taint.read_text().strip() if taint.exists() else "(not loaded)"
t.check("O" in taint, f"S: the loaded snd_timer is out of tree, DKMS's (taint {taint!r})")
probe = session.run(["utimerctl", "probe"], check=False)
t.check(probe.returncode == 0, f"S: utimerctl probe as {USER}: {probe.stdout.strip().splitlines()[-1:]}")
user_unit_environment()


def restart(files: dict[str, str], tag: str) -> Session:
    dropins(files)
    start = time.monotonic()
    s = Session().start()
    t.note(f"{tag}: the user's pipewire restarted with {sorted(files)} in {time.monotonic() - start:.1f} s")
    pid = s.systemctl("show", "-p", "MainPID", "--value", "pipewire.service").stdout.strip()
    owner = sh(["ps", "-o", "user=", "-p", pid]).stdout.strip()
    t.equal(owner, USER, f"{tag}: pipewire (pid {pid}) runs as the user")
    return s


def bound_through_aloopd(s: Session, node: str, tag: str) -> str:
    props = s.props(node)
    t.equal(props.get("api.utimer.state"), "idle",
            f"{tag}: {node} made its timer ({props.get('api.utimer.error')})")
    source = props.get("api.utimer.timer-source", "")
    t.equal(source, f"-1.4.{props.get('api.utimer.id')}", f"{tag}: timer_source of our timer")
    t.equal((ALOOP / "timer_source").read_text().strip(), source,
            f"{tag}: /proc/asound/Loopback/timer_source")
    # The service's own record: which process (the user's daemon) bound what.
    pid = s.systemctl("show", "-p", "MainPID", "--value", "pipewire.service").stdout.strip()
    log = sh(["journalctl", "-q", "-o", "cat", "_SYSTEMD_UNIT=utimer-aloopd.service"]).stdout
    t.check(f"pid {pid} ({USER}): card Loopback (card 0) -> {source};" in log,
            f"{tag}: the user's daemon bound the card through utimer-aloopd "
            f"({(log.strip().splitlines() or ['no log'])[-1]})")
    t.equal(aloopd_active(), "active", f"{tag}: utimer-aloopd.service started by its socket")
    return props.get("api.utimer.id", "")


def unbind(tag: str) -> None:
    """The user's daemon stopped (its socket stays), the binding ends."""
    r = Session().systemctl("stop", "pipewire.service")
    why = "" if r.returncode == 0 else " ".join(r.stderr.split())
    t.check(r.returncode == 0, f"{tag}: systemctl --user stop pipewire.service {why}")
    # (utimer-aloopd restores the card when it sees the connection close)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (ALOOP / "timer_source").read_text().strip() != initial_source:
        time.sleep(0.2)
    t.equal((ALOOP / "timer_source").read_text().strip(), initial_source,
            f"{tag}: timer_source restored when the user's daemon stops")


times: dict[str, float] = {}

# ---- B: the shipped example ------------------------------------------------------
def run_case(tag: str, case, *args) -> None:
    """One case; what fails on the way (a node without its timer, say) fails
    the case with the reason, and the next case runs."""
    begin = time.monotonic()
    try:
        case(*args)
    except (PipeWireError, KeyError, OSError, subprocess.SubprocessError) as e:
        t.check(False, f"{tag}: {type(e).__name__}: {e}")
    times[tag] = time.monotonic() - begin


def case_b() -> None:
    pw = restart({EXAMPLE.name: EXAMPLE.read_text()}, "B")
    with pw:
        bound_through_aloopd(pw, "utimer-loopback-driver", "B")
        for n in ("utimer-loopback-playback", "utimer-loopback-capture"):
            t.equal(pw.prop(n, "clock.name"), "api.utimer.loopback", f"B: {n} shares clock.name")
        recording = work / "B-record.raw"
        client = pw.spawn(["pw-jack", str(jack_pattern), "utimer-vm-pattern", str(recording), "30"],
                          work / "jack-pattern.err")
        deadline = time.monotonic() + 30
        while "utimer-vm-pattern" not in pw.nodes() and time.monotonic() < deadline:
            time.sleep(0.5)
        for ch in ("FL", "FR"):
            pw.link(f"utimer-vm-pattern:out_{ch}", f"utimer-loopback-playback:playback_{ch}")
            pw.link(f"utimer-loopback-capture:capture_{ch}", f"utimer-vm-pattern:in_{ch}")
        c0 = pw.counters("utimer-loopback-driver")
        time.sleep(10)
        c = pw.counters("utimer-loopback-driver")
        t.note(f"B: counters {c0} -> {c}")
        t.check(c["api.utimer.triggers"] - c0["api.utimer.triggers"] > 1000,
                f"B: the graph ran under our driver ({c0['api.utimer.triggers']} -> "
                f"{c['api.utimer.triggers']} triggers)")
        t.equal(c["api.utimer.errors"], 0, "B: no trigger errors")
        client.send_signal(signal.SIGINT)
        client.wait(30)
        log = pw.journal()
        # Each ALSA node logs its decision when it starts following (spa.alsa info):
        # "driver clock:'api.utimer.loopback'@48000 our clock:'...'@48000 matching:0 resample:0".
        setups = re.findall(r"driver clock:'([^']*)'@(\d+) our clock:'([^']*)'@(\d+) "
                            r"matching:(\d) resample:(\d)", log)
        ours = [m for m in setups if m[0] == "api.utimer.loopback"]
        t.note(f"B: ALSA setups under our clock: {sorted(set(ours))}")
        t.check(len(ours) >= 2 and all(m[2] == m[0] and m[4] == "0" and m[5] == "0" for m in ours),
                f"B: both ALSA nodes follow our clock with matching:0 resample:0 ({len(ours)} setups)")
        resyncs = len(re.findall(r"hw:Loopback,[01][pc]: follower [^\n]*resync", log))
        t.note(f"B: ALSA follower resyncs: {resyncs}")
        xruns = re.findall(r"\((utimer-loopback-\w+)-\d+\) XRun![^\n]*count:(\d+)", log)
        data = recording.read_bytes() if recording.exists() else b""
        ok, text = pattern_compare(data, 5 * RATE)
        if not ok and recording.exists():
            shutil.copy(recording, out / "B-record.raw")
        what = f"B: player -> ALSA sink -> loopback -> ALSA source -> recorder bit-exact ({text})"
        late = sum(int(n) for _, n in xruns)
        # A late guest glitches a recording; it does not silence all of it.
        if not ok and late and "silent" not in text and os.environ.get("UTIMER_VM_ACCEL") == "tcg":
            t.unjudged(what, f"the TCG guest did not keep up ({late} ALSA xruns: {dict(xruns)})")
        else:
            t.check(ok, what)
        t.check(pw.alive(), "B: the user's daemon still up")
    unbind("B")


if "B" in CASES:
    run_case("B", case_b)


# ---- Q and D: a cable under our driver -------------------------------------------
CONTEXT = f"""context.properties = {{
    default.clock.rate = {RATE}
    default.clock.allowed-rates = [ {RATE} {2 * RATE} ]
    default.clock.quantum = {QUANTUM}
    default.clock.min-quantum = 32
    default.clock.max-quantum = 2048
}}
"""


def cable_conf(follower: bool) -> str:
    system = """    { factory = spa-node-factory
        args = {
            factory.name    = support.node.driver
            node.name       = utimer-vm-system-driver
            node.group      = utimer.vm
            priority.driver = 40000
            clock.id        = realtime
        }
    }
""" if follower else ""
    return f"""# utimer-vm's debian13 guest: a driver{' following support.node.driver' if follower else ''} and a null sink
{CONTEXT}context.spa-libs = {{ api.utimer.* = utimer/libspa-utimer }}
context.objects = [
{system}    {{ factory = spa-node-factory
        args = {{
            factory.name          = api.utimer.driver
            node.name             = utimer-vm-driver
            node.group            = utimer.vm
            priority.driver       = {100 if follower else 30000}
            api.utimer.rate       = {RATE}
            api.utimer.period     = {QUANTUM}
            api.utimer.aloop.card = Loopback
        }}
    }}
    {{ factory = adapter
        args = {{
            factory.name   = support.null-audio-sink
            node.name      = utimer-vm-sink
            media.class    = Audio/Sink
            node.group     = utimer.vm
            # what makes a following utimer node runnable under PipeWire >= 0.3.68
            # (it publishes node.link-group = node.group); the user's drop-in says so
            node.link-group = utimer.vm
            audio.format   = F32P
            audio.rate     = {RATE}
            audio.channels = 2
            audio.position = [ FL FR ]
            adapter.auto-port-config = {{ mode = dsp monitor = true }}
        }}
    }}
]
"""


class Cable:
    """aplay -> hw:Loopback,0 and hw:Loopback,1 -> arecord as the user."""

    def __init__(self, s: Session, tag: str):
        self.tag = tag
        self.capture = work / f"capture-{tag}.raw"
        args = ["-f", "S16_LE", "-c", "2", "-r", str(RATE), f"--period-size={QUANTUM}",
                f"--buffer-size={BUFFER}", "-t", "raw"]
        self.errs = [work / f"arecord-{tag}.err", work / f"aplay-{tag}.err"]
        self.procs = [s.spawn(["arecord", "-D", "hw:Loopback,1", *args, str(self.capture)], self.errs[0]),
                      s.spawn(["aplay", "-D", "hw:Loopback,0", *args, str(work / "pattern.raw")], self.errs[1])]

    def captured(self) -> int:
        return self.capture.stat().st_size if self.capture.exists() else 0

    def wait_for_periods(self, periods: int, timeout: float = 240) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.captured() >= periods * QUANTUM * 4:
                return True
            if not self.alive():
                return False
            time.sleep(0.2)
        return False

    def still_ptr(self) -> int | None:
        previous = None
        cap = None
        for _ in range(25):
            cap = hw_ptr(ALOOP / "pcm1c/sub0/status")
            if cap is not None and cap == previous:
                break
            previous = cap
            time.sleep(0.2)
        return cap

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> str:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return "".join(e.read_text(errors="replace") for e in self.errs if e.exists())


def run_graph(s: Session) -> None:
    s.link("utimer-vm-sink:monitor_FL", "utimer-vm-sink:playback_FL")


def stop_graph(s: Session) -> None:
    s.unlink("utimer-vm-sink:monitor_FL", "utimer-vm-sink:playback_FL")


def graph_clock(s: Session, driver: str) -> tuple[int, int]:
    """(quantum, rate) pw-top shows for driver's graph (0, 0 when it shows none)."""
    out = s.run(["pw-top", "-b", "-n", "3"], check=False, timeout=30).stdout
    rows = [line.split() for line in out.splitlines() if line.split()[-1:] == [driver]]
    for row in reversed(rows):
        if len(row) > 3 and row[2].isdigit() and row[3].isdigit():
            return int(row[2]), int(row[3])
    t.note(f"pw-top shows no clock for {driver}: {out[-400:]!r}")
    return 0, 0


def changes(s: Session, cable: Cable) -> None:
    """Q: quantum, pause/resume and rate with the cable open."""
    for q in (128, 1024):
        s.metadata("clock.force-quantum", str(q))
        time.sleep(3)
        t.check(cable.alive(), f"Q: quantum {q}: streams alive ({s.counters('utimer-vm-driver')})")
    s.metadata("clock.force-quantum", "0")
    time.sleep(1)
    log = s.journal()
    seen = set(re.findall(r"utimer-vm-driver: [^\n]*quantum (\d+)", log))
    t.note(f"Q: quanta the driver logged: {sorted(seen, key=int)}")
    stop_graph(s)
    cap0 = cable.still_ptr()
    time.sleep(1)
    t.equal(hw_ptr(ALOOP / "pcm1c/sub0/status"), cap0, "Q: paused graph: the cable stands still")
    run_graph(s)
    time.sleep(2)
    t.check(cable.alive(), "Q: streams alive after pause/resume")
    s.metadata("clock.force-rate", str(2 * RATE))
    time.sleep(1)
    before = s.counters("utimer-vm-driver")
    time.sleep(4)
    after = s.counters("utimer-vm-driver")
    ticks = after["api.utimer.triggers"] - before["api.utimer.triggers"]
    cycles = after["api.utimer.cycles"] - before["api.utimer.cycles"]
    t.check(ticks > 0, f"Q: ticks continue at 96 kHz ({ticks} in 4 s)")
    quant, rate = graph_clock(s, "utimer-vm-driver")
    t.equal(rate, 2 * RATE, f"Q: the graph runs at 96 kHz (pw-top: quantum {quant}, rate {rate})")
    # Our node ticks once per period of time (256 frames at the loopback's 48 kHz),
    # whatever the graph's cycle: cycles per tick = period time / cycle time.
    if quant and rate:
        want = (QUANTUM / RATE) / (quant / rate)
        t.check(0.75 * want <= cycles / max(ticks, 1) <= 1.25 * want,
                f"Q: {cycles} cycles for {ticks} ticks at {quant}/{rate}: {want:.2f} per tick expected")
    t.check(cable.alive(), "Q: streams alive after the rate change")
    s.metadata("clock.force-rate", "0")


def following(s: Session, cable: Cable) -> None:
    t.equal(s.prop("utimer-vm-driver", "api.utimer.following"), "true",
            "D: our node follows support.node.driver")
    t.equal(s.state("utimer-vm-system-driver")[0], "running", "D: support.node.driver runs the group")
    props = s.props("utimer-vm-system-driver")
    t.note(f"D: support.node.driver: clock.id={props.get('clock.id')} clock.name={props.get('clock.name')}")


def cable_case(tag: str, follower: bool, during) -> None:
    s = restart({"utimer-vm-cable.conf": cable_conf(follower)}, tag)
    with s:
        timer_id = bound_through_aloopd(s, "utimer-vm-driver", tag)
        c0 = s.counters("utimer-vm-driver")
        cable = Cable(s, tag)
        time.sleep(1)
        t.equal(cable.captured(), 0, f"{tag}: capture idle without ticks")
        run_graph(s)
        t.check(cable.wait_for_periods(PERIODS // 3), f"{tag}: a third of the periods arrived")
        during(s, cable)
        t.check(cable.wait_for_periods(PERIODS + 20), f"{tag}: {PERIODS} periods arrived")
        stop_graph(s)
        cap = cable.still_ptr()
        play = hw_ptr(ALOOP / "pcm0p/sub0/status")
        t.check(cable.alive(), f"{tag}: aplay and arecord still running (no EIO)")
        errs = cable.stop().split("Aborted by signal")[0]
        t.check(not re.search(r"underrun|overrun|xrun|Input/output error", errs, re.I),
                f"{tag}: no xruns or EIO in aplay/arecord ({errs.strip()[-200:]!r})")
        c1 = s.counters("utimer-vm-driver")
        ticks = c1["api.utimer.triggers"] - c0["api.utimer.triggers"]
        t.note(f"{tag}: counters {c1}, capture hw_ptr {cap}, playback hw_ptr {play}")
        t.check(ticks >= PERIODS, f"{tag}: ticked >= {PERIODS} periods ({ticks})")
        t.equal(cap, ticks * QUANTUM, f"{tag}: captured frames == triggers x period")
        t.equal(play, ticks * QUANTUM, f"{tag}: played frames == triggers x period")
        t.equal(c1["api.utimer.errors"], 0, f"{tag}: no trigger errors")
        t.equal(s.prop("utimer-vm-driver", "api.utimer.id"), timer_id, f"{tag}: the same timer all along")
        ok, text = pattern_compare(cable.capture.read_bytes(), PERIODS * QUANTUM)
        t.check(ok, f"{tag}: capture == pattern, bit-exact ({text})")
    unbind(tag)


if "Q" in CASES:
    run_case("Q", cable_case, "Q", False, changes)
if "D" in CASES:
    run_case("D", cable_case, "D", True, following)

t.note("case times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
for f in work.glob("*"):
    if f.suffix in (".log", ".err"):
        shutil.copy(f, out / f.name)
shutil.rmtree(work, ignore_errors=True)
sys.exit(t.done())
