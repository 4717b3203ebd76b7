"""The pytest plugin: options, session settings, fixtures, evidence collection, the report.

Only this module touches pytest hooks. Claim tests see three fixtures:
``profile`` (the frozen Profile), ``runs_for(question)`` (the runs table of a question, from
fresh training, the store, the seed's numbers or an exported CSV) and ``judge`` (evaluates a
claim on the runs, records the evidence, asserts the verdict).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness import threads
from harness.profiles import PROFILES, Profile, ProfileError, resolve_profile
from harness.provenance import versions

# Before torch is imported anywhere in this process (and in xdist workers, which inherit the
# environment): OpenMP threads that wait must sleep, not spin (harness/threads.py).
threads.quiet_waiting()

from harness.formatting import jsonable  # noqa: E402  (imports numpy: after quiet_waiting)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STORE = REPO / ".runstore" / "runs.sqlite"
DEFAULT_REPORTS = REPO / "reports"
DEVICES = ("auto", "cpu", "cuda")
CLAIM_PROP = "claim_result"


def pytest_addoption(parser):
    g = parser.getgroup("claims", "checking the seed's claims")
    g.addoption("--profile", default=None,
                help=f"size profile: {', '.join(PROFILES)} or a .toml file of profile keys "
                     f"(default smoke; with --source, the source's)")
    g.addoption("--set", action="append", default=[], metavar="KEY=VALUE", dest="profile_set",
                help="override one profile key, e.g. --set q5_epochs=6 --set q4_depths=[1,2,4] (repeatable)")
    g.addoption("--dataset", default=None,
                help="dataset: digits, fashion-mnist-subset, fashion-mnist, cifar10 (default: the profile's)")
    # --seeds auto / --max-seeds: group-sequential seeds (harness/sequential.py)
    g.addoption("--seeds", default=None,
                help="seeds per configuration (default: the profile's), or 'auto': add seeds in the "
                     "profile's seed_stages until each claim is decided")
    g.addoption("--max-seeds", default=None, help="with --seeds auto: cap the last stage at N seeds")
    g.addoption("--device", default="auto", help="auto, cpu or cuda (default auto)")
    g.addoption("--data-root", default=None, help="folder holding (or receiving) the datasets")
    g.addoption("--download", action="store_true", help="download a missing dataset into --data-root")
    g.addoption("--store", default=None, help=f"run store path (default {DEFAULT_STORE.relative_to(REPO)})")
    g.addoption("--fresh", action="store_true", help="retrain every run instead of reusing the store")
    g.addoption("--alpha", type=float, default=None, help="significance level (default: the profile's, 0.05)")
    g.addoption("--source", default="fresh",
                help="where runs come from: fresh (train/store), seed (the seed's published numbers), "
                     "or PATH to a runs.csv exported by a report")
    g.addoption("--reports-dir", default=str(DEFAULT_REPORTS), help="where evidence reports go")
    # Past one machine (harness/executors.py): each configuration as one task on a Ray cluster.
    g.addoption("--executor", default="local", help="where configurations train: local (this "
                "process, default) or ray (a Ray cluster; pip install -e '.[ray]')")
    g.addoption("--ray-address", default=None,
                help="Ray cluster to join (default: Ray's own choice: RAY_ADDRESS, a running "
                     "local cluster, else a new local one)")
    g.addoption("--ray-gpus-per-task", type=float, default=1.0,
                help="GPUs per configuration with --executor ray on cuda, in (0, 1] (default 1)")
    g.addoption("--ray-cpus-per-task", type=float, default=1.0,
                help="CPUs per configuration with --executor ray (default 1; also its torch threads)")


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
    started: float = field(default_factory=time.time)
    executor: object = None  # --executor ray: a harness.executors.RayExecutor; None: local
    results: list = field(default_factory=list)
    report_dir: Path | None = None
    seed_design: object = None  # harness.sequential.Design with --seeds auto, else None


def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--device cuda: no CUDA device is visible; use --device cpu or auto")
    return name


def _claims_in_scope(config) -> bool:
    """Will this invocation run claim tests? (Decides whether the dataset must be present.)"""
    claims_dir = (REPO / "claims").resolve()
    args = [a.split("::")[0] for a in config.args] or ["."]
    for a in args:
        p = (Path(config.invocation_params.dir) / a).resolve()
        if p == claims_dir or claims_dir in p.parents or p in claims_dir.parents:
            return True
    return False


def _settings(config) -> Settings:
    from harness.profiles import DATASETS

    opt = config.getoption
    source = opt("--source")
    if source not in ("fresh", "seed") and not Path(source).is_file():
        raise pytest.UsageError(f"--source: {source!r} is neither 'fresh', 'seed' nor an existing runs.csv")
    if source not in ("fresh", "seed"):
        _check_source(source)  # faults: validated before its profile is guessed from it
    name = opt("--profile")
    # A report's runs.csv is judged with the profile its report recorded (levels included).
    recorded = _recorded_profile(source) if name is None and source not in ("fresh", "seed") \
        else None
    if name is None and recorded is None:
        # The seed's numbers are the full protocol's grid; an exported CSV carries its own.
        name = {"fresh": "smoke", "seed": "full"}.get(source) or _profile_of_csv(source)
    try:
        profile = recorded or resolve_profile(name, [])
        if opt("profile_set"):
            from harness.profiles import override, parse_set
            profile = override(profile, parse_set(opt("profile_set")), "--set")
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    if opt("--alpha") is not None:
        if not 0 < opt("--alpha") < 1:
            raise pytest.UsageError(f"--alpha must be between 0 and 1, got {opt('--alpha')}")
        profile = profile.replace(alpha=opt("--alpha"))
    dataset = opt("--dataset") or profile.dataset
    if dataset not in DATASETS:
        raise pytest.UsageError(f"--dataset: unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if opt("--device") not in DEVICES:
        raise pytest.UsageError(f"--device: unknown device {opt('--device')!r}; valid: {', '.join(DEVICES)}")
    from harness.multiplicity import RULES  # issue 9

    if profile.multiplicity not in RULES:
        raise pytest.UsageError(f"profile {profile.name}: unknown multiplicity rule {profile.multiplicity!r}; "
                                f"use one of {', '.join(RULES)}")
    from harness import sequential

    try:
        # faults: --seeds 0 is an error (parse_seeds); seqseeds: --seeds auto
        seeds = sequential.parse_seeds(opt("--seeds"))
        max_seeds = sequential.parse_max_seeds(opt("--max-seeds"))
        if max_seeds is not None and seeds != sequential.AUTO:
            raise ValueError("--max-seeds only applies with --seeds auto")
        seed_design = sequential.Design(sequential.cap_stages(profile.seed_stages, max_seeds),
                                        profile.alpha) if seeds == sequential.AUTO else None
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if seed_design is not None and source != "fresh":
        raise pytest.UsageError("--seeds auto trains seeds as claims need them: it needs --source fresh")
    seeds = seed_design.stages[0] if seed_design else (seeds or profile.seeds)
    if seeds < 2:
        raise pytest.UsageError(f"--seeds must be at least 2 (got {seeds}); 5 or more is needed for p < 0.05")
    # Judging a source trains nothing: no need to import torch for a device. With --executor
    # ray the cluster's devices count: resolved on joining it (_start_executor).
    device = "none" if source != "fresh" else \
        opt("--device") if opt("--executor") == "ray" else _resolve_device(opt("--device"))
    return Settings(profile=profile, dataset=dataset, seeds=seeds, device=device,
                    store_path=Path(opt("--store") or DEFAULT_STORE), source=source,
                    data_root=opt("--data-root"), download=opt("--download"),
                    fresh=opt("--fresh"), reports_dir=Path(opt("--reports-dir")),
                    seed_design=seed_design)


def _recorded_profile(path: str) -> Profile | None:
    """The exact profile a report recorded beside its runs.csv (report.json's
    ``meta.profile_settings``), or None when there is no such report."""
    from harness.profiles import override

    report = Path(path).parent / "report.json"
    try:
        settings = json.loads(report.read_text())["meta"]["profile_settings"]
        base = PROFILES.get(settings.get("name"), PROFILES["smoke"])
        return override(base, settings, f"--source {path}: {report.name}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _profile_of_csv(path: str) -> str:
    """The profile whose grid an exported runs.csv was trained on (its width and levels)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, usecols=["width", "depth", "batch_size", "stem"])
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise pytest.UsageError(f"--source {path}: cannot guess its profile ({exc}); pass --profile NAME") from None
    # Width tells the profiles apart; the levels present must be among the profile's.
    q4_depths = set(df[df.stem == "block"].depth)
    for name, p in PROFILES.items():
        if set(df.width) == {p.width} and q4_depths <= set(p.q4_depths) \
                and set(df.batch_size) <= set(p.q5_batch_sizes) | {p.q4_batch_size, p.q6_batch_size}:
            return name
    raise pytest.UsageError(f"--source {path}: its runs match no profile's grid; pass --profile NAME")


