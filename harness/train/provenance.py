"""What produced a result, without importing torch or naming the machine it ran on.

``versions()``: the Python and package versions (the report's meta, each stored run), read
from the installed packages' metadata (``importlib.metadata``), so a session that only
re-judges a runs.csv never loads torch to name its version.

``portable_path`` and ``portable_command``: the store, the source and the command line as a
reader of a published report can use them. A report is published (``docs/results``, a CI
artefact), so it names no absolute path of the machine: a path inside the project is written
relative to it, one under the home folder as ``~/...``, any other by its name alone
(``.../runs.sqlite``); the interpreter is named by its version (``versions()["python"]``),
never by its path. Two identical sessions on two machines then write the same meta.
"""
from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath

__all__ = ["versions", "REPORT_PACKAGES", "NOT_INSTALLED", "portable_path", "portable_command",
           "ELIDED"]

#: the packages a report's meta names (the report's numbers depend on all four)
REPORT_PACKAGES = ("torch", "torchvision", "scipy", "pandas")
NOT_INSTALLED = "not installed"
#: what stands for the folders of a path outside the project and the home folder
ELIDED = "..."


def versions(packages: tuple[str, ...] = REPORT_PACKAGES) -> dict[str, str]:
    """``{"python": "3.11.2", "torch": "2.5.1", ...}``; a missing package is "not installed"."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = NOT_INSTALLED
    return out


def portable_path(path: str | os.PathLike, project: str | os.PathLike,
                  home: str | os.PathLike | None = None) -> str:
    """``path`` as a report may name it: relative paths unchanged; an absolute one relative to
    ``project`` when inside it, ``~/...`` when under ``home`` (default: the user's), else
    ``.../<name>``."""
    p = PurePath(path)
    if not p.is_absolute():
        return str(path)
    p = PurePath(os.path.normpath(p))
    project = PurePath(os.path.normpath(project))
    home = PurePath(os.path.normpath(home if home is not None else Path.home()))
    if p == project:
        return "."
    if project in p.parents:
        return p.relative_to(project).as_posix()
    if home in p.parents and home != PurePath(p.anchor):
        return "~/" + p.relative_to(home).as_posix()
    return f"{ELIDED}/{p.name}" if p.name else ELIDED


def portable_command(argv: list[str], project: str | os.PathLike,
                     home: str | os.PathLike | None = None) -> str:
    """The command line as the user would type it in ``project``: ``python -m pytest ARGS`` when
    pytest ran as a module (argv[0] is pytest's ``__main__.py``), else ``pytest ARGS``, and
    every absolute path among the arguments (also after ``--option=``) made portable."""
    if not argv:
        return "pytest"
    first = PurePath(argv[0])
    head = "python -m pytest" if first.name == "__main__.py" else "pytest"

    def arg(a: str) -> str:
        if a.startswith("-") and "=" in a:
            opt, _, value = a.partition("=")
            return f"{opt}={arg(value)}"
        return portable_path(a, project, home) if PurePath(a).is_absolute() else a

    return " ".join([head, *(arg(a) for a in argv[1:])])
