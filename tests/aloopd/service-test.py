#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""utimer-aloopd on the host (no sound card here): the real binary, started by
systemd-socket-activate as systemd would, answering what a client may send
that must be refused -- and its units checked by systemd-analyze.

Usage: service-test.py BUILD_DIR/tools/utimer-aloopd
Binding real cards to real timers is the vm suite's part (aloopd-<kernel>).
"""
import ctypes
import errno
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

builddir = os.path.abspath(sys.argv[1])
binary = os.path.join(builddir, "utimer-aloopd")
failures = []


def check(ok, what):
    print(("ok     " if ok else "FAILED ") + what)
    if not ok:
        failures.append(what)


def request(path, message, fds=(), as_uid=None):
    """One request on a fresh connection -> the reply (bytes), or b'' when the
    service closed without one. as_uid: send it from a child with that uid."""
    if as_uid is not None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(as_uid)
                os.setuid(as_uid)
                os.write(w, request(path, message, fds))
            finally:
                os._exit(0)
        os.close(w)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
        os.waitpid(pid, 0)
        return out
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(10)
        s.connect(path)
        socket.send_fds(s, [message], list(fds))
        return s.recv(4096)


def private_run():
    """For a child: a mount namespace of its own with an empty tmpfs on /run
    (as an ordinary user, inside a user namespace where it is root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    CLONE_NEWNS, CLONE_NEWUSER, MS_REC, MS_PRIVATE = 0x20000, 0x10000000, 0x4000, 0x40000
    if libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if uid else 0)):
        raise OSError(ctypes.get_errno(), "unshare")
    if uid:
        for f, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{f}", "w") as fd:
                fd.write(text)
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) or \
            libc.mount(b"tmpfs", b"/run", b"tmpfs", 0, b"mode=0755"):
        raise OSError(ctypes.get_errno(), "mount")


def analyze_verify(units):
    """systemd-analyze verify UNITS -> CompletedProcess. Its test manager makes
    /run/systemd/ (systemd 252 and 257): where that is missing and cannot be
    made (a build chroot, an ordinary user, a read-only /run) it runs with a
    private /run; the units and everything they name are checked all the same."""
    cmd = ["systemd-analyze", "verify", "--man=no", *units]
    runtime_ok = os.path.isdir("/run/systemd") or os.access("/run", os.W_OK)
    print(f"# systemd-analyze verify with {'this system' if runtime_ok else 'a private'} /run")
    return subprocess.run(cmd, capture_output=True, text=True,
                          preexec_fn=None if runtime_ok else private_run)


def reply_errno(reply):
    parts = reply.split(b" ", 2)
    return int(parts[1]) if len(parts) > 2 and parts[0] == b"error" else None