def _pin_worker_resources(settings: Settings) -> None:
    """Each xdist worker gets its share of the CPU threads and, on CUDA, one GPU (before CUDA
    initialises). Two workers each using all cores made 15 ms steps take over a second."""
    import torch

    n_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    # The cores free now, shared among this session's workers: a second session on a busy
    # machine takes what is left instead of doubling the threads (harness/threads.py).
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads.threads_for(n_workers))
    if settings.device == "cuda" and n_workers > 1 and torch.cuda.device_count() > 1:
        index = int(worker.removeprefix("gw") or 0) % torch.cuda.device_count()
        settings.device = f"cuda:{index}"
        # The string alone is not enough: torch.cuda.graph captures on the CURRENT device's
        # stream, so a worker left on GPU 0 would capture empty graphs for cuda:i (issue 12).
        torch.cuda.set_device(index)


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id, question, sentence): a seed finding judged by this test")
    config.addinivalue_line("markers", "not_at_smoke_scale(reason): the smoke profile cannot show this "
                            "claim; there it runs as a non-strict xfail and is never reported as verified")
    config.addinivalue_line("markers", "refuted_by_paper(reason): the paper's own table refutes this "
                            "statement; judged on that table or at smoke scale it is a strict xfail, on "
                            "an evidence profile (cpu, full) its verdict stands as measured")
    # issue 9: the report marks verdicts on the seed's table whose levels were argmaxes of it
    config.addinivalue_line("markers", "levels_from_seed_table(reason): the claim's levels were chosen "
                            "from the seed's own table (biased when judged on that table)")
    settings = _settings(config)
    config.stash[SETTINGS] = settings
    if "workerinput" in getattr(config, "__dict__", {}):
        settings.started = config.workerinput["claims_started"]
    _start_executor(config, settings, join=False)  # option checks, before anything is written
    if settings.source == "fresh":
        _pin_worker_resources(settings)
    if settings.seed_design is not None and "workerinput" not in config.__dict__:
        from harness.sequential import JunitSummary  # session totals as JUnit properties
        config.pluginmanager.register(JunitSummary(_RESULTS, settings.seed_design), "claims-sequential")
    if _claims_in_scope(config) and "workerinput" not in config.__dict__:
        _check_paths(settings)
        if settings.source == "fresh":
            _start_executor(config, settings, join=True)


