#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""DKMS builds our modules only from the kernel's own Debian source version.

    dkms-source-test.py

The module source is generated (kernel-patches/dkms/generate) from the
installed linux-source-6.1, as the package build does. Then, as dkms runs it
(make KVER= KDIR=), against the real headers of two Debian 6.1 kernels
(downloaded and unpacked by kernel-patches/debian-source, not installed):
  - the kernel of that same Debian version: builds snd-timer.ko and snd-aloop.ko,
    and the build says which source it took;
  - a kernel of another published Debian version: refused, with a message that
    names the kernel, its version, the versions the source has and what to do;
    no module is left (no silent fallback to another version's code).
Prints TAP.
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
SOURCE = REPO / "kernel-patches/debian-source"
n = 0
failed = 0


def ok(cond, what, detail=""):
    global n, failed
    n += 1
    failed += not cond
    print(f"{'ok' if cond else 'not ok'} {n} - {what}")
    if not cond and detail:
        print("# " + detail.replace("\n", "\n# "))


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def release_of(headers_meta):
    """linux-headers-amd64=VERSION -> (release, headers build dir)."""
    dep = [d for d in run(str(SOURCE), "depends", headers_meta).stdout.split()
           if d.startswith("linux-headers-6.1.")]
    if not dep:
        sys.exit(f"Bail out! {headers_meta}: no linux-headers-6.1.* dependency")
    rel = dep[0].removeprefix("linux-headers-")
    r = run(str(SOURCE), "headers", rel)
    if r.returncode:
        sys.exit(f"Bail out! headers of {rel}: {r.stderr.strip()}")
    return rel, r.stdout.strip()


def build(gen, rel, kdir, into):
    shutil.copytree(gen, into)
    return run("make", f"KVER={rel}", f"KDIR={kdir}", cwd=into)


def main():
    ours = run("dpkg-query", "-W", "-f=${Version}", "linux-source-6.1").stdout
    if not ours:
        sys.exit("Bail out! linux-source-6.1 is not installed (tools/install-deps)")
    published = [line.split()[0] for line in run(str(SOURCE), "list", "linux-headers-amd64").stdout.splitlines()
                 if line.startswith("6.1.")]
    others = [v for v in published if v != ours]
    if ours not in published or not others:
        sys.exit(f"Bail out! need Debian's 6.1 headers of {ours} and of another version; published: {published}")
    print("1..7")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        r = run(str(REPO / "kernel-patches/dkms/generate"), "--kernel", "6.1", str(tmp / "gen"))
        ok(r.returncode == 0 and (tmp / "gen" / ours / "origin").is_file(),
           f"generate: module source for linux-source-6.1 {ours}", r.stdout + r.stderr)

        rel, kdir = release_of(f"linux-headers-amd64={ours}")
        r = build(tmp / "gen", rel, kdir, tmp / "known")
        kos = sorted(p.name for p in (tmp / "known").glob("*.ko"))
        ok(r.returncode == 0 and kos == ["snd-aloop.ko", "snd-timer.ko"],
           f"kernel {rel} (Debian {ours}): builds {' and '.join(kos) or 'nothing'}",
           (r.stdout + r.stderr)[-3000:])
        ok(f"module source {ours}" in r.stdout, "the build names the source version it took", r.stdout[-2000:])

        other = others[0]
        rel, kdir = release_of(f"linux-headers-amd64={other}")
        r = build(tmp / "gen", rel, kdir, tmp / "unknown")
        msg = r.stdout + r.stderr
        ok(r.returncode != 0, f"kernel {rel} (Debian {other}): refused", msg[-2000:])
        ok(f"refusing to build for kernel {rel}" in msg and f"linux {other}" in msg and ours in msg,
           "the refusal names the kernel, its version and the version the source has", msg[-2000:])
        ok("dkms install" in msg and f"linux-source-6.1 {other}" in msg, "and says what to do", msg[-2000:])
        left = sorted(p.name for p in (tmp / "unknown").rglob("*.ko"))
        ok(not left and not list((tmp / "unknown").rglob("*.o")), "no module is built (no fallback)",
           f"left: {left}")
    print(f"# {n - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
