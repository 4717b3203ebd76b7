"""Questions as declarations (torch-free): what a question trains, what it varies, what its
claims read, and how big it is under each profile.

A question is declared once, beside its claims, in a ``claims/questions_*.py`` file that
defines ``QUESTIONS`` (a list of :class:`Question`); this module finds those files and derives
everything else from them:

- the grid (``harness.declare.grids.grid``: ``cells(question, profile)`` crossed with the seeds);
- the run columns an arm is selected on (``where``) and which question a row answers
  (``levels_of``, ``question_of``: the report files runs with it);
- the metrics a claim may read (``metric_column``: recorded columns, or a metric computed
  from the recorded curves, e.g. steps to a target accuracy);
- the profile's per-question sizes (``Question.sizes``, copied into ``Profile.sizes``);
- the report's sections and titles (``SECTIONS``, ``TITLES``).

A run's configuration is a flat dict of *run fields*: the network's (``models.NetConfig``),
the training protocol's (``epochs``, ``batch_size``, ``lr``, ``optimizer``, ``momentum``,
``weight_decay``) and the data's (``train_size``).
A question fixes some (``base``), varies some (``levels``) and takes its sizes from the
profile (``sizes``: a level's values, or a fixed field such as ``epochs``).
"""
from __future__ import annotations

import importlib.util
import re
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Mapping

from harness.declare.spec import Protocol
from models.config import NetConfig

#: Run fields that set the scale of a run, not which configuration it is: they come from the
#: profile, and arms are never selected on them.
SCALE_FIELDS = ("width", "in_channels", "image_size", "num_classes", "epochs", "train_size",
                "test_size", "groups")
#: Run fields that go into the training protocol and the data (``harness.declare.spec``); the rest
#: are the network's.
PROTOCOL_FIELDS = tuple(f.name for f in fields(Protocol))
DATA_FIELDS = ("train_size", "test_size")
#: Run fields a run may be selected on even when a question does not fix them (the paper's
#: networks were told apart by these; kept so that Q4-Q6 select exactly as before).
ALWAYS_SELECTED = ("arch", "stem", "norm", "block_order", "activation", "depth", "batch_size")


@dataclass(frozen=True)
class Level:
    """One factor a question varies. ``values``: fixed values (e.g. the two activations); empty
    means the profile's sizes give them (``sizes[profile][name]``). ``fields``: for a named
    level (Q6's "order"), value -> the run fields it sets; otherwise the level IS a run field."""

    name: str
    values: tuple = ()
    fields: Mapping[object, Mapping[str, object]] | None = None
    labels: Mapping[object, str] | None = None  # how reports name the values, if not as is

    def run_fields(self, value) -> dict:
        if self.fields is None:
            return {self.name: value}
        if value not in self.fields:
            raise ValueError(f"unknown {self.name} {value!r}; valid: {', '.join(map(str, self.fields))}")
        return dict(self.fields[value])

    def read(self, row: Mapping):
        """This level's value in a runs-table row, or None when the row has none."""
        if self.fields is not None:
            return next((v for v, f in self.fields.items()
                         if all(_same(row.get(k), x) for k, x in f.items())), None)
        got = row.get(self.name)
        if _missing(got):
            return None
        if self.values:
            return got if got in self.values else None
        return _number(got)


@dataclass(frozen=True)
class Metric:
    """A metric computed from a row's recorded values (e.g. from its ``test_acc`` curve)."""

    name: str
    compute: Callable[[Mapping], float | None]
    description: str = ""


@dataclass(frozen=True)
class Question:
    """One question: see the module docstring. ``configure(levels, sizes)`` may replace the
    default ``base | sized fields | levels`` (Q6's MLP has no depth); ``check(sizes)`` returns
    problems of a profile's sizes beyond the generic ones; ``old_keys`` maps the flat profile
    keys of earlier versions (``q4_depths``) to size names, so old files and ``--set`` work."""

    name: str
    title: str
    base: Mapping[str, object]
    levels: tuple[Level, ...]
    metrics: tuple[str, ...]
    sizes: Mapping[str, Mapping[str, object]]
    label: Callable[[dict], str]
    derived: tuple[Metric, ...] = ()
    configure: Callable[[dict, Mapping], dict] | None = None
    check: Callable[[Mapping], list[str]] | None = None
    old_keys: Mapping[str, str] = field(default_factory=dict)
    table_intro: str = ""
    #: claim sections judged on this question's runs (e.g. the paper's headline on Q4's)
    sections: Mapping[str, str] = field(default_factory=dict)

    def level(self, name: str) -> Level:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise ValueError(f"{self.name} has no level {name!r}; its levels: "
                         f"{', '.join(lv.name for lv in self.levels)}")

    def run_fields(self, levels: Mapping, sizes: Mapping) -> dict:
        if self.configure is not None:
            return dict(self.configure(dict(levels), sizes))
        varied = {lv.name for lv in self.levels if not lv.values}
        out = dict(self.base) | {k: v for k, v in sizes.items() if k not in varied and k in RUN_FIELDS}
        for lv in self.levels:
            out |= lv.run_fields(levels[lv.name])
        return out


