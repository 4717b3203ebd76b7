#!/usr/bin/env bash
# The GPU check, one command (issue "The full protocol on one GPU"). Run from the repo root
# on a machine where torch, torchvision, scipy, pandas, pytest, pytest-xdist, hypothesis and
# matplotlib are installed; nothing is pip-installed here.
#
#   OUT=/some/folder benchmarks/gpu_check.sh              # the real check, on CUDA
#   OUT=/tmp/rehearsal benchmarks/gpu_check.sh --rehearse # the same steps on the CPU, tiny sizes
#
# Writes under $OUT: versions.txt, bench.md (seed-style loop vs engine, GPU rows, with the
# full-protocol estimates for Fashion-MNIST- and CIFAR-10-shaped data), claims.log, junit.xml,
# runs.sqlite, report/ (report.md, report.json, runs.csv, figures) and timing.txt.
# Fashion-MNIST must travel with the repo in .data/fashion-mnist/ (git-ignored):
#   mkdir -p .data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz .data/fashion-mnist/
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
PROFILE=full DATASET=fashion-mnist DATA_ROOT=.data/fashion-mnist DEVICE=cuda
WORKERS=${WORKERS:-3}         # xdist workers sharing the GPU overlap latency-bound runs
BENCH_ARGS="--device cuda"
CLAIMS_LIMIT=${CLAIMS_LIMIT:-480}
if [ "${1:-}" = "--rehearse" ]; then
  PROFILE=tiny DATASET=digits DATA_ROOT=. DEVICE=cpu WORKERS=2
  BENCH_ARGS="--device cpu --scales smoke --configs mlp --steps-smoke 5"
  CLAIMS_LIMIT=300
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "gpu: none"
  python3 -c "import sys, torch, torchvision, scipy, pandas; print('python', sys.version.split()[0], '| torch', torch.__version__, '| torchvision', torchvision.__version__, '| scipy', scipy.__version__, '| pandas', pandas.__version__, '| cuda', torch.version.cuda, '| devices', torch.cuda.device_count())"
  nproc | sed 's/^/cpu cores: /'
} > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"

t0=$(date +%s)
timeout 240 python3 benchmarks/bench_engine.py $BENCH_ARGS > "$OUT/bench.md" 2> "$OUT/bench.err"
echo "bench: exit $? in $(( $(date +%s) - t0 )) s" | tee "$OUT/timing.txt"

t1=$(date +%s)
timeout "$CLAIMS_LIMIT" python3 -m pytest claims -p no:cacheprovider --profile "$PROFILE" \
  --dataset "$DATASET" --data-root "$DATA_ROOT" --device "$DEVICE" -n "$WORKERS" \
  --store "$OUT/runs.sqlite" --reports-dir "$OUT/reports" --junitxml "$OUT/junit.xml" \
  > "$OUT/claims.log" 2>&1
status=$?
echo "claims ($PROFILE, $DATASET, $WORKERS workers): exit $status in $(( $(date +%s) - t1 )) s" | tee -a "$OUT/timing.txt"
if [ -e "$OUT/reports/latest" ]; then
  rm -rf "$OUT/report" && cp -rL "$OUT/reports/latest" "$OUT/report" && rm -rf "$OUT/reports"
fi
tail -n 40 "$OUT/claims.log"
# Exit 0 when everything ran: claims failing is a result, recorded in the report.
[ "$status" -le 1 ]
