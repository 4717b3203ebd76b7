"""Progress with an estimate of the time left (harness/pytest_plugin/progress.py), on a fake clock."""
import pytest

from harness.pytest_plugin.progress import MEASURE_MIN_S, PLAIN_EVERY_S, Display, Tracker, fmt_duration


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _tracker(tty=False, workers=1, stored=None):
    out: list[str] = []
    clock = Clock()
    tr = Tracker(Display(out.append, tty=tty, prefix="[gw0] "), started=clock.t, workers=workers,
                 done_keys=stored, clock=clock)
    # two configurations of equal cost: 100 steps each, 2 runs each
    tr.plan([("a", ["a0", "a1"], 10.0, 100), ("b", ["b0", "b1"], 10.0, 100)], done=[])
    return tr, clock, out


def _train(tr, clock, config, steps, seconds_per_step, steps_total=None):
    step = tr.stepper(config, steps=steps_total)
    for _ in range(steps):
        clock.t += seconds_per_step
        step()


def test_time_left_is_the_remaining_work_at_the_measured_speed():
    tr, clock, out = _tracker()
    assert "configurations 0/2, runs 0/4, elapsed 0s, measuring speed" in out[-1]
    _train(tr, clock, "a", 50, 0.1)  # half of a in 5 s: the whole plan takes 20 s
    assert tr.seconds_left() == pytest.approx(15.0)
    _train(tr, clock, "a", 50, 0.1)
    tr.finished(["a0", "a1"])
    assert tr.seconds_left() == pytest.approx(10.0)
    assert "configurations 1/2, runs 2/4, elapsed 10s, about 10s left" in out[-1]


def test_no_estimate_before_enough_was_measured():
    tr, clock, _ = _tracker()
    _train(tr, clock, "a", 2, MEASURE_MIN_S / 4)
    assert tr.seconds_left() is None and "measuring speed" in tr.text()


def test_xdist_workers_share_the_work_and_the_store_says_what_others_finished():
    stored = set()
    tr, clock, _ = _tracker(workers=2, stored=lambda keys: {k for k in keys if k in stored})
    _train(tr, clock, "a", 50, 0.1)  # 5 s for half of a: alone 15 s left, with two workers 7.5
    assert tr.seconds_left() == pytest.approx(7.5)
    stored |= {"b0", "b1"}  # the other worker finished b
    clock.t += 60
    tr.show()
    assert tr.counts() == (1, 2, 4)
    assert tr.seconds_left() == pytest.approx(2.5)  # what is left of a, at twice this speed


def test_plain_lines_are_rate_limited_and_one_per_configuration():
    tr, clock, out = _tracker(tty=False)
    n = len(out)
    _train(tr, clock, "a", 100, 0.01)  # 1 s of steps: under PLAIN_EVERY_S, no line
    assert len(out) == n
    tr.finished(["a0"])
    assert len(out) == n  # a configuration is not done with one of its runs
    tr.finished(["a1"])
    assert len(out) == n + 1 and out[-1].endswith("\n") and "\r" not in out[-1]
    clock.t += PLAIN_EVERY_S
    tr.stepper("b")()
    assert len(out) == n + 2


def test_on_a_terminal_the_status_line_is_rewritten_and_cleared_for_other_lines():
    tr, clock, out = _tracker(tty=True)
    assert out[-1].startswith("\r\033[K[gw0] training:") and not out[-1].endswith("\n")
    tr.display.line("trained a seed 0")
    assert out[-2:] == ["\r\033[K", "[gw0] trained a seed 0\n"]
    tr.close()
    assert out[-1] == "[gw0] trained a seed 0\n"  # nothing to end: no status line on screen
    clock.t += 1
    tr.stepper("a")()
    assert out[-1].startswith("\r\033[K[gw0] training:")
    tr.close()
    assert out[-1] == "\n"  # the status line is ended, the terminal is left on a new line


def test_without_steps_of_its_own_the_speed_is_that_of_finished_configurations():
    """--executor ray: the steps run on the cluster; the configurations coming back count."""
    tr, clock, _ = _tracker()
    clock.t += 10
    assert tr.seconds_left() is None  # nothing finished yet
    tr.finished(["a0", "a1"])  # one of two equal configurations in 10 s
    assert tr.seconds_left() == pytest.approx(10.0)


def test_a_later_stage_of_seeds_adds_its_runs_to_the_same_configuration():
    tr, clock, _ = _tracker()
    tr.plan([("a", ["a0", "a1", "a2", "a3"], 20.0, 100)], done=[])
    assert tr.counts() == (0, 0, 6) and len(tr.configs) == 2
    assert tr.configs["a"].cost == 20.0


@pytest.mark.parametrize("s, want", [(0, "0s"), (59.6, "1m00s"), (61, "1m01s"), (3725, "1h02m")])
def test_fmt_duration(s, want):
    assert fmt_duration(s) == want