@dataclass(frozen=True)
class Cell:
    """One configuration a question trains: its run fields and levels."""

    question: str
    levels: tuple[tuple[str, object], ...]  # e.g. (("activation", "relu"), ("depth", 8))
    fields: Mapping[str, object]

    @property
    def label(self) -> str:
        return label(self.question, **dict(self.levels))

    def where(self) -> dict:
        """The run columns that select this cell's runs (scale fields left out)."""
        q = get(self.question)
        names = set(q.base) | set(ALWAYS_SELECTED) | {k for lv in q.levels
                                                      for k in lv.run_fields(dict(self.levels)[lv.name])}
        return {k: v for k, v in self.fields.items() if k in names and k not in SCALE_FIELDS}


# --- the declarations -------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]
_loaded: dict[str, Question] | None = None
_bodies: dict[str, str] = {}  # question -> the body of claims (declarations file) it belongs to


def claims_dir() -> Path:
    """Where the declarations are: this checkout's claims/, or (harness installed elsewhere,
    e.g. site-packages) the claims/ of the directory pytest runs in."""
    for d in (REPO / "claims", Path.cwd() / "claims"):
        if any(d.glob("questions_*.py")):
            return d
    raise RuntimeError(f"no question declarations (claims/questions_*.py) under {REPO} or "
                       f"{Path.cwd()}: run from the repository root")


def _load() -> dict[str, Question]:
    """Every ``claims/questions_*.py``'s ``QUESTIONS``, in file-name order (read once)."""
    global _loaded
    if _loaded is None:
        found: dict[str, Question] = {}
        for path in sorted(claims_dir().glob("questions_*.py")):
            name = f"claims_declarations.{path.stem}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            for q in module.QUESTIONS:
                if q.name in found:
                    raise ValueError(f"{path.name}: question {q.name!r} is declared twice")
                found[q.name] = q
                _bodies[q.name] = re.sub(r"^questions_(\d+_)?", "", path.stem)
        _loaded = found
    return _loaded


def all_questions() -> tuple[Question, ...]:
    return tuple(_load().values())


def names() -> tuple[str, ...]:
    return tuple(_load())


def get(question: str) -> Question:
    qs = _load()
    if question not in qs:
        raise ValueError(f"unknown question {question!r}; valid: {', '.join(qs)}")
    return qs[question]


def sections() -> tuple[str, ...]:
    """Report sections: every question, then the extra sections judged on a question's runs."""
    return names() + tuple(s for q in all_questions() for s in q.sections)


def titles() -> dict[str, str]:
    out = {q.name: q.title for q in all_questions()}
    for q in all_questions():
        out |= dict(q.sections)
    return out


def runs_of(section: str) -> str:
    """The question whose runs the claims of ``section`` (a claim marker's ``question=``) use."""
    for q in all_questions():
        if section == q.name or section in q.sections:
            return q.name
    raise ValueError(f"unknown question {section!r}; valid: {', '.join(sections())}")


def body_of(section: str) -> str:
    """The body of claims ``section``'s claims belong to: the name of the declarations file
    of the question whose runs they use (``claims/questions_01_seed.py`` -> "seed"). Each body
    is one paper's findings and one multiplicity family (harness/statistics/multiplicity.py)."""
    question = runs_of(section)
    _load()
    return _bodies[question]


def __getattr__(name):  # module constants derived from the declarations, on first use
    if name == "QUESTIONS":
        return names()
    if name == "SECTIONS":
        return sections()
    if name == "TITLES":
        return titles()
    raise AttributeError(f"module 'harness.declare.questions' has no attribute {name!r}")


# --- sizes and levels ---------------------------------------------------------------------------
def sizes_of(question: str, profile) -> Mapping:
    q = get(question)
    sizes = getattr(profile, "sizes", {}) or {}
    if question not in sizes:
        raise ValueError(f"profile {profile.name!r} has no sizes for {question}; give them "
                         f"(--set {question}.<size>=... or a [{question}] table in a profile file)")
    return sizes[q.name]


