"""The report of a question it was never written for: its section's table and figure come
from the declaration (harness/report/data.py declared_table, figures.py _fig_declared), here
for bn2015 on the committed pilot runs (docs/pilots/bn2015-pilot-1)."""
import json
from pathlib import Path

from harness.declare import questions as Q
from harness.report import data, figures
from harness.runstore.runs import read_runs_csv

PILOT = Path(__file__).resolve().parent.parent / "docs" / "pilots" / "bn2015-pilot-1"


def _ctx():
    meta = json.loads((PILOT / "report.json").read_text())["meta"]
    return data.Context(meta, data.normalise_runs(read_runs_csv(PILOT / "runs.csv")),
                        data.normalise_runs(None))


def test_a_declared_question_gets_its_table_from_the_declaration():
    ctx = _ctx()
    table = data.arm_table(ctx, "bn2015-lr")
    assert table.header == ["arm", "runs", "best_test_acc", "final_test_acc", "steps_to_target", "diverged"]
    assert [r[0] for r in table.rows] == ["BN lr 0.001", "BN lr 0.03", "plain lr 0.001", "plain lr 0.03"]
    assert all(r[1] == "3" for r in table.rows)
    # the computed metric is read from the curves: BN reaches 75% in its first epoch (334 steps)
    assert table.rows[0][4].startswith("334.00")
    assert [r[0] for r in data.arm_table(ctx, "bn2015-deep").rows] == ["BN deep sigmoid", "plain deep sigmoid"]  # ascending: "batch" < "none"


def test_every_declared_question_without_its_own_views_gets_a_figure():
    ctx = _ctx()
    declared = {q.name for q in Q.all_questions()} - {"Q4", "Q5", "Q6"}
    assert {q for q in figures.FIGURES.values()} >= declared
    drawn = figures.draw(ctx)
    assert drawn["bn2015_lr_arms.png"] is not None and drawn["q4_accuracy_vs_depth.png"] is None
    assert figures.png(drawn["bn2015_lr_arms.png"])[:4] == b"\x89PNG"