with tempfile.TemporaryDirectory(prefix="aloopd-test.") as tmp:
    os.chmod(tmp, 0o755)
    path = os.path.join(tmp, "utimer-aloopd.socket")
    log = open(os.path.join(tmp, "service.log"), "w+")
    service = subprocess.Popen(["systemd-socket-activate", "--seqpacket", "-l", path, binary, "--group", "audio"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        os.chmod(path, 0o666)  # here: let anyone connect, so that the service's own check shows

        e = os.eventfd(0)
        r = request(path, b"utimer-aloopd 1 bind Loopback 3", [e])
        check(reply_errno(r) == errno.EBADF and b"not a userspace-driven timer (it is anon_inode:[eventfd])" in r,
              f"an eventfd is no timer: {r!r}")
        devnull = os.open("/dev/null", os.O_RDONLY)
        r = request(path, b"utimer-aloopd 1 bind Loopback 3", [devnull])
        check(reply_errno(r) == errno.EBADF and b"(it is /dev/null)" in r, f"/dev/null is no timer: {r!r}")
        r = request(path, b"utimer-aloopd 1 bind Loopback 3")
        check(reply_errno(r) == errno.EINVAL and b"0 descriptors" in r, f"bind without a descriptor: {r!r}")
        r = request(path, b"utimer-aloopd 1 bind Loopback 3", [e, devnull])
        check(reply_errno(r) == errno.EINVAL and b"2 descriptors" in r, f"bind with two: {r!r}")
        r = request(path, b"utimer-aloopd 1 bind Loopback 3", [e] * 9)
        check(reply_errno(r) == errno.EINVAL and b"more than 8 descriptors" in r, f"bind with nine: {r!r}")
        r = request(path, b"utimer-aloopd 1 bind Loopback 3 \x1b[2J", [e])
        check(reply_errno(r) == errno.EPROTO and b"\x1b" not in r, f"garbage, no control characters back: {r!r}")
        r = request(path, b"x" * 5000)
        check(reply_errno(r) == errno.EPROTO and b"longer than 1024" in r, f"oversized request: {r!r}")
        r = request(path, b"utimer-aloopd 1 unbind")
        check(r == b"ok", f"unbind without a binding: {r!r}")
        if os.geteuid() == 0:  # only root can become nobody
            nobody = pwd.getpwnam("nobody").pw_uid
            r = request(path, b"utimer-aloopd 1 bind Loopback 3", [e], as_uid=nobody)
            check(reply_errno(r) == errno.EACCES and b"usermod -aG audio nobody" in r,
                  f"nobody is refused: {r!r}")
        else:
            print("skip   nobody is refused (needs root to become nobody)")

        # Still serving after all that, and one connection carries several requests.
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(10)
            s.connect(path)
            s.send(b"nonsense")
            r1 = s.recv(4096)
            s.send(b"utimer-aloopd 1 unbind")
            r2 = s.recv(4096)
        check(reply_errno(r1) == errno.EPROTO and r2 == b"ok", f"the connection survives an error: {r1!r} {r2!r}")
    finally:
        service.terminate()
        service.wait(10)
    log.seek(0)
    text = log.read()
    check("utimer-aloopd: serving" in text and "utimer-aloopd: stopped" in text, "started and stopped cleanly")
    check("\x1b" not in text, "no control characters in the log")
    if failures:
        print(text)

    # Started without a socket: a clear error.
    r = subprocess.run([binary], capture_output=True, text=True)
    check(r.returncode == 1 and "systemctl start utimer-aloopd.socket" in r.stderr,
          f"without systemd's socket: {r.stderr.strip()}")
    r = subprocess.run([binary, "--bogus"], capture_output=True, text=True)
    check(r.returncode == 2 and "unknown argument" in r.stderr, "bad argument")

    # The units as installed, with ExecStart pointing at this build.
    # (systemd-analyze is in package systemd, a test dependency: its absence is a failure)
    check(shutil.which("systemd-analyze") is not None, "systemd-analyze found (install systemd)")
    if shutil.which("systemd-analyze"):
        units = os.path.join(tmp, "units")
        os.mkdir(units)
        shutil.copy(os.path.join(builddir, "utimer-aloopd.socket"), units)
        text = open(os.path.join(builddir, "utimer-aloopd.service")).read()
        exec_lines = [l for l in text.splitlines() if l.startswith("ExecStart=")]
        check(len(exec_lines) == 1 and exec_lines[0].split()[0].endswith("/libexec/utimer-aloopd"),
              f"ExecStart is libexecdir's: {exec_lines}")
        text = "\n".join(("ExecStart=" + binary + " --group audio") if l.startswith("ExecStart=") else l
                         for l in text.splitlines()) + "\n"
        open(os.path.join(units, "utimer-aloopd.service"), "w").write(text)
        try:
            r = analyze_verify([os.path.join(units, "utimer-aloopd.socket"),
                                os.path.join(units, "utimer-aloopd.service")])
        except subprocess.SubprocessError as e:  # the namespace could not be made
            r = subprocess.CompletedProcess([], 1, "", f"no private /run for it ({e}): "
                                            "allow user namespaces or run as root")
        check(r.returncode == 0, f"systemd-analyze verify: {r.stderr.strip() or 'clean'}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
