#!/usr/bin/env bash
# The GPU check, as two steps that each fit the GPU machine's limits (one command <= 600 s,
# <= 8 files back from $OUT, 16 MiB each): each step stays inside its time box (STEP_S,
# default 290 s) and leaves at most 6 files in $OUT. Run from the repo root; nothing is
# pip-installed. Issue 12.
#
#   OUT=/out benchmarks/gpu_check.sh 1   # versions; stacked trainer on CUDA vs CPU float64
#                                        # (parity.txt, with the concurrent-streams timing);
#                                        # the benchmark's GPU rows (bench.md, rows printed as
#                                        # each configuration finishes)
#   OUT=/out benchmarks/gpu_check.sh 2   # a time-boxed slice of the full protocol on
#                                        # Fashion-MNIST with the whole protocol extrapolated
#                                        # (slice.md); the full claims run for the rest of the
#                                        # box; its store (WAL checkpointed) and report packed
#                                        # into step2.tar.gz
#   OUT=/tmp/r benchmarks/gpu_check.sh --rehearse   # both steps on the CPU at tiny size,
#                                        # into $OUT/step1 and $OUT/step2 (tests/test_gpu_check.py)
#
# Step 2 needs Fashion-MNIST carried with the repo as .data/fashion-mnist (the 4 .gz files,
# 30 MB; git-ignored, so name it in the run's carry list):
#   mkdir -p .data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz .data/fashion-mnist/
# or download the 4 files from https://github.com/zalandoresearch/fashion-mnist (data/fashion).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
OUT=${OUT:-$PWD/gpu-out}
STEP_S=${STEP_S:-290}
RESERVE_S=20  # kept back in each step for the WAL checkpoint and the tarball

REHEARSE=0
case "${1:-}" in
  1|2) STEPS=$1 ;;
  --rehearse) REHEARSE=1; STEPS="1 2"; STEP_S=${STEP_S_REHEARSE:-120} ;;
  *) echo "usage: benchmarks/gpu_check.sh 1|2|--rehearse (OUT=folder, STEP_S=seconds)" >&2; exit 2 ;;
esac

left() {  # seconds left in this step's box, minus the reserve (at least 1)
  local s=$(( STEP_BOX_END - $(date +%s) - RESERVE_S ))
  [ "$s" -lt 1 ] && s=1
  echo "$s"
}

versions() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); step $1; box ${STEP_S} s"
    timeout 10 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "gpu: none"
    timeout "$(left)" python3 -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '| devices', torch.cuda.device_count())"
    echo "cpu cores: $(nproc)"
  } > "$2/versions.txt" 2>&1
}

step1() {  # $1 = output folder
  local o=$1 dev=cuda bench_args="" steps=500
  if [ "$REHEARSE" = 1 ]; then
    dev=cpu steps=3
    bench_args="--scales smoke --configs mlp --steps-smoke 2 --warmup 1 --variants-smoke stack --stack-k 2"
  fi
  versions 1 "$o"
  local t=$(date +%s)
  timeout "$(left)" python3 benchmarks/gpu_parity.py --device "$dev" --steps "$steps" > "$o/parity.txt" 2>&1
  echo "parity: exit $? in $(( $(date +%s) - t )) s" >> "$o/timing.txt"
  t=$(date +%s)
  timeout "$(left)" python3 benchmarks/bench_engine.py --device "$dev" $bench_args > "$o/bench.md" 2> "$o/bench.err"
  echo "bench: exit $? in $(( $(date +%s) - t )) s (124: cut by the time box; its rows so far are kept)" >> "$o/timing.txt"
}

step2() {
  local o=$1 dev=cuda profile=full dataset=fashion-mnist root=.data/fashion-mnist slice_s=100
  if [ "$REHEARSE" = 1 ]; then
    dev=cpu profile=tiny dataset=digits root=. slice_s=20
  elif ! ls .data/fashion-mnist/*.gz > /dev/null 2>&1; then
    echo "gpu_check step 2: .data/fashion-mnist/ has no .gz files; copy them there first (see this script's header) and carry .data/fashion-mnist" | tee "$o/timing.txt" >&2
    return 2
  fi
  versions 2 "$o"
  local work t status
  work=$(mktemp -d)
  t=$(date +%s)
  timeout "$(left)" python3 benchmarks/protocol_slice.py --device "$dev" --profile "$profile" \
    --dataset "$dataset" --data-root "$root" --budget-s "$slice_s" > "$o/slice.md" 2> "$o/slice.err"
  echo "slice: exit $? in $(( $(date +%s) - t )) s" >> "$o/timing.txt"
  t=$(date +%s)
  timeout "$(left)" python3 -m pytest claims -p no:cacheprovider --profile "$profile" \
    --dataset "$dataset" --data-root "$root" --device "$dev" \
    --store "$work/runs.sqlite" --reports-dir "$work/reports" --junitxml "$work/junit.xml" \
    > "$o/claims.log" 2>&1
  status=$?
  echo "claims ($profile, $dataset): exit $status in $(( $(date +%s) - t )) s (124: cut by the time box; finished runs are in the store)" >> "$o/timing.txt"
  # A killed run leaves its finished runs in runs.sqlite-wal: fold them into the file.
  local end_left=$(( STEP_BOX_END - $(date +%s) - 3 ))
  [ "$end_left" -lt 1 ] && end_left=1
  timeout "$end_left" python3 - "$work/runs.sqlite" >> "$o/timing.txt" 2>&1 <<'EOF'
import os, sqlite3, sys
p = sys.argv[1]
if os.path.exists(p):
    db = sqlite3.connect(p)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n, = db.execute("SELECT count(*) FROM runs").fetchone()
    db.close()
    print(f"store: {n} runs (WAL checkpointed)")
else:
    print("store: none written")
EOF
  local checkpointed=$?
  [ -e "$work/reports/latest" ] && cp -rL "$work/reports/latest" "$work/report" && rm -rf "$work/reports"
  if [ "$checkpointed" = 0 ]; then  # folded in: the side files are empty now
    rm -f "$work/runs.sqlite-wal" "$work/runs.sqlite-shm"
  else
    echo "store: WAL not checkpointed (exit $checkpointed); runs.sqlite-wal is packed beside it" >> "$o/timing.txt"
  fi
  tar -czf "$o/step2.tar.gz" -C "$work" . && rm -rf "$work"
}

for s in $STEPS; do
  o=$OUT
  [ "$REHEARSE" = 1 ] && o=$OUT/step$s
  mkdir -p "$o"
  STEP_BOX_END=$(( $(date +%s) + STEP_S ))
  t0=$(date +%s)
  "step$s" "$o"
  rc=$?
  echo "step $s: exit $rc in $(( $(date +%s) - t0 )) s of a ${STEP_S} s box" | tee -a "$o/timing.txt"
  cat "$o/timing.txt"
  [ -f "$o/parity.txt" ] && cat "$o/parity.txt"
  [ -f "$o/slice.md" ] && tail -n 4 "$o/slice.md"
  [ "$rc" -le 1 ] || exit "$rc"
done
exit 0
