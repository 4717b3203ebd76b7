"""The run store: key -> run record, in one SQLite file. Knows nothing of training or claims.

Guarantees (tested in tests/test_store.py):
- Atomic writes. A record is one row written in one transaction; a reader sees the whole
  record or nothing, and a process killed mid-write leaves the previous state (SQLite's
  journal, in WAL mode, rolls the torn transaction back on the next open).
- One trainer per key. ``claim(key)`` takes a lease row in the same database; only one
  process holds a key's lease at a time. A lease dies with its owner: the owner is recorded
  as host, pid and the process's start time, and on this host a lease is stale as soon as
  that process is gone, is a zombie (a killed xdist worker stays one until the controller
  reaps it, which it does not do before the session ends), or the pid now belongs to a
  process started at another time (pid reuse). Waiting workers poll every
  ``engine.POLL_S``, so a killed worker's configurations are taken over within a second.
  Another host's lease is trusted until ``LEASE_TTL_S``.
- Records are JSON; the schema of a record is the trainer's business, not the store's.
- Ours, or refused before anything is written. A store carries ``PRAGMA application_id`` =
  ``APPLICATION_ID``; a file without it is adopted (marked) only when it is empty or its
  schema is exactly ours (a store made before the mark), anything else is refused with
  :class:`StoreError` untouched (no WAL switch, no table created). A record that is not
  JSON is named by key (:class:`DamagedRecord`) with what to do.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

LEASE_TTL_S = 6 * 3600  # longer than any single training run of the full protocol
#: PRAGMA application_id of our stores: "SClm" (seed-claims), a signed 32-bit integer
APPLICATION_ID = 0x53436C6D
_TABLES = {
    "runs": "CREATE TABLE runs (key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL)",
    "leases": "CREATE TABLE leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, taken REAL NOT NULL)",
}


class StoreError(RuntimeError):
    """The store cannot be opened or written. The message says which path and what to do."""


class DamagedRecord(StoreError):
    """A record that is not readable JSON; the message names its key and what to do."""


def _schema(db: sqlite3.Connection) -> dict[str, str]:
    """name -> CREATE statement (whitespace normalised) of every object in the file."""
    return {name: " ".join((sql or "").split()) for name, sql in
            db.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def _identify(db: sqlite3.Connection, path: Path) -> bool:
    """Is this file a store of ours? True: marked already. False: empty, or our schema without
    the mark (to be marked). Raises StoreError for anything else, having written nothing."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return True
    schema = _schema(db)
    if app_id == 0 and (not schema or schema == _TABLES):
        return False
    what = f"application_id {app_id:#x}" if app_id else \
        f"tables {', '.join(sorted(schema))}, not this suite's runs and leases"
    raise StoreError(f"--store {path}: not a run store of this suite ({what}); it was left "
                     f"untouched: give another --store path (a new file is created there)")


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), '' when
    /proc is not available, None when the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    state, start = fields[0], fields[19]
    return None if state in ("Z", "X", "x") else start


_OWNER: tuple[int, str] | None = None  # (pid, owner): recomputed in a forked child


def _owner() -> str:
    global _OWNER
    pid = os.getpid()
    if _OWNER is None or _OWNER[0] != pid:
        _OWNER = (pid, f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}")
    return _OWNER[1]


