"""The fault matrix (docs/FAULTS.md, one row per test here): every fault a user can cause,
tried with the real command (``python -m pytest claims --profile tiny ...`` in a subprocess,
private store and reports folders) or a hand-made file. Each case asserts the exit code, the
single ``ERROR`` line (no traceback) and that the store is intact afterwards.

Training cases use the smallest real session: the tiny profile, 2 seeds, one Q5 claim
(4 configurations x 2 seeds = 8 runs). Start-up faults use ``--collect-only`` (they stop the
session in pytest_configure, before collection)."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
SMOKE_CSV = REPO / "docs" / "results" / "smoke-cpu" / "runs.csv"
FMNIST = Path("/usr/share/datasets/fashion-mnist")
# One Q5 claim: trains the tiny profile's 4 Q5 configurations (BN/GN x batch 16/64). A claim
# that gets a verdict (GN vs BN at batch 16): a session in which no claim is judged exits 4,
# and BN at batch 64 (the other claims' arm) predicts one class after one tiny epoch.
TINY = ["claims", "--profile", "tiny", "--seeds", "2", "-k", "groupnorm_beats_batchnorm_at_small_batch"]
N_RUNS = 8
SESSION_TIMEOUT = 600  # a loaded 2-core machine; a hung session fails here, not after 6 h


# -- helpers ------------------------------------------------------------------------------------
def pytest_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)]


def run(*args, timeout=SESSION_TIMEOUT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(pytest_cmd(*args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


class Session:
    """A pytest session in the background, output to files (a full pipe would block it)."""

    def __init__(self, folder: Path, *args, env=None):
        folder.mkdir(parents=True, exist_ok=True)
        self.out, self.err = folder / "stdout", folder / "stderr"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            # SIGINT back to its default: a suite started in the background (nohup, `cmd &`)
            # hands its children an ignored SIGINT, and the Ctrl-C case would test nothing
            self.proc = subprocess.Popen(pytest_cmd(*args), cwd=REPO, stdout=out, stderr=err,
                                         env=env, start_new_session=True,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def wait(self, timeout=SESSION_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session and its xdist workers
            self.proc.wait()
            pytest.fail(f"the session hung (no end after {timeout} s):\n{self.stderr[-3000:]}")

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()


def error_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("ERROR")]


def assert_one_error(proc, *needles: str, rc: int = 4) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == rc, out[-3000:]
    errors = error_lines(proc.stderr) + error_lines(proc.stdout)
    assert len(errors) == 1, out[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert "Traceback" not in out
    return errors[0]


def trained_labels(stderr: str) -> list[str]:
    """The label of every run a session trained ("trained <label>: ..." progress lines)."""
    return [ln.split("trained ", 1)[1].split(":", 1)[0] for ln in stderr.splitlines()
            if "trained " in ln and " seed " in ln]


def store_state(path: Path) -> dict:
    """Asserts the store is intact; returns its keys and leases."""
    db = sqlite3.connect(path, timeout=60)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT key, record FROM runs").fetchall()
        keys = [k for k, _ in rows]
        assert len(keys) == len(set(keys)), "duplicate keys"
        for k, rec in rows:  # every record whole: parses, names its key, has its metrics
            r = json.loads(rec)
            assert r["key"] == k and len(r["test_acc"]) >= 1 and "best_test_acc" in r
        leases = [owner for (owner,) in db.execute("SELECT owner FROM leases")]
    finally:
        db.close()
    return {"keys": keys, "leases": leases}


def lease_owner_pid(store: Path, session: Session, timeout=SESSION_TIMEOUT) -> int:
    """Wait until some process holds a lease (it is training) and return its pid."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if session.proc.poll() is not None:
            pytest.fail(f"the session ended before training:\n{session.stderr[-3000:]}")
        if store.exists():
            try:
                db = sqlite3.connect(store, timeout=1)
                try:
                    owners = [o for (o,) in db.execute("SELECT owner FROM leases")]
                finally:
                    db.close()
            except sqlite3.OperationalError:
                owners = []
            if owners:
                return int(owners[0].split(":")[-2])
        time.sleep(0.05)
    pytest.fail("no process ever took a lease")


def tiny_args(folder: Path, *extra) -> list:
    return [*TINY, "--store", folder / "s.sqlite", "--reports-dir", folder / "reports", *extra]


def report_of(reports: Path) -> dict:
    return json.loads((reports / "latest" / "report.json").read_text())


# -- a trained store, shared by the cases that need a real one ----------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One finished tiny session; returns its folder (s.sqlite, reports/)."""
    folder = tmp_path_factory.mktemp("trained")
    before = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                            text=True).stdout
    proc = run(*tiny_args(folder))
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    labels = trained_labels(proc.stderr)
    assert len(labels) == len(set(labels)) == N_RUNS
    state = store_state(folder / "s.sqlite")
    assert len(state["keys"]) == N_RUNS and state["leases"] == []
    # Nothing is written outside the store, the reports folder and the git-ignored caches.
    after = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                           text=True).stdout
    assert after == before
    assert {p.name for p in folder.iterdir()} <= {"reports", "s.sqlite", "s.sqlite-wal", "s.sqlite-shm"}
    return folder


def copy_store(trained: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained / "s.sqlite", dest / "s.sqlite")
    return dest / "s.sqlite"


# -- leases that die with their owner (unit level: no training) --------------------------------
def test_a_zombie_owners_lease_is_taken_over(tmp_path):
    """A killed xdist worker stays a zombie until the controller reaps it: signal 0 still
    reaches it, but it will never finish its runs."""
    from harness.runstore.store import RunStore

    path = tmp_path / "s.sqlite"
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
            f"from harness.runstore.store import RunStore\n"
            f"st = RunStore({str(path)!r}); assert st.claim('k'); print('claimed', flush=True)\n"
            f"import time; time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "claimed"
        with RunStore(path) as st:
            assert not st.claim("k")  # alive
            os.kill(proc.pid, signal.SIGKILL)
            deadline = time.time() + 10
            while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "Z":
                assert time.time() < deadline
                time.sleep(0.01)
            os.kill(proc.pid, 0)  # still "exists" for signal 0: the old check's blind spot
            assert st.claim("k")  # a zombie's lease is stale
    finally:
        proc.kill()
        proc.wait()


