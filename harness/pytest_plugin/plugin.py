"""The pytest plugin: options, markers, hooks and fixtures, nothing else.

The session's settings and state live in ``harness/pytest_plugin/session.py`` (one ``ClaimsSession`` in
``config.stash``), judging a claim in ``harness/pytest_plugin/judging.py``, the report in
``harness/report``. Claim tests see three fixtures: ``profile`` (the frozen Profile),
``runs_for(question)`` (the runs table of a question, from fresh training, the store, the
paper's numbers or an exported CSV) and ``judge`` (evaluates a claim on the runs, records the
evidence, asserts the verdict).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.declare.profiles import PROFILES, Profile
from harness.declare.questions import SECTIONS, runs_of
from harness.pytest_plugin.session import (DEFAULT_MAX_HOURS, DEFAULT_REPORTS, DEFAULT_STORE, REPO,
                                           ClaimsSession, Settings, SettingsError, StopSignals, check_paths,
                                           read_baseline, settings_from)
from harness.train import threads

# Before torch is imported anywhere in this process (and in xdist workers, which inherit the
# environment): OpenMP threads that wait must sleep, not spin (harness/train/threads.py).
threads.quiet_waiting()

CLAIM_PROP = "claim_result"
CLAIM_MARK_PROP = "claim_mark"
SESSION = pytest.StashKey[ClaimsSession]()
SIGNALS = pytest.StashKey[StopSignals]()


def pytest_addoption(parser):
    g = parser.getgroup("claims", "checking the paper's claims")
    g.addoption("--profile", default=None,
                help=f"size profile: {', '.join(PROFILES)} or a .toml file of profile keys "
                     f"(default smoke; with --source, the source's)")
    g.addoption("--set", action="append", default=[], metavar="KEY=VALUE", dest="profile_set",
                help="override one profile key, e.g. --set width=16 --set Q4.depth=[1,2,4] (a question's size: <question>.<size>; repeatable)")
    g.addoption("--dataset", default=None,
                help="dataset: digits, fashion-mnist-subset, fashion-mnist, cifar10 (default: the profile's)")
    # --seeds auto / --max-seeds: group-sequential seeds (harness/statistics/sequential.py)
    g.addoption("--seeds", default=None,
                help="seeds per configuration (default: the profile's), or 'auto': add seeds in the "
                     "profile's seed_stages until each claim is decided")
    g.addoption("--max-seeds", default=None, help="with --seeds auto: cap the last stage at N seeds")
    g.addoption("--device", default="auto", help="auto, cpu or cuda (default auto)")
    g.addoption("--data-root", default=None, help="folder holding (or receiving) the datasets")
    g.addoption("--download", action="store_true", help="download a missing dataset into --data-root")
    g.addoption("--store", default=None, help=f"run store path (default {DEFAULT_STORE} in the project's rootdir)")
    g.addoption("--fresh", action="store_true", help="retrain every run instead of reusing the store")
    g.addoption("--max-hours", type=float, default=DEFAULT_MAX_HOURS,
                help=f"refuse, before training, a session estimated to need more CPU-hours than "
                     f"this (default {DEFAULT_MAX_HOURS:g}; the cpu profile is about 1)")
    g.addoption("--steal-leases", action="store_true",
                help="take over runs another process has leased (a session on another host "
                     "that was killed: its leases are otherwise trusted for 6 h)")
    g.addoption("--alpha", type=float, default=None, help="significance level (default: the profile's, 0.05)")
    g.addoption("--source", default="fresh",
                help="where runs come from: fresh (train/store), paper (the paper's published numbers; "
                     "'seed', its older name, is accepted), "
                     "or PATH to a runs.csv exported by a report")
    g.addoption("--calibrate", action="store_true",
                help="A/A self-calibration instead of the claims: split each configuration's "
                     "stored seeds (--source runs.csv) into two fake arms, judge every family, "
                     "print the empirical supported/refuted rates against alpha "
                     "(harness/statistics/aa_calibration.py)")
    g.addoption("--reports-dir", default=None,
                help=f"where evidence reports go (default {DEFAULT_REPORTS}/ in the project's rootdir)")
    # History (harness/report/compare.py): verdicts and effects against an earlier report.
    g.addoption("--compare", default=None, metavar="BASELINE",
                help="after the claims table, list the claims whose verdict changed or whose effect "
                     "left its CI against BASELINE: a report.json, a report folder, or 'last' (the "
                     "previous report in --reports-dir)")
    g.addoption("--compare-fail", default=None, metavar="WHAT",
                help="with --compare: fail the session (exit status 6) on 'verdict' (a changed "
                     "verdict), 'effect' (an effect outside the baseline's CI) or 'effect:X' (an "
                     "effect that moved by more than X); comma-separated")
    # Past one machine (harness/train/executors.py): each configuration as one task on a Ray cluster.
    g.addoption("--plan", default="auto",
                help="how each configuration's seeds are computed (harness/train/plan.py): auto (the "
                     "measured table), eager-stacked (the engine before plans), or e.g. "
                     "per-seed+channels_last, stacked+compile")
    g.addoption("--executor", default="local", help="where configurations train: local (this "
                "process, default) or ray (a Ray cluster; pip install -e '.[ray]')")
    g.addoption("--ray-address", default=None,
                help="Ray cluster to join (default: Ray's own choice: RAY_ADDRESS, a running "
                     "local cluster, else a new local one)")
    g.addoption("--ray-gpus-per-task", type=float, default=1.0,
                help="GPUs per configuration with --executor ray on cuda, in (0, 1] (default 1)")
    g.addoption("--ray-cpus-per-task", type=float, default=1.0,
                help="CPUs per configuration with --executor ray (default 1; also its torch threads)")


def _is_worker(config) -> bool:
    return "workerinput" in getattr(config, "__dict__", {})


def _claims_in_scope(config) -> bool:
    """Will this invocation run claim tests? (Decides whether the dataset must be present.)"""
    claims_dir = (REPO / "claims").resolve()
    args = [a.split("::")[0] for a in config.args] or ["."]
    for a in args:
        p = (Path(config.invocation_params.dir) / a).resolve()
        if p == claims_dir or claims_dir in p.parents or p in claims_dir.parents:
            return True
    return False


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id, question, sentence): a finding of the paper judged by this test")
    config.addinivalue_line("markers", "not_at_smoke_scale(reason): the smoke profile cannot show this "
                            "claim; there it runs as a non-strict xfail and is never reported as verified")
    config.addinivalue_line("markers", "refuted_by_paper(reason): the paper's own table refutes this "
                            "statement; judged on that table or at smoke scale it is a strict xfail, on "
                            "an evidence profile (cpu, full) its verdict stands as measured")
    # issue 9: the report marks verdicts on the paper's table whose levels were argmaxes of it
    config.addinivalue_line("markers", "levels_from_paper_table(reason): the claim's levels were chosen "
                            "from the paper's own table (biased when judged on that table)")
    try:
        settings = settings_from(config.getoption, project=config.rootpath)
    except SettingsError as exc:
        raise pytest.UsageError(*exc.problems) from None
    if _is_worker(config):
        settings.started = config.workerinput["claims_started"]
    session = ClaimsSession(settings)
    config.stash[SESSION] = session
    config.stash[SIGNALS] = StopSignals()
    config.stash[SIGNALS].install()
    if config.getoption("--compare-fail") and not config.getoption("--compare"):
        raise pytest.UsageError("--compare-fail needs --compare BASELINE (a report.json, a report "
                                "folder or 'last')")
    if config.getoption("--compare") and not _is_worker(config):
        try:
            session.baseline, session.gate = read_baseline(
                config.getoption("--compare"), config.getoption("--compare-fail"), settings)
        except SettingsError as exc:
            raise pytest.UsageError(*exc.problems) from None
        session.gate_spec = config.getoption("--compare-fail")
    config.pluginmanager.register(_Collector(session), "claims-results")
    _start_executor(config, session, join=False)  # option checks, before anything is written
    if settings.source == "fresh":
        threads.pin_worker_resources(settings)
    if settings.seed_design is not None and not _is_worker(config):
        config.pluginmanager.register(_JunitSequentialSummary(session), "claims-sequential")
    if _claims_in_scope(config) and not _is_worker(config):
        try:
            check_paths(settings)
        except SettingsError as exc:
            raise pytest.UsageError(*exc.problems) from None
        if settings.source == "fresh":
            _start_executor(config, session, join=True)


def _start_executor(config, session: ClaimsSession, *, join: bool) -> None:
    """--executor ray: check its options (Ray installed, no -n, task sizes) before anything
    is written; with ``join`` (a fresh run of claims, after the dataset and store checks)
    join the cluster now (reachable, enough GPUs/CPUs): the claims train on its device."""
    from harness.train import executors
    from harness.train.plan import parse as parse_plan

    opt, settings = config.getoption, session.settings
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
            session.executor = executors.RayExecutor(
                device=settings.device, address=opt("--ray-address"),
                gpus_per_task=opt("--ray-gpus-per-task"), cpus_per_task=opt("--ray-cpus-per-task"),
                data_root=settings.data_root, download=settings.download,
                plan=parse_plan(settings.plan))
        elif not config.option.collectonly and not _is_worker(config):
            settings.device = session.executor.connect().device
    except executors.ExecutorError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config):
    stop = config.stash.get(SIGNALS, None)
    if stop is not None:
        stop.uninstall()
    session = config.stash.get(SESSION, None)
    if session is not None and session.executor is not None:
        session.executor.close()  # cancels what is in flight; leaves (or stops) the Ray cluster


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller -> worker: one session start time, so --fresh means the same thing."""
    node.workerinput["claims_started"] = node.config.stash[SESSION].settings.started


