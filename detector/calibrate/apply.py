"""`detector calibrate --apply`: the suggested thresholds written into the config's include, safely."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import yaml

from ..config import included, load, merged

OVERRIDES = "calibration.yaml"


def apply_to_config(path: Path, snippet: dict) -> Path:
    """Write ``snippet`` into the file the config at ``path`` includes (calibration.yaml beside it, named by
    an ``include:`` line added to the config's end if it has none), so that the config's own text and
    comments stay as they are. Both files keep the config's mode and owner, and the previous versions are
    backed up; a result that does not load is rolled back. Returns the backup of the overrides."""
    text = path.read_text() if path.exists() else ""
    data = yaml.safe_load(text) or {} if text else {}
    inc = included(path, data)
    overrides = inc or path.with_name(OVERRIDES)
    stamp = time.strftime(".bak-%Y%m%dT%H%M%S")
    backups = {}
    for f in (path, overrides):
        if f.exists():
            backups[f] = f.with_name(f.name + stamp)
            shutil.copy2(f, backups[f])
            keep_owner(f, backups[f])
    old = (yaml.safe_load(overrides.read_text()) or {}) if overrides.exists() else {}
    new = merged(old, snippet)
    effective = merged(data, new)
    for lab, v in snippet["detection"]["labels"].items():  # an off threshold over the new on one would not load
        off = ((effective.get("detection") or {}).get("labels") or {}).get(lab, {}) or {}
        if (off.get("off_threshold") or 0) > v["on_threshold"]:
            new["detection"]["labels"][lab]["off_threshold"] = None
    try:
        write_like(
            path,
            overrides,
            f"# Thresholds measured in this room by `detector calibrate --apply`, "
            f"{time.strftime('%Y-%m-%d %H:%M')}.\n# They override {path.name}; delete this file and the "
            f"include line there to go back.\n" + yaml.safe_dump(new, sort_keys=False),
        )
        if inc is None:
            write_like(
                path,
                path,
                text
                + ("" if text.endswith("\n") or not text else "\n")
                + f"\n# room thresholds from `detector calibrate --apply`\ninclude: {OVERRIDES}\n",
            )
        load(path)  # validate: a bad merge never reaches the daemon
    except Exception:
        for f, b in backups.items():
            os.replace(b, f)
        if overrides not in backups:
            overrides.unlink(missing_ok=True)
        raise
    return backups.get(overrides, overrides.with_name(overrides.name + stamp))


def write_like(model: Path, path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, with the mode and owner of ``model`` (the config may hold the
    broker's password: who may read it stays as it was)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if model.exists():
        shutil.copymode(model, tmp)
        keep_owner(model, tmp)
    os.replace(tmp, path)


def hand_over(state: Path, made: list[Path]) -> None:
    """Run with sudo, what calibrate made inside the service's state directory goes to the directory's owner:
    the service must still be able to read and write there."""
    if os.geteuid() != 0 or not state.is_dir():
        return
    st = state.stat()
    for top in made:
        if not top.resolve().is_relative_to(state.resolve()):
            continue
        for f in [top, *top.rglob("*")]:
            os.chown(f, st.st_uid, st.st_gid)


def keep_owner(src: Path, dst: Path) -> None:
    """Give ``dst`` the owner and group of ``src`` (root applying a config owned by the service's group)."""
    st = src.stat()
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        os.chown(dst, st.st_uid, st.st_gid)