def test_a_reused_pid_does_not_keep_a_dead_owners_lease(tmp_path):
    """The owner is recorded with its process start time: the same pid, started at another
    time, is another process. Our own pid with a wrong start time stands for it."""
    from harness.runstore import store as store_mod

    host = socket.gethostname()
    assert store_mod._owner_alive(store_mod._owner())
    assert not store_mod._owner_alive(f"{host}:{os.getpid()}:1")  # same pid, other start
    assert store_mod._owner_alive(f"{host}:{os.getpid()}")  # an older lease: pid only
    assert store_mod._owner_alive(f"other-host:{os.getpid()}:1")  # other machine: TTL only
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not store_mod._owner_alive(f"{host}:{proc.pid}:1")  # gone


# -- the store key tells apart what changes numbers ---------------------------------------------
def test_store_key_holds_device_and_precision_records_threads_config_key_does_not():
    from harness.declare.spec import DataSpec, Execution, Protocol, RunSpec
    from models import q6_order_mlp

    spec = RunSpec(q6_order_mlp("norm-act", "relu", width=4), DataSpec("digits"), Protocol(1, 32), 0)
    ways = [Execution("cpu", 1, "float32"), Execution("cuda", 0, "float32"),
            Execution("cuda", 0, "bf16")]
    keys = {spec.on(e).key() for e in ways}
    assert len(keys) == len(ways)
    # Threads are recorded with the run but not keyed (chosen from the free cores at start-up).
    assert spec.on(Execution("cpu", 2, "float32")).key() == spec.on(Execution("cpu", 1, "float32")).key()
    assert spec.on(Execution("cpu", 2, "float32")).to_dict()["execution"]["threads"] == 2
    assert {spec.on(e).config_key() for e in ways} == {spec.config_key()}
    assert spec.on(Execution()).key() == spec.key()  # the default is one CPU thread, float32


def test_engine_keys_follow_the_thread_count(tmp_path):
    import torch

    from harness.runstore.store import RunStore
    from harness.train.engine import Engine

    before = torch.get_num_threads()
    with RunStore(tmp_path / "s.sqlite") as st:
        eng = Engine(st, device="cpu")
        try:
            torch.set_num_threads(1)
            one = eng.execution
            torch.set_num_threads(2)
            two = eng.execution
        finally:
            torch.set_num_threads(before)
    assert (one.device_type, one.threads, one.precision) == ("cpu", 1, "float32")
    assert two.threads == 2


# -- options ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--seeds", "0"], "--seeds must be at least 2 (got 0)"),
    (["--seeds", "-3"], "--seeds must be at least 2 (got -3)"),
    (["--alpha", "0"], "--alpha must be between 0 and 1"),
    (["--alpha", "nan"], "--alpha must be between 0 and 1"),
    (["--alpha", "abc"], "usage:"),  # argparse's error: the usage line, then the reason
    (["--device", "cuda"], "--device cuda: no CUDA device"),
])
def test_bad_option_is_one_error_line(args, needle):
    if args == ["--device", "cuda"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible here")
    proc = run("claims", "--collect-only", "-q", "--profile", "tiny", *args)
    assert_one_error(proc, needle)
    if args[-1] == "abc":
        assert "argument --alpha: invalid float value: 'abc'" in proc.stderr


# -- paths checked at start-up ------------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "header":
        path.write_bytes(b"\0" * 100 + raw[100:])
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) // 2 + 123])
    elif how == "mid-file":  # a page of garbage in the middle: the header still reads fine
        page = 4096
        mid = (len(raw) // page // 2) * page
        path.write_bytes(raw[:mid] + bytes((i * 37) % 251 for i in range(page)) + raw[mid + page:])
    else:
        path.write_bytes(b"this is not a database\n" * 50)


@pytest.mark.parametrize("how", ["garbage", "header", "truncated", "mid-file"])
def test_damaged_store_stops_at_start_and_is_left_as_it_was(trained, tmp_path, how):
    store = copy_store(trained, tmp_path)
    _damage(store, how)
    before = store.read_bytes()
    proc = run(*tiny_args(tmp_path), "--collect-only", "-q")
    line = assert_one_error(proc, f"--store {store}", "move the file aside")
    assert "damaged" in line or "not a readable run store" in line
    assert store.read_bytes() == before  # nothing overwritten: a backup can still be made


@pytest.mark.parametrize("case", ["folder", "under-a-file"])
def test_store_path_that_cannot_be_a_store(tmp_path, case):
    if case == "folder":
        (tmp_path / "s.sqlite").mkdir()
        args = tiny_args(tmp_path)
        needle = "is a folder"
    else:
        (tmp_path / "f").write_text("x")
        args = [*TINY, "--store", tmp_path / "f" / "s.sqlite", "--reports-dir", tmp_path / "r"]
        needle = "--store"
    assert_one_error(run(*args, "--collect-only", "-q"), needle)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions: "
                    "the fault cannot happen (run the suite as a user to check it)")
@pytest.mark.parametrize("what", ["store", "reports-dir"])
def test_read_only_store_or_reports_folder(trained, tmp_path, what):
    store = copy_store(trained, tmp_path / "ro")
    reports = tmp_path / "reports"
    reports.mkdir()
    locked = store.parent if what == "store" else reports
    locked.chmod(0o555)
    try:
        proc = run(*TINY, "--store", store, "--reports-dir", reports, "--collect-only", "-q")
        assert_one_error(proc, f"--{what}")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("case", ["file", "proc", "under-a-file"])
def test_reports_dir_that_cannot_be_written_stops_at_start(tmp_path, case):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    reports = {"file": blocker, "proc": Path("/proc/claims-reports"),
               "under-a-file": blocker / "reports"}[case]
    proc = run(*TINY, "--store", tmp_path / "s.sqlite", "--reports-dir", reports,
               "--collect-only", "-q")
    assert_one_error(proc, f"--reports-dir {reports}")
    assert blocker.read_text() == "x"


def test_data_root_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    assert_one_error(run(*tiny_args(tmp_path), "--data-root", tmp_path / "f", "--collect-only", "-q"),
                     "--data-root", "is a file")


@pytest.mark.skipif(not FMNIST.is_dir(), reason=f"no Fashion-MNIST files at {FMNIST}")
def test_truncated_fashion_mnist_file_stops_at_start(tmp_path):
    root = tmp_path / "fm"
    root.mkdir()
    for f in FMNIST.iterdir():
        if f.name.startswith("t10k-labels"):
            (root / f.name).write_bytes(f.read_bytes()[:1000])  # truncated
        else:
            (root / f.name).symlink_to(f)
    proc = run("claims", "--profile", "tiny", "--dataset", "fashion-mnist", "--data-root", root,
               "--store", tmp_path / "s.sqlite", "--reports-dir", tmp_path / "r", "--collect-only", "-q")
    assert_one_error(proc, "t10k-labels")
    assert not (tmp_path / "s.sqlite").exists()  # nothing created before the data is there