def pytest_report_header(config):
    return config.stash[SESSION].header()


def calibrate(config, items) -> None:
    """The ``--calibrate`` session (the A/A table of harness/statistics/aa_calibration.py): no claim runs;
    the table is printed and the session exits 0 when every family is inside its band, 1
    otherwise."""
    from harness.runstore import runs as runs_mod
    from harness.statistics import aa_calibration

    s = config.stash[SESSION].settings
    if s.source in ("fresh", "paper"):
        raise pytest.UsageError("--calibrate needs stored runs: add --source path/to/runs.csv")
    df = runs_mod.read_runs_csv(s.source)
    rows = aa_calibration.aa_table(df, s.profile.alpha, s.profile.q6_mlp_order_margin)
    text = aa_calibration.render(rows, s.profile.alpha, s.source)
    config.pluginmanager.get_plugin("terminalreporter").write_line("\n" + text + "\n")
    config.hook.pytest_deselected(items=list(items))
    items[:] = []
    bad = [r.family for r in rows if not r.inside]
    pytest.exit(f"A/A calibration: outside the band: {', '.join(bad)}" if bad
                else "A/A calibration: every family inside its band", returncode=1 if bad else 0)


def pytest_collection_modifyitems(config, items):
    if config.getoption("calibrate"):
        calibrate(config, items)  # prints the A/A table and exits
    s = config.stash[SESSION].settings
    for item in items:
        refuted = item.get_closest_marker("refuted_by_paper")
        if refuted and (s.source == "paper" or s.profile.smoke_scale):
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


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    state = session.config.stash[SESSION]
    marks = [it.get_closest_marker("claim") for it in session.items]
    marks = [m for m in marks if m is not None]
    state.questions = {runs_of(m.kwargs["question"]) for m in marks
                       if m.kwargs.get("question") in SECTIONS}
    # issue 27: every collected claim reaches the table and the report, judged or not
    state.collected = {it.nodeid: _claim_fields(it) for it in session.items
                       if it.get_closest_marker("claim") is not None}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """xdist: the controller collects nothing itself; it learns the claims' node ids."""
    state = node.config.stash[SESSION]
    for nodeid in ids:
        if nodeid.startswith("claims/"):
            state.collected.setdefault(nodeid, {"id": nodeid.split("::")[-1], "nodeid": nodeid})


