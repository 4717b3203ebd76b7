"""The run store: atomic records, one trainer per key, crash safety, concurrency."""
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.runstore.store import RunStore, StoreError

REPO = Path(__file__).resolve().parent.parent


def test_put_get_roundtrip(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as st:
        rec = {"key": "k1", "test_acc": [1.5, float("nan")], "nested": {"a": [1, 2]}}
        st.put("k1", rec)
        got = st.get("k1")
        assert got["nested"] == {"a": [1, 2]} and got["test_acc"][0] == 1.5
        assert got["test_acc"][1] != got["test_acc"][1]  # NaN survives
        assert st.get("missing") is None
        assert st.get_many(["k1", "missing"]).keys() == {"k1"}
        assert len(st) == 1 and st.keys() == ["k1"]


def test_records_persist_across_connections(tmp_path):
    path = tmp_path / "s.sqlite"
    with RunStore(path) as st:
        st.put("k", {"v": 1})
    with RunStore(path) as st:
        assert st.get("k") == {"v": 1}


def test_claim_is_exclusive_and_released_by_put(tmp_path):
    path = tmp_path / "s.sqlite"
    with RunStore(path) as st:
        assert st.claim("k")
        assert st.claim("k")  # the owner may re-claim its own lease
        st.put("k", {"v": 1})
        assert not st.claim("k")  # a stored record is never trained again


def _other_process_claims(path, key, queue):
    with RunStore(path) as st:
        queue.put(st.claim(key))


def test_live_lease_blocks_another_process(tmp_path):
    path = tmp_path / "s.sqlite"
    with RunStore(path) as st:
        assert st.claim("k")
        q = mp.get_context("spawn").Queue()
        p = mp.get_context("spawn").Process(target=_other_process_claims, args=(path, "k", q))
        p.start()
        p.join(60)
        assert q.get(timeout=5) is False
        st.release("k")
        p = mp.get_context("spawn").Process(target=_other_process_claims, args=(path, "k", q))
        p.start()
        p.join(60)
        assert q.get(timeout=5) is True


def test_lease_of_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "s.sqlite"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from harness.runstore.store import RunStore
        st = RunStore({str(path)!r})
        assert st.claim("k")
        print("claimed", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "claimed"
    with RunStore(path) as st:
        assert not st.claim("k")  # owner alive
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert st.claim("k")  # owner dead: stale lease


def test_process_killed_mid_write_leaves_store_consistent(tmp_path):
    """A writer killed at random points inside its write loop never leaves a torn or
    unreadable record: every record read back is complete."""
    path = tmp_path / "s.sqlite"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from harness.runstore.store import RunStore
        st = RunStore({str(path)!r})
        big = list(range(20000))
        i = 0
        print("go", flush=True)
        while True:
            st.put(f"k{{i}}", {{"i": i, "payload": big}})
            i += 1
    """)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "go"
        time.sleep(0.4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with RunStore(path) as st:
        assert st._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = st.keys()
        assert keys, "the writer never committed anything"
        for k in keys:
            rec = st.get(k)
            assert len(rec["payload"]) == 20000 and f"k{rec['i']}" == k


def _worker_train(path, keys, out):
    """Simulates an xdist worker: claim what is free, 'train' it, wait for the rest."""
    from harness.runstore.store import RunStore

    trained = []
    with RunStore(path) as st:
        pending = list(keys)
        while pending:
            for k in list(pending):
                if st.get(k) is not None:
                    pending.remove(k)
                elif st.claim(k):
                    time.sleep(0.01)
                    st.put(k, {"by": os.getpid()})
                    trained.append(k)
                    pending.remove(k)
            time.sleep(0.01)
    out.put(trained)


def test_four_workers_never_train_the_same_key(tmp_path):
    path = tmp_path / "s.sqlite"
    RunStore(path).close()
    keys = [f"k{i}" for i in range(40)]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker_train, args=(path, keys, q)) for _ in range(4)]
    for p in procs:
        p.start()
    trained = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    flat = [k for t in trained for k in t]
    assert sorted(flat) == sorted(keys), "every key trained exactly once"
    with RunStore(path) as st:
        assert len(st) == 40


def test_unwritable_store_path_gives_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="--store PATH"):
        RunStore(blocker / "sub" / "s.sqlite")


def test_corrupt_store_file_gives_clear_error(tmp_path):
    bad = tmp_path / "s.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the run store"):
        RunStore(bad)
    assert bad.read_bytes().startswith(b"this is not a database")  # nothing overwritten


def _claim_group(path, keys, start, out):
    from harness.runstore.store import RunStore

    with RunStore(path) as st:
        while time.time() < start:
            time.sleep(0.001)
        out.put(len(st.claim_many(keys)))
        time.sleep(1.0)  # stay alive so the lease stays live while the others try


def test_a_configuration_is_claimed_whole_never_split():
    """Four workers race for one configuration's five seeds: one gets all five, the others
    none (a split stack would change the runs' float rounding)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        RunStore(path).close()
        keys = [f"seed{i}" for i in range(5)]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        start = time.time() + 3.0
        procs = [ctx.Process(target=_claim_group, args=(path, keys, start, q)) for _ in range(4)]
        for p in procs:
            p.start()
        got = sorted(q.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(30)
        assert got == [0, 0, 0, 5]


# -- the store checks what it opens (issue 27) -----------------------------------------------
def _sqlite_file(path: Path, *statements: str) -> bytes:
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("schema", [
    # another program's database that happens to have a `runs` table
    ["CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO runs VALUES (1, 'x')"],
    # an unrelated database
    ["CREATE TABLE photos (path TEXT)", "INSERT INTO photos VALUES ('a.jpg')"],
    # our tables, but marked by another application
    ["CREATE TABLE runs (key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL)",
     "PRAGMA application_id = 1234"],
], ids=["foreign-runs-table", "unrelated", "other-application-id"])
def test_a_foreign_database_is_refused_and_left_untouched(tmp_path, schema):
    path = tmp_path / "other.sqlite"
    before = _sqlite_file(path, *schema)
    with pytest.raises(StoreError, match="not a run store of this suite.*left untouched"):
        RunStore(path)
    assert path.read_bytes() == before  # no WAL switch, no table, no mark
    assert not Path(str(path) + "-wal").exists()


def test_our_unmarked_store_is_adopted_and_marked(tmp_path):
    """A store made before the mark (exactly our schema) is ours: opened, marked, kept."""
    from harness.runstore.store import APPLICATION_ID, _TABLES

    path = tmp_path / "old.sqlite"
    _sqlite_file(path, *_TABLES.values(),
                 """INSERT INTO runs VALUES ('k', '{"v": 1}', 0)""")
    with RunStore(path) as st:
        assert st.get("k") == {"v": 1}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()
    with RunStore(path) as st:  # and opens again as ours
        assert len(st) == 1


def test_a_new_store_is_marked(tmp_path):
    from harness.runstore.store import APPLICATION_ID

    path = tmp_path / "new.sqlite"
    RunStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


def test_a_damaged_record_is_named_by_key_with_what_to_do(tmp_path):
    from harness.runstore.store import DamagedRecord

    path = tmp_path / "s.sqlite"
    with RunStore(path) as st:
        st.put("good", {"v": 1})
        st.put("bad", {"v": 2})
        st._db.execute("""UPDATE runs SET record = '{"v": 2' WHERE key = 'bad'""")
        assert st.get("good") == {"v": 1}
        for read in (lambda: st.get("bad"), lambda: st.get_many(["good", "bad"]), st.check_records):
            with pytest.raises(DamagedRecord, match=r"record bad is damaged .*DELETE FROM runs WHERE key='bad'"):
                read()


def test_holders_name_other_processes_and_steal_takes_their_leases(tmp_path):
    """A session waiting on leases can say whose they are; --steal-leases takes them."""
    path = tmp_path / "s.sqlite"
    with RunStore(path) as st:
        # another host's live lease (trusted until LEASE_TTL_S)
        st._db.execute("INSERT INTO leases VALUES ('k1', 'elsewhere:42:99', ?)", (time.time() - 60,))
        st._db.execute("INSERT INTO leases VALUES ('k2', 'elsewhere:42:99', ?)", (time.time(),))
        assert st.claim_many(["k1", "k2", "k3"]) == ["k3"]
        holders = st.holders(["k1", "k2", "k3"])
        assert list(holders) == ["elsewhere:42:99"] and time.time() - holders["elsewhere:42:99"] >= 59
        assert st.claim_many(["k1", "k2"], steal=True) == ["k1", "k2"]
        assert st.holders(["k1", "k2", "k3"]) == {}
