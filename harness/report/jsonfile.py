"""``report.json``: everything the other files were made from, as strict JSON.

``{"meta", "results", "run_keys", "written", "figures"}``: the session's meta, every claim
result as the plugin recorded it (cleaned once: ``ClaimResult.data``), the keys of every run
used, when it was written and which figures were drawn. ``--source <folder>/runs.csv`` reads
``meta.profile_settings`` back (harness/plugin.py).
"""
from __future__ import annotations

import json
from datetime import datetime

from harness.report.result import ClaimResult

__all__ = ["document", "dumps"]


def document(meta: dict, results: list[ClaimResult], run_keys: list[str], written_at: datetime,
             figures: list[str]) -> dict:
    return {"meta": meta, "results": [r.data for r in results], "run_keys": run_keys,
            "written": written_at.isoformat(timespec="seconds"), "figures": figures}


def dumps(doc: dict) -> str:
    """Indented strict JSON (a NaN left anywhere is an error, not a non-standard token)."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