def _check_source(source: str) -> None:
    """faults (harness.validate): a runs.csv is read and validated once at start-up; each
    problem is one ERROR line."""
    from harness.runs import read_runs_csv
    from harness.validate import RunsError

    try:
        read_runs_csv(source)
    except RunsError as exc:
        raise pytest.UsageError(*exc.problems) from None


def _check_paths(settings: Settings) -> None:
    """faults (harness.preflight): every path this session will use, before any training.
    The dataset first: a missing dataset leaves no store behind."""
    from harness import preflight

    try:
        preflight.check_data_root(settings.data_root, settings.download)
        if settings.source == "fresh":
            from harness.data import DatasetUnavailable, load_raw

            try:
                load_raw(settings.dataset, root=settings.data_root, download=settings.download)
            except DatasetUnavailable as exc:
                raise pytest.UsageError(str(exc)) from None
            preflight.check_store(settings.store_path)
        preflight.check_folder("--reports-dir", settings.reports_dir)
    except preflight.PathProblem as exc:
        raise pytest.UsageError(str(exc)) from None


def _start_executor(config, settings: Settings, *, join: bool) -> None:
    """--executor ray: check its options (Ray installed, no -n, task sizes) before anything
    is written; with ``join`` (a fresh run of claims, after the dataset and store checks)
    join the cluster now (reachable, enough GPUs/CPUs): the claims train on its device."""
    from harness import executors

    opt = config.getoption
    try:
        if opt("--executor") not in executors.EXECUTORS:
            raise executors.ExecutorError(f"--executor: unknown executor {opt('--executor')!r}; "
                                          f"valid: {', '.join(executors.EXECUTORS)}")
        if opt("--executor") == "local":
            return
        if not join:
            executors.require_ray()
            if getattr(config.option, "numprocesses", None):
                raise executors.ExecutorError("--executor ray spreads the configurations over the "
                                              "Ray cluster: drop -n (each xdist worker would be a driver)")
            settings.executor = executors.RayExecutor(
                device=settings.device, address=opt("--ray-address"),
                gpus_per_task=opt("--ray-gpus-per-task"), cpus_per_task=opt("--ray-cpus-per-task"),
                data_root=settings.data_root, download=settings.download)
        elif not config.option.collectonly and "workerinput" not in config.__dict__:
            settings.device = settings.executor.connect().device
    except executors.ExecutorError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config):
    s = config.stash.get(SETTINGS, None)
    if s is not None and s.executor is not None:
        s.executor.close()  # cancels what is in flight; leaves (or stops) the Ray cluster