# -- runs.csv: the input schema, one error per problem ------------------------------------------
def smoke_rows() -> pd.DataFrame:
    return pd.read_csv(SMOKE_CSV)


def _csv(tmp_path, df: pd.DataFrame | str, name="runs.csv") -> Path:
    path = tmp_path / name
    if isinstance(df, str):
        path.write_text(df)
    else:
        df.to_csv(path, index=False)
    return path


def _edited(**cell) -> pd.DataFrame:
    df = smoke_rows()
    for col, value in cell.items():
        df[col] = df[col].astype(object) if col in df else None  # a later, optional column
        df.loc[6, col] = value  # CSV line 8
    return df


BAD_SOURCES = {
    # name: (content, the words the one error line must hold)
    "garbage": (b"\x00\xff\xfe binary \x00" * 40, ["not a readable CSV"]),
    "empty": ("", ["not a readable CSV"]),
    "header-only": (",".join(smoke_rows().columns) + "\n", ["no runs"]),
    "missing-column": (lambda: smoke_rows().drop(columns=["norm"]), ["missing required column(s) norm"]),
    "misspelled-column": (lambda: smoke_rows().rename(columns={"best_test_acc": "best_test_ac"}),
                          ["unknown column 'best_test_ac'", "did you mean 'best_test_acc'"]),
    "unknown-dataset": (lambda: smoke_rows().assign(dataset="imagenet"), None),
    "unknown-value": (lambda: _edited(activation="tanh"), ["line 8, column activation", "'tanh'"]),
    "text-in-number": (lambda: _edited(best_test_acc="high"), ["line 8, column best_test_acc",
                                                               "'high' is not a number"]),
    "accuracy-250": (lambda: _edited(final_test_acc=250.0), ["line 8, column final_test_acc",
                                                             "250 is out of range"]),
    "accuracy-minus-40": (lambda: _edited(best_test_acc=-40.0), ["line 8, column best_test_acc",
                                                                 "-40 is out of range"]),
    "batch-size-0": (lambda: _edited(batch_size=0), ["line 8, column batch_size"]),
    # the optimizer fields (issue 23): a name outside the registry, a momentum of 1 or more
    "unknown-optimizer": (lambda: _edited(optimizer="rmsprop"), ["line 8, column optimizer", "'rmsprop'"]),
    "momentum-1.5": (lambda: _edited(momentum=1.5), ["line 8, column momentum", "1.5 is out of range"]),
    "all-nan": (lambda: smoke_rows().assign(best_test_acc=math.nan, final_test_acc=math.nan,
                                            grad_metric=math.nan, heldout_best_test_acc=math.nan),
                ["no run has a value in any metric column"]),
    "duplicated-run": (lambda: pd.concat([smoke_rows(), smoke_rows().iloc[[7]]]),
                       ["line 102", "repeats line 9", "delete the copy"]),
    "same-config-and-seed": (lambda: pd.concat([smoke_rows(), smoke_rows().iloc[[7]].assign(key="other")]),
                             ["line 102", "same configuration and seed as line 9"]),
    # issue 27: every metric column validated like accuracy
    "accuracy-as-fraction": (lambda: smoke_rows().assign(best_test_acc=lambda d: d.best_test_acc / 100),
                             ["column best_test_acc: every value is between 0 and 1",
                              "multiply the column by 100"]),
    "grad-metric-inf": (lambda: _edited(grad_metric=math.inf), ["line 8, column grad_metric",
                                                                "inf is not finite", "diverged_epoch"]),
    "grad-metric-minus-inf": (lambda: _edited(grad_metric=-math.inf), ["line 8, column grad_metric",
                                                                       "-inf is not finite"]),
    "two-datasets": (lambda: pd.concat([smoke_rows(), smoke_rows().assign(
        dataset="cifar10", key=lambda d: d["key"] + "-c")]), ["2 datasets", "arms never mix datasets"]),
}


@pytest.mark.parametrize("name", list(BAD_SOURCES))
def test_bad_runs_csv_is_one_error_line_naming_row_and_column(tmp_path, name):
    content, needles = BAD_SOURCES[name]
    if callable(content):
        content = content()
    if isinstance(content, bytes):
        path = tmp_path / "runs.csv"
        path.write_bytes(content)
    else:
        path = _csv(tmp_path, content)
    proc = run("claims", "--source", path, "--profile", "smoke", "--collect-only", "-q",
               "--reports-dir", tmp_path / "r")
    if name == "unknown-dataset":  # every row bad: one line per problem, capped
        assert proc.returncode == 4 and "Traceback" not in proc.stderr
        lines = error_lines(proc.stderr)
        assert lines[0].endswith("unknown value 'imagenet'; valid: digits, fashion-mnist-subset, "
                                 "fashion-mnist, cifar10")
        assert "line 2, column dataset" in lines[0] and "more problems" in lines[-1]
        assert len(lines) == 11
        return
    assert_one_error(proc, f"--source {path}", *needles)


def test_duplicated_file_never_raises_n(tmp_path):
    """The issue's case: the whole runs.csv twice turned a p of 0.048 into 0.005. Now each
    copied row is an error and nothing is judged."""
    from harness.runstore.runs import read_runs_csv
    from harness.runstore.validate import RunsError

    path = _csv(tmp_path, pd.concat([smoke_rows(), smoke_rows()]))
    with pytest.raises(RunsError) as err:
        read_runs_csv(path)
    assert all("delete the copy" in p or "more problems" in p for p in err.value.problems)
    assert "line 102: key" in err.value.problems[0] and "repeats line 2" in err.value.problems[0]


def test_validate_knows_the_models_values():
    import models
    from harness.runstore import validate

    for name in ("ARCHS", "BLOCK_ORDERS", "NORMS", "ACTIVATIONS", "STEMS"):
        assert getattr(validate, name) is getattr(models, name), name  # one definition


