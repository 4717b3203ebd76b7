"""Where a report's files go: one new folder per session, each file written under a temporary
name and renamed, and the ``latest`` symlink moved only once every file is in place."""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness.runstore.runs import to_csv

__all__ = ["utc_stamp", "make_folder", "write_text", "write_bytes", "write_runs_csv",
           "repoint_latest"]


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H-%M-%SZ")


def make_folder(reports_dir: Path) -> Path:
    """``reports_dir/<UTC time>``, or ``<UTC time>-2``, ... when that second is taken."""
    stamp = utc_stamp()
    for i in range(1, 10_000):
        path = reports_dir / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a report folder under {reports_dir}")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def write_text(path: Path, text: str) -> None:
    tmp = _tmp(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_bytes(path: Path, data: bytes) -> None:
    tmp = _tmp(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_runs_csv(path: Path, runs: pd.DataFrame) -> None:
    tmp = _tmp(path)
    to_csv(runs, tmp)  # to_csv itself writes <path>.tmp and renames it
    os.replace(tmp, path)


def repoint_latest(reports_dir: Path, target: Path) -> None:
    """Point ``reports_dir/latest`` at ``target`` (relative link, swapped atomically)."""
    link = reports_dir / "latest"
    if link.exists() and not link.is_symlink():
        raise RuntimeError(f"{link} exists and is not a symlink; move it away so the report "
                           f"writer can point it at the newest report")
    tmp = reports_dir / f".latest.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(target.name, tmp)  # relative: survives moving the reports folder
    os.replace(tmp, link)