def _claim_fields(item) -> dict:
    """What a claim declares, for a result record of a claim that was never judged."""
    mark = item.get_closest_marker("claim")
    return {"id": _claim_id(item, mark),
            "question": mark.kwargs.get("question"), "sentence": mark.kwargs.get("sentence", ""),
            "nodeid": item.nodeid}


def pytest_runtest_setup(item):
    """A claim's declaration travels with each of its reports (from an xdist worker too), so
    a claim that errors before it is judged is still named in the table and the report.
    A signal whose exception was lost (StopSignals.raise_if_lost) stops before the next test."""
    item.config.stash[SIGNALS].raise_if_lost()
    if item.get_closest_marker("claim") is not None:
        item.user_properties.append((CLAIM_MARK_PROP, json.dumps(_claim_fields(item))))


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def claims_settings(pytestconfig) -> Settings:
    return pytestconfig.stash[SESSION].settings


@pytest.fixture(scope="session")
def profile(claims_settings) -> Profile:
    return claims_settings.profile


def _stderr_writer(config):
    """Writes to the real stderr, live. pytest captures fd 2 while a test runs (and xdist
    workers inherit the controller's stderr), so each write suspends capture for its duration
    instead of landing in a test's captured output."""
    capman = config.pluginmanager.getplugin("capturemanager")

    def write(text: str) -> None:
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            sys.stderr.write(text)
            sys.stderr.flush()

    return write