def test_outsiders_runs_csv_is_judged_where_it_has_rows(tmp_path):
    """Issue 8 item 7: a CSV written by other training code (its own columns, no kind, no
    key, no grad_metric): the Q6 claims are judged, the questions without rows untestable."""
    rows = []
    orders = {("norm-act", "relu"): 0.0, ("act-norm", "relu"): 5.0, ("act-norm", "leaky_relu"): 4.0}
    for (order, act), shift in orders.items():
        for arch, depth in (("cnn", 8), ("mlp", 0)):
            for seed in range(5):
                acc = (62.0 if arch == "cnn" else 78.0) + (shift if arch == "cnn" else 0.0) \
                    + [0.8, -1.1, 0.3, 1.6, -0.9][seed]
                rows.append({"arch": arch, "width": 8, "depth": depth, "block_order": order,
                             "norm": "batch", "activation": act, "stem": "conv",
                             "batch_size": 32, "dataset": "fashion-mnist-subset", "seed": seed,
                             "final_test_acc": round(acc, 2), "best_test_acc": round(acc + 1.0, 2)})
    path = _csv(tmp_path, pd.DataFrame(rows))
    proc = run("claims", "--source", path, "--profile", "smoke", "--reports-dir", tmp_path / "r")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr + proc.stdout, proc.stdout[-3000:]
    by_id = {r["id"]: r for r in report_of(tmp_path / "r")["results"]}
    judged = by_id["q6-cnn-act-first-beats-bn-first"]["evidence"]
    assert judged["verdict"] == "supported" and set(judged["n"]) == {5}
    assert by_id["q6-mlp-orders-equivalent"]["evidence"]["verdict"] != "untestable"
    for qid in ("q4-relu-rises", "q5-bn-small-batch-worse", "headline-80-percent"):
        assert by_id[qid]["evidence"]["verdict"] == "untestable"
    # said at the level the user thinks in: the question, not a missing column or arm
    assert "this source has no Q4 runs" in by_id["q4-gradient-falls"]["evidence"]["note"]
    assert "this source has no Q5 runs" in by_id["q5-bn-small-batch-worse"]["evidence"]["note"]


# -- divergence and chance ----------------------------------------------------------------------
def test_diverged_arm_makes_its_claims_untestable_never_supported(tmp_path):
    """The issue's lr 1e30 case in a hand-made file: the BN->ReLU CNN runs diverged at a
    constant 10%, which used to give 'supported, p = 0' to activation-first claims."""
    df = smoke_rows()
    bn_first = (df.arch == "cnn") & (df.stem == "conv") & (df.depth == 8) & (df.block_order == "norm-act")
    assert bn_first.sum() == 5
    df.loc[bn_first, ["final_test_acc", "best_test_acc"]] = 10.0
    df.loc[bn_first, "diverged_epoch"] = 1
    proc = run("claims", "-k", "q6", "--source", _csv(tmp_path, df), "--reports-dir", tmp_path / "r")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr + proc.stdout
    by_id = {r["id"]: r["evidence"] for r in report_of(tmp_path / "r")["results"]}
    for qid in ("q6-cnn-act-first-beats-bn-first", "q6-cnn-leakyrelu-bn-best",
                "q6-order-matters-more-in-cnn"):
        assert by_id[qid]["verdict"] == "untestable", qid
        assert "5 of 5 runs diverged" in by_id[qid]["note"]
    assert by_id["q6-mlp-orders-equivalent"]["verdict"] != "untestable"


def test_every_run_at_chance_is_untestable_and_flips_no_strict_xfail(tmp_path):
    """The issue's lr 1e4 case: every run near 10%, none flagged. Now every claim is
    untestable with the reason; the strict xfail (q5-bn-advantage-at-most-3) is skipped."""
    df = smoke_rows()
    noise = [(i * 7919) % 100 / 100.0 for i in range(len(df))]
    for col in ("best_test_acc", "final_test_acc", "heldout_best_test_acc"):
        df[col] = [9.0 + 2.0 * u for u in noise]
    proc = run("claims", "--source", _csv(tmp_path, df), "--reports-dir", tmp_path / "r")
    # issue 27: a session in which no claim could be judged is not a pass
    assert_one_error(proc, "no claim could be judged", "at chance")
    results = report_of(tmp_path / "r")["results"]  # the report is still written
    assert {r["evidence"]["verdict"] for r in results} == {"untestable"}
    # the seed paper's claims: at chance; the other papers' (bn2015): no runs of theirs here
    assert all("at chance" in r["evidence"]["note"] or "CIFAR-10" in r["evidence"]["note"]
               or (not r["id"].startswith("q") and "has no" in r["evidence"]["note"])
               for r in results)


def test_real_diverged_and_stuck_runs_are_flagged():
    """The trainer's own records: lr 1e30 diverges (non-finite loss), lr 1e4 does not learn.
    Each is flagged by the one definition (harness.runstore.divergence) that runs.arm applies."""
    from harness.declare.spec import DataSpec, Protocol, RunSpec
    from harness.runstore.runs import MissingArm, arm, from_records
    from harness.train.data import load_splits
    from harness.train.stacked import train_stacked
    from models import q6_order_mlp

    data = load_splits(DataSpec("digits"))
    frames = {}
    for lr in (1e30, 1e4):
        specs = [RunSpec(q6_order_mlp(order, "relu", width=4, in_channels=1, image_size=8),
                         DataSpec("digits"), Protocol(2, 64, lr), seed)
                 for order in ("norm-act", "act-norm") for seed in range(3)]
        recs = [r for order in ("norm-act", "act-norm")
                for r in train_stacked([s for s in specs if s.net.block_order == order], data)]
        frames[lr] = from_records(recs)
    assert frames[1e30]["diverged_epoch"].notna().all()
    with pytest.raises(MissingArm, match="runs diverged"):
        arm(frames[1e30], "final_test_acc", "mlp bn-relu", block_order="norm-act")
    # lr 1e4: the ReLU->BN runs never leave chance (9.8-10.2% on every thread count tried);
    # BN->ReLU may reach 12.7% at one epoch on one thread, so the source is the stuck arm alone.
    stuck = frames[1e4][frames[1e4].block_order == "act-norm"]
    assert (stuck["best_test_acc"] <= 12.0).all(), stuck["best_test_acc"].tolist()
    with pytest.raises(MissingArm, match="at chance|diverged"):
        arm(stuck, "final_test_acc", "mlp relu-bn", block_order="act-norm")


def test_constant_arm_at_chance_is_flagged_but_slow_seeds_are_results():
    from harness.runstore.runs import MissingArm, arm, runs_frame

    def rows(accs, order):
        return [{"key": f"{order}{i}", "kind": "run", "seed": i, "arch": "mlp", "depth": 0,
                 "block_order": order, "norm": "batch", "activation": "relu", "stem": "conv",
                 "batch_size": 32, "dataset": "digits", "best_test_acc": a, "final_test_acc": a}
                for i, a in enumerate(accs)]

    df = runs_frame(rows([9.56, 9.56, 9.56], "norm-act") + rows([10.0, 30.0, 41.0], "act-norm"))
    with pytest.raises(MissingArm, match="one constant value"):
        arm(df, "final_test_acc", "constant", block_order="norm-act")
    assert arm(df, "final_test_acc", "slow starter", block_order="act-norm").n == 3