def _owner_alive(owner: str) -> bool:
    """Is the lease owner (``host:pid:start``, or the older ``host:pid``) still running?"""
    parts = owner.split(":")
    if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
        host, pid, start = ":".join(parts[:-2]), parts[-2], parts[-1]
    else:
        host, _, pid = owner.rpartition(":")
        start = ""
    if host != socket.gethostname():
        return True  # another machine's lease: trust the TTL only
    try:
        pid_i = int(pid)
    except ValueError:
        return True
    now = _start_time(pid_i)
    if now is None:
        return False  # gone, or a zombie: it will never finish its runs
    if now and start and now != start:
        return False  # the pid was reused by a later process
    if now == "":  # no /proc (not Linux): fall back to signal 0
        try:
            os.kill(pid_i, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


class RunStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            marked = _identify(self._db, self.path)  # before anything is written
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if not marked:
                with self._txn():
                    # re-read under the write lock: another process may have made it meanwhile
                    if not _schema(self._db):
                        for create in _TABLES.values():
                            self._db.execute(create)
                    self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except StoreError:
            self._db.close()
            raise
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the run store at {self.path} ({exc}); "
                             f"pass --store PATH with a writable location") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- records ---------------------------------------------------------------------------
    def _parse(self, key: str, blob: str) -> dict:
        try:
            rec = json.loads(blob)
            if not isinstance(rec, dict):
                raise ValueError(f"a JSON {type(rec).__name__}, not an object")
            return rec
        except ValueError as exc:
            raise DamagedRecord(
                f"the run store {self.path}: record {key} is damaged ({exc}); delete it and rerun "
                f"(it is retrained): sqlite3 {self.path} \"DELETE FROM runs WHERE key='{key}'\"") from None

    def check_records(self) -> None:
        """Raise DamagedRecord for the first record that is not a JSON object (start-up check)."""
        for key, blob in self._db.execute("SELECT key, record FROM runs"):
            self._parse(key, blob)

    def get(self, key: str) -> dict | None:
        row = self._db.execute("SELECT record FROM runs WHERE key = ?", (key,)).fetchone()
        return self._parse(key, row[0]) if row else None

    def get_many(self, keys) -> dict[str, dict]:
        keys = list(keys)
        out: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for k, rec in self._db.execute(f"SELECT key, record FROM runs WHERE key IN ({marks})", chunk):
                out[k] = self._parse(k, rec)
        return out

    def put(self, key: str, record: dict) -> None:
        """Write one record and drop its lease, in one transaction."""
        self.put_many([(key, record)])

    def put_many(self, items: list[tuple[str, dict]]) -> None:
        """Write (key, record) pairs and drop their leases, in ONE transaction: a
        configuration's seeds land together or not at all."""
        now = time.time()
        rows = [(k, json.dumps(r, allow_nan=True), now) for k, r in items]
        try:
            with self._txn():
                self._db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)", rows)
                self._db.executemany("DELETE FROM leases WHERE key = ? AND owner = ?",
                                     [(k, _owner()) for k, _, _ in rows])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the run store at {self.path} ({exc}); "
                             f"pass --store PATH with a writable location") from None

    def delete(self, keys) -> None:
        with self._txn():
            self._db.executemany("DELETE FROM runs WHERE key = ?", [(k,) for k in keys])

    def keys(self) -> list[str]:
        return [k for (k,) in self._db.execute("SELECT key FROM runs")]

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    # -- leases ----------------------------------------------------------------------------
    def claim(self, key: str) -> bool:
        """Take the lease to train ``key``. False if another live process holds it or the
        record already exists."""
        return bool(self.claim_many([key]))

    def claim_many(self, keys: list[str], steal: bool = False) -> list[str]:
        """Take the leases of every free key in ``keys`` in ONE transaction and return them.
        A configuration's seeds are claimed together so two workers never split a stack:
        a stacked run's float rounding depends on how many replicas share it. ``steal``
        (--steal-leases) takes live leases of other processes too: the user says their
        owner is gone (another host's session killed without a word)."""
        now = time.time()
        mine = []
        with self._txn():
            for key in keys:
                if self._db.execute("SELECT 1 FROM runs WHERE key = ?", (key,)).fetchone():
                    continue
                row = self._db.execute("SELECT owner, taken FROM leases WHERE key = ?", (key,)).fetchone()
                if not steal and row and row[0] != _owner() and _owner_alive(row[0]) \
                        and now - row[1] < LEASE_TTL_S:
                    continue
                self._db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (key, _owner(), now))
                mine.append(key)
        return mine

    def holders(self, keys) -> dict[str, float]:
        """Owner (``host:pid:start``) -> when it took its first lease, for the other
        processes' leases among ``keys``: whom a waiting session is waiting for."""
        keys, out = list(keys), {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for owner, taken in self._db.execute(
                    f"SELECT owner, MIN(taken) FROM leases WHERE key IN ({','.join('?' * len(chunk))}) "
                    f"AND owner != ? GROUP BY owner", [*chunk, _owner()]):
                out[owner] = min(taken, out.get(owner, taken))
        return out

    def release(self, key: str) -> None:
        with self._txn():
            self._db.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, _owner()))

    def _txn(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so check-then-insert in
    ``claim`` cannot interleave with another process."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
