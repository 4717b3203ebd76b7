"""A claims session's settings and state, apart from pytest's hooks (``harness/pytest_plugin/plugin.py``).

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
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from harness.declare.profiles import DATASETS, PAPER_PROFILE, PROFILES, Profile, ProfileError, resolve_profile
from harness.train.provenance import portable_path

REPO = Path(__file__).resolve().parents[2]
#: the run store and the reports folder, relative to the project pytest runs in (its rootdir):
#: this repository, or any project that installed the plugin
DEFAULT_STORE = Path(".runstore") / "runs.sqlite"
DEFAULT_REPORTS = Path("reports")
DEVICES = ("auto", "cpu", "cuda")
#: --max-hours: the cpu profile is about 1 CPU-hour, the full protocol on CPU about 180
DEFAULT_MAX_HOURS = 24.0
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
    seed_design: object = None  # harness.statistics.sequential.Design with --seeds auto, else None
    plan: str = "auto"  # --plan: harness.train.plan's name ("auto": its table per configuration)
    source_notes: list = field(default_factory=list)  # one line each, in the terminal summary
    max_hours: float = DEFAULT_MAX_HOURS  # a fresh session estimated beyond this is refused


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
    notes = check_source(source) if source not in SOURCES else []  # before its profile is guessed
    name = opt("--profile")
    # A report's runs.csv is judged with the profile its report recorded (levels included).
    recorded = recorded_profile(source) if name is None and source not in SOURCES else None
    if name is None and recorded is None:
        # The paper's numbers are the full protocol's grid; an exported CSV carries its own.
        name = {"fresh": "smoke", "paper": PAPER_PROFILE.name}.get(source) or profile_of_csv(source)
    try:
        profile = recorded or resolve_profile(name, [])
        if opt("profile_set"):
            from harness.declare.profiles import override, parse_set
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
    from harness.train.plan import AUTO, PlanError, parse as parse_plan

    plan = opt("--plan") or AUTO
    try:
        parse_plan(plan)
    except PlanError as exc:
        raise SettingsError(str(exc)) from None
    if opt("--device") not in DEVICES:
        raise SettingsError(f"--device: unknown device {opt('--device')!r}; valid: {', '.join(DEVICES)}")
    from harness.statistics.multiplicity import RULES

    if profile.multiplicity not in RULES:
        raise SettingsError(f"profile {profile.name}: unknown multiplicity rule {profile.multiplicity!r}; "
                            f"use one of {', '.join(RULES)}")
    from harness.statistics import sequential

    try:
        seeds = sequential.parse_seeds(opt("--seeds"))  # --seeds 0 is an error; 'auto' a design
        max_seeds = sequential.parse_max_seeds(opt("--max-seeds"))
        if max_seeds is not None and seeds != sequential.AUTO:
            raise ValueError("--max-seeds only applies with --seeds auto")
        seed_design = sequential.Design(sequential.cap_stages(profile.seed_stages, max_seeds),
                                        profile.alpha) if seeds == sequential.AUTO else None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if seed_design is not None and source == "paper":
        raise SettingsError("--seeds auto needs runs by seed: --source fresh trains them and a "
                            "runs.csv of a --seeds auto session replays them; the paper's table "
                            "has summaries")
    seeds = seed_design.stages[0] if seed_design else (seeds or profile.seeds)
    if seeds < 2:
        raise SettingsError(f"--seeds must be at least 2 (got {seeds}); 5 or more is needed for p < 0.05")
    max_hours = DEFAULT_MAX_HOURS if opt("--max-hours") is None else opt("--max-hours")
    if not max_hours > 0:  # NaN too
        raise SettingsError(f"--max-hours must be a positive number of hours, got {max_hours}")
    # Judging a source trains nothing: no need to import torch for a device. With --executor
    # ray the cluster's devices count: resolved on joining it.
    device = "none" if source != "fresh" else \
        opt("--device") if opt("--executor") == "ray" else resolve_device(opt("--device"))
    return Settings(profile=profile, dataset=dataset, seeds=seeds, device=device,
                    store_path=Path(opt("--store") or project / DEFAULT_STORE), source=source,
                    data_root=opt("--data-root"), download=opt("--download"),
                    fresh=opt("--fresh"),
                    reports_dir=Path(opt("--reports-dir") or project / DEFAULT_REPORTS),
                    project=Path(project), seed_design=seed_design, plan=plan, source_notes=notes,
                    max_hours=max_hours)


def recorded_profile(path: str) -> Profile | None:
    """The exact profile a report recorded beside its runs.csv (report.json's
    ``meta.profile_settings``), or None when there is no such report (or it records none).
    A recorded profile that cannot be used is one error line, not a silent guess (a
    bn2015 report recorded by an older version was re-judged as smoke that way)."""
    from harness.declare.profiles import ProfileError, recorded

    report = Path(path).parent / "report.json"
    try:
        settings = json.loads(report.read_text())["meta"]["profile_settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        return recorded(settings, f"--source {path}: {report.name}")
    except ProfileError as exc:
        raise SettingsError(f"{exc}; pass --profile NAME (or a profile file) to judge these runs "
                            f"with it instead") from None


def profile_of_csv(path: str) -> str:
    """The profile whose grid an exported runs.csv was trained on: the first whose cells
    (every declared question's, harness.declare.questions) at its width hold every run of the file."""
    from harness.declare import questions
    from harness.runstore.runs import read_runs_csv
    from harness.runstore.validate import RunsError

    try:
        rows = [r for r in read_runs_csv(path).to_dict("records") if r.get("kind") != "summary"]
    except RunsError as exc:
        raise SettingsError(f"--source {path}: cannot guess its profile ({exc}); pass --profile NAME") from None
    for name, p in PROFILES.items():
        wants = [c.where() | {"width": c.fields.get("width", p.width)}
                 for q in questions.names() if q in p.sizes for c in questions.cells(q, p)]
        if all(any(questions.matches(r, w) for w in wants) for r in rows):
            return name
    raise SettingsError(f"--source {path}: its runs match no profile's grid; pass --profile NAME")


def check_source(source: str) -> list[str]:
    """A runs.csv is read and validated once at start-up (harness.runstore.validate); each problem is
    one line. Returns the notes for the header: metrics some runs lack, one line per column."""
    from harness.runstore.runs import read_runs_csv
    from harness.runstore.validate import RunsError, missing_metrics

    try:
        return missing_metrics(read_runs_csv(source), f"--source {source}")
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
    """Every path this session will use, before any training (harness.pytest_plugin.preflight). The dataset
    first: a missing dataset leaves no store behind."""
    from harness.pytest_plugin import preflight

    try:
        preflight.check_data_root(settings.data_root, settings.download)
        if settings.source == "fresh":
            from harness.train.data import DatasetUnavailable, load_raw

            try:
                raw = load_raw(settings.dataset, root=settings.data_root, download=settings.download)
            except DatasetUnavailable as exc:
                raise SettingsError(str(exc)) from None
            check_sizes(settings, train=len(raw[0]), test=len(raw[2]))
            preflight.check_store(settings.store_path)
        preflight.check_reports_dir(settings.reports_dir)
    except preflight.PathProblem as exc:
        raise SettingsError(str(exc)) from None


def check_sizes(settings: Settings, *, train: int, test: int) -> None:
    """A profile's data sizes fit the dataset: a run records the size it asked for, so a
    train_size beyond the split (silently the whole split before) would record a size never
    used."""
    p = settings.profile
    # the profile's own sizes, then every question's (a question may train on less data:
    # Q5.train_size), named as --set takes them
    wanted = [("train_size", p.train_size, train, "training"), ("test_size", p.test_size, test, "test")]
    for q, sizes in sorted(p.sizes.items()):
        for name, have, split in (("train_size", train, "training"), ("test_size", test, "test")):
            if isinstance(sizes.get(name), int):
                wanted.append((f"{q}.{name}", sizes[name], have, split))
    for key, want, have, split in wanted:
        if want is not None and want > have:
            raise SettingsError(f"profile {p.name}: {key}={want} but the {settings.dataset} {split} split "
                                f"has {have} images; give at most {have} (--set {key}={have}) or none "
                                f"for the whole split")


@dataclass
class ClaimsSession:
    """What one pytest session of claims holds (controller side, and each xdist worker's own)."""

    settings: Settings
    executor: object = None  # --executor ray: a harness.train.executors.RayExecutor; None: local
    families: dict = field(default_factory=dict)  # body -> claim ids its rule counts (m)
    questions: set = field(default_factory=set)  # questions whose runs the collected claims use
    results: list = field(default_factory=list)  # one dict per judged claim (controller side)
    collected: dict = field(default_factory=dict)  # nodeid -> a claim's declared fields
    report_dir: Path | None = None
    baseline: object = None    # --compare: a harness.report.compare.Baseline, read at start-up
    gate: object = None        # --compare-fail: a harness.report.compare.Gate
    gate_spec: str | None = None  # --compare-fail as given
    comparison: object = None  # after finish(): the Comparison with the baseline
    gate_failures: list = field(default_factory=list)  # the changes --compare-fail fails on

    def family_of(self, section: str) -> list:
        """The multiplicity family of a claim of ``section``: its body's declared claims."""
        from harness.declare.questions import body_of

        return self.families.get(body_of(section), [])

    def m_of(self, body: str) -> int:
        """m of the multiplicity rule for one body of claims (harness/statistics/multiplicity.py)."""
        mine = [r for r in self.results if r.get("body") == body]
        return max(len(self.families.get(body, ())), len(mine),
                   *(r.get("claims_m") or 1 for r in mine), 1)

    def bodies(self) -> list:
        return sorted(set(self.families) | {r["body"] for r in self.results if r.get("body")})

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
        from harness.statistics import multiplicity

        self.results.sort(key=lambda r: r["id"])
        if not self.families:  # the xdist controller collects nothing: its workers' families
            for r in self.results:
                if r.get("body") is not None:
                    self.families.setdefault(r["body"], sorted(r.get("family") or ()))
        for r in self.results:  # a claim never judged (an error) belongs to its section's body
            if r.get("body") is None and r.get("question"):
                try:
                    from harness.declare.questions import body_of
                    r["body"] = body_of(r["question"])
                except ValueError:
                    pass
        rule, alpha = self.settings.profile.multiplicity, self.settings.profile.alpha
        for body in self.bodies():  # each body of claims is its own family
            mine = [r for r in self.results if r.get("body") == body]
            evs = [r["evidence"] or {} for r in mine]
            m = self.m_of(body)
            adjusted = multiplicity.adjust([e.get("p") for e in evs], rule, m)
            adjusted_ref = multiplicity.adjust([(e.get("details") or {}).get("p_refuted") for e in evs],
                                               rule, m)
            for r, e, p_adj, p_ref in zip(mine, evs, adjusted, adjusted_ref):
                r["p_adjusted"] = p_adj
                r["verdict_adjusted"] = multiplicity.adjusted_verdict(e.get("verdict"), p_adj, p_ref, alpha)

    def outcome_design(self, body: str | None = None):
        """--seeds auto: the profile's stages with alpha spent at the level each pytest outcome
        of ``body``'s claims is judged at (alpha / m under Holm; by default the largest body's,
        the strictest), the design those claims run."""
        import dataclasses

        from harness.statistics import multiplicity

        s = self.settings
        m = self.m_of(body) if body is not None else max((self.m_of(b) for b in self.bodies()), default=1)
        level = multiplicity.per_claim_alpha(s.profile.multiplicity, s.profile.alpha, m)
        return dataclasses.replace(s.seed_design, alpha=level)

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
        from harness.runstore import runs as runs_mod

        s = self.settings
        if s.source == "fresh":
            from harness.runstore.store import RunStore

            keys = sorted({k for r in self.results for k in r["run_keys"]})
            with RunStore(s.store_path) as store:
                return runs_mod.from_records(list(store.get_many(keys).values()))
        if s.source == "paper":
            return runs_mod.published_runs()
        return runs_mod.read_runs_csv(s.source)

    def meta(self) -> dict:
        from harness.statistics import multiplicity
        from harness.train.provenance import portable_command, versions

        s = self.settings
        rule = s.profile.multiplicity
        per_body = {b: self.m_of(b) for b in self.bodies()}
        judged = {r["id"] for r in self.results}
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
                "multiplicity": f"{rule}: controls the {multiplicity.CONTROLS[rule]} at alpha within "
                                f"each body of claims declared in the suite's claim files ("
                                + "; ".join(f"{b}: {m} claims, each pytest outcome judged at "
                                            f"{multiplicity.per_claim_alpha(rule, s.profile.alpha, m):.4g}"
                                            for b, m in per_body.items()) + ")",
                "families": {b: {"m": per_body[b],
                                 "claims": sorted(set(self.families.get(b, ())) | {
                                     r["id"] for r in self.results if r.get("body") == b}),
                                 "not_run": sorted(set(self.families.get(b, ())) - judged)}
                             for b in per_body}}
        if s.seed_design is not None:
            from harness.statistics.sequential import session_summary
            meta["sequential"] = session_summary(self.results, self.outcome_design())
        return meta

    def write_report(self) -> None:
        from harness import report
        from harness.runstore import runs as runs_mod

        runs = self.runs_judged()
        meta = self.meta()
        if self.settings.source == "fresh" and len(runs):
            # how the runs were computed (harness.train.plan): plan name -> runs
            meta["plans"] = {str(k): int(v) for k, v in runs["engine"].value_counts().items()}
        self.report_dir = report.write_report(self.settings.reports_dir, self.results,
                                              runs, runs_mod.published_runs(), meta,
                                              self.comparison_record())


