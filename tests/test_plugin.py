"""The pytest plugin end to end: options, usage errors, store reuse, --fresh, sources,
xdist, the report and junit properties. Each test runs pytest in a subprocess on the repo's
own claims with the `tiny` profile (seconds) and private store/report folders."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_pytest(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    return proc


def tiny(tmp_path, *args):
    return run_pytest("claims", "--profile", "tiny", "--store", str(tmp_path / "store.sqlite"),
                      "--reports-dir", str(tmp_path / "reports"), *args)


def latest_report(tmp_path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())


@pytest.mark.parametrize("args, expected", [
    (["--profile", "nope"], "valid: smoke, tiny, cpu, cpu2, full"),
    (["--dataset", "nope"], "valid: digits, fashion-mnist-subset, fashion-mnist, cifar10"),
    (["--device", "tpu"], "valid: auto, cpu, cuda"),
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--seeds", "0"], "--seeds must be at least 2 (got 0)"),
    (["--alpha", "2"], "--alpha must be between 0 and 1"),
    (["--source", "no/such/runs.csv"], "neither 'fresh', 'paper' nor an existing runs.csv"),
])
def test_bad_option_is_one_clear_usage_error(args, expected):
    proc = run_pytest("claims", "--collect-only", "-q", *args)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_dataset_stops_the_run_at_start(tmp_path):
    proc = tiny(tmp_path, "--dataset", "cifar10", "--data-root", str(tmp_path / "nothing"))
    assert proc.returncode == 4
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
    assert "dataset 'cifar10' is not available" in line and "searched:" in line
    assert "--download" in line
    assert "Traceback" not in proc.stderr and not (tmp_path / "store.sqlite").exists()


def test_engine_tests_do_not_need_the_claims_dataset():
    proc = run_pytest("tests/test_stats.py", "--collect-only", "-q", "--dataset", "cifar10")
    assert proc.returncode == 0, proc.stderr


def test_unwritable_store_is_one_clear_usage_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = run_pytest("claims", "--profile", "tiny", "--store", str(blocker / "s.sqlite"))
    assert proc.returncode == 4
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
    assert line.startswith("ERROR: --store") and "is a file, not a folder" in line
    assert blocker.read_text() == "x"


def test_header_names_profile_dataset_device_store(tmp_path):
    proc = run_pytest("claims", "--collect-only", "--profile", "tiny",
                      "--store", str(tmp_path / "s.sqlite"))
    header = [ln for ln in proc.stdout.splitlines() if ln.startswith("claims:")]
    assert header, proc.stdout
    assert "profile=tiny" in header[0] and "dataset=digits" in header[0]
    assert "device=" in header[0] and str(tmp_path / "s.sqlite") in header[0]


def test_store_reuse_fresh_xdist_report_and_csv_source(tmp_path):
    """One tiny Q6 session under xdist trains each run once; a second session trains
    nothing and reaches the same verdicts; --fresh retrains; the exported runs.csv
    re-judges to the same verdicts without training."""
    junit = tmp_path / "junit.xml"
    first = tiny(tmp_path, "-k", "q6", "-n", "2", f"--junitxml={junit}")
    assert first.returncode in (0, 1), first.stdout + first.stderr
    trained = [ln for ln in first.stderr.splitlines() if "trained " in ln]
    assert len(trained) == 30, "6 Q6 configurations x 5 seeds, each trained exactly once"
    assert len({ln.split("] ", 1)[1].split(":")[0] for ln in trained}) == 30
    report = latest_report(tmp_path)
    assert report["meta"]["store"].endswith(".sqlite")  # a fresh session names its store
    # the xdist controller collects nothing: m comes from its workers, the declared 17 (issue 21)
    assert report["meta"]["families"]["seed"]["m"] == 17 and "seed: 17 claims" in report["meta"]["multiplicity"]
    assert all(r["claims_m"] == 17 for r in report["results"])
    verdicts = {r["id"]: r["evidence"]["verdict"] for r in report["results"]}
    assert set(verdicts) >= {"q6-mlp-orders-equivalent", "q6-order-matters-more-in-cnn"}
    for r in report["results"]:
        ev = r["evidence"]
        assert {"effect", "ci", "p", "n"} <= set(ev) and r["paper_evidence"]["verdict"]
    assert "claims" in first.stdout and "evidence report:" in first.stdout
    # batch 32: the table stacks (a BatchNorm CNN in NHWC, the MLP as it is)
    assert report["meta"]["plans"] == {"stacked": 15, "stacked+channels_last": 15}
    # junit carries each claim's statistics as properties
    props = {p.get("name") for p in ET.parse(junit).iter("property")}
    assert {"verdict", "p", "effect", "ci", "n", "claim_result"} <= props

    # The same worker count: the store key holds the thread count (each of 2 workers gets
    # its share of the cores), and a serial session's runs are computed another way.
    second = tiny(tmp_path, "-k", "q6", "-n", "2")
    assert not [ln for ln in second.stderr.splitlines() if "trained " in ln]
    again = {r["id"]: r["evidence"]["verdict"] for r in latest_report(tmp_path)["results"]}
    assert again == verdicts

    csv = tmp_path / "reports" / "latest" / "runs.csv"
    from_csv = run_pytest("claims", "-k", "q6", "--source", str(csv),
                          "--reports-dir", str(tmp_path / "reports"))
    assert "profile=tiny" in from_csv.stdout
    assert not [ln for ln in from_csv.stderr.splitlines() if "trained " in ln]
    rejudged = {r["id"]: r["evidence"]["verdict"] for r in latest_report(tmp_path)["results"]}
    assert rejudged == verdicts

    fresh = tiny(tmp_path, "-k", "mlp_orders", "--fresh")
    assert len([ln for ln in fresh.stderr.splitlines() if "trained " in ln]) == 30


def test_paper_source_judges_without_training(tmp_path):
    proc = run_pytest("claims", "--source", "paper", "--reports-dir", str(tmp_path / "reports"))
    assert proc.returncode == 1  # some of the paper's own claims are inconclusive: a result
    assert "profile=full" in proc.stdout
    report = latest_report(tmp_path)
    assert report["meta"]["store"] is None  # nothing was read from or written to a store
    assert "run store" not in (tmp_path / "reports" / "latest" / "report.md").read_text()
    by_id = {r["id"]: r for r in report["results"]}
    assert by_id["q5-bn-small-batch-worse"]["evidence"]["verdict"] == "supported"
    assert by_id["q5-bn-advantage-at-most-3"]["outcome"] == "xfailed"
    assert by_id["q4-gap-widens"]["outcome"] == "skipped"  # one published run per depth
    assert all(r["p_adjusted"] is None or r["p_adjusted"] >= r["evidence"]["p"]
               for r in report["results"])
    # issue 9: the outcome follows the declared multiplicity rule (Holm): judged at alpha/m
    results = [r for r in report["results"] if r["body"] == "seed"]
    m = len(results)
    assert all(r["multiplicity"] == "holm" and r["claims_m"] == m for r in results)
    # the second paper's claims are a family of their own (harness/statistics/multiplicity.py)
    assert {r["claims_m"] for r in report["results"] if r["body"] == "bn2015"} == {4}
    for r in results:
        assert r["outcome_alpha"] == pytest.approx(0.05 / m)
        if r["outcome"] in ("passed", "failed"):
            assert (r["outcome"] == "passed") == (r["outcome_verdict"] == "supported"), r["id"]
    # supported at 0.05 (p = 0.008) but not at 0.05/m: the pytest outcome fails
    relu = by_id["q4-relu-rises"]
    assert relu["evidence"]["verdict"] == "supported" and relu["outcome"] == "failed"
    assert relu["verdict_adjusted"] == "inconclusive"
    # one verdict per sentence: no parametrized ids left for these claims
    assert {"q4-gradient-falls", "q6-cnn-act-first-beats-bn-first", "q6-cnn-bn-first-varies-more"} <= set(by_id)
    assert len(by_id["q6-cnn-act-first-beats-bn-first"]["evidence"]["details"]["parts"]) == 2
    # levels chosen from the paper's table are marked; the held-out metric is n/a on the table
    assert by_id["q5-bn-best-beats-gn-best"]["levels_from_paper_table"]
    assert not by_id["q5-gn-beats-bn-small-batch"]["levels_from_paper_table"]
    assert by_id["q5-bn-best-beats-gn-best"]["heldout"]["status"] == "n/a"
    assert by_id["q6-mlp-orders-equivalent"]["heldout"]["status"] == "not used"  # final-epoch metric
    md = (tmp_path / "reports" / "latest" / "report.md").read_text()
    assert "‡" in md and "held-out epoch" in md and "verdict (adjusted)" in md
    # issue 21: m is the declared body of claims, an untestable claim included
    family = report["meta"]["families"]["seed"]
    assert family["m"] == m == 17 and family["not_run"] == [] and len(family["claims"]) == 17
    assert by_id["headline-80-percent"]["evidence"]["p"] is None  # untestable, still counted
    # the decision-level CI (1 - 2 alpha/m) is shown beside the 95% one
    assert by_id["q5-bn-small-batch-worse"]["decision_ci"]["level"] == pytest.approx(1 - 2 * 0.05 / 17)
    assert "CI at the outcome's level" in md and "99.41%" in md
    assert "CI at outcome" in proc.stdout

    # -k selects two claims: m, every verdict, p, outcome and interval of those claims unchanged
    sub = tmp_path / "k"
    proc_k = run_pytest("claims", "--source", "paper", "--reports-dir", str(sub),
                        "-k", "batchnorm_small_batch_below_peak or relu_accuracy_rises")
    assert proc_k.returncode in (0, 1), proc_k.stdout[-2000:]
    selected = json.loads((sub / "latest" / "report.json").read_text())
    assert {r["id"] for r in selected["results"]} == {"q5-bn-small-batch-worse", "q4-relu-rises"}
    assert selected["meta"]["families"]["seed"]["m"] == 17
    assert len(selected["meta"]["families"]["seed"]["not_run"]) == 15
    for r in selected["results"]:
        full = by_id[r["id"]]
        for key in ("evidence", "outcome_alpha", "outcome_verdict", "claims_m", "decision_ci", "heldout",
                    "outcome"):
            assert r[key] == full[key], (r["id"], key)
        # Holm with the 15 claims not run counted as p = 1: never looser than the full run's
        assert r["p_adjusted"] >= full["p_adjusted"]


def test_plugin_keeps_no_session_state_in_module_globals():
    """Issue 8: the session's state is one ClaimsSession in config.stash; the plugin module
    holds options, hooks and fixtures only (no list, dict or set a second session would share)."""
    import types

    from harness.pytest_plugin import plugin

    # PROFILES: the imported table of profiles (read-only data, not session state)
    mutable = {name: type(v).__name__ for name, v in vars(plugin).items()
               if isinstance(v, (list, dict, set)) and not name.startswith("__") and name != "PROFILES"}
    assert mutable == {}
    assert not any(isinstance(v, types.ModuleType) and v.__name__ == "harness.report"
                   for v in vars(plugin).values())  # the report is imported where it is written


def test_settings_are_checked_without_pytest():
    """harness.pytest_plugin.session parses options from any getoption-like callable: one line per problem."""
    import pytest as _pytest

    from harness.pytest_plugin.session import SettingsError, settings_from

    defaults = {"--source": "fresh", "--profile": None, "profile_set": [], "--alpha": None,
                "--dataset": None, "--device": "cpu", "--seeds": None, "--max-seeds": None,
                "--executor": "local", "--store": None, "--data-root": None, "--download": False,
                "--fresh": False, "--reports-dir": "reports"}
    s = settings_from(defaults.get)
    assert (s.profile.name, s.seeds, s.device, s.source) == ("smoke", 5, "cpu", "fresh")
    assert settings_from((defaults | {"--source": "seed"}).get).source == "paper"  # the older name
    for bad, words in (({"--source": "nowhere.csv"}, "neither 'fresh'"), ({"--alpha": 2.0}, "--alpha"),
                       ({"--seeds": "1"}, "at least 2"), ({"--dataset": "mnist"}, "unknown dataset"),
                       ({"--plan": "fast"}, "--plan 'fast': give auto")):
        with _pytest.raises(SettingsError, match=words) as exc:
            settings_from((defaults | bad).get)
        assert len(exc.value.problems) == 1 and "\n" not in exc.value.problems[0]
