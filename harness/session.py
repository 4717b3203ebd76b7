"""A claims session's settings and state, apart from pytest's hooks (``harness/plugin.py``).

``settings_from(option)`` turns the command-line options into :class:`Settings`, checking
each one; a bad option is a :class:`SettingsError` whose ``problems`` are one line each (the
plugin shows them as pytest usage errors). :class:`ClaimsSession` holds what a session
collects (claim results, m of the multiplicity rule, the questions to train, the report's
folder): one object in ``config.stash``, no module globals, so two sessions in one process
(pytester, an IDE) never share results.

Torch-free: judging a runs.csv never loads torch; only ``resolve_device`` does, for a fresh
source.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from harness.profiles import DATASETS, PAPER_PROFILE, PROFILES, Profile, ProfileError, resolve_profile
from harness.provenance import portable_path

REPO = Path(__file__).resolve().parent.parent
#: the run store and the reports folder, relative to the project pytest runs in (its rootdir):
#: this repository, or any project that installed the plugin
DEFAULT_STORE = Path(".runstore") / "runs.sqlite"
DEFAULT_REPORTS = Path("reports")
DEVICES = ("auto", "cpu", "cuda")
#: --source values that are not a file: fresh training (or the store), the paper's table
SOURCES = ("fresh", "paper")
#: the older spelling of --source paper, still accepted
SOURCE_ALIASES = {"seed": "paper"}


class SettingsError(ValueError):
    """Options that cannot be used; ``problems`` are one line each, saying what to do."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class Settings:
    profile: Profile
    dataset: str
    seeds: int
    device: str
    store_path: Path
    source: str
    data_root: str | None
    download: bool
    fresh: bool
    reports_dir: Path
    project: Path = REPO  # the rootdir: default paths live in it, the report names paths from it
    started: float = field(default_factory=time.time)
    seed_design: object = None  # harness.sequential.Design with --seeds auto, else None


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda: no CUDA device is visible; use --device cpu or auto")
    return name


