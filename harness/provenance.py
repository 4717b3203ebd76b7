"""What produced a result, without importing torch: the Python and package versions.

One ``versions()`` for the whole suite (the report's meta, each stored run). Versions are read
from the installed packages' metadata (``importlib.metadata``), so a session that only
re-judges a runs.csv never loads torch to name its version.
"""
from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

__all__ = ["versions", "REPORT_PACKAGES", "NOT_INSTALLED"]

#: the packages a report's meta names (the report's numbers depend on all four)
REPORT_PACKAGES = ("torch", "torchvision", "scipy", "pandas")
NOT_INSTALLED = "not installed"


def versions(packages: tuple[str, ...] = REPORT_PACKAGES) -> dict[str, str]:
    """``{"python": "3.11.2", "torch": "2.5.1", ...}``; a missing package is "not installed"."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = NOT_INSTALLED
    return out
