"""Numbers as text, and values as strict JSON: the one place for both.

Low level on purpose: ``harness.statistics.stats`` imports this module, so it imports neither the report,
the plugin, torch nor pandas (a pandas value is recognised through ``sys.modules`` when pandas
is already loaded, which it is whenever such a value exists).

Two number styles, kept apart because both are already in published text:

* the report's (``fmt``, ``fmt_p``): accuracy points and effects with two decimals, three
  significant digits below 0.1, ``DASH`` for a missing value;
* the one-line evidence summary's (``fmt_sig``, ``fmt_p_line``; ``Evidence.summary`` and the
  pytest failure messages): three significant digits, ``n/a`` / ``p=n/a`` when missing.

``jsonable`` is the one JSON cleaner (``Evidence.to_dict``, the plugin's ``json.dumps``
default, the report's claim results and meta).
"""
from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["DASH", "as_float", "as_str", "is_missing", "is_signed", "fmt", "fmt_p", "fmt_sig",
           "fmt_p_line", "jsonable"]

#: what the report prints for a missing value
DASH = "—"


# ---------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------

def _pandas():
    return sys.modules.get("pandas")


def is_missing(v: Any) -> bool:
    """None, NaN, and pandas' missing markers (``pd.NA``, ``NaT``)."""
    if v is None:
        return True
    pd = _pandas()
    if pd is not None:
        try:
            return bool(pd.isna(v))
        except (TypeError, ValueError):
            return False
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def as_str(v: Any) -> str | None:
    """``str(v)``, or None for a missing value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return None if is_missing(v) else str(v)


def as_float(v: Any) -> float | None:
    """A finite float, or None (bools and strings are not numbers here)."""
    if v is None or isinstance(v, (bool, str)):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def is_signed(effect_label: str | None) -> bool:
    """Ratios and Cohen's f are not signed quantities: printed without "+"."""
    return not (effect_label or "").startswith(("SD ratio", "Cohen's f"))


# ---------------------------------------------------------------------------------------------
# the report's numbers
# ---------------------------------------------------------------------------------------------

def fmt(x, sign: bool = False, digits: int | None = None) -> str:
    """About three significant digits (or ``digits`` decimals); DASH for missing."""
    x = as_float(x) if not (isinstance(x, float) and math.isinf(x)) else x
    if x is None:
        return DASH
    if math.isinf(x):
        return ("+inf" if sign else "inf") if x > 0 else "-inf"
    s = "+" if sign else ""
    if digits is not None:
        return f"{x:{s}.{digits}f}"
    ax = abs(x)
    if ax == 0:
        return f"{x:{s}.2f}"
    if ax >= 1e4 or ax < 1e-4:
        return f"{x:{s}.2e}"
    if ax >= 0.1:  # accuracy points and most effects: two decimals
        return f"{x:{s}.2f}"
    decimals = 2 - math.floor(math.log10(ax))  # three significant digits
    return f"{x:{s}.{decimals}f}"


def fmt_p(p) -> str:
    """A p-value in a table cell: ``0.004``, ``3e-05``, ``0``; DASH for missing."""
    p = as_float(p)
    if p is None:
        return DASH
    if p == 0:
        return "0"
    if p < 1e-3:
        return f"{p:.0e}"
    return f"{p:.3f}"


# ---------------------------------------------------------------------------------------------
# the one-line evidence summary's numbers (harness.statistics.stats.Evidence.summary)
# ---------------------------------------------------------------------------------------------

def fmt_sig(x: float | None, sign: bool = False) -> str:
    """About three significant digits, fixed-point for ordinary magnitudes."""
    if x is None:
        return "n/a"
    x = float(x)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("+inf" if x > 0 and sign else ("inf" if x > 0 else "-inf"))
    s = "+" if sign else ""
    ax = abs(x)
    if ax == 0:
        return f"{x:{s}.2f}"
    if ax >= 1e4 or ax < 1e-3:
        return f"{x:{s}.2e}"
    decimals = max(0, 2 - math.floor(math.log10(ax)))
    return f"{x:{s}.{decimals}f}"


def fmt_p_line(p: float | None) -> str:
    """``p=0.004``, ``p=3.0e-05``, ``p=0``, ``p=n/a``."""
    if p is None or not math.isfinite(p):
        return "p=n/a"
    if p == 0:
        return "p=0"
    if p < 1e-3:
        return f"p={p:.1e}"
    return f"p={p:.3f}"


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------

def jsonable(x: Any) -> Any:
    """A strict-JSON-ready copy of ``x``: objects with ``to_dict`` (``stats.Evidence``) and
    dataclasses become dicts, tuples / sets / arrays / Series lists (sets sorted), numpy
    scalars Python numbers, non-finite floats and missing markers None (strict JSON has no
    NaN), paths and anything else strings. Also usable as ``json.dumps(..., default=jsonable)``.
    """
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    pd = _pandas()
    frame_or_series = pd is not None and isinstance(x, (pd.DataFrame, pd.Series))
    if callable(getattr(x, "to_dict", None)) and not frame_or_series:
        return jsonable(x.to_dict())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable(dataclasses.asdict(x))
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())  # a 0-d array is its scalar
    if isinstance(x, (list, tuple)) or (pd is not None and isinstance(x, pd.Series)):
        return [jsonable(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return [jsonable(v) for v in sorted(x, key=str)]
    if isinstance(x, PurePath):
        return str(x)
    if is_missing(x):
        return None
    return str(x)