@pytest.fixture(scope="session")
def engine(pytestconfig, claims_settings):
    from harness.pytest_plugin import progress
    from harness.runstore.store import RunStore
    from harness.train.engine import Engine

    s = claims_settings
    store = RunStore(s.store_path)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    # one line per finished run; the training status (counts, elapsed, time left) between them
    display = progress.Display(_stderr_writer(pytestconfig), tty=progress.is_tty(sys.stderr),
                               prefix=f"[{worker}] " if worker else "  ")
    fresh_since = s.started if s.fresh else None

    def stored(keys: list[str]) -> set[str]:  # by any worker (and, with --fresh, this session)
        return {k for k, r in store.get_many(keys).items()
                if fresh_since is None or r.get("stored_at", 0) >= fresh_since}

    tracker = progress.Tracker(display, started=s.started, workers=progress.xdist_workers(),
                               done_keys=stored, each_step=pytestconfig.stash[SIGNALS].raise_if_lost)
    eng = Engine(store, device=s.device, data_root=s.data_root, download=s.download,
                 fresh_since=fresh_since, progress=display.line,
                 epoch_progress=display.line if pytestconfig.option.verbose > 0 else None,
                 executor=pytestconfig.stash[SESSION].executor, tracker=tracker, plan=s.plan,
                 steal_leases=pytestconfig.getoption("--steal-leases"))
    yield eng
    tracker.close()
    store.close()


@pytest.fixture(scope="session")
def runs_for(request, claims_settings):
    """question -> runs DataFrame for this session's source. Fresh runs are trained (or read
    from the store) on first use; the first call trains every question this session needs,
    biggest configurations first, so parallel workers share the whole grid."""
    from harness.runstore import runs as runs_mod

    s = claims_settings
    cache: dict[str, object] = {}

    def get(question: str):
        if question in cache:
            return cache[question]
        if s.source == "paper":
            cache[question] = runs_mod.published_runs()
        elif s.source != "fresh" and s.seed_design is not None:
            # --seeds auto replayed from a session's runs.csv (harness/runstore/replay.py): the first
            # stage's seeds of this question's grid; later stages come from get.replay
            from harness.declare import grids

            cache[question] = get.replay(grids.grid(question, s.profile, s.dataset, s.seeds),
                                         none_is_empty=True)
        elif s.source != "fresh":
            cache[question] = runs_mod.read_runs_csv(s.source)
        else:
            from harness.declare import grids  # the engine imports torch: only a fresh source needs it
            from harness.train.executors import TrainingFailed

            eng = request.getfixturevalue("engine")
            needed = request.config.stash[SESSION].questions | {question}
            specs = {q: grids.grid(q, s.profile, s.dataset, s.seeds) for q in sorted(needed)}
            from harness.runstore.store import StoreError
            from harness.runstore.validate import RunsError

            every = [sp for q in specs for sp in specs[q]]
            failed = None
            try:
                todo = eng.missing(every)  # what the store lacks: priced, then trained
                check_cost(request.config, eng, todo, s)
                suggest_workers(request.config, eng, len(todo))
                try:
                    eng.ensure(every)
                except TrainingFailed as exc:  # (Ray) past its retries: fail the questions it hits
                    failed = exc
                for q, q_specs in specs.items():
                    hit = failed is not None and any(sp.key() in failed.keys for sp in q_specs)
                    cache[q] = failed if hit else eng.runs(q_specs)
            except (StoreError, RunsError) as exc:
                # the store broke mid-session (start-up checks passed): one line, the session
                # ends; the claims not judged are listed as not run
                stop_session(request.config, f"ERROR: {exc}")
        if isinstance(cache[question], Exception):
            pytest.fail(str(cache[question]), pytrace=False)
        return cache[question]

    def replay(specs, none_is_empty: bool = False):
        """The runs of ``specs`` from the CSV source (a --seeds auto replay)."""
        from harness.runstore import replay as replay_mod

        if "__csv__" not in cache:
            cache["__csv__"] = runs_mod.read_runs_csv(s.source)
        try:
            return replay_mod.runs_of(cache["__csv__"], specs, f"--source {s.source}", none_is_empty)
        except ValueError as exc:
            pytest.fail(str(exc), pytrace=False)

    get.replay = replay
    return get


