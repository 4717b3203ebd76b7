"""harness/statistics/formatting.py (number text, the one JSON cleaner) and harness/train/provenance.py
(versions): low-level modules that stats, the plugin and the report share."""
from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.statistics import formatting as F
from harness.train.provenance import NOT_INSTALLED, versions

REPO = Path(__file__).resolve().parent.parent


def test_imports_nothing_heavy():
    """stats imports formatting: it must not pull in pandas, torch, the report or the plugin."""
    code = ("import sys, harness.statistics.formatting, harness.train.provenance; "
            "print(sorted(m for m in ('pandas', 'torch', 'harness.report', 'harness.pytest_plugin.plugin', "
            "'matplotlib') if m in sys.modules)); print(harness.train.provenance.versions()['python'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "[]", out
    assert out[1].count(".") == 2


def test_stats_keeps_its_names():
    from harness.statistics import stats

    assert stats._fmt is F.fmt_sig and stats._fmt_p is F.fmt_p_line and stats._jsonable is F.jsonable


@pytest.mark.parametrize("x, kw, want", [
    (None, {}, F.DASH), (math.nan, {}, F.DASH), (math.inf, {"sign": True}, "+inf"), (-math.inf, {}, "-inf"),
    (0.0, {}, "0.00"), (81.234, {}, "81.23"), (0.1, {}, "0.10"), (0.0123, {}, "0.0123"),
    (3.2, {"sign": True}, "+3.20"), (-0.00456, {"sign": True}, "-0.00456"), (5e-5, {}, "5.00e-05"),
    (12345.0, {}, "1.23e+04"), (1.23456, {"digits": 3}, "1.235"), ("3.1", {}, F.DASH), (True, {}, F.DASH),
    (np.float32(2.5), {}, "2.50"),
])
def test_fmt_report_cells(x, kw, want):
    assert F.fmt(x, **kw) == want


@pytest.mark.parametrize("p, want", [(None, F.DASH), (math.nan, F.DASH), (0, "0"), (0.0004, "4e-04"),
                                     (0.04321, "0.043"), (1.0, "1.000")])
def test_fmt_p_cells(p, want):
    assert F.fmt_p(p) == want


@pytest.mark.parametrize("x, sign, want", [(None, False, "n/a"), (math.nan, False, "nan"),
                                           (math.inf, True, "+inf"), (123.456, False, "123"),
                                           (1.23456, True, "+1.23"), (0.5, False, "0.500"),
                                           (0.0005, False, "5.00e-04")])
def test_fmt_sig_summary_line(x, sign, want):
    assert F.fmt_sig(x, sign=sign) == want


def test_fmt_p_line():
    assert [F.fmt_p_line(p) for p in (None, math.nan, 0.0, 3e-5, 0.0123)] == \
        ["p=n/a", "p=n/a", "p=0", "p=3.0e-05", "p=0.012"]


@dataclasses.dataclass
class _Point:
    x: float
    tags: tuple


class _HasToDict:
    def to_dict(self):
        return {"k": np.int64(3), "nan": float("nan")}


def test_jsonable_is_strict_json():
    x = {"np_int": np.int64(7), "np_float": np.float32(0.5), "np_bool": np.bool_(True),
         "nan": math.nan, "inf": -math.inf, "tuple": (1, 2.0), "set": {"b", "a"},
         "array": np.array([1.0, np.nan]), "scalar_array": np.array(4.0), "path": Path("/tmp/x"),
         "dataclass": _Point(1.5, ("a",)), "to_dict": _HasToDict(), "series": pd.Series([1, None]),
         "na": pd.NA, "nat": pd.NaT, 3: "int key", "other": complex(1, 2)}
    out = F.jsonable(x)
    assert out == {"np_int": 7, "np_float": 0.5, "np_bool": True, "nan": None, "inf": None,
                   "tuple": [1, 2.0], "set": ["a", "b"], "array": [1.0, None], "scalar_array": 4.0,
                   "path": "/tmp/x", "dataclass": {"x": 1.5, "tags": ["a"]},
                   "to_dict": {"k": 3, "nan": None}, "series": [1.0, None], "na": None, "nat": None,
                   "3": "int key", "other": "(1+2j)"}
    json.dumps(out, allow_nan=False)
    assert type(out["np_int"]) is int and type(out["np_bool"]) is bool


def test_jsonable_evidence_matches_to_dict():
    from harness.statistics.stats import Arm, mean_greater

    ev = mean_greater(Arm.from_values("a", [2.0, 2.1, 2.2]), Arm.from_values("b", [1.0, 1.1, 0.9]),
                      alpha=0.05)
    assert F.jsonable(ev) == ev.to_dict()
    assert F.jsonable({"e": ev})["e"]["verdict"] == ev.verdict


def test_plugin_json_is_the_cleaner():
    from harness.pytest_plugin.plugin import to_json

    text = to_json({"a": np.float32(1.5), "b": np.int64(2), "s": {2, 1}, "p": Path("x")})
    assert json.loads(text) == {"a": 1.5, "b": 2, "s": [1, 2], "p": "x"}


def test_versions():
    v = versions(("pytest", "no-such-package-xyz"))
    assert list(v) == ["python", "pytest", "no-such-package-xyz"]
    assert v["python"] == ".".join(map(str, sys.version_info[:3]))
    assert v["pytest"] == pytest.__version__ and v["no-such-package-xyz"] == NOT_INSTALLED
    assert list(versions()) == ["python", "torch", "torchvision", "scipy", "pandas"]
