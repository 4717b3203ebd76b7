"""docs/STATISTICS.md's tables are the output of benchmarks/power_table.py (issue 9): the doc
section equals the rendering of docs/power_table.json, and a light re-run of the simulations
(few replicates) agrees with the JSON within Monte-Carlo tolerance."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _benchmark(name: str):
    """A script of benchmarks/ as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


power_table = _benchmark("power_table")

DATA = json.loads(power_table.JSON.read_text())


def test_doc_section_is_the_rendered_json():
    doc = power_table.DOC.read_text()
    assert power_table.doc_section(doc) == power_table.render(DATA), \
        "docs/STATISTICS.md differs from docs/power_table.json: run benchmarks/power_table.py --update-doc"


def test_json_covers_every_calibration_scenario():
    from harness.statistics import calibration as cal

    documented = {(r["family"], r["scenario"]) for r in DATA["calibration"]}
    assert documented == {(sc.family, sc.name) for sc in power_table.table_scenarios()}


@pytest.mark.parametrize("reps", [4000])
def test_light_rerun_agrees_with_the_json(reps):
    from harness.statistics import calibration as cal

    by_key = {(r["family"], r["scenario"]): r for r in DATA["calibration"]}
    for sc in power_table.table_scenarios():
        r = cal.rates(sc, reps, seed=4242)
        doc = by_key[(sc.family, sc.name)]
        for key, doc_key in (("supported", "supported"), ("refuted", "refuted"),
                             (f"naive_{sc.naive_side}", "naive")):
            p = max(doc[doc_key], 1e-3)
            tol = 5 * math.sqrt(p * (1 - p) / reps) + 5 * math.sqrt(p * (1 - p) / DATA["null_reps"])
            assert abs(r[key] - doc[doc_key]) <= tol, (sc.family, sc.name, key, r[key], doc[doc_key])


def test_sequential_table_covers_every_family_and_effect_the_script_measures():
    """The "Power and expected seeds" table is benchmarks/sequential_power.py's output (33 min
    at 300 reps, so not re-run here): a family or effect added to the script without
    re-measuring, or a row typed by hand for one that is not there, fails."""
    sp = _benchmark("sequential_power")
    table = sp.doc_table(sp.DOC.read_text())
    rows = [tuple(c.strip() for c in line.strip("|").split("|")) for line in table[2:]]
    assert [r[:2] for r in rows] == sp.expected_rows()
    for r in rows:
        assert all(0.0 <= float(x) <= 1.0 for x in r[2:5]), r  # probabilities
        assert 5.0 <= float(r[5]) <= 20.0, r  # mean seeds per arm lies between the stages
        stops = [float(x) for x in r[6].split(" / ")]
        assert abs(sum(stops) - 1.0) <= 0.011, r  # every replicate stops somewhere


@pytest.mark.parametrize("name", ["spread_power", "margin_power", "level_calibration"])
def test_spread_and_margin_sections_are_the_rendered_json(name):
    """The spread test's null rates and power, and the margins' power (issue 21), are the
    output of their scripts, never typed."""
    script = _benchmark(name)
    data = json.loads(script.JSON.read_text())
    assert script.doc_section(script.DOC.read_text()) == script.render(data), \
        f"docs/STATISTICS.md differs from {script.JSON.name}: run benchmarks/{name}.py --update-doc"


def test_spread_json_meets_the_issue_21_goals():
    """Power >= 0.5 at the paper's Q5 and Q6 effects with 20 seeds (the last stage of
    --seeds auto), at alpha and at alpha/17; every null rate within alpha + 3 SE at both."""
    d = json.loads(_benchmark("spread_power").JSON.read_text())
    # the paper's headline effects (Q6: experiment 1); experiment 2's CNN order effect is
    # smaller and is shown, not held to the goal (0.96 at alpha, 0.29 at alpha/17 with 20 seeds)
    goal = [name for name in d["power"] if "experiment 2" not in name]
    assert len(goal) == 3
    for name in goal:
        row = d["power"][name]
        assert row["20"]["alpha"] >= 0.5 and row["20"]["alpha_m"] >= 0.5, name
    lim = lambda a: a + 3 * math.sqrt(a * (1 - a) / d["null_reps"])  # noqa: E731
    for r in d["null"]:
        assert max(r["supported"], r["refuted"]) <= lim(d["alpha"]), r["scenario"]
        assert max(r["supported_m"], r["refuted_m"]) <= lim(d["alpha"] / d["m"]), r["scenario"]
