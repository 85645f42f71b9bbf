# SPDX-License-Identifier: GPL-2.0-or-later
"""The one PipeWire test fixture: a private pipewire daemon (and, when asked,
wireplumber) with a generated configuration, run as a given user, and what it
shows through pw-dump -- every read raises when it cannot give an answer.

    from pwfixture import PipeWire, Checks, utimer_node

    with PipeWire(work, objects=[utimer_node("utimer-driver")],
                  plugin_dir=build / "spa-plugin") as pw:
        pw.prop("utimer-driver", "api.utimer.state")    # KeyError if absent
        pw.counters("utimer-driver")["api.utimer.triggers"]

Used as a module (PYTHONPATH=tests/pwfixture) by tests/pipewire, tests/spa-vm,
tests/tools/vm and the demo/bench scripts; `python3 pwfixture.py config ...`
prints a configuration for shell callers.
"""

from __future__ import annotations

import array
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable


class PipeWireError(RuntimeError):
    """pipewire/pw-dump/pw-cli failed, or what was asked for is not there."""


# ---- configuration ------------------------------------------------------------

MODULES = [
    "libpipewire-module-protocol-native",
    "libpipewire-module-metadata",
    "libpipewire-module-spa-node-factory",
    "libpipewire-module-client-node",
    "libpipewire-module-access",
    "libpipewire-module-adapter",
    "libpipewire-module-link-factory",
]

SPA_LIBS = {
    "audio.convert.*": "audioconvert/libspa-audioconvert",
    "support.*": "support/libspa-support",
    "api.alsa.*": "alsa/libspa-alsa",
    "api.utimer.*": "utimer/libspa-utimer",
}

_BARE = re.compile(r"^[A-Za-z0-9_.*:/+-]+$")