# -- errors are never expected results ----------------------------------------------------------
def _inject(tmp_path: Path, code: str) -> dict:
    """A plugin (-p fault_inject) that breaks something mid-session."""
    (tmp_path / "inject").mkdir(exist_ok=True)
    (tmp_path / "inject" / "fault_inject.py").write_text(code)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path / "inject"), str(REPO), os.environ.get("PYTHONPATH", "")])}


#: A plugin that makes each epoch last a second longer, so that a signal sent once a lease is
#: seen lands mid-training: the tiny profile trains its 8 runs in about a second, and on a
#: loaded machine the signal could arrive after training had ended (the session then exited
#: 1, a normal end, and the test tested nothing).
SLOW_EPOCHS = ("import time\n"
               "from harness.train import stacked\n"
               "_evaluate = stacked.Stack.evaluate\n"
               "def _slow(self, *a, **k):\n"
               "    time.sleep(1.0)\n"
               "    return _evaluate(self, *a, **k)\n"
               "stacked.Stack.evaluate = _slow\n")


def slow_session(folder: Path, tmp_path: Path, *args) -> Session:
    """A background session whose epochs are slowed (``SLOW_EPOCHS``)."""
    return Session(folder, *args, "-p", "fault_inject", env=_inject(tmp_path, SLOW_EPOCHS))


def test_a_source_error_mid_session_fails_never_xfails(tmp_path):
    """The source vanishes after the start-up check: every claim errors. None may show as
    XFAIL ("not shown at smoke scale") or satisfy the strict xfail."""
    src = _csv(tmp_path, smoke_rows())
    env = _inject(tmp_path, "import os\n"
                            "def pytest_collection_finish(session):\n"
                            f"    os.remove({str(src)!r})\n")
    proc = run("claims", "--source", src, "--reports-dir", tmp_path / "r", "-p", "fault_inject",
               "-rA", env=env)
    out = proc.stdout
    assert "xfailed" not in out and "XFAIL" not in out and "XPASS" not in out, out[-3000:]
    n_claims = len(list((Path(__file__).resolve().parent.parent / "claims").glob("test_*.py")))
    summary = out.splitlines()[-1]
    failed = int(summary.split(" failed")[0].split()[-1])
    assert n_claims <= failed and "passed" not in summary, out[-1000:]
    assert out.count("no such file") >= failed  # each failure says why
    # every failed claim is a result now (issue 27), so a report is attempted: its runs.csv
    # cannot be exported from a vanished source, said in one line
    assert_one_error(proc, "the report could not be written", "no such file")


def test_report_that_cannot_be_written_keeps_the_runs_and_says_where(trained, tmp_path):
    store = copy_store(trained, tmp_path)
    reports = tmp_path / "reports"
    env = _inject(tmp_path, "import shutil, pytest\n"
                            "@pytest.hookimpl(tryfirst=True)\n"
                            "def pytest_sessionfinish(session):\n"
                            "    d = session.config.getoption('--reports-dir')\n"
                            "    shutil.rmtree(d, ignore_errors=True)\n"
                            "    open(d, 'w').write('in the way')\n")
    proc = run(*tiny_args(tmp_path), "-p", "fault_inject", env=env)
    line = assert_one_error(proc, "the report could not be written", f"the run store {store}",
                            "nothing is retrained")
    assert str(reports) in line
    assert "q5-gn-beats-bn-small-batch" in proc.stdout  # the claims table is still printed
    assert not trained_labels(proc.stderr)
    assert len(store_state(store)["keys"]) == N_RUNS
    # The rerun the line asks for writes the report without training.
    (reports).unlink()
    again = run(*tiny_args(tmp_path))
    assert again.returncode in (0, 1) and not trained_labels(again.stderr)
    assert report_of(reports)["results"]


# -- killed, interrupted, concurrent: nothing lost, duplicated or half-written ------------------
def test_kill_9_of_one_xdist_worker_never_hangs_the_session(tmp_path):
    """A killed worker stays a zombie; its leases must be taken over within seconds (they
    used to wait for the 6-hour TTL, hanging the session)."""
    store = tmp_path / "s.sqlite"
    # Two Q5 claims: one per worker, so the survivor needs the dead worker's runs.
    two_claims = "batchnorm_small_batch_below_peak or groupnorm_beats_batchnorm_at_small_batch"
    session = slow_session(tmp_path / "log", tmp_path, *tiny_args(tmp_path), "-k", two_claims, "-n", "2")
    victim = lease_owner_pid(store, session)
    assert victim != session.proc.pid  # a worker, not the controller
    os.kill(victim, signal.SIGKILL)
    rc = session.wait()
    assert rc in (0, 1), session.stdout[-3000:]
    labels = trained_labels(session.stderr)
    assert len(labels) == len(set(labels)) == N_RUNS, "every run trained exactly once"
    state = store_state(store)
    assert len(state["keys"]) == N_RUNS and state["leases"] == []


def test_ctrl_c_then_kill_9_then_rerun_trains_each_run_once(tmp_path):
    store = tmp_path / "s.sqlite"
    # 1. Ctrl-C mid-training: pytest's interrupted exit, the leases released, nothing torn.
    first = slow_session(tmp_path / "log1", tmp_path, *tiny_args(tmp_path))
    assert lease_owner_pid(store, first) == first.proc.pid
    first.proc.send_signal(signal.SIGINT)
    assert first.wait() == 2, first.stdout[-3000:]
    assert "Traceback (most recent call last)" not in first.stderr + first.stdout
    state = store_state(store)
    assert state["leases"] == []
    done = set(state["keys"])
    # 2. kill -9 of the main process mid-training: its leases stay behind, nothing torn.
    second = slow_session(tmp_path / "log2", tmp_path, *tiny_args(tmp_path))
    assert lease_owner_pid(store, second) == second.proc.pid
    second.proc.send_signal(signal.SIGKILL)
    second.wait()
    state = store_state(store)
    assert done <= set(state["keys"]) and len(state["keys"]) < N_RUNS
    done = set(state["keys"])
    labels = trained_labels(first.stderr) + trained_labels(second.stderr)
    assert len(labels) == len(set(labels)) == len(done)
    # 3. The rerun takes the dead leases over and trains exactly what is missing.
    third = run(*tiny_args(tmp_path))
    assert third.returncode in (0, 1), third.stdout[-3000:]
    again = trained_labels(third.stderr)
    assert len(again) == len(set(again)) == N_RUNS - len(done)
    assert not set(again) & set(labels)
    state = store_state(store)
    assert len(state["keys"]) == N_RUNS and state["leases"] == []