def _claim_id(item, mark) -> str:
    callspec = getattr(item, "callspec", None)
    return mark.kwargs.get("id", item.name) + (f"[{callspec.id}]" if callspec else "")


def stop_session(config, line: str) -> None:
    """End the session now with one ``ERROR:`` line on the real stderr and exit code 4 (the
    claims not yet judged are listed as not run)."""
    _stderr_writer(config)(line + "\n")
    pytest.exit("stopped by the ERROR above", returncode=pytest.ExitCode.USAGE_ERROR)


def check_cost(config, eng, todo, s: Settings) -> None:
    """--max-hours: what the store lacks, estimated before any training (issue 27: a session
    of q5_epochs=1000000000 just started). On CPU only: no GPU rate has been measured."""
    from harness.train.engine import estimated_hours

    if eng.device.type != "cpu":
        return
    hours = estimated_hours(todo, eng.plan)
    if hours > s.max_hours:
        stop_session(config, f"ERROR: this session would train {len(todo)} runs, about {hours:.3g} "
                             f"CPU-hours (at the rate of the committed CPU sessions), beyond --max-hours "
                             f"{s.max_hours:g}; pass --max-hours {math.ceil(hours * 1.5)} to train "
                             f"them, or use a smaller profile")


def suggest_workers(config, eng, to_train: int) -> None:
    """A one-process CPU session that trains here on several threads: one line saying that
    ``-n N`` is faster (harness.train.threads.one_process_hint)."""
    from harness.pytest_plugin.progress import xdist_workers
    from harness.train.executors import LocalExecutor
    from harness.train.threads import one_process_hint

    if eng.device.type != "cpu" or not isinstance(eng.executor, LocalExecutor):
        return
    import torch

    line = one_process_hint(torch.get_num_threads(), xdist_workers(), to_train)
    if line:
        _stderr_writer(config)(line + "\n")


def _claim_mark(item, settings: Settings):
    from harness.pytest_plugin.judging import ClaimMark

    mark = item.get_closest_marker("claim")
    if mark is None:
        raise pytest.UsageError(f"{item.nodeid}: a claim test needs @pytest.mark.claim(...)")
    from_paper = item.get_closest_marker("levels_from_paper_table")
    return ClaimMark(
        id=_claim_id(item, mark),
        question=mark.kwargs["question"], sentence=mark.kwargs["sentence"], nodeid=item.nodeid,
        smoke_unshowable=bool(item.get_closest_marker("not_at_smoke_scale")) and settings.profile.smoke_scale,
        levels_from_paper=(from_paper.kwargs.get("reason", "") or "yes") if from_paper else "")


@pytest.fixture
def judge(request, claims_settings, runs_for):
    """judge(fn): fn(runs, profile) -> Evidence. Evaluates the claim on this session's runs
    (and, for the report, on the paper's published numbers), records both, then asserts:
    supported passes; refuted and inconclusive fail with the evidence; untestable skips."""
    from harness.pytest_plugin import judging
    from harness.statistics import stats

    s = claims_settings
    claim = _claim_mark(request.node, s)
    family = request.config.stash[SESSION].family_of(claim.question)  # the rule's m claims

    def run(fn):
        grow = None if s.seed_design is None else \
            request.getfixturevalue("engine").runs if s.source == "fresh" else runs_for.replay
        j = judging.judge_claim(fn, claim, s, runs_for, family, grow)
        result, ev = j.result, j.evidence
        props = request.node.user_properties
        for name in ("stopped_at", "reason", "boundary", "seeds_per_arm", "runs_used") \
                if "sequential" in result else ():
            props.append((f"seq_{name}", to_json(result["sequential"][name])))
        props.append((CLAIM_PROP, to_json(result)))
        for name, value in (("verdict", ev.verdict), ("p", ev.p), ("effect", ev.effect),
                            ("ci", ev.ci), ("n", ev.n), ("test", ev.test),
                            ("paper_verdict", result["paper_evidence"]["verdict"])):
            props.append((name, to_json(value)))
        if j.outcome_verdict == stats.SUPPORTED:
            return ev
        if j.outcome_verdict == stats.UNTESTABLE:
            pytest.skip(f"untestable on this source: {ev.note}")
        pytest.fail(judging.failure_message(claim, j, s, result["claims_m"]), pytrace=False)

    return run


