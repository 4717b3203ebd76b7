"""How close the progress line's time left was: read a session's stderr (the plain progress
lines of harness/pytest_plugin/progress.py, e.g. `pytest claims -n 2 ... 2> log` or a CI log) and print,
for the line nearest half-way through training, the time left it showed against the time
that was really left (training ends at the first line with every configuration done), and
when the first estimate appeared.

    python3 benchmarks/eta_accuracy.py LOG
"""
from __future__ import annotations

import re
import sys

LINE = re.compile(r"training: configurations (\d+)/(\d+), runs (\d+)/(\d+), elapsed (\S+), "
                  r"(?:about (\S+) left|measuring speed)")


def seconds(text: str) -> float:
    """``1h02m``, ``3m07s`` or ``42s`` in seconds (harness.pytest_plugin.progress.fmt_duration's forms)."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not m or not text:
        raise ValueError(f"not a duration: {text!r}")
    h, mi, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + s


def main(path: str) -> None:
    rows = []  # (elapsed, left shown or None, configs done, total)
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LINE.search(line)
        if m:
            done, total = int(m[1]), int(m[2])
            rows.append((seconds(m[5]), seconds(m[6]) if m[6] else None, done, total))
    ends = [r[0] for r in rows if r[2] == r[3]]
    if not rows or not ends:
        sys.exit(f"{path}: no progress line with every configuration done; did the session finish?")
    end = min(ends)
    first = next((r for r in rows if r[1] is not None), None)
    estimates = [r for r in rows if r[1] is not None and r[0] < end]
    half = min(estimates, key=lambda r: abs(r[0] - end / 2))
    real = end - half[0]
    print(f"training ended at {end:.0f} s (elapsed, first line with every configuration done)")
    print(f"first estimate at {first[0]:.0f} s: {first[1]:.0f} s left")
    print(f"half-way line at {half[0]:.0f} s: {half[1]:.0f} s left shown, {real:.0f} s really left; "
          f"ratio shown/real {half[1] / real:.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 benchmarks/eta_accuracy.py LOG")
    main(sys.argv[1])
