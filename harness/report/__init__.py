"""The evidence report: claim results + runs in, files out. Knows nothing of training.

``write_report`` makes ``reports/<UTC time>/`` holding

* ``report.md``   - how to read a verdict, one table with a row per claim, then one section
                    per question (arm means at the best and at the final epoch, figures);
* ``report.html`` - the same as one self-contained page (figures embedded, verdict colours,
                    each claim's evidence and arms unfolding): what a CI artifact reader opens;
* ``report.json`` - ``{"schema_version", "meta", "results", "run_keys", "written", "figures"}``
                    (and ``"comparison"`` with ``--compare``): everything the other files were
                    made from, by the JSON Schema ``report.schema.json`` (``schema``);
* ``runs.csv``    - every run (``harness.runstore.runs.to_csv``; ``--source reports/latest/runs.csv``
                    re-judges the claims on exactly these numbers);
* ``q4_accuracy_vs_depth.png``, ``q4_gradient_vs_depth.png``, ``q5_accuracy_vs_batch.png``,
  ``q5_learning_curves.png``, ``q6_orders.png`` - each skipped when its question has no runs;

and then repoints the symlink ``reports/latest`` at the new folder. Every file is written
under a temporary name and renamed, and ``latest`` moves only after all files are in place,
so a reader never sees a half-written report. ``claims_table`` is the pytest terminal summary.

One module per job:

* ``result``   - ``ClaimResult``, the typed claim result, parsed once from the plugin's dict;
* ``classify`` - which question a run belongs to, the questions' titles and Q6 order labels;
* ``data``     - the runs split by question, arm statistics, the tables' cells;
* ``cells``    - the text of one value (effect [CI], verdicts, n, ...), shared by all outputs;
* ``figures``  - the PNG figures;  ``markdown`` - report.md;  ``html`` - report.html;
* ``jsonfile`` - report.json;  ``schema`` - its version and JSON Schema;
* ``compare``  - ``--compare``: what moved against a baseline report;  ``terminal`` - the terminal table;
* ``storage``  - folders, atomic writes, the ``latest`` link;  ``writer`` - ``write_report``.

Numbers are formatted and values JSON-cleaned by ``harness.statistics.formatting`` (shared with stats).
"""
from harness.report.cells import adjusted_cell, heldout_cell, paper_verdict
from harness.report.classify import ORDER_LABELS, QUESTION_TITLES, SECTIONS, question_of
from harness.report.data import PAPER_DATASET
from harness.report.figures import FIGURES
from harness.report.result import ClaimResult
from harness.report.terminal import claims_table
from harness.report.writer import write_report
from harness.statistics.formatting import DASH

__all__ = ["write_report", "claims_table", "ClaimResult", "question_of", "ORDER_LABELS",
           "QUESTION_TITLES", "SECTIONS", "FIGURES", "DASH", "PAPER_DATASET", "paper_verdict",
           "adjusted_cell", "heldout_cell"]