def spa_json(value: Any, indent: int = 0) -> str:
    """value as SPA-JSON (PipeWire's config syntax)."""
    pad = "    " * (indent + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value if _BARE.match(value) else json.dumps(value)
    if isinstance(value, dict):
        inner = "".join(f"{pad}{k} = {spa_json(v, indent + 1)}\n" for k, v in value.items())
        return "{\n" + inner + "    " * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[ " + " ".join(spa_json(v, indent + 1) for v in value) + " ]"
    raise TypeError(f"no SPA-JSON for {value!r}")


def config(properties: dict | None = None, objects: Iterable[dict] = (),
           spa_libs: dict | None = None, modules: Iterable[str] = MODULES) -> str:
    """A complete pipewire.conf: a daemon at 48 kHz, quantum 256 unless
    properties say otherwise, the modules tests need, and objects
    ({"factory": ..., "args": {...}, "flags": [...]})."""
    props = {"core.daemon": True, "core.name": "pipewire-0", "support.dbus": False,
             "default.clock.rate": 48000, "default.clock.quantum": 256,
             "default.clock.min-quantum": 32}
    props.update(properties or {})
    text = "context.properties = " + spa_json(props) + "\n"
    text += "context.spa-libs = " + spa_json(spa_libs or SPA_LIBS) + "\n"
    text += "context.modules = [\n" + "".join(
        f"    {{ name = {m} }}\n" for m in modules) + "]\n"
    text += "context.objects = [\n" + "".join(
        "    " + spa_json(o, 1) + "\n" for o in objects) + "]\n"
    return text


def utimer_node(name: str, group: str = "utimer.test", priority: int = 30000,
                args: dict | None = None) -> dict:
    """An api.utimer.driver node with more factory args (e.g.
    {"api.utimer.period": 256})."""
    a = {"factory.name": "api.utimer.driver", "node.name": name, "node.group": group,
         "priority.driver": priority}
    a.update(args or {})
    return {"factory": "spa-node-factory", "args": a}


def system_driver(name: str, group: str, priority: int = 40000) -> dict:
    """PipeWire's own timer driver (support.node.driver) in group."""
    return {"factory": "spa-node-factory", "args": {
        "factory.name": "support.node.driver", "node.name": name, "node.group": group,
        "priority.driver": priority}}


def null_sink(name: str, group: str, rate: int = 48000, link_group: str | None = None) -> dict:
    """A support.null-audio-sink in group, stereo F32 at rate; run_group()
    links its monitor to its input, which makes the group run. link_group:
    its node.link-group (a follower utimer node runs with it on PipeWire >=
    0.3.68 only when both share one: see spa-plugin/README.md).

    Its format is pinned: without a session manager nothing else fixates it,
    and since PipeWire 1.1 the adapter builds the DSP ports (monitor_FL ...)
    from the follower's fixated format, so an unpinned sink gets none there
    (0.3.65 made them from the positions alone; it ignores audio.format)."""
    return {"factory": "adapter", "args": {
        "factory.name": "support.null-audio-sink", "node.name": name,
        "media.class": "Audio/Sink", "node.group": group,
        "audio.format": "F32", "audio.rate": rate, "audio.channels": 2,
        "audio.position": ["FL", "FR"],
        "adapter.auto-port-config": {"mode": "dsp", "monitor": True},
        **({"node.link-group": link_group} if link_group else {})}}


# ---- the daemon ---------------------------------------------------------------

def _spa_plugindir() -> Path:
    """PipeWire's SPA plugin directory: pkg-config's, or on a system without
    libspa-0.2-dev (the Debian 13 guest) the one holding PipeWire's own support
    plugin."""
    if shutil.which("pkg-config"):
        out = subprocess.run(["pkg-config", "--variable=plugindir", "libspa-0.2"],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    found = sorted(Path("/usr/lib").glob("*/spa-0.2/support/libspa-support.so")) + \
        sorted(Path("/usr/lib").glob("spa-0.2/support/libspa-support.so"))
    if not found:
        raise PipeWireError("no SPA plugin directory: pkg-config --variable=plugindir "
                            "libspa-0.2 failed and no /usr/lib/*/spa-0.2/support/"
                            "libspa-support.so: install pipewire (and libspa-0.2-dev)")
    return found[0].parent.parent


def _sanitizer_preload(plugin: Path) -> str:
    """A plugin built with -Db_sanitize=... needs the sanitizer runtimes loaded
    first into the (uninstrumented) pipewire binary."""
    if not plugin.exists():
        return ""
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False)
    libs = [line.split()[2] for line in out.stdout.splitlines()
            if re.search(r"lib(asan|ubsan)\.so", line) and len(line.split()) > 2]
    return ":".join(libs)


class PipeWire:
    """A private pipewire daemon. Everything it writes goes under work/."""

    def __init__(self, work: Path, objects: Iterable[dict] = (), *,
                 properties: dict | None = None, plugin_dir: Path | None = None,
                 user: str | None = None, wireplumber: bool = False,
                 dropins: Iterable[Path] = (), debug: str = "2", name: str = "pipewire",
                 spa_libs: dict | None = None):
        self.work = Path(work)
        self.name = name
        self.user = pwd.getpwnam(user) if user else None
        self.wireplumber = wireplumber
        self.debug = debug
        self.log = self.work / f"{name}.log"
        self.procs: list[subprocess.Popen] = []
        self.work.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "home", "config", "plugins", "confdir/pipewire.conf.d"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        # SPA_PLUGIN_DIR: the installed plugins, plus this build's under utimer/.
        plugins = self.work / "plugins"
        for d in _spa_plugindir().iterdir():
            link = plugins / d.name
            if d.is_dir() and not link.exists() and not (plugin_dir and d.name == "utimer"):
                link.symlink_to(d)
        self.preload = ""
        if plugin_dir:
            link = plugins / "utimer"
            if link.is_symlink():
                link.unlink()
            link.symlink_to(Path(plugin_dir).resolve())
            self.preload = _sanitizer_preload(Path(plugin_dir) / "libspa-utimer.so")
        # pipewire.conf (+ drop-ins in pipewire.conf.d/, read as a user's are).
        confdir = self.work / "confdir"
        (confdir / "pipewire.conf").write_text(config(properties, objects, spa_libs))
        for d in dropins:
            target = confdir / "pipewire.conf.d" / Path(d).name
            if target.exists() or target.is_symlink():
                target.unlink()
            target.symlink_to(Path(d).resolve())
        if self.user:
            for p in [self.work, *self.work.rglob("*")]:
                if not p.is_symlink():
                    os.chown(p, self.user.pw_uid, self.user.pw_gid)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PIPEWIRE_", "SPA_", "WIREPLUMBER_", "XDG_"))}
        self.env.update({
            "HOME": str(self.work / "home"), "XDG_CONFIG_HOME": str(self.work / "config"),
            "XDG_RUNTIME_DIR": str(self.work / "run"),
            "PIPEWIRE_RUNTIME_DIR": str(self.work / "run"),
            "SPA_PLUGIN_DIR": str(plugins),
            "PIPEWIRE_REMOTE": "pipewire-0",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=0"),
        })
        if self.user:
            self.env.update({"USER": self.user.pw_name, "LOGNAME": self.user.pw_name})
        # In a TCG guest (tools/vm/utimer-vm), PipeWire's plain C DSP code: TCG
        # emulates its AVX2/FMA versions through softfloat, ten times slower
        # (a resampling node then takes longer than a cycle and the graph falls
        # behind). The emulator's cost, not what the tests check.
        if os.environ.get("UTIMER_VM_ACCEL") == "tcg":
            self.env["PIPEWIRE_CPU"] = "0"

    # -- processes --

    def _popen(self, cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
        kwargs: dict[str, Any] = {}
        if self.user:
            groups = [g for g in os.getgrouplist(self.user.pw_name, self.user.pw_gid)]
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid,
                      "extra_groups": groups}
        with open(log, "ab") as out:
            return subprocess.Popen(cmd, env=env or self.env, stdout=out,
                                    stderr=subprocess.STDOUT, **kwargs)

    def start(self, timeout: float = 30) -> "PipeWire":
        # Only the daemon reads this config dir (clients need their client.conf).
        env = dict(self.env, PIPEWIRE_DEBUG=self.debug,
                   PIPEWIRE_CONFIG_DIR=str(self.work / "confdir"))
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        # Started is ended: a start that fails (or is interrupted) stops
        # what it had started before it raises (__exit__ is not called then).
        try:
            self.daemon = self._popen(["pipewire"], self.log, env)
            self.procs.append(self.daemon)
            self._wait(lambda: self.run(["pw-cli", "info", "0"], check=False).returncode == 0,
                       timeout, "pipewire to accept clients")
            if self.wireplumber:
                self.procs.append(self._popen(["wireplumber"], self.work / "wireplumber.log"))
                self._wait(self._wireplumber_ready, timeout, "wireplumber to connect")
        except BaseException:
            self.stop()
            raise
        return self

    def _wireplumber_ready(self) -> bool:
        """WirePlumber is connected and has published its default metadata."""
        objects = self.dump()
        return any(o.get("type") == "PipeWire:Interface:Client" and
                   o["info"]["props"].get("application.name") == "WirePlumber"
                   for o in objects) and any(
            o.get("type") == "PipeWire:Interface:Metadata" and
            o.get("props", {}).get("metadata.name") == "default" for o in objects)

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise PipeWireError(f"{p.args[0]} exited ({p.returncode}) waiting for "
                                        f"{what}; log:\n{self.tail()}")
            if ready():
                return
            time.sleep(0.2)
        raise PipeWireError(f"timed out after {timeout} s waiting for {what}; log:\n"
                            f"{self.tail()}")

    def alive(self) -> bool:
        return self.daemon.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """Stops what it started, by PID, newest first."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []

    def __enter__(self) -> "PipeWire":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- clients --

    def run(self, cmd: list[str], check: bool = True, timeout: float = 20,
            **kwargs: Any) -> subprocess.CompletedProcess:
        """A client command against this daemon (as its user); check: raise
        PipeWireError on failure."""
        extra: dict[str, Any] = {}
        if self.user:
            extra = {"user": self.user.pw_uid, "group": self.user.pw_gid,
                     "extra_groups": os.getgrouplist(self.user.pw_name, self.user.pw_gid)}
        try:
            out = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                                 timeout=timeout, **extra, **kwargs)
        except subprocess.TimeoutExpired as e:
            raise PipeWireError(f"{' '.join(cmd)} timed out after {timeout} s") from e
        if check and out.returncode != 0:
            raise PipeWireError(f"{' '.join(cmd)} failed ({out.returncode}): "
                                f"{out.stderr.strip() or out.stdout.strip()}")
        return out

    def spawn(self, cmd: list[str], log: Path) -> subprocess.Popen:
        """A long-running client (pw-cat, aplay ...) as the daemon's user; the
        fixture stops it with the daemon unless it ended before."""
        p = self._popen(cmd, log)
        self.procs.append(p)
        return p

    def dump(self) -> list[dict]:
        out = self.run(["pw-dump"])
        try:
            return json.loads(out.stdout)
        except json.JSONDecodeError as e:
            raise PipeWireError(f"pw-dump printed no JSON: {e}") from e

    def nodes(self) -> dict[str, dict]:
        return {o["info"]["props"]["node.name"]: o for o in self.dump()
                if o.get("type") == "PipeWire:Interface:Node"
                and "node.name" in o["info"]["props"]}

    def node(self, name: str) -> dict:
        nodes = self.nodes()
        if name not in nodes:
            raise PipeWireError(f"no node {name!r}; nodes: {sorted(nodes)}")
        return nodes[name]

    def has_node(self, name: str) -> bool:
        return name in self.nodes()

    def props(self, name: str) -> dict[str, str]:
        # As pw-cli shows them: pw-dump turns "true" and numbers into JSON values.
        return {k: v if isinstance(v, str) else json.dumps(v)
                for k, v in self.node(name)["info"]["props"].items()}

    def prop(self, name: str, key: str) -> str:
        props = self.props(name)
        if key not in props:
            raise PipeWireError(f"node {name!r} has no property {key!r}: {props}")
        return props[key]

    def state(self, name: str) -> tuple[str, str | None]:
        info = self.node(name)["info"]
        return info["state"], info.get("error")

    def counters(self, name: str) -> dict[str, int]:
        """The Props param's params list of node name as a dict."""
        params = self.node(name)["info"].get("params", {}).get("Props")
        if not params or "params" not in params[0]:
            raise PipeWireError(f"node {name!r} shows no Props params: {params}")
        flat = params[0]["params"]
        return {flat[i]: int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}

    def changes(self, seconds: float) -> str:
        """What `pw-dump -m` prints after its initial dump within seconds:
        the objects whose info changed meanwhile."""
        mon = subprocess.Popen(["pw-dump", "-m", "-N"], env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True,
                               **self._user_kwargs())
        time.sleep(seconds)
        mon.terminate()
        text = mon.communicate(timeout=10)[0]
        end = text.find("\n]\n")
        if end < 0:
            raise PipeWireError(f"pw-dump -m printed no initial dump in {seconds} s")
        return text[end + 3:]

    def _user_kwargs(self) -> dict:
        if not self.user:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid,
                "extra_groups": os.getgrouplist(self.user.pw_name, self.user.pw_gid)}

    def run_group(self, sink: str) -> None:
        """Makes the group of null_sink(sink) run: its monitor linked to its
        input gives the group a runnable link (the driver is asked to Start)."""
        self.link(f"{sink}:monitor_FL", f"{sink}:playback_FL")

    def stop_group(self, sink: str) -> None:
        """Undoes run_group(sink): the group's driver is paused."""
        self.unlink(f"{sink}:monitor_FL", f"{sink}:playback_FL")

    def link(self, out_port: str, in_port: str) -> None:
        self.run(["pw-link", out_port, in_port])

    def unlink(self, out_port: str, in_port: str) -> None:
        self.run(["pw-link", "-d", out_port, in_port])

    def metadata(self, key: str, value: str, name: str = "settings") -> None:
        self.run(["pw-metadata", "-n", name, "0", key, value])