def to_json(value) -> str:
    """A JUnit property's value: JSON through the suite's one cleaner (harness/statistics/formatting.py)."""
    from harness.statistics.formatting import jsonable

    return json.dumps(value, default=jsonable)


# -- evidence collection and the report (controller side) ---------------------------------------
def _outcome(report) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed and "XPASS(strict)" in str(report.longrepr):
        return "xpassed-strict"  # the statement was expected to fail and did not: a failure
    return report.outcome


class _Collector:
    """Receives each claim's result as its test report arrives (on the controller, every
    xdist worker's too) into this session's ClaimsSession: a plugin object bound to one
    session, so no module holds results."""

    def __init__(self, state: ClaimsSession):
        self.state = state

    def pytest_sessionstart(self, session):
        self.state.results.clear()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config, items):
        """Before ``-k``/``-m`` deselect anything: each body of claims' multiplicity family is
        every claim of it declared in the claim files collected from (harness/statistics/multiplicity.py),
        not what runs."""
        from harness.declare.questions import body_of
        from harness.statistics import multiplicity

        claims = [(it, it.get_closest_marker("claim")) for it in items]
        claims = [(it, m) for it, m in claims if m is not None and "id" in m.kwargs]
        folders = {Path(it.path).parent for it, _ in claims}
        files = [f for d in folders for f in d.glob("*.py") if f.name.startswith("test_")]

        def body(section):
            try:
                return body_of(section)
            except ValueError:  # an unknown question: the claim's own test says so
                return ""

        declared = {c: body(q) for c, q in multiplicity.declared_claims(files).items()}
        collected = {_claim_id(it, m): body(m.kwargs.get("question")) for it, m in claims}
        self.state.families = multiplicity.families(declared, collected)

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties) if report.user_properties else {}
        if CLAIM_PROP in props and report.when == "call":
            result = json.loads(props[CLAIM_PROP])
            result["outcome"] = _outcome(report)
            result["status_note"] = getattr(report, "wasxfail", "") or (
                str(report.longrepr[-1]) if report.skipped and isinstance(report.longrepr, tuple) else "")
            self.state.results.append(result)
        elif (report.failed or report.skipped and report.when == "setup") and CLAIM_PROP not in props and (
                CLAIM_MARK_PROP in props or report.nodeid in self.state.collected) \
                and report.nodeid not in {r["nodeid"] for r in self.state.results}:
            # failed before it was judged (a store error, a killed worker, a code error)
            fields = json.loads(props[CLAIM_MARK_PROP]) if CLAIM_MARK_PROP in props \
                else self.state.collected[report.nodeid]
            outcome = "skipped" if report.skipped else "error" if report.when != "call" else "failed"
            self.state.results.append(unjudged(fields, outcome, _error_line(report)))


def _error_line(report) -> str:
    """The error of a failed report in one line: its message's last line (for a traceback,
    the exception: `E   ValueError: ...`), else xdist's crash text."""
    if report.skipped and isinstance(report.longrepr, tuple):  # (file, line, "Skipped: why")
        return str(report.longrepr[-1])
    text = str(report.longrepr or "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E ")]
    line = (errors[-1][1:].strip() if errors else lines[-1] if lines else "failed")
    return line[:300]


def unjudged(fields: dict, outcome: str, error: str) -> dict:
    """The result record of a claim with no verdict: its table row and report line show
    the error instead of vanishing (issue 27)."""
    return {"id": fields.get("id"), "question": fields.get("question"),
            "sentence": fields.get("sentence", ""), "nodeid": fields.get("nodeid"),
            "evidence": None, "paper_evidence": None, "run_keys": [], "outcome": outcome,
            "status_note": error, "error": error}


