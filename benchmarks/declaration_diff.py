"""Prints the files a commit range changed and fails unless every one is a declaration, a
claim, a document or a test: the proof that a body of claims was added without touching the
engine, the statistics or the report (issue 23).

    python3 benchmarks/declaration_diff.py FROM TO          # a commit range
    python3 benchmarks/declaration_diff.py --marked bn2015:  # every commit whose subject
                                                            # starts with "bn2015:"

Allowed: claims/ (claims and their question declarations), docs/, tests/. Exit status 1 and
one line per other file when anything else changed.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALLOWED = ("claims/", "docs/", "tests/")


def changed_files(start: str, end: str) -> list[str]:
    out = subprocess.run(["git", "diff", "--name-only", f"{start}..{end}"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def marked_commits(prefix: str) -> list[str]:
    """Commits reachable from HEAD whose subject line starts with ``prefix``, oldest first."""
    out = subprocess.run(["git", "log", "--reverse", "--format=%H %s"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [line.split(" ", 1)[0] for line in out.splitlines()
            if line.partition(" ")[2].startswith(prefix)]


def commit_files(sha: str) -> list[str]:
    out = subprocess.run(["git", "diff-tree", "--no-commit-id", "--name-only", "-r", sha],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def outside(files: list[str]) -> list[str]:
    return [f for f in files if not f.startswith(ALLOWED)]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: declaration_diff.py FROM TO | --marked PREFIX", file=sys.stderr)
        return 2
    if argv[0] == "--marked":
        commits = marked_commits(argv[1])
        print(f"{len(commits)} commits marked {argv[1]!r}: {' '.join(c[:10] for c in commits)}")
        files = sorted({f for c in commits for f in commit_files(c)})
    else:
        files = changed_files(*argv)
    for f in files:
        print(f)
    bad = outside(files)
    for f in bad:
        print(f"NOT A DECLARATION, CLAIM, DOC OR TEST: {f}", file=sys.stderr)
    print(f"{len(files)} files changed, {len(bad)} outside {', '.join(ALLOWED)}")
    return 1 if bad or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