def settings_from(opt: Callable[[str], object], project: Path = REPO) -> Settings:
    """Settings from ``opt(name)`` (pytest's ``config.getoption``), every option checked;
    the default store and reports folder are inside ``project`` (pytest's rootdir)."""
    source = opt("--source")
    source = SOURCE_ALIASES.get(source, source)
    if source not in SOURCES and not Path(source).is_file():
        raise SettingsError(f"--source: {source!r} is neither 'fresh', 'paper' nor an existing runs.csv")
    if source not in SOURCES:
        check_source(source)  # validated before its profile is guessed from it
    name = opt("--profile")
    # A report's runs.csv is judged with the profile its report recorded (levels included).
    recorded = recorded_profile(source) if name is None and source not in SOURCES else None
    if name is None and recorded is None:
        # The paper's numbers are the full protocol's grid; an exported CSV carries its own.
        name = {"fresh": "smoke", "paper": PAPER_PROFILE.name}.get(source) or profile_of_csv(source)
    try:
        profile = recorded or resolve_profile(name, [])
        if opt("profile_set"):
            from harness.profiles import override, parse_set
            profile = override(profile, parse_set(opt("profile_set")), "--set")
    except ProfileError as exc:
        raise SettingsError(str(exc)) from None
    if opt("--alpha") is not None:
        if not 0 < opt("--alpha") < 1:
            raise SettingsError(f"--alpha must be between 0 and 1, got {opt('--alpha')}")
        profile = profile.replace(alpha=opt("--alpha"))
    dataset = opt("--dataset") or profile.dataset
    if dataset not in DATASETS:
        raise SettingsError(f"--dataset: unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if opt("--device") not in DEVICES:
        raise SettingsError(f"--device: unknown device {opt('--device')!r}; valid: {', '.join(DEVICES)}")
    from harness.multiplicity import RULES

    if profile.multiplicity not in RULES:
        raise SettingsError(f"profile {profile.name}: unknown multiplicity rule {profile.multiplicity!r}; "
                            f"use one of {', '.join(RULES)}")
    from harness import sequential

    try:
        seeds = sequential.parse_seeds(opt("--seeds"))  # --seeds 0 is an error; 'auto' a design
        max_seeds = sequential.parse_max_seeds(opt("--max-seeds"))
        if max_seeds is not None and seeds != sequential.AUTO:
            raise ValueError("--max-seeds only applies with --seeds auto")
        seed_design = sequential.Design(sequential.cap_stages(profile.seed_stages, max_seeds),
                                        profile.alpha) if seeds == sequential.AUTO else None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if seed_design is not None and source != "fresh":
        raise SettingsError("--seeds auto trains seeds as claims need them: it needs --source fresh")
    seeds = seed_design.stages[0] if seed_design else (seeds or profile.seeds)
    if seeds < 2:
        raise SettingsError(f"--seeds must be at least 2 (got {seeds}); 5 or more is needed for p < 0.05")
    # Judging a source trains nothing: no need to import torch for a device. With --executor
    # ray the cluster's devices count: resolved on joining it.
    device = "none" if source != "fresh" else \
        opt("--device") if opt("--executor") == "ray" else resolve_device(opt("--device"))
    return Settings(profile=profile, dataset=dataset, seeds=seeds, device=device,
                    store_path=Path(opt("--store") or project / DEFAULT_STORE), source=source,
                    data_root=opt("--data-root"), download=opt("--download"),
                    fresh=opt("--fresh"),
                    reports_dir=Path(opt("--reports-dir") or project / DEFAULT_REPORTS),
                    project=Path(project), seed_design=seed_design)


def recorded_profile(path: str) -> Profile | None:
    """The exact profile a report recorded beside its runs.csv (report.json's
    ``meta.profile_settings``), or None when there is no such report."""
    from harness.profiles import recorded

    report = Path(path).parent / "report.json"
    try:
        return recorded(json.loads(report.read_text())["meta"]["profile_settings"],
                        f"--source {path}: {report.name}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def profile_of_csv(path: str) -> str:
    """The profile whose grid an exported runs.csv was trained on (its width and levels)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, usecols=["width", "depth", "batch_size", "stem"])
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise SettingsError(f"--source {path}: cannot guess its profile ({exc}); pass --profile NAME") from None
    # Width tells the profiles apart; the levels present must be among the profile's.
    q4_depths = set(df[df.stem == "block"].depth)
    for name, p in PROFILES.items():
        if set(df.width) == {p.width} and q4_depths <= set(p.q4_depths) \
                and set(df.batch_size) <= set(p.q5_batch_sizes) | {p.q4_batch_size, p.q6_batch_size}:
            return name
    raise SettingsError(f"--source {path}: its runs match no profile's grid; pass --profile NAME")


def check_source(source: str) -> None:
    """A runs.csv is read and validated once at start-up (harness.validate); each problem is
    one line."""
    from harness.runs import read_runs_csv
    from harness.validate import RunsError

    try:
        read_runs_csv(source)
    except RunsError as exc:
        raise SettingsError(*exc.problems) from None


def read_baseline(spec: str, gate_spec: str | None, settings: Settings):
    """--compare / --compare-fail, read at start-up (``last`` is the report ``latest`` points
    at before this session writes its own): (Baseline, Gate or None)."""
    from harness.report import compare as cmp

    try:
        gate = cmp.parse_gate(gate_spec)
        path = cmp.resolve_baseline(spec, settings.reports_dir)
        name = f"last ({path.parent.name})" if spec == cmp.LAST else portable_path(spec, settings.project)
        return cmp.load_baseline(path, name), gate
    except ValueError as exc:  # BaselineError, a bad gate
        raise SettingsError(str(exc)) from None


def check_paths(settings: Settings) -> None:
    """Every path this session will use, before any training (harness.preflight). The dataset
    first: a missing dataset leaves no store behind."""
    from harness import preflight

    try:
        preflight.check_data_root(settings.data_root, settings.download)
        if settings.source == "fresh":
            from harness.data import DatasetUnavailable, load_raw

            try:
                load_raw(settings.dataset, root=settings.data_root, download=settings.download)
            except DatasetUnavailable as exc:
                raise SettingsError(str(exc)) from None
            preflight.check_store(settings.store_path)
        preflight.check_folder("--reports-dir", settings.reports_dir)
    except preflight.PathProblem as exc:
        raise SettingsError(str(exc)) from None


@dataclass
class ClaimsSession:
    """What one pytest session of claims holds (controller side, and each xdist worker's own)."""

    settings: Settings
    executor: object = None  # --executor ray: a harness.executors.RayExecutor; None: local
    n_claims: int = 1              # m of the multiplicity rule: claims collected
    questions: set = field(default_factory=set)  # questions whose runs the collected claims use
    results: list = field(default_factory=list)  # one dict per judged claim (controller side)
    report_dir: Path | None = None
    baseline: object = None    # --compare: a harness.report.compare.Baseline, read at start-up
    gate: object = None        # --compare-fail: a harness.report.compare.Gate
    gate_spec: str | None = None  # --compare-fail as given
    comparison: object = None  # after finish(): the Comparison with the baseline
    gate_failures: list = field(default_factory=list)  # the changes --compare-fail fails on

    def header(self) -> str:
        s = self.settings
        where = s.source if s.source != "fresh" else f"fresh (store {s.store_path})"
        seeds = f"auto{s.seed_design.stages}" if s.seed_design else s.seeds
        if s.profile.first_seed:
            seeds = f"{seeds} (from seed {s.profile.first_seed}: a pilot)"
        cluster = getattr(self.executor, "cluster", None)
        return (f"claims: profile={s.profile.name} dataset={s.dataset} seeds={seeds} "
                f"device={s.device} alpha={s.profile.alpha} source={where}"
                + (f" executor=ray (cluster {cluster})" if cluster else ""))

    def finish(self) -> None:
        """Sort the results and apply the declared multiplicity rule (issue 9): each result
        gets its adjusted p and verdict beside the unadjusted ones."""
        from harness import multiplicity

        self.results.sort(key=lambda r: r["id"])
        rule, alpha = self.settings.profile.multiplicity, self.settings.profile.alpha
        evs = [r["evidence"] or {} for r in self.results]
        adjusted = multiplicity.adjust([e.get("p") for e in evs], rule)
        adjusted_ref = multiplicity.adjust([(e.get("details") or {}).get("p_refuted") for e in evs], rule)
        for r, e, p_adj, p_ref in zip(self.results, evs, adjusted, adjusted_ref):
            r["p_adjusted"] = p_adj
            r["verdict_adjusted"] = multiplicity.adjusted_verdict(e.get("verdict"), p_adj, p_ref, alpha)

    def compare(self) -> None:
        """--compare: this session's results against the baseline, and the gate's failures."""
        if self.baseline is None:
            return
        from harness.report.compare import compare

        self.comparison = compare(self.baseline, self.results)
        self.gate_failures = self.gate.failures(self.comparison) if self.gate else []

    def comparison_record(self) -> dict | None:
        """report.json's ``comparison``: what moved, the gate and what it failed on."""
        if self.comparison is None:
            return None
        return self.comparison.to_dict() | {"gate": self.gate_spec,
                                            "failed": [c.id for c in self.gate_failures]}

    def runs_judged(self):
        """The runs table the results were judged on (what the report exports)."""
        from harness import runs as runs_mod

        s = self.settings
        if s.source == "fresh":
            from harness.store import RunStore

            keys = sorted({k for r in self.results for k in r["run_keys"]})
            with RunStore(s.store_path) as store:
                return runs_mod.from_records(list(store.get_many(keys).values()))
        if s.source == "paper":
            return runs_mod.published_runs()
        return runs_mod.read_runs_csv(s.source)

    def meta(self) -> dict:
        from harness import multiplicity
        from harness.provenance import portable_command, versions

        s = self.settings
        rule = s.profile.multiplicity
        m_claims = max(r.get("claims_m") or 1 for r in self.results)
        meta = {"profile": s.profile.name,
                "dataset": s.dataset if s.source == "fresh" else "(from source)",
                "device": s.device, "source": portable_path(s.source, s.project),
                "alpha": s.profile.alpha,
                "seeds": f"auto {s.seed_design.stages}" if s.seed_design else s.seeds,
                "started": datetime.fromtimestamp(s.started, timezone.utc).isoformat(),
                "wall_s": round(time.time() - s.started, 1), "versions": versions(),
                # a --source session reads its runs from the source and never opens the store
                "store": portable_path(s.store_path, s.project) if s.source == "fresh" else None,
                "command": portable_command(sys.argv, s.project),
                "profile_settings": s.profile.to_dict(),
                "multiplicity": f"{rule}: controls the {multiplicity.CONTROLS[rule]} at alpha across the "
                                f"{m_claims} claims collected; each pytest outcome is judged at "
                                f"{multiplicity.per_claim_alpha(rule, s.profile.alpha, m_claims):.4g}"}
        if s.seed_design is not None:
            from harness.sequential import session_summary
            meta["sequential"] = session_summary(self.results, s.seed_design)
        return meta

    def write_report(self) -> None:
        from harness import report, runs as runs_mod

        self.report_dir = report.write_report(self.settings.reports_dir, self.results,
                                              self.runs_judged(), runs_mod.published_runs(), self.meta(),
                                              self.comparison_record())