#: A plugin whose first evaluation takes a Ctrl-C inside a ``__del__``: Python reports the
#: handler's exception there as "Exception ignored in" and carries on.
CTRL_C_IN_DEL = ("import os, signal\n"
                 "from harness.train import stacked\n"
                 "_evaluate = stacked.Stack.evaluate\n"
                 "class _Finalized:\n"
                 "    def __del__(self):\n"
                 "        os.kill(os.getpid(), signal.SIGINT)\n"
                 "        sum(range(1000))  # bytecode after the signal: its handler runs here\n"
                 "_sent = []\n"
                 "def _once(self, *a, **k):\n"
                 "    if not _sent:\n"
                 "        _sent.append(1)\n"
                 "        _Finalized()  # dropped at once: __del__ runs now\n"
                 "    return _evaluate(self, *a, **k)\n"
                 "stacked.Stack.evaluate = _once\n")


def test_a_ctrl_c_whose_exception_python_drops_still_stops_the_session(tmp_path):
    """The flake behind the test above: a Ctrl-C that lands while Python runs a finalizer
    raises there and is dropped. It must still end the session as interrupted (2), with no
    lease left behind, before the next training step."""
    s = Session(tmp_path / "log", *tiny_args(tmp_path), "-p", "fault_inject",
                env=_inject(tmp_path, CTRL_C_IN_DEL))
    assert s.wait() == 2, s.stdout[-3000:] + s.stderr[-3000:]
    assert "Exception ignored in" in s.stdout + s.stderr  # the signal did land in the finalizer
    state = store_state(tmp_path / "s.sqlite")
    assert state["leases"] == [] and len(state["keys"]) < N_RUNS


def test_two_sessions_on_one_store_train_each_run_once(tmp_path):
    store = tmp_path / "s.sqlite"
    a = Session(tmp_path / "a", *TINY, "--store", store, "--reports-dir", tmp_path / "ra")
    b = Session(tmp_path / "b", *TINY, "--store", store, "--reports-dir", tmp_path / "rb")
    assert a.wait() in (0, 1) and b.wait() in (0, 1), a.stdout[-2000:] + b.stdout[-2000:]
    labels = trained_labels(a.stderr) + trained_labels(b.stderr)
    assert len(labels) == len(set(labels)) == N_RUNS
    state = store_state(store)
    assert len(state["keys"]) == N_RUNS and state["leases"] == []
    verdicts = [{r["id"]: r["evidence"]["verdict"] for r in report_of(tmp_path / d)["results"]}
                for d in ("ra", "rb")]
    assert verdicts[0] == verdicts[1]


# -- issue 27: reliability, round two -----------------------------------------------------------
def test_missing_metrics_are_counted_in_one_line_per_source(tmp_path):
    """Empty metric cells used to drop runs silently (n 5 -> 3); now the header says how many."""
    df = smoke_rows()
    df.loc[[3, 8], "final_test_acc"] = math.nan
    proc = run("claims", "--source", _csv(tmp_path, df), "--collect-only", "-q",
               "--reports-dir", tmp_path / "r")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if "have no final_test_acc" in ln]
    assert len(lines) == 1 and "2 of 100 runs have no final_test_acc" in lines[0]
    assert "have no best_test_acc" not in proc.stdout
    # and per arm, in the label the report shows beside the arm's n
    from harness.runstore.runs import arm, read_runs_csv

    runs = read_runs_csv(tmp_path / "runs.csv")
    row = runs.iloc[3]
    where = {c: row[c] for c in ("arch", "depth", "block_order", "norm", "activation", "stem",
                                 "batch_size")}
    lacking = arm(runs, "final_test_acc", "arm", **where)
    assert lacking.label == "arm [1 run without final_test_acc]"
    assert lacking.n == int((runs[list(where)] == pd.Series(where)).all(axis=1).sum()) - 1
    assert arm(runs, "best_test_acc", "arm", **where).label == "arm"


def test_a_source_above_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """The limit (harness.runstore.runs.MAX_SOURCE_ROWS) refuses in one line, counting rows in
    constant memory; the 1,000,000-row case is measured by benchmarks/bench_source_size.py."""
    from harness.runstore import runs
    from harness.runstore.validate import RunsError

    path = _csv(tmp_path, smoke_rows())
    monkeypatch.setattr(runs, "MAX_SOURCE_ROWS", 99)
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("read before the size check"))
    with pytest.raises(RunsError) as err:
        runs.read_runs_csv(path)
    assert err.value.problems == [f"--source {path}: 100 rows, more than the 99 a source may hold "
                                  f"(docs/FAULTS.md, size); split it, e.g. one file per question"]
    monkeypatch.undo()
    assert len(runs.read_runs_csv(path)) == 100  # at the limit: read
    # a quoted cell spanning lines is one row: counted by the csv module past the line limit
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('a,b\n1,"x\ny\nz"\n2,w\n')
    assert runs.count_rows(quoted, 1) == 2
    assert runs.count_rows(quoted, 10) == 4  # under the limit, lines are the (upper) bound


def test_kendall_s_is_the_pairwise_count(tmp_path):
    """The O(n log n) Kendall S equals the pairwise definition, ties in levels and values
    included (issue 27: the pairwise form needed 760 GiB at 100,000 runs)."""
    import numpy as np

    from harness.statistics.simulate import kendall_s

    rng = np.random.default_rng(27)
    for _ in range(30):
        k = int(rng.integers(2, 6))
        levels = [float(v) for v in rng.choice([1, 2, 3, 4], size=k)]
        arms = [np.round(rng.normal(size=(3, int(rng.integers(1, 7)))), 1) for _ in range(k)]
        x = np.concatenate([np.full(a.shape[-1], lv) for lv, a in zip(levels, arms)])
        y = np.concatenate(arms, axis=-1)
        i, j = np.triu_indices(x.size, 1)
        pairwise = (np.sign(x[j] - x[i]) * np.sign(y[..., j] - y[..., i])).sum(axis=-1)
        assert np.array_equal(kendall_s(levels, arms), pairwise)


def test_reports_latest_as_a_real_folder_stops_at_start(tmp_path):
    (tmp_path / "r" / "latest").mkdir(parents=True)
    proc = run("claims", "--source", SMOKE_CSV, "--collect-only", "-q", "--reports-dir", tmp_path / "r")
    assert_one_error(proc, f"{tmp_path / 'r' / 'latest'} is a folder", "move it aside")


