"""A/A self-calibration (issue 21 item 8): on the cpu tier's stored runs every family's
empirical supported / refuted rate on fake arms of the same truth stays in its band; and a
rule that ignores the noise leaves it, so the band can fail."""
from pathlib import Path

import pytest

from harness.declare.profiles import PROFILES
from harness.runstore import runs as runs_mod
from harness.statistics import aa_calibration as aa
from harness.statistics import stats

REPO = Path(__file__).resolve().parent.parent
CPU_RUNS = REPO / "docs" / "results" / "fashion-mnist-cpu" / "runs.csv"
MARGIN = PROFILES["cpu"].q6_mlp_order_margin  # the margin the module uses


@pytest.fixture(scope="module")
def cpu_runs():
    return runs_mod.read_runs_csv(CPU_RUNS)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_family_inside_its_band_on_the_cpu_runs(cpu_runs):
    rows = aa.aa_table(cpu_runs, 0.05, MARGIN)
    assert {r.family for r in rows} == {"mean_greater", "trend", "equivalent", "variance_greater",
                                        "diff_of_diffs", "spread_greater"}
    for r in rows:
        assert r.inside, (r.family, r.supported, r.refuted, r.band)
    judged = {r.family: r.judged for r in rows}
    assert judged["mean_greater"] == 400 and judged["spread_greater"] == 120


def test_a_rule_that_ignores_the_noise_leaves_the_band(cpu_runs, monkeypatch):
    def sign_rule(a, b, *, alpha, margin=0.0, unit=""):
        up = a.mean > b.mean
        return stats.Evidence(verdict=stats.SUPPORTED if up else stats.REFUTED, test="sign",
                              effect=a.mean - b.mean, effect_label="d", ci=None, ci_level=0.95,
                              p=0.0 if up else 1.0, n=(a.n, b.n), alpha=alpha)
    monkeypatch.setattr(aa.stats, "mean_greater", sign_rule)
    (row,) = [r for r in aa.aa_table(cpu_runs, 0.05, MARGIN) if r.family == "mean_greater"]
    assert not row.inside and row.supported > row.band


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_committed_result_is_the_module_output(cpu_runs):
    """docs/results/fashion-mnist-cpu/calibration.md holds the table this code gives."""
    text = (CPU_RUNS.parent / "calibration.md").read_text()
    table = aa.render(aa.aa_table(cpu_runs, 0.05, MARGIN), 0.05, "docs/results/fashion-mnist-cpu/runs.csv")
    assert table in text


def test_splits_are_the_first_halvings_and_only_those_are_built():
    """20 seeds have 184,756 halvings; the table draws 10. The first ``limit`` in
    lexicographic order, the same draws as before the limit moved into the generator."""
    import itertools

    got = aa._splits(6, 4)
    want = [(list(a), [i for i in range(6) if i not in a])
            for a in list(itertools.combinations(range(6), 3))[:4]]
    assert got == want
    assert len(aa._splits(40, 10)) == 10  # C(40, 20) ~ 1.4e11: only possible if lazy


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_report_carries_the_table_for_evidence_runs_only():
    """report.md/html show the A/A table of their own runs at the cpu tier, the same table
    --calibrate prints; smoke-scale reports skip it (4-9 s each, CI writes dozens)."""
    import json

    from harness.report.data import Context, normalise_runs
    from harness.report.markdown import aa_section
    from harness.runstore.runs import published_runs, read_runs_csv

    def section(folder):
        meta = json.loads((folder / "report.json").read_text())["meta"]
        ctx = Context(meta, normalise_runs(read_runs_csv(folder / "runs.csv")), normalise_runs(published_runs()))
        return "\n".join(aa_section(ctx))

    cpu = section(CPU_RUNS.parent)
    assert cpu.startswith("## A/A self-calibration on these runs")
    assert aa.render(aa.aa_table(read_runs_csv(CPU_RUNS), 0.05, MARGIN), 0.05, "these runs") in cpu
    assert section(CPU_RUNS.parent.parent / "smoke-cpu") == ""
