"""``write_report``: one report folder from the claim results and the runs, then ``latest``.

Each claim result is parsed once (``ClaimResult``), the runs split by question once
(``Context``), each figure drawn once; every output module then only renders.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness.report import figures as figs, html, jsonfile, markdown, storage
from harness.report.data import Context, all_run_keys, normalise_runs
from harness.report.result import parse_results
from harness.statistics.formatting import jsonable

__all__ = ["write_report"]


def write_report(reports_dir: Path, results: list, runs: pd.DataFrame,
                 published_runs: pd.DataFrame, meta: dict, comparison: dict | None = None) -> Path:
    """Write one report folder (see ``harness.report``) and point ``latest`` at it.
    ``results``: the plugin's claim result dicts (or ``ClaimResult``); ``comparison``: with
    --compare, ``Comparison.to_dict()`` and the gate. Returns the new folder."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    meta = jsonable(dict(meta or {}))
    results = parse_results(results)
    runs = normalise_runs(runs)
    ctx = Context(meta, runs, normalise_runs(published_runs))

    folder = storage.make_folder(reports_dir)
    written_at = datetime.now(timezone.utc)

    pngs = {name: figs.png(fig) for name, fig in figs.draw(ctx).items() if fig is not None}
    for name, data in pngs.items():
        storage.write_bytes(folder / name, data)
    storage.write_runs_csv(folder / "runs.csv", runs)
    comparison = jsonable(comparison) if comparison is not None else None
    doc = jsonfile.document(meta, results, all_run_keys(runs, results), written_at, list(pngs),
                            comparison)
    storage.write_text(folder / "report.json", jsonfile.dumps(doc))
    drawn = {name: name in pngs for name in figs.FIGURES}
    storage.write_text(folder / "report.md",
                       markdown.markdown(ctx, results, drawn, written_at, comparison))
    storage.write_text(folder / markdown.HTML_FILE,
                       html.render(ctx, results, pngs, written_at, comparison))

    storage.repoint_latest(reports_dir, folder)
    return folder
