"""The detector on a Pi's CPU, emulated: `detector scan` in a Debian bookworm arm64 userland under qemu-user,
against the same scan on this machine. Writes reports/pi_check.md.

    python -m scripts.pi_check [--work /var/tmp/barkcry-pi]

The userland comes from Debian's packages (debootstrap's first stage, its packages unpacked: nothing in it
runs but Python), with Python 3.11 as on Raspberry Pi OS bookworm. The Python packages are the aarch64
wheels `pip install .` would fetch on a Pi. The checkout's `detector` runs from its source. Both scans read
the demo and the bundled calibration clips with the shipped model and YAMNet confirming, as `make demo`.

What it proves: the shipped models load and run in the aarch64 LiteRT build, and the arm build of every
package gives the same events, and scores within four steps of the int8 output. On 32-bit Pi OS (armhf)
only the frontend is compared, with Debian's own numpy: no armv7l TFLite runtime wheel is reachable from
here. What it does not prove: speed (emulation is tens of times slower than a Pi), PortAudio capture, or
the models on armhf.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
ARCH = "arm64"
QEMU = "qemu-aarch64-static"
PYTHON = "/usr/bin/python3.11"
PLATFORMS = [f"manylinux_2_{v}_aarch64" for v in (17, 28, 31, 34, 35, 36)]
REQUIREMENTS = ["numpy>=1.24", "soundfile>=0.12", "pyyaml>=6", "ai-edge-litert>=1.2"]
TOLERANCE = 4 / 256  # four steps of the int8 output (the random-input bound measured under emulation)
ARMHF_PACKAGES = "python3,python3-numpy,python3-yaml,python3-soundfile,python3-cffi-backend"  # Pi OS's own numpy
FRONTEND_TOLERANCE_DB = 0.01  # log-mel: a fiftieth of the int8 input's step (0.52 dB)


def paragraph(i: int) -> str:
    return (__doc__ or "").split("\n\n")[i].replace("\n", " ").strip()


def fail(msg: str) -> int:
    print(f"pi-check: {msg}", file=sys.stderr)
    return 1


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def userland(root: Path, arch: str = ARCH, include: str = "python3") -> None:
    """Python 3.11 and its libraries for ``arch``, unpacked from Debian's packages (kept between runs)."""
    if (root / PYTHON.lstrip("/")).exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    run(
        [
            "debootstrap",
            "--foreign",
            "--variant=minbase",
            f"--arch={arch}",
            f"--include={include}",
            SUITE,
            str(root),
            MIRROR,
        ]
    )
    # the first stage unpacks only the essential set; python3 and its libraries wait in the cache
    for deb in sorted((root / "var/cache/apt/archives").glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(root)])
    # the links update-alternatives would make in the second stage: numpy finds BLAS and LAPACK through them
    for libdir in (root / "usr/lib").glob("*-linux-gnu*"):
        for name in ("libblas.so.3", "liblapack.so.3"):
            found = sorted(libdir.glob(f"*/{name}"))
            if found and not (libdir / name).exists():
                (libdir / name).symlink_to(found[0].relative_to(libdir))


def site(target: Path) -> None:
    """The aarch64 wheels of the detector's scan path, as pip on a Pi would choose them."""
    if (target / "ai_edge_litert").exists():
        return
    shutil.rmtree(target, ignore_errors=True)
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(target),
            "--only-binary=:all:",
            *plat,
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            *REQUIREMENTS,
        ]
    )


def scan(cmd: list[str], files: list[Path], env: dict) -> list[dict]:
    r = subprocess.run(
        [*cmd, "-m", "detector", "scan", "--scores", *map(str, files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:1])} scan failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


FRONTEND = """
import sys, numpy as np
from detector.audiofile import read_audio
from detector.frontend import LogMel
np.save(sys.argv[2], LogMel().compute(read_audio(sys.argv[1], 16000)))
"""


def armhf_frontend(work: Path, demo: Path) -> tuple[str, float]:
    """32-bit Pi OS: Debian's own numpy, yaml and soundfile (PyPI has no armv7l numpy) compute the demo's
    log-mel as this machine does. (versions, the largest difference in dB)."""
    root = work / f"{SUITE}-armhf"  # built by main, with ARMHF_PACKAGES
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "QEMU_LD_PREFIX": str(root)}
    py = ["qemu-arm-static", str(root / PYTHON.lstrip("/"))]
    out = work / "armhf-logmel.npy"
    run([*py, "-c", FRONTEND, str(demo), str(out)], env=env, cwd=ROOT)
    versions = run(
        [
            *py,
            "-c",
            "import platform, numpy; print(platform.machine(), platform.python_version(), 'numpy', numpy.__version__)",
        ],
        env=env,
    ).stdout.strip()
    from detector.audiofile import read_audio
    from detector.frontend import LogMel

    ours = LogMel().compute(read_audio(demo, 16000))
    theirs = np.load(out)
    return versions, float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")