def test_dev_null_as_a_store_is_not_called_a_folder(tmp_path):
    proc = run(*TINY, "--collect-only", "-q", "--store", "/dev/null", "--reports-dir", tmp_path / "r")
    assert_one_error(proc, "--store /dev/null: is not a regular file")


@pytest.mark.parametrize("case", ["foreign-runs-table", "damaged-record", "value-out-of-range"])
def test_foreign_or_damaged_store_stops_at_start_in_one_line(trained, tmp_path, case):
    """A foreign database is refused untouched; a damaged record is named by key once, not
    in every test (17 tracebacks, or 1,770 lines, before)."""
    store = copy_store(trained, tmp_path)
    if case == "foreign-runs-table":
        store.unlink()
        db = sqlite3.connect(store)
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
        db.commit()
        db.close()
        needles = ["not a run store of this suite", "left untouched"]
    else:
        db = sqlite3.connect(store)
        key, rec = db.execute("SELECT key, record FROM runs ORDER BY key LIMIT 1").fetchone()
        if case == "damaged-record":
            bad = rec[:40] + "\x01" + rec[41:]
        else:
            r = json.loads(rec)
            r["best_test_acc"] = 250.0
            bad = json.dumps(r)
        db.execute("UPDATE runs SET record = ? WHERE key = ?", (bad, key))
        db.commit()
        db.close()
        needles = [key, "DELETE FROM runs WHERE key="]
    before = store.read_bytes()
    proc = run(*tiny_args(tmp_path), "--collect-only", "-q")
    assert_one_error(proc, f"{store}", *needles)
    assert store.read_bytes() == before


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    """CI cancel, `timeout`, `docker stop`: pytest's interrupted exit, the leases released,
    one line; before, the process died silently and its leases stayed."""
    store = tmp_path / "s.sqlite"
    session = slow_session(tmp_path / "log", tmp_path, *tiny_args(tmp_path))
    assert lease_owner_pid(store, session) == session.proc.pid
    session.proc.send_signal(signal.SIGTERM)
    assert session.wait() == 2, session.stdout[-3000:]
    out = session.stdout + session.stderr
    assert "Traceback (most recent call last)" not in out
    assert "SIGTERM: stopping" in out
    assert store_state(store)["leases"] == []