# ---- the loopback pattern ------------------------------------------------------
# S16_LE stereo, frame i = (i & 0x7fff | 0x8000, (i >> 15) & 0x3fff | 0x4000):
# never silence, and every frame says where in the pattern it is, so a lost,
# repeated or altered frame shows and no stretch repeats an earlier one.

def pattern_bytes(frames: int) -> bytes:
    left = array.array("H", range(0x8000, 0x10000))  # i & 0x7fff | 0x8000, per 32768
    out = bytearray()
    for block in range((frames + 32767) // 32768):
        a = array.array("H", bytes(4 * 32768))
        a[0::2] = left
        a[1::2] = array.array("H", [(block & 0x3fff) | 0x4000]) * 32768
        if sys.byteorder != "little":
            a.byteswap()
        out += a.tobytes()
    return bytes(out[:frames * 4])


def pattern_index(left: int, right: int) -> int:
    """The pattern frame a frame's two samples name."""
    return (left & 0x7fff) | ((right & 0x3fff) << 15)


def pattern_compare(capture: bytes, want_frames: int) -> tuple[bool, str]:
    """capture == the pattern from its first frame with both channels on (what
    precedes it is silence from before the links or the cable ran; links are made
    one channel at a time; neither channel of the pattern is ever 0), and holds at
    least want_frames of it. (ok, what was compared); a silent capture says
    "silent", which callers never excuse as a slow guest's."""
    capture = capture[:len(capture) // 4 * 4]
    first = 0
    while first < len(capture) and (capture[first:first + 2] == b"\0\0" or
                                    capture[first + 2:first + 4] == b"\0\0"):
        first += 4
    if first >= len(capture):
        return False, f"capture of {len(capture) // 4} frames is silent"
    start = pattern_index(int.from_bytes(capture[first:first + 2], "little"),
                          int.from_bytes(capture[first + 2:first + 4], "little"))
    got = capture[first:]
    expect = pattern_bytes(start + len(got) // 4)[start * 4:]
    text = (f"{len(capture) // 4} frames, {first // 4} leading silence, pattern frame "
            f"{start} first, {len(got) // 4} compared")
    if got != expect:
        n = min(len(got), len(expect))
        diff = next((i // 4 for i in range(0, n, 4) if got[i:i + 4] != expect[i:i + 4]), n // 4)
        return False, text + f", first difference at frame {diff}"
    if len(got) < want_frames * 4:
        return False, text + f", want >= {want_frames} frames"
    return True, text


# ---- reporting ----------------------------------------------------------------

class Checks:
    """TAP output (meson protocol 'tap'): check() records and prints one line."""

    def __init__(self) -> None:
        self.n = 0
        self.failed = 0

    def check(self, ok: bool, what: str) -> bool:
        self.n += 1
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}", flush=True)
        return ok

    def equal(self, got: Any, want: Any, what: str) -> bool:
        return self.check(got == want, f"{what}: {got!r}" + ("" if got == want
                                                             else f", want {want!r}"))

    def unjudged(self, what: str, why: str) -> None:
        """A check the run could not judge (TAP SKIP), and why: only for what
        the emulator, not our code, made impossible to measure."""
        self.n += 1
        print(f"ok {self.n} - {what} # SKIP not judged: {why}", flush=True)

    def note(self, text: str) -> None:
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def bail(self, why: str) -> None:
        print(f"Bail out! {why}", flush=True)
        sys.exit(1)

    def done(self) -> int:
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


def main(argv: list[str]) -> int:
    """`pwfixture.py config [KEY=VALUE...] [--object JSON...]`: a configuration
    on stdout for shell callers: context properties KEY=VALUE, objects as
    JSON ({"factory": ..., "args": {...}})."""
    if len(argv) < 2 or argv[1] != "config":
        print("usage: pwfixture.py config [context.property=value ...] [--object JSON ...]",
              file=sys.stderr)
        return 2
    props: dict[str, Any] = {}
    objects: list[dict] = []
    args = iter(argv[2:])
    for arg in args:
        if arg == "--object":
            text = next(args, None)
            try:
                obj = json.loads(text) if text is not None else None
            except json.JSONDecodeError as e:
                print(f"pwfixture.py: --object {text!r}: {e}", file=sys.stderr)
                return 2
            if not isinstance(obj, dict) or "factory" not in obj:
                print(f"pwfixture.py: --object {text!r}: want a JSON object with "
                      "\"factory\" and \"args\"", file=sys.stderr)
                return 2
            objects.append(obj)
            continue
        key, sep, value = arg.partition("=")
        if not sep:
            print(f"pwfixture.py: {arg!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        props[key] = int(value) if value.isdigit() else value
    sys.stdout.write(config(props, objects))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
