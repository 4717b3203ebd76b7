"""docs/STATISTICS.md's tables are the output of benchmarks/power_table.py (issue 9): the doc
section equals the rendering of docs/power_table.json, and a light re-run of the simulations
(few replicates) agrees with the JSON within Monte-Carlo tolerance."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("power_table", REPO / "benchmarks" / "power_table.py")
power_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(power_table)

DATA = json.loads(power_table.JSON.read_text())


def test_doc_section_is_the_rendered_json():
    doc = power_table.DOC.read_text()
    assert power_table.doc_section(doc) == power_table.render(DATA), \
        "docs/STATISTICS.md differs from docs/power_table.json: run benchmarks/power_table.py --update-doc"


def test_json_covers_every_calibration_scenario():
    from harness import calibration as cal

    documented = {(r["family"], r["scenario"]) for r in DATA["calibration"]}
    assert documented == {(sc.family, sc.name) for sc in cal.scenarios()}


@pytest.mark.parametrize("reps", [4000])
def test_light_rerun_agrees_with_the_json(reps):
    from harness import calibration as cal

    by_key = {(r["family"], r["scenario"]): r for r in DATA["calibration"]}
    for sc in cal.scenarios():
        r = cal.rates(sc, reps, seed=4242)
        doc = by_key[(sc.family, sc.name)]
        for key, doc_key in (("supported", "supported"), ("refuted", "refuted"),
                             (f"naive_{sc.naive_side}", "naive")):
            p = max(doc[doc_key], 1e-3)
            tol = 5 * math.sqrt(p * (1 - p) / reps) + 5 * math.sqrt(p * (1 - p) / DATA["null_reps"])
            assert abs(r[key] - doc[doc_key]) <= tol, (sc.family, sc.name, key, r[key], doc[doc_key])