SETTINGS = pytest.StashKey[Settings]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller -> worker: one session start time, so --fresh means the same thing."""
    node.workerinput["claims_started"] = node.config.stash[SETTINGS].started


def pytest_report_header(config):
    s = config.stash[SETTINGS]
    where = s.source if s.source != "fresh" else f"fresh (store {s.store_path})"
    seeds = f"auto{s.seed_design.stages}" if s.seed_design else s.seeds
    if s.profile.first_seed:
        seeds = f"{seeds} (from seed {s.profile.first_seed}: a pilot)"
    return (f"claims: profile={s.profile.name} dataset={s.dataset} seeds={seeds} "
            f"device={s.device} alpha={s.profile.alpha} source={where}"
            + (f" executor=ray (cluster {s.executor.cluster})" if s.executor and s.executor.cluster else ""))


def pytest_collection_modifyitems(config, items):
    s = config.stash[SETTINGS]
    for item in items:
        refuted = item.get_closest_marker("refuted_by_paper")
        if refuted and (s.source == "seed" or s.profile.smoke_scale):
            item.add_marker(pytest.mark.xfail(strict=True, reason=refuted.kwargs.get("reason", "")))
        mark = item.get_closest_marker("not_at_smoke_scale")
        if mark and s.profile.smoke_scale:  # any source holding smoke-scale runs
            reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
            # Replaces any strict xfail: at smoke scale the outcome says nothing either way.
            item.add_marker(pytest.mark.xfail(strict=False, reason=f"not shown at smoke scale: {reason}",
                                              raises=pytest.fail.Exception))
        # faults: an expected failure is the claim's verdict failing (pytest.fail in judge),
        # never an error: a store, source or code error fails the test instead of XFAIL.
        for xmark in [m for m in item.iter_markers("xfail") if "raises" not in m.kwargs]:
            item.add_marker(pytest.mark.xfail(*xmark.args, raises=pytest.fail.Exception,
                                              **xmark.kwargs), append=False)


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def claims_settings(pytestconfig) -> Settings:
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def profile(claims_settings) -> Profile:
    return claims_settings.profile


def _progress_writer(config):
    """One line per finished run, live, on the real stderr. pytest captures fd 2 while a test
    runs (and xdist workers inherit the controller's stderr), so the write suspends capture
    for its duration instead of landing in a test's captured output."""
    capman = config.pluginmanager.getplugin("capturemanager")
    worker = os.environ.get("PYTEST_XDIST_WORKER")

    def write(line: str) -> None:
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            sys.stderr.write(f"[{worker}] {line}\n" if worker else f"  {line}\n")
            sys.stderr.flush()

    return write


@pytest.fixture(scope="session")
def engine(pytestconfig, claims_settings):
    from harness.engine import Engine
    from harness.store import RunStore

    s = claims_settings
    store = RunStore(s.store_path)
    eng = Engine(store, device=s.device, data_root=s.data_root, download=s.download,
                 fresh_since=s.started if s.fresh else None,
                 progress=_progress_writer(pytestconfig),
                 epoch_progress=_progress_writer(pytestconfig) if pytestconfig.option.verbose > 0 else None,
                 executor=s.executor)
    yield eng
    store.close()


@pytest.fixture(scope="session")
def runs_for(request, claims_settings):
    """question -> runs DataFrame for this session's source. Fresh runs are trained (or read
    from the store) on first use; the first call trains every question this session needs,
    biggest configurations first, so parallel workers share the whole grid."""
    from harness import runs as runs_mod

    s = claims_settings
    cache: dict[str, object] = {}

    def get(question: str):
        if question in cache:
            return cache[question]
        if s.source == "seed":
            cache[question] = runs_mod.seed_runs()
        elif s.source != "fresh":
            cache[question] = runs_mod.read_runs_csv(s.source)
        else:
            from harness import grids  # imports torch: only a fresh source needs it
            from harness.executors import TrainingFailed

            eng = request.getfixturevalue("engine")
            needed = request.session.stash.get(QUESTIONS_NEEDED, {question}) | {question}
            specs = {q: grids.grid(q, s.profile, s.dataset, s.seeds) for q in sorted(needed)}
            failed = None
            try:
                eng.ensure([sp for q in specs for sp in specs[q]])
            except TrainingFailed as exc:  # (Ray) past its retries: fail the questions it hits
                failed = exc
            for q, q_specs in specs.items():
                hit = failed is not None and any(sp.key() in failed.keys for sp in q_specs)
                cache[q] = failed if hit else eng.runs(q_specs)
        if isinstance(cache[question], Exception):
            pytest.fail(str(cache[question]), pytrace=False)
        return cache[question]

    return get


QUESTIONS_NEEDED = pytest.StashKey[set]()
N_CLAIMS = pytest.StashKey[int]()  # claims collected: m of the multiplicity rule (issue 9)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    qs = set()
    for item in session.items:
        mark = item.get_closest_marker("claim")
        if mark and mark.kwargs.get("question") in ("Q4", "Q5", "Q6"):
            qs.add(mark.kwargs["question"])
    session.stash[QUESTIONS_NEEDED] = qs
    session.stash[N_CLAIMS] = sum(1 for it in session.items if it.get_closest_marker("claim"))


@pytest.fixture
def judge(request, claims_settings, runs_for):
    """judge(fn): fn(runs, profile) -> Evidence. Evaluates the claim on this session's runs
    (and, for the report, on the seed's published numbers), records both, then asserts:
    supported passes; refuted and inconclusive fail with the evidence; untestable skips."""
    from harness import stats
    from harness.runs import MissingArm, seed_runs

    mark = request.node.get_closest_marker("claim")
    if mark is None:
        raise pytest.UsageError(f"{request.node.nodeid}: a claim test needs @pytest.mark.claim(...)")
    s = claims_settings
    question = mark.kwargs["question"]

    def evaluate(fn, runs, profile):
        try:
            return fn(runs, profile)
        except MissingArm as exc:
            return stats.Evidence(verdict=stats.UNTESTABLE, test="none", effect=None, effect_label="",
                                  ci=None, ci_level=0.95, p=None, n=(), alpha=profile.alpha,
                                  note=str(exc))

    def run(fn):
        from harness import epoch_check, multiplicity

        runs = runs_for(question) if question in ("Q4", "Q5", "Q6") else runs_for("Q4")
        seq = None
        if s.seed_design is not None:  # --seeds auto: stages until decided (harness/sequential.py)
            from harness import grids, sequential

            eng = request.getfixturevalue("engine")
            ev, runs, seq = sequential.judge_sequentially(
                lambda r, p: evaluate(fn, r, p), s.profile, s.seed_design, runs,
                grids.grid(question if question in ("Q4", "Q5", "Q6") else "Q4", s.profile,
                           s.dataset, s.seeds), eng.runs)
        else:
            ev = evaluate(fn, runs, s.profile)
        seed_ev = ev if s.source == "seed" else \
            evaluate(fn, seed_runs(), PROFILES["full"].replace(alpha=s.profile.alpha))
        # issue 9: the outcome is judged at the per-claim level of the declared multiplicity
        # rule (alpha/m, m = claims collected; harness/multiplicity.py says why)
        m = request.session.stash.get(N_CLAIMS, 1)
        outcome_alpha = multiplicity.per_claim_alpha(s.profile.multiplicity, s.profile.alpha, m)
        out_ev = ev if outcome_alpha == s.profile.alpha else \
            evaluate(fn, runs, s.profile.replace(alpha=outcome_alpha))
        heldout = epoch_check.rejudge(lambda r: evaluate(fn, r, s.profile), runs, ev)
        seed_levels = request.node.get_closest_marker("levels_from_seed_table")
        result = {
            "id": mark.kwargs["id"] + _param_suffix(request.node), "question": question,
            "sentence": mark.kwargs["sentence"], "nodeid": request.node.nodeid,
            "evidence": ev.to_dict(), "seed_evidence": seed_ev.to_dict(),
            "run_keys": sorted(set(runs["key"].dropna())) if "key" in runs else [],
            "smoke_unshowable": bool(request.node.get_closest_marker("not_at_smoke_scale"))
            and s.profile.smoke_scale,
            "profile": s.profile.name, "dataset": s.dataset if s.source == "fresh" else s.source,
            "multiplicity": s.profile.multiplicity, "claims_m": m, "outcome_alpha": outcome_alpha,
            "outcome_verdict": out_ev.verdict, "heldout": heldout,
            "levels_from_seed_table": (seed_levels.kwargs.get("reason", "") or "yes") if seed_levels else "",
        }
        if seq is not None:
            result["sequential"] = seq
            for name in ("stopped_at", "reason", "boundary", "seeds_per_arm", "runs_used"):
                request.node.user_properties.append((f"seq_{name}", json.dumps(seq[name])))
        request.node.user_properties.append((CLAIM_PROP, json.dumps(result, default=_json_default)))
        for name, value in (("verdict", ev.verdict), ("p", ev.p), ("effect", ev.effect),
                            ("ci", ev.ci), ("n", ev.n), ("test", ev.test),
                            ("seed_verdict", seed_ev.verdict)):
            request.node.user_properties.append((name, json.dumps(value, default=_json_default)))
        if out_ev.verdict == stats.SUPPORTED:
            return ev
        if out_ev.verdict == stats.UNTESTABLE:
            pytest.skip(f"untestable on this source: {ev.note}")
        level = "" if outcome_alpha == s.profile.alpha else \
            f" [outcome judged at alpha/m = {outcome_alpha:.4g}, {s.profile.multiplicity}, m={m}: {out_ev.verdict}]"
        pytest.fail(f"{mark.kwargs['sentence']} -> {ev.summary()}{level}", pytrace=False)

    return run


def _param_suffix(item) -> str:
    callspec = getattr(item, "callspec", None)
    return f"[{callspec.id}]" if callspec else ""


# json.dumps(..., default=_json_default): the suite's one JSON cleaner (numpy scalars, sets,
# dataclasses, paths; harness/formatting.py).
_json_default = jsonable


# -- evidence collection and the report (controller side) ---------------------------------------
def pytest_runtest_logreport(report):
    props = dict(report.user_properties) if report.user_properties else {}
    if CLAIM_PROP not in props or report.when != "call":
        return
    result = json.loads(props[CLAIM_PROP])
    result["outcome"] = _outcome(report)
    result["status_note"] = getattr(report, "wasxfail", "") or (
        str(report.longrepr[-1]) if report.skipped and isinstance(report.longrepr, tuple) else "")
    _RESULTS.append(result)


_RESULTS: list[dict] = []


def _outcome(report) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed and "XPASS(strict)" in str(report.longrepr):
        return "xpassed-strict"  # the statement was expected to fail and did not: a failure
    return report.outcome


def pytest_sessionstart(session):
    _RESULTS.clear()


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if "workerinput" in config.__dict__ or not _RESULTS:
        return
    s = config.stash[SETTINGS]
    from harness import multiplicity

    results = sorted(_RESULTS, key=lambda r: r["id"])
    rule = s.profile.multiplicity  # issue 9: the declared rule, not always BH
    evs = [r["evidence"] or {} for r in results]
    adjusted = multiplicity.adjust([e.get("p") for e in evs], rule)
    adjusted_ref = multiplicity.adjust([(e.get("details") or {}).get("p_refuted") for e in evs], rule)
    for r, e, p_adj, p_ref in zip(results, evs, adjusted, adjusted_ref):
        r["p_adjusted"] = p_adj
        r["verdict_adjusted"] = multiplicity.adjusted_verdict(e.get("verdict"), p_adj, p_ref,
                                                              s.profile.alpha)
    s.results = results
    try:  # faults: a report that cannot be written still says where the runs are, in one line
        _write_report(s, results)
    except (OSError, ValueError, RuntimeError) as exc:  # incl. RunsError, StoreError
        where = f"the run store {s.store_path}" if s.source == "fresh" else s.source
        why = (getattr(exc, "strerror", None) or str(exc)).splitlines()[0]
        sys.stderr.write(f"ERROR: the report could not be written to {s.reports_dir} ({why}); "
                         f"the runs are kept in {where}: rerun the same command with a writable "
                         f"--reports-dir to write it (nothing is retrained)\n")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


def _write_report(s: Settings, results: list[dict]) -> None:
    from harness import multiplicity, report, runs as runs_mod

    if s.source == "fresh":
        from harness.store import RunStore

        keys = sorted({k for r in results for k in r["run_keys"]})
        with RunStore(s.store_path) as store:
            runs = runs_mod.from_records(list(store.get_many(keys).values()))
    elif s.source == "seed":
        runs = runs_mod.seed_runs()
    else:
        runs = runs_mod.read_runs_csv(s.source)
    rule = s.profile.multiplicity
    m_claims = max(r.get("claims_m") or 1 for r in results)
    meta = {"profile": s.profile.name, "dataset": s.dataset if s.source == "fresh" else "(from source)",
            "device": s.device, "source": s.source, "alpha": s.profile.alpha,
            "seeds": f"auto {s.seed_design.stages}" if s.seed_design else s.seeds, "started": datetime.fromtimestamp(s.started, timezone.utc).isoformat(),
            "wall_s": round(time.time() - s.started, 1),
            "versions": versions(),  # without importing torch, which a source-only run never loads
            "store": str(s.store_path), "command": " ".join(sys.argv),
            "profile_settings": s.profile.to_dict(),
            "multiplicity": f"{rule}: controls the {multiplicity.CONTROLS[rule]} at alpha across the "
                            f"{m_claims} claims collected; each pytest outcome is judged at "
                            f"{multiplicity.per_claim_alpha(rule, s.profile.alpha, m_claims):.4g}"}
    if s.seed_design is not None:
        from harness.sequential import session_summary
        meta["sequential"] = session_summary(results, s.seed_design)
    s.report_dir = report.write_report(s.reports_dir, results, runs, runs_mod.seed_runs(), meta)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    s = config.stash.get(SETTINGS, None)
    if s is None or not s.results:
        return
    from harness import report

    tr = terminalreporter
    tr.section("claims")
    for line in report.claims_table(s.results).splitlines():
        tr.write_line(line)
    if s.report_dir is not None:  # None: the report could not be written (said in sessionfinish)
        tr.write_line(f"evidence report: {s.report_dir}/report.md, the same as one page: report.html  "
                      f"(latest: {s.reports_dir / 'latest'})")
