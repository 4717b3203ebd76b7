"""benchmarks/study_cost.py: the price of a study that decides more claims (issue 24), from a
committed report's own numbers. The rules on toy claims; the script on the committed cpu2 study,
whose re-run price must agree with what its session really took."""
import importlib.util
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("study_cost", REPO / "benchmarks" / "study_cost.py")
cost = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cost)


def claim(cid, configs, used, needed=None, verdict="inconclusive"):
    return {"id": cid, "verdict_adjusted": verdict, "seeds_needed": {"seeds": needed},
            "sequential": {"configs": configs, "stopped_at": used}}


def test_a_configuration_gets_the_most_seeds_any_claim_reading_it_asks():
    claims = [claim("a", ["x", "y"], 10, needed=30), claim("b", ["y"], 5, needed=40),
              claim("c", ["z"], 5, verdict="supported")]
    seconds = {"x": 2.0, "y": 3.0, "z": 60.0}
    minutes, seeds = cost.price(claims, {"a"}, seconds, workers=2)
    assert seeds == {"x": 30, "y": 30, "z": 5}
    assert minutes == pytest.approx((30 * 2 + 30 * 3 + 5 * 60) / 2 / 60)
    _, seeds = cost.price(claims, {"a", "b"}, seconds, workers=2)
    assert seeds["y"] == 40
    _, seeds = cost.price(claims, set(), seconds, workers=2)  # the same study again
    assert seeds == {"x": 10, "y": 10, "z": 5}


def test_the_chance_of_the_target_is_a_binomial_tail():
    assert cost.at_least(4, 0.8, 4) == pytest.approx(0.8 ** 4)
    assert cost.at_least(3, 0.8, 0) == pytest.approx(1.0)
    assert cost.at_least(2, 0.8, 3) == 0.0
    assert cost.at_least(5, 0.8, 4) == pytest.approx(0.8 ** 5 + 5 * 0.8 ** 4 * 0.2)


def test_the_committed_cpu2_study_is_priced_from_its_own_runs(capsys):
    cost.main(["--report", "docs/results/fashion-mnist-cpu2/report.json"])
    out = capsys.readouterr().out
    again = float(out.split("fresh seeds (every claim at the seeds it used): ")[1].split(" min")[0])
    # the session took 53 min 11 s on 2 workers (docs/RESULTS.md), its training most of it
    assert 0.8 * 53.2 <= again <= 53.2
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    minutes = [float(r.split("|")[3]) for r in rows]
    assert rows and minutes == sorted(minutes)  # adding a claim never makes a study cheaper
    assert all(math.isfinite(m) and m > again for m in minutes[1:])


def test_results_md_quotes_the_scripts_output_verbatim(capsys):
    cost.main([])
    out = capsys.readouterr().out.strip()
    assert out in (REPO / "docs" / "RESULTS.md").read_text(), \
        "docs/RESULTS.md's study_cost output is stale: paste `python3 benchmarks/study_cost.py`'s output"


def test_a_report_that_cannot_be_read_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cost.main(["--report", str(tmp_path / "report.json")])
    assert str(stop.value).startswith("ERROR: --report ") and "\n" not in str(stop.value)
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(SystemExit) as stop:
        cost.main(["--report", str(tmp_path / "report.json")])
    assert "JSONDecodeError" in str(stop.value)
