#!/bin/bash
# Re-judge every fixed-n committed report under docs/results/ with the current code (no
# training, seconds each) and copy its report.json, report.md and report.html over: what to run
# after a change to stats or claims that tests/test_committed_evidence.py says moved a verdict
# (then write the change in docs/RESULTS.md). Sequential (--seeds auto) reports are replayed
# stage by stage from their runs.csv with the stages they recorded (harness/runstore/replay.py).
set -e
cd "$(dirname "$0")/.."
out=$(mktemp -d)
for f in docs/results/*/; do
  f=${f%/}; name=$(basename "$f")
  src=$(python3 -c "import json; m=json.load(open('$f/report.json'))['meta']; print('paper' if m.get('source') in ('seed','paper') else '$f/runs.csv')")
  seeds=$(python3 -m harness.runstore.replay "$f/report.json")
  # shellcheck disable=SC2086  # $seeds is empty or several words on purpose
  python3 -m pytest claims -q -p no:cacheprovider --source "$src" --reports-dir "$out/$name" $seeds > "$out/$name.log" 2>&1 || true
  cp "$out/$name/latest/report.json" "$out/$name/latest/report.md" "$out/$name/latest/report.html" "$f/"
  echo "$name: $(tail -1 "$out/$name.log")"
done
