"""Judging a large runs.csv: peak memory and wall time of the real command, by size.

Each size is a runs.csv made from the committed smoke runs (docs/results/smoke-cpu/runs.csv,
100 runs) copied with new seeds and keys until it has N rows (the per-epoch list columns
dropped, as a CSV written by other training code has none), judged by the real command in a
fresh process:

    python -m pytest claims --source BIG.csv --reports-dir TMP -p no:cacheprovider -q

Peak RSS is the process's maximum resident set size as GNU time reports it
(``/usr/bin/time -f %M``). The baseline is the 100-run source itself, measured in the same run; each row
prints its ratio to it. Above ``harness.runstore.runs.MAX_SOURCE_ROWS`` the source is refused with one
line before pandas reads it: that row shows what the refusal costs.

    python benchmarks/bench_source_size.py --sizes 100000 1000000
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "docs" / "results" / "smoke-cpu" / "runs.csv"
sys.path.insert(0, str(ROOT))
from harness.runstore.runs import LIST_COLUMNS, MAX_SOURCE_ROWS  # noqa: E402

RSS_TAG = "bench-peak-rss-kib="


def make_source(rows: int, path: Path) -> None:
    """``rows`` runs: the smoke runs repeated, each copy with its own seeds and keys."""
    base = pd.read_csv(SMOKE).drop(columns=LIST_COLUMNS)
    copies = -(-rows // len(base))
    span = int(base["seed"].max()) + 1
    with open(path, "w") as f:
        for c in range(copies):
            part = base.copy()
            part["seed"] = part["seed"] + c * span
            part["key"] = [f"copy{c}:{k}" for k in base["key"]]
            part = part.iloc[:rows - c * len(base)]
            part.to_csv(f, index=False, header=c == 0)


def judge(path: Path, reports: Path) -> dict:
    """One fresh process judging ``path``: wall, its peak RSS, exit code, first ERROR line."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", f"{RSS_TAG}%M", sys.executable, "-m", "pytest",
                           "claims", "--source", str(path), "--reports-dir", str(reports),
                           "-p", "no:cacheprovider", "-q", "-n", "0"],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out = [ln for ln in (proc.stdout + proc.stderr).splitlines() if not ln.startswith(RSS_TAG)]
    peak_kib = int(proc.stderr.rsplit(RSS_TAG, 1)[1].split()[0])
    errors = [ln for ln in out if ln.startswith("ERROR")]
    return {"wall_s": wall, "peak_mib": peak_kib / 1024, "rc": proc.returncode,
            "error": errors[0] if errors else "", "tail": out[-1:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[MAX_SOURCE_ROWS, 1_000_000])
    args = ap.parse_args()
    print(f"limit: harness.runstore.runs.MAX_SOURCE_ROWS = {MAX_SOURCE_ROWS:,}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'rows':>10}  {'file MB':>8}  {'exit':>4}  {'wall s':>7}  {'x base':>6}  "
          f"{'peak RSS MiB':>12}  {'x base':>6}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = None
        for rows in [None, *args.sizes]:
            path = SMOKE if rows is None else tmp / f"runs-{rows}.csv"
            if rows is not None:
                make_source(rows, path)
            r = judge(path, tmp / f"reports-{rows}")
            base = base or r
            outcome = r["error"] or (r["tail"][0] if r["tail"] else "")
            n = 100 if rows is None else rows
            print(f"{n:>10,}  {path.stat().st_size / 1e6:>8.1f}  {r['rc']:>4}  {r['wall_s']:>7.1f}  "
                  f"{r['wall_s'] / base['wall_s']:>6.1f}  {r['peak_mib']:>12.0f}  "
                  f"{r['peak_mib'] / base['peak_mib']:>6.1f}  {outcome[:110]}", flush=True)
            if rows is not None:
                path.unlink()


if __name__ == "__main__":
    main()
