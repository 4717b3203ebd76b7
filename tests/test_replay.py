"""--source runs.csv --seeds auto: a sequential session replayed from its exported runs
(harness/runstore/replay.py). The committed --seeds auto reports re-judge through it in
tests/test_committed_evidence.py; here, the matching rule and its errors."""
import pytest

from harness.declare import grids
from harness.declare.profiles import PROFILES
from harness.runstore import replay
from harness.runstore.runs import record_to_row, runs_frame
from harness.runstore.validate import RunsError

TINY = PROFILES["tiny"]


def _csv_rows(specs, key="an-old-key"):
    """Rows as an older session exported them: same configuration and seed, another store
    key (the key carries a fingerprint of the training code)."""
    rows = []
    for i, s in enumerate(specs):
        row = record_to_row({"key": f"{key}-{i}", "spec": s.to_dict()}, "runs.csv")
        row.update(best_test_acc=50.0 + i, final_test_acc=49.0 + i)
        rows.append(row)
    return runs_frame(rows)


def test_rows_are_matched_by_configuration_and_seed_and_take_the_specs_key():
    specs = grids.grid("Q4", TINY, seeds=4)
    df = _csv_rows(specs)[::-1]  # order does not matter
    stage1 = [s for s in specs if s.seed < 2]
    got = replay.runs_of(df, stage1, "--source x")
    assert list(got["key"]) == [s.key() for s in stage1]
    assert sorted(got["seed"]) == sorted(s.seed for s in stage1)
    want = {s.key(): 50.0 + specs.index(s) for s in stage1}
    assert dict(zip(got["key"], got["best_test_acc"])) == want


def test_numbers_written_as_floats_and_an_older_csv_without_init_still_match():
    specs = grids.grid("Q5", TINY, seeds=2)
    df = _csv_rows(specs)
    df["batch_size"] = df["batch_size"].astype(float)
    df["init"] = None
    assert len(replay.runs_of(df, specs, "--source x")) == len(specs)


def test_a_stage_the_csv_lacks_is_one_error_line():
    specs = grids.grid("Q4", TINY, seeds=3)
    df = _csv_rows([s for s in specs if s.seed < 2])
    with pytest.raises(RunsError) as exc:
        replay.runs_of(df, specs, "--source runs.csv")
    (line,) = exc.value.problems
    assert line.startswith("--source runs.csv: a --seeds auto replay needs") and "seed 2" in line


def test_a_question_the_session_did_not_run_is_empty_not_an_error():
    q4 = grids.grid("Q4", TINY, seeds=2)
    q6 = grids.grid("Q6", TINY, seeds=2)
    df = _csv_rows(q4)
    assert len(replay.runs_of(df, q6, "--source x", none_is_empty=True)) == 0
    with pytest.raises(RunsError):
        replay.runs_of(df, q6, "--source x")
    # part of a question present is still an error: a replay never judges on fewer seeds
    with pytest.raises(RunsError):
        replay.runs_of(df, q4 + q6, "--source x", none_is_empty=True)


def test_published_summaries_are_never_runs():
    specs = grids.grid("Q4", TINY, seeds=1)
    df = _csv_rows(specs)
    df["kind"] = "summary"
    with pytest.raises(RunsError):
        replay.runs_of(df, specs, "--source x")


def test_seed_args_replay_a_sequential_report_with_its_own_stages():
    assert replay.seed_args({"seeds": 5}) == []
    assert replay.seed_args({"seeds": "auto (5, 10)"}) == ["--seeds", "auto", "--max-seeds", "10"]
    assert replay.seed_args({"seeds": "auto"}) == ["--seeds", "auto"]