def level_values(question: str, profile) -> dict[str, tuple]:
    """The levels a question compares under ``profile``, in the order the grid trains them."""
    q = get(question)
    sizes = sizes_of(question, profile)
    return {lv.name: tuple(lv.values) if lv.values else tuple(sizes[lv.name]) for lv in q.levels}


def ordered(question: str, profile, level: str) -> tuple:
    """A level's values under ``profile`` in ascending order: claims name levels by meaning
    (``ordered(...)[-1]`` is the deepest), never by their position in a profile's list."""
    return tuple(sorted(level_values(question, profile)[level]))


def smallest(question: str, profile, level: str):
    return ordered(question, profile, level)[0]


def largest(question: str, profile, level: str):
    return ordered(question, profile, level)[-1]


def size(question: str, profile, name: str):
    """A named size of ``question`` under ``profile`` (e.g. Q5's ``peak_batch``)."""
    sizes = sizes_of(question, profile)
    if name not in sizes:
        raise ValueError(f"profile {profile.name!r}: {question} has no size {name!r}")
    return sizes[name]


def cell(question: str, profile, **levels) -> Cell:
    """The configuration of ``question`` at ``levels`` (any level value, not only the
    profile's: the headline asks for depth 8 wherever it is judged)."""
    q = get(question)
    want = {lv.name for lv in q.levels}
    if set(levels) != want:
        raise ValueError(f"{question} is selected by {', '.join(sorted(want))}; got "
                         f"{', '.join(sorted(levels)) or 'nothing'}")
    for lv in q.levels:
        if lv.fields is not None and levels[lv.name] not in lv.fields:
            raise ValueError(f"unknown {lv.name} {levels[lv.name]!r}; valid: {', '.join(map(str, lv.fields))}")
    order = tuple((lv.name, levels[lv.name]) for lv in q.levels)
    return Cell(question, order, q.run_fields(levels, sizes_of(question, profile)))


def cells(question: str, profile) -> list[Cell]:
    """Every configuration ``question`` trains under ``profile``, in the grid's order (first
    level outermost)."""
    values = level_values(question, profile)
    out = [{}]
    for name, vals in values.items():
        out = [o | {name: v} for o in out for v in vals]
    return [cell(question, profile, **lv) for lv in out]


def label(question: str, **levels) -> str:
    """An arm's label in evidence and reports (e.g. "relu depth 8", "BN b16", "cnn bn-relu")."""
    return get(question).label(levels)


def where(question: str, profile, **levels) -> dict:
    """The run columns that select ``question``'s arm at ``levels``."""
    return cell(question, profile, **levels).where()


def metric_column(question: str, metric: str) -> Metric | None:
    """The declared computed metric ``metric`` of ``question`` (None: a recorded column)."""
    return next((m for m in get(question).derived if m.name == metric), None)


# --- matching rows ------------------------------------------------------------------------------
#: Defaults of run fields that older runs tables may lack: a blank cell is the default.
def _defaults() -> dict:
    return {f.name: f.default for cls in (NetConfig, Protocol) for f in fields(cls)}


RUN_FIELDS = frozenset(tuple(f.name for f in fields(NetConfig)) + PROTOCOL_FIELDS + DATA_FIELDS)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _number(v):
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return int(f) if f == int(f) else f


def _same(got, want) -> bool:
    if _missing(got):
        return False
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        g = _number(got)
        return g is not None and math.isclose(g, want, rel_tol=1e-12, abs_tol=0.0)
    return got == want


def matches(row: Mapping, want: Mapping) -> bool:
    """``row`` has every value of ``want``; a field the row lacks (an older runs table) counts
    as its default, so a column added later never unfiles older runs."""
    defaults = _defaults()
    for col, val in want.items():
        got = row.get(col)
        if _missing(got) and col in defaults and defaults[col] == val:
            continue
        if not _same(got, val):
            return False
    return True


def levels_of(question: str, row: Mapping, profile) -> dict | None:
    """``row``'s levels if it is a run of ``question`` under ``profile`` (its fixed fields
    match and its levels are ones the question compares: a sized level at any value), else
    None."""
    q = get(question)
    lv = {}
    for level in q.levels:
        v = level.read(row)
        if v is None:
            return None
        lv[level.name] = v
    try:
        want = where(question, profile, **lv)
    except ValueError:
        return None
    return lv if matches(row, want) else None


def question_of(row: Mapping, profile) -> str | None:
    """The question a runs-table row answers under ``profile``, or None. A configuration two
    questions share (possible only in a profile whose Q6 CNN has the Q5 net's 4 blocks at a Q5
    batch size) is filed under the first declared."""
    sizes = getattr(profile, "sizes", {}) or {}
    return next((q for q in names() if q in sizes and levels_of(q, row, profile) is not None), None)
