"""``report.json``: everything the other files were made from, as strict JSON.

``{"schema_version", "meta", "results", "run_keys", "written", "figures"}`` and, with
``--compare``, ``"comparison"``: the session's meta, every claim result as the plugin recorded
it (cleaned once: ``ClaimResult.data``), the keys of every run used, when it was written, which
figures were drawn, and what moved against the baseline. The schema other tools read it by is
``harness/report/report.schema.json`` (``harness.report.schema``; tested against every report).
``--source <folder>/runs.csv`` reads ``meta.profile_settings`` back (harness/pytest_plugin/plugin.py).
"""
from __future__ import annotations

import json
from datetime import datetime

from harness.report.result import ClaimResult
from harness.report.schema import SCHEMA_VERSION

__all__ = ["document", "dumps"]


def document(meta: dict, results: list[ClaimResult], run_keys: list[str], written_at: datetime,
             figures: list[str], comparison: dict | None = None) -> dict:
    doc = {"schema_version": SCHEMA_VERSION, "meta": meta, "results": [r.data for r in results],
           "run_keys": run_keys, "written": written_at.isoformat(timespec="seconds"),
           "figures": figures}
    if comparison is not None:
        doc["comparison"] = comparison
    return doc


def dumps(doc: dict) -> str:
    """Indented strict JSON (a NaN left anywhere is an error, not a non-standard token)."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