def compare(x86: list[dict], arm: list[dict]) -> tuple[list[str], float, int]:
    """(differences in the events, the largest score difference, windows compared)."""
    key = lambda e: (e["file"], e["label"], e["start"], e["end"])  # noqa: E731
    ev = lambda rows: sorted(key(e) for e in rows if "label" in e)  # noqa: E731
    diffs = [f"x86 only: {e}" for e in sorted(set(ev(x86)) - set(ev(arm)))]
    scored = {key(e): e for e in arm if "label" in e}
    for e in x86:  # the event's score, and YAMNet's (float16) where it confirmed
        if "label" in e and key(e) in scored:
            for k in ("score", "confirm_score"):
                if abs(e.get(k, 0.0) - scored[key(e)].get(k, 0.0)) > TOLERANCE:
                    diffs.append(f"{key(e)}: {k} {e.get(k)} on x86, {scored[key(e)].get(k)} on arm64")
    diffs += [f"arm64 only: {e}" for e in sorted(set(ev(arm)) - set(ev(x86)))]
    # in order per file: the windows after a file's end (its padding) share the last time stamp
    per_file = lambda rows: {
        f: [w for w in rows if "scores" in w and w["file"] == f] for f in {w["file"] for w in rows}
    }  # noqa: E731
    xa, aa = per_file(x86), per_file(arm)
    worst, n = 0.0, 0
    for f, xs in sorted(xa.items()):
        ys = aa.get(f, [])
        if [w["t"] for w in xs] != [w["t"] for w in ys]:
            diffs.append(f"{f}: {len(xs)} windows on x86, {len(ys)} on arm64")
            continue
        for wx, wy in zip(xs, ys):
            n += 1
            worst = max(worst, *(abs(wx["scores"][k] - wy["scores"][k]) for k in wx["scores"]))
    return diffs, worst, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/barkcry-pi"), help="userland and wheels, kept")
    ap.add_argument("--clips", type=int, default=3, help="bundled clips per label besides the demo")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "pi_check.md")
    a = ap.parse_args(argv)
    for tool in (QEMU, "qemu-arm-static", "debootstrap", "dpkg-deb"):
        if shutil.which(tool) is None:
            return fail(f"{tool} is not installed (scripts/install-system-deps.sh installs it)")
    root, target = a.work / f"{SUITE}-{ARCH}", a.work / f"site-{ARCH}"
    t0 = time.time()
    try:
        userland(root)
        userland(a.work / f"{SUITE}-armhf", "armhf", ARMHF_PACKAGES)
        site(target)
    except subprocess.CalledProcessError as e:
        return fail(f"{' '.join(e.cmd[:3])} failed: {(e.stderr or '').strip()[-1000:]}")
    data = ROOT / "detector" / "data"
    files = [data / "demo.flac"]
    for label in ("bark", "cry"):
        files += sorted((data / "positives" / label).glob("*.flac"))[: a.clips]
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(a.work), "OPENBLAS_NUM_THREADS": "1"}
    arm_env = {**base_env, "PYTHONPATH": f"{target}:{ROOT}", "PYTHONNOUSERSITE": "1", "QEMU_LD_PREFIX": str(root)}
    t1 = time.time()
    try:
        x86 = scan([sys.executable], files, base_env | {"PYTHONPATH": str(ROOT)})
        arm = scan([QEMU, str(root / PYTHON.lstrip("/"))], files, arm_env)
    except RuntimeError as e:
        return fail(str(e))
    versions = run(
        [
            QEMU,
            str(root / PYTHON.lstrip("/")),
            "-c",
            "import platform, numpy, ai_edge_litert, soundfile; print(platform.machine(), platform.python_version(), "
            "'numpy', numpy.__version__, 'soundfile', soundfile.__version__)",
        ],
        env=arm_env,
    ).stdout.strip()
    try:
        armhf, db = armhf_frontend(a.work, files[0])
    except subprocess.CalledProcessError as e:
        return fail(f"armhf: {' '.join(e.cmd[:3])} failed: {(e.stderr or '').strip()[-1000:]}")
    diffs, worst, n = compare(x86, arm)
    if db > FRONTEND_TOLERANCE_DB:
        diffs.append(f"armhf log-mel differs by {db:.4f} dB")
    events = sum(1 for e in x86 if "label" in e)
    ok = not diffs and worst <= TOLERANCE
    lines = [
        "# The detector on arm64, emulated",
        "",
        "Command: `python -m scripts.pi_check` (`make pi-check`).",
        "",
        paragraph(2),
        "",
        f"- arm64 userland: Debian {SUITE}, {versions}; LiteRT "
        + next(
            (p.name.removesuffix(".dist-info").split("-")[1] for p in target.glob("ai_edge_litert-*.dist-info")), "?"
        ),
        f"- input: {len(files)} files (the demo and {a.clips} bundled clips per label), {n} windows, {events} events",
        f"- events: {'identical, and their scores and YAMNet confirm scores within the tolerance' if not diffs else f'{len(diffs)} differ'}",
        f"- largest window score difference: {worst:.4f} (tolerance {TOLERANCE:.4f}, four int8 output steps)",
        f"- armhf ({armhf}, Debian's packages): the demo's log-mel differs from x86's by at most {db:.5f} dB "
        f"(tolerance {FRONTEND_TOLERANCE_DB} dB); the models are not run there",
        f"- time: userland and wheels {t1 - t0:.0f} s (kept in {a.work}), both scans {time.time() - t1:.0f} s",
        "",
        paragraph(3),
        "",
        *[f"- {d}" for d in diffs[:20]],
    ]
    a.out.write_text("\n".join(lines).rstrip() + "\n")
    print("\n".join(lines))
    return (
        0 if ok else fail(f"arm64 differs from x86: {len(diffs)} event difference(s), largest score diff {worst:.4f}")
    )


if __name__ == "__main__":
    raise SystemExit(main())