def test_a_second_signal_while_stopping_is_one_line(tmp_path):
    """A double Ctrl-C used to print a 285-line traceback: the second signal now ends the
    process with one line (its leases are taken over by the next session)."""
    code = ("import os, signal, time\n"
            "from harness.pytest_plugin.session import StopSignals\n"
            "StopSignals().install()\n"
            "try:\n"
            "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
            "except KeyboardInterrupt:\n"
            "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.returncode == 128 + signal.SIGINT
    assert error_lines(proc.stderr) == ["ERROR: SIGINT again while stopping after SIGINT: exiting now; "
                                        "this process's leases are taken over by the next session"]
    assert "Traceback" not in proc.stderr


def test_a_session_waiting_on_leases_says_whose_and_steal_takes_them(tmp_path):
    """Leases of a session on another host are trusted for 6 h: the waiting session says
    every WAIT_REPORT_S who holds them, and --steal-leases takes them over."""
    store = copy_store_empty(tmp_path)
    keys = _tiny_q5_keys()
    db = sqlite3.connect(store)
    db.executemany("INSERT INTO leases VALUES (?, 'otherhost:4242:1', ?)",
                   [(k, time.time() - 120) for k in keys])
    db.commit()
    db.close()
    waiting = Session(tmp_path / "w", *tiny_args(tmp_path))
    deadline = time.time() + SESSION_TIMEOUT  # the first line comes after WAIT_REPORT_S (30 s)
    while "waiting for runs leased by another process" not in waiting.stderr:
        assert waiting.proc.poll() is None and time.time() < deadline, waiting.stderr[-3000:]
        time.sleep(0.5)
    os.killpg(waiting.proc.pid, signal.SIGTERM)
    waiting.wait()
    line = [ln for ln in waiting.stderr.splitlines() if "waiting for runs leased" in ln][0]
    assert "otherhost pid 4242 since" in line and "min ago)" in line and "--steal-leases" in line
    assert store_state(store)["keys"] == []  # nothing trained while they were held
    stolen = run(*tiny_args(tmp_path), "--steal-leases")
    assert stolen.returncode in (0, 1), stolen.stdout[-3000:]
    assert len(trained_labels(stolen.stderr)) == N_RUNS
    assert store_state(store)["leases"] == []


def copy_store_empty(tmp_path: Path) -> Path:
    from harness.runstore.store import RunStore

    RunStore(tmp_path / "s.sqlite").close()
    return tmp_path / "s.sqlite"


def _tiny_q5_keys() -> list[str]:
    """The keys the TINY session trains (its Q5 grid on this machine's execution)."""
    import torch

    from harness.declare import grids
    from harness.declare.profiles import PROFILES
    from harness.declare.spec import Execution

    p = PROFILES["tiny"]
    return [s.on(Execution("cpu", torch.get_num_threads(), "float32")).key()
            for s in grids.grid("Q5", p, p.dataset, 2)]


def test_a_store_error_mid_session_ends_it_in_one_line_and_lists_every_claim(trained, tmp_path):
    """A record damaged after the start-up check: one ERROR line naming its key, exit code 4,
    and both collected claims in the claims table and the report (before: a traceback per
    test, and "No claims of this question were run")."""
    store = copy_store(trained, tmp_path)
    env = _inject(tmp_path, "import sqlite3\n"
                            "def pytest_collection_finish(session):\n"
                            f"    db = sqlite3.connect({str(store)!r})\n"
                            "    db.execute(\"UPDATE runs SET record = '{' WHERE key = "
                            "(SELECT MIN(key) FROM runs)\")\n"
                            "    db.commit()\n"
                            "    db.close()\n")
    two_claims = "batchnorm_small_batch_below_peak or groupnorm_beats_batchnorm_at_small_batch"
    proc = run(*tiny_args(tmp_path), "-k", two_claims, "-p", "fault_inject", env=env)
    assert_one_error(proc, "record", "is damaged", "DELETE FROM runs WHERE key=")
    assert not trained_labels(proc.stderr)  # nothing retrained behind the user's back
    for claim_id in ("q5-bn-small-batch-worse", "q5-gn-beats-bn-small-batch"):
        assert claim_id in proc.stdout  # the claims table
    results = {r["id"]: r for r in report_of(tmp_path / "reports")["results"]}
    assert set(results) == {"q5-bn-small-batch-worse", "q5-gn-beats-bn-small-batch"}
    assert all(r["error"] == "not run: the session stopped before it" for r in results.values())
    markdown = (tmp_path / "reports" / "latest" / "report.md").read_text()
    for claim_id in results:  # each in its question's section, with its error
        assert any(f"`{claim_id}`" in ln and "not run: the session stopped before it" in ln
                   for ln in markdown.splitlines()), claim_id


def test_a_crashed_claim_is_listed_with_its_error():
    """A claim that fails before it is judged (a killed worker, a store error) becomes a
    result with its error in one line, for the table and the report."""
    from types import SimpleNamespace

    from harness.pytest_plugin.plugin import CLAIM_MARK_PROP, _Collector
    from harness.pytest_plugin.session import ClaimsSession

    state = ClaimsSession(settings=None)
    state.collected = {"claims/a.py::test_x": {"id": "test_x", "nodeid": "claims/a.py::test_x"}}
    collector = _Collector(state)
    crash = SimpleNamespace(user_properties=[], when="???", failed=True, skipped=False,
                            nodeid="claims/a.py::test_x",
                            longrepr="worker 'gw0' crashed while running 'claims/a.py::test_x'")
    error = SimpleNamespace(user_properties=[(CLAIM_MARK_PROP, json.dumps(
        {"id": "q5-y", "question": "Q5", "sentence": "s", "nodeid": "claims/a.py::test_y"}))],
        when="call", failed=True, skipped=False, nodeid="claims/a.py::test_y",
        longrepr="def f():\n>   raise ValueError('boom')\nE   ValueError: boom\n\nharness/x.py:3: ValueError")
    skip = SimpleNamespace(user_properties=[(CLAIM_MARK_PROP, json.dumps(
        {"id": "q6-z", "question": "Q6", "sentence": "s", "nodeid": "claims/a.py::test_z"}))],
        when="setup", failed=False, skipped=True, nodeid="claims/a.py::test_z",
        longrepr=("claims/a.py", 3, "Skipped: no GPU"))
    collector.pytest_runtest_logreport(crash)
    collector.pytest_runtest_logreport(error)
    collector.pytest_runtest_logreport(error)  # a teardown error of the same test: one result
    collector.pytest_runtest_logreport(skip)
    assert [(r["id"], r["outcome"], r["error"]) for r in state.results] == [
        ("test_x", "error", "worker 'gw0' crashed while running 'claims/a.py::test_x'"),
        ("q5-y", "failed", "ValueError: boom"), ("q6-z", "skipped", "Skipped: no GPU")]


@pytest.mark.parametrize("args, needles", [
    (["--set", "image_size=100000"], ["image_size is 100000, beyond the most any session could use"]),
    (["--set", "q5_epochs=1000000000"], ["Q5.epochs holds 1000000000, beyond the most"]),
    (["--set", "name=cpu"], ["cannot be overridden"]),
    # digits has 1347 training images: a bigger train_size was silently the whole split
    (["--set", "train_size=5000"], ["train_size=5000", "has 1347 images", "give at most 1347"]),
    (["--max-hours", "0"], ["--max-hours must be a positive number"]),
])
def test_absurd_sizes_stop_at_start(tmp_path, args, needles):
    proc = run(*TINY, "--collect-only", "-q", "--store", tmp_path / "s.sqlite",
               "--reports-dir", tmp_path / "r", *args)
    assert_one_error(proc, *needles)
    assert not (tmp_path / "s.sqlite").exists()


def test_a_session_beyond_max_hours_is_refused_with_its_estimate_before_training(tmp_path):
    """The estimate (harness.train.engine.estimated_hours, at the committed CPU sessions' rate) of
    what the store lacks; beyond --max-hours, one line and nothing trained."""
    from harness.train.engine import cpu_seconds_per_cost, estimated_hours

    # the committed plan-era sessions: about 7e-10 s per unit (benchmarks/cost_model.py)
    assert 1e-10 < cpu_seconds_per_cost() < 1e-8
    proc = run(*tiny_args(tmp_path), "--max-hours", "0.00001")
    line = assert_one_error(proc, "this session would train 8 runs, about", "CPU-hours",
                            "beyond --max-hours 1e-05", "pass --max-hours")
    assert not trained_labels(proc.stderr)
    assert store_state(tmp_path / "s.sqlite")["keys"] == []
    hours = float(line.split("about ")[1].split(" CPU-hours")[0])
    from harness.declare import grids
    from harness.declare.profiles import PROFILES
    from harness.declare.spec import Execution

    p = PROFILES["tiny"]
    specs = [s.on(Execution("cpu", 1, "float32")) for s in grids.grid("Q5", p, p.dataset, 2)]
    assert hours == float(f"{estimated_hours(specs):.3g}")


def test_a_configuration_lands_in_the_store_whole_or_not_at_all(tmp_path):
    """A driver killed between two records of one configuration (Ray returns them together,
    the local trainer yields them one by one) used to leave a split stack; now a
    configuration's records are written in one transaction once all are back."""
    from harness.declare import grids
    from harness.declare.profiles import PROFILES
    from harness.runstore.store import RunStore
    from harness.train.engine import Engine

    class DiesAfterOneRecord:
        """An executor whose process dies after the first record of a configuration."""

        def __init__(self, die: bool):
            self.queue, self.die = [], die

        def has_room(self):
            return not self.queue

        def submit(self, specs):
            self.queue.append(specs)

        def collect(self, timeout=None):
            if not self.queue:
                return
            specs = self.queue.pop(0)
            for i, s in enumerate(specs):
                if i == 1 and self.die:
                    raise KeyboardInterrupt
                yield {"key": s.key(), "spec": s.to_dict(), "diverged_epoch": None,
                       "best_test_acc": 50.0, "final_test_acc": 50.0, "test_acc": [50.0], "wall_s": 0.0}

        def close(self):
            pass

    p = PROFILES["tiny"]
    specs = grids.grid("Q5", p, p.dataset, 2)[:2]
    assert len({s.config_key() for s in specs}) == 1  # the two seeds of one configuration
    with RunStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            Engine(store, executor=DiesAfterOneRecord(die=True)).ensure(specs)
        assert len(store) == 0 and store.holders(store.keys()) == {}
        assert store._db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
        Engine(store, executor=DiesAfterOneRecord(die=False)).ensure(specs)
        assert len(store) == 2
        created = {c for (c,) in store._db.execute("SELECT created FROM runs")}
        assert len(created) == 1  # one transaction