class Stopped(KeyboardInterrupt):
    """SIGTERM (CI cancel, ``timeout``, ``docker stop``, Slurm preemption) or SIGINT: pytest's
    interrupted exit (code 2), the engine frees its leases on the way out."""


class StopSignals:
    """SIGTERM handled like Ctrl-C, and a second signal while the first unwinds ends the
    process at once with one line (instead of a KeyboardInterrupt raised inside the clean-up,
    whose traceback ran to 285 lines). What that skips, releasing the leases, is safe to skip:
    a dead process's leases are stale and the next session takes them over."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received: str | None = None
        self._previous: dict = {}

    def install(self) -> None:
        for sig in self.SIGNALS:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue  # started with it ignored (nohup, `cmd &`): stay so
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (an embedding IDE): leave Python's default
                return

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, _frame) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            os.write(2, f"\nERROR: {name} again while stopping after {self.received}: exiting now; "
                        f"this process's leases are taken over by the next session\n".encode())
            os._exit(128 + signum)
        self.received = name
        raise self._stopped()

    def _stopped(self) -> Stopped:
        return Stopped(f"{self.received}: stopping; runs in training are dropped and their leases "
                       f"freed, finished runs stay in the store")

    def raise_if_lost(self) -> None:
        """Raise ``Stopped`` again if a signal came and training still goes on: the handler's
        exception was lost. Python drops an exception raised while it runs a ``__del__`` or a
        weakref callback ("Exception ignored in ..."), so a Ctrl-C that lands there was
        ignored, and the session trained to its end and exited 0 or 1 instead of 2 (a flaky
        test_ctrl_c_then_kill_9_then_rerun_trains_each_run_once). Called from every training
        step (the progress tracker's step hook): once the first exception really propagates,
        no step runs again, so this never raises a second one inside the clean-up."""
        if self.received is not None:
            raise self._stopped()