class _JunitSequentialSummary:
    """--seeds auto: the session's sequential summary (harness/statistics/sequential.py) as JUnit XML
    testsuite properties (runs before junitxml writes its file, hence tryfirst)."""

    def __init__(self, state: ClaimsSession):
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        from _pytest.junitxml import xml_key

        from harness.statistics.sequential import SPENDING_NAMES, session_summary

        xml = session.config.stash.get(xml_key, None)
        design = self.state.outcome_design()
        summary = session_summary(self.state.results, design)
        if xml is None or summary is None:
            return
        xml.add_global_property("seq_runs_used", str(summary["runs_used"]))
        xml.add_global_property("seq_fixed_last_stage_runs", str(summary["fixed_last_stage_runs"]))
        xml.add_global_property("seq_stages", ",".join(map(str, design.stages)))
        xml.add_global_property("seq_spending", SPENDING_NAMES[design.spending])
        xml.add_global_property("seq_design_alpha", f"{design.alpha:.6g}")


def pytest_sessionfinish(session, exitstatus):
    state = session.config.stash[SESSION]
    if _is_worker(session.config):
        return
    judged = {r["nodeid"] for r in state.results}
    for nodeid, fields in state.collected.items() if not session.config.option.collectonly else ():
        if nodeid not in judged:  # the session stopped (an interrupt, a store error) first
            state.results.append(unjudged(fields, "not run", "not run: the session stopped before it"))
    if not state.results:
        return
    state.finish()
    state.compare()
    s = state.settings
    try:  # faults: a report that cannot be written still says where the runs are, in one line
        state.write_report()
    except (OSError, ValueError, RuntimeError) as exc:  # incl. RunsError, StoreError
        where = f"the run store {s.store_path}" if s.source == "fresh" else s.source
        why = (getattr(exc, "strerror", None) or str(exc)).splitlines()[0]
        sys.stderr.write(f"ERROR: the report could not be written to {s.reports_dir} ({why}); "
                         f"the runs are kept in {where}: rerun the same command with a writable "
                         f"--reports-dir to write it (nothing is retrained)\n")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    if state.gate_failures and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        from harness.report.compare import COMPARE_FAILED_EXIT

        session.exitstatus = COMPARE_FAILED_EXIT  # the gate's own status, apart from failed claims
    nothing_judged(session, state)


def nothing_judged(session, state: ClaimsSession) -> None:
    """A session in which no claim got a verdict is not a pass (issue 27: a source where
    nothing could be judged exited 0): one line with the first reason, exit code 4."""
    from harness.statistics import stats

    judged = [r for r in state.results
              if ((r.get("evidence") or {}).get("verdict") or stats.UNTESTABLE) != stats.UNTESTABLE]
    if judged or session.exitstatus != pytest.ExitCode.OK:  # a failure already says so
        return
    reasons = Counter((r.get("evidence") or {}).get("note") or r.get("error") or "no verdict"
                      for r in state.results)
    why, count = reasons.most_common(1)[0]
    sys.stderr.write(f"ERROR: no claim could be judged: all {len(state.results)} are untestable or "
                     f"errored ({count} of them: {why}); fix the source or the configuration, "
                     f"then rerun\n")
    session.exitstatus = pytest.ExitCode.USAGE_ERROR


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash.get(SESSION, None)
    if state is None:
        return
    tr = terminalreporter
    for note in state.settings.source_notes:  # e.g. runs without a metric (issue 27)
        tr.write_line(note)
    if not state.results:
        return
    from harness import report

    tr.section("claims")
    for line in report.claims_table(state.results).splitlines():
        tr.write_line(line)
    for r in state.results:
        if r.get("error"):
            tr.write_line(f"{r['id']}: {r['error']}")
    if state.comparison is not None:
        tr.section("claims compared")
        for line in state.comparison.lines():
            tr.write_line(line)
        if state.gate is not None:
            from harness.report.compare import COMPARE_FAILED_EXIT

            failed = ", ".join(c.id for c in state.gate_failures)
            tr.write_line(f"--compare-fail {state.gate_spec}: " + (
                f"FAILED on {failed} (exit status {COMPARE_FAILED_EXIT})" if failed else "passed"),
                red=bool(failed), green=not failed)
    if state.report_dir is not None:  # None: the report could not be written (said in sessionfinish)
        tr.write_line(f"evidence report: {state.report_dir}/report.md, the same as one page: report.html  "
                      f"(latest: {state.settings.reports_dir / 'latest'})")
