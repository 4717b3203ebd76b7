"""Start-up checks of every user-facing path, before any training (docs/FAULTS.md).

Each check raises ``PathProblem`` whose message is one line saying what is wrong and what to
do; the plugin turns it into pytest's usage error (one ``ERROR:`` line, exit code 4).
Torch-free: judging a source never imports torch.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path


class PathProblem(ValueError):
    """A user-facing path cannot be used. One line: what is wrong, what to do."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (an existing folder), or None. Creates and
    removes one temporary file: the only sure test (root ignores permission bits, /proc and
    read-only mounts refuse anyway)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def check_folder(option: str, path: Path, must_write: bool = True) -> None:
    """``path`` is a folder, or can be made one, and (``must_write``) files can be written
    there. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathProblem(f"{option} {path}: is a file, not a folder; give a folder path")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise PathProblem(f"{option} {path}: {base} is a file, so the folder cannot be created; "
                          f"give another folder path")
    if must_write:
        why = _probe_writable(base)
        if why:
            raise PathProblem(f"{option} {path}: cannot write in {base} ({why}); "
                              f"give a writable folder")


def check_reports_dir(path: Path) -> None:
    """The reports folder can be written, and its ``latest`` is the suite's link (or absent):
    a real file or folder there would only fail after all the judging."""
    check_folder("--reports-dir", path)
    latest = Path(path) / "latest"
    if latest.exists() and not latest.is_symlink():
        kind = "folder" if latest.is_dir() else "file"
        raise PathProblem(f"--reports-dir {path}: {latest} is a {kind}, not the link the suite "
                          f"points at each new report; move it aside (mv {latest} {latest}.old) "
                          f"and rerun")


def check_store(path: Path) -> None:
    """The run store can be opened, written, and passes ``PRAGMA quick_check``. Creates the
    store (and its folder) when it does not exist yet, as the engine would."""
    from harness.runstore.store import RunStore, StoreError

    path = Path(path)
    if path.is_dir():
        raise PathProblem(f"--store {path}: is a folder, not a store file; give a file path "
                          f"such as {path / 'runs.sqlite'}")
    if path.exists() and not path.is_file():
        raise PathProblem(f"--store {path}: is not a regular file (a device, pipe or socket); "
                          f"give a file path such as runs.sqlite in a writable folder")
    if not path.exists():
        check_folder("--store", path.parent)
    else:
        why = _probe_writable(path.parent)
        if why or not os.access(path, os.W_OK):
            raise PathProblem(f"--store {path}: the store is read-only ({why or 'no write permission'}); "
                              f"make it and its folder writable, or copy it to a writable place and "
                              f"pass --store COPY")
        db = sqlite3.connect(path, timeout=60)
        try:
            # quick_check's messages may span lines: one ERROR line needs them joined.
            result = " ".join("; ".join(r[0] for r in db.execute("PRAGMA quick_check").fetchmany(3)).split())
        except sqlite3.DatabaseError as exc:
            raise PathProblem(f"--store {path}: not a readable run store ({exc}); move the file "
                              f"aside and rerun (a new store retrains), or give another --store") from None
        finally:
            db.close()
        if result != "ok":
            raise PathProblem(f"--store {path}: the store is damaged (quick_check: {result}); move "
                              f"the file aside and rerun (a new store retrains), or restore a backup")
    try:
        store = RunStore(path)  # refuses a foreign database before writing to it
        try:
            with store._txn():  # a write lock proves the store is writable (rolled back)
                pass
            _check_records(store)
        finally:
            store.close()
    except StoreError as exc:
        raise PathProblem(str(exc)) from None
    except sqlite3.Error as exc:
        raise PathProblem(f"--store {path}: cannot write to the store ({exc}); make it writable "
                          f"or pass --store PATH with a writable location") from None


def _check_records(store) -> None:
    """Every record parses and passes the runs check (harness.runstore.validate), once at start-up,
    so a damaged one is one line naming its key, not an error in every test."""
    from harness.runstore.runs import from_records
    from harness.runstore.validate import RunsError

    store.check_records()  # DamagedRecord (a StoreError) names the key
    records = list(store.get_many(store.keys()).values())
    try:
        from_records(records)
    except RunsError as exc:
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise PathProblem(f"--store {store.path}: {exc.problems[0]}{more}; delete those records "
                          f"(sqlite3 {store.path} \"DELETE FROM runs WHERE key='KEY'\"; they are "
                          f"retrained) or move the store aside and rerun") from None


def check_data_root(path: Path | None, download: bool) -> None:
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathProblem(f"--data-root {path}: is a file, not a folder; give the folder that "
                          f"holds the datasets")
    if download:
        check_folder("--data-root", path)
