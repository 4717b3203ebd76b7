"""Progress of a training session, with an estimate of the time left (torch-free).

The engine hands a ``Tracker`` the configurations it is asked for (``plan``) and calls one
step hook per training step of the configuration it trains (``stepper(specs)``, from
``harness.train.executors``). The tracker shows

    [gw0] training: configurations 12/40, runs 60/200, elapsed 5m02s, about 7m30s left

where "left" is the plan's remaining work at the speed measured on this process's own steps:
each configuration weighs ``estimated_cost`` (steps x per-step work, ``harness.train.engine``), the
seconds per unit of it are measured from the steps trained so far, and with pytest-xdist the
other workers are taken to train as fast (the counts come from the shared run store, so every
worker shows the whole session). On a terminal the line updates in place; elsewhere (CI logs)
it is a plain line every ``PLAIN_EVERY_S`` seconds and after each configuration.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

__all__ = ["Tracker", "Display", "fmt_duration", "PLAIN_EVERY_S"]

#: a plain (non-terminal) progress line at most this often, besides one per configuration
PLAIN_EVERY_S = 30.0
#: an updating terminal line at most this often
TTY_EVERY_S = 0.5
#: the store is asked what is done (by any worker) at most this often
POLL_EVERY_S = 2.0
#: no estimate before this much of this process's own training was measured
MEASURE_MIN_S = 3.0


def fmt_duration(seconds: float) -> str:
    s = int(round(max(seconds, 0)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Display:
    """Where progress goes: one line rewritten in place on a terminal, plain lines elsewhere.
    ``write(text)`` writes exactly ``text`` (the plugin's writer suspends pytest's capture);
    ``prefix`` names the xdist worker."""

    def __init__(self, write: Callable[[str], None], tty: bool, prefix: str = "  "):
        self.write, self.tty, self.prefix = write, tty, prefix
        self.shown = False  # a status line is on screen (terminal only)

    def status(self, text: str) -> None:
        if self.tty:
            self.write(f"\r\033[K{self.prefix}{text}")
            self.shown = True
        else:
            self.write(f"{self.prefix}{text}\n")

    def line(self, text: str) -> None:
        """A line of its own (a finished run); on a terminal the status line is cleared first."""
        if self.shown:
            self.write("\r\033[K")
            self.shown = False
        self.write(f"{self.prefix}{text}\n")

    def close(self) -> None:
        if self.shown:
            self.write("\n")
            self.shown = False


@dataclass
class _Config:
    keys: tuple[str, ...]
    cost: float
    steps: int  # stacked training steps (all seeds at once)


class Tracker:
    """Counts and estimates for one process of a session (see the module doc)."""

    def __init__(self, display: Display, *, started: float, workers: int = 1,
                 done_keys: Callable[[list[str]], set[str]] | None = None,
                 clock: Callable[[], float] = time.time,
                 each_step: Callable[[], None] | None = None):
        self.display = display
        self.started = started          # the session's start (elapsed is from it)
        self.workers = max(1, workers)  # pytest-xdist workers training in parallel
        self.done_keys = done_keys      # keys stored so far, by any process
        self.clock = clock
        self.each_step = each_step      # called first in every step (a lost Ctrl-C raises there)
        self.configs: dict[tuple, _Config] = {}
        self.done: set[str] = set()
        self.own_cost = 0.0             # cost units this process trained (partial included)
        self.own_seconds = 0.0          # seconds this process spent training them
        self._partial: dict[tuple, float] = {}  # cost trained so far, per configuration
        self._planned_at: float | None = None    # the first plan (the fallback speed's start)
        self._done_at_plan: set[tuple] = set()   # configurations already stored when planned
        self._last_poll = self._last_show = -1e18

    # -- what the engine calls --------------------------------------------------------------
    def plan(self, groups: Iterable[tuple[tuple, list[str], float, int]], done: Iterable[str]) -> None:
        """The configurations asked for: (config key, run keys, cost, steps) each; ``done``:
        the keys already stored."""
        self.done |= set(done)
        for ck, keys, cost, steps in groups:
            old = self.configs.get(ck)
            if old is not None:  # --seeds auto: a later stage asks for more seeds of it
                merged = old.keys + tuple(k for k in keys if k not in old.keys)
                self.configs[ck] = _Config(merged, max(old.cost, float(cost)), old.steps)
                continue
            self.configs[ck] = _Config(tuple(keys), float(cost), int(steps))
            if all(k in self.done for k in keys):  # stored before: not this session's speed
                self._done_at_plan.add(ck)
        if self._planned_at is None:
            self._planned_at = self.clock()
        if any(k not in self.done for c in self.configs.values() for k in c.keys):
            self.show(force=True)  # something to train: say how much

    def stepper(self, config_key: tuple, steps: int | None = None) -> Callable[[], None]:
        """The step hook of one configuration (``steps``: its training steps, when known
        better than the plan's count): measures its steps, redraws when due."""
        cfg = self.configs.get(config_key)
        steps = steps or (cfg.steps if cfg else 0)
        per_step = cfg.cost / steps if cfg and steps else 0.0
        last = [self.clock()]

        def step() -> None:
            if self.each_step is not None:
                self.each_step()
            now = self.clock()
            self.own_seconds += now - last[0]
            self.own_cost += per_step
            self._partial[config_key] = self._partial.get(config_key, 0.0) + per_step
            last[0] = now
            self.show()

        return step

    def finished(self, keys: Iterable[str]) -> None:
        """Runs stored by this process; a plain line when that completes a configuration."""
        keys = set(keys)
        self.done |= keys
        completed = any(keys & set(c.keys) and all(k in self.done for k in c.keys)
                        for c in self.configs.values())
        self.show(force=completed)

    def close(self) -> None:
        self.display.close()

    # -- the numbers -------------------------------------------------------------------------
    @property
    def runs_total(self) -> int:
        return sum(len(c.keys) for c in self.configs.values())

    def counts(self) -> tuple[int, int, int]:
        """(configurations done, runs done, runs total)."""
        runs = sum(1 for c in self.configs.values() for k in c.keys if k in self.done)
        configs = sum(1 for c in self.configs.values() if all(k in self.done for k in c.keys))
        return configs, runs, self.runs_total

    def seconds_left(self) -> float | None:
        """The remaining cost at the measured speed, or None before enough was measured.
        Without steps of its own (``--executor ray`` trains elsewhere) the speed is that of
        the configurations finished since the plan was made."""
        pending = {ck: c for ck, c in self.configs.items() if not all(k in self.done for k in c.keys)}
        if self.own_seconds >= MEASURE_MIN_S and self.own_cost > 0:
            rate = self.own_cost / self.own_seconds * self.workers  # cost units per second
        else:
            finished = sum(c.cost for ck, c in self.configs.items()
                           if ck not in pending and ck not in self._done_at_plan)
            since = self.clock() - self._planned_at
            if finished <= 0 or since < MEASURE_MIN_S:
                return None
            rate = finished / since
        left = sum(max(c.cost - self._partial.get(ck, 0.0), 0.0)  # in flight: what is left of it
                   for ck, c in pending.items())
        return left / rate

    def text(self) -> str:
        configs, runs, total = self.counts()
        elapsed = self.clock() - self.started
        left = self.seconds_left()
        eta = f"about {fmt_duration(left)} left" if left is not None else "measuring speed"
        return (f"training: configurations {configs}/{len(self.configs)}, runs {runs}/{total}, "
                f"elapsed {fmt_duration(elapsed)}, {eta}")

    def show(self, force: bool = False) -> None:
        now = self.clock()
        every = TTY_EVERY_S if self.display.tty else PLAIN_EVERY_S
        if not force and now - self._last_show < every:
            return
        if self.done_keys is not None and now - self._last_poll >= POLL_EVERY_S:
            self._last_poll = now
            self.done |= self.done_keys([k for c in self.configs.values() for k in c.keys
                                         if k not in self.done])
        self._last_show = now
        self.display.status(self.text())


def xdist_workers() -> int:
    """How many pytest-xdist workers train side by side (1 without xdist)."""
    try:
        return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        return 1


def is_tty(stream: TextIO = sys.stderr) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
