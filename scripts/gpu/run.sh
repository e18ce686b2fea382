#!/usr/bin/env bash
# Run on the lent GPU machine (see prepare.sh): the checks only a GPU can make, sized for one
# device call of under 10 minutes. Each phase has its own time limit, and the results store lives in
# the ignored folder .gpurun/, which a warm machine keeps between calls: calling again resumes the
# grid where it stopped (only missing cells run). What comes back under $OUT: run.log, and
# results.tar.gz (the store and the published leaderboard).
#
# Environment (defaults are the real run; a CPU rehearsal sets DEVICE=cpu PROFILE=smoke DATASET=digits):
#   DEVICE=cuda  PROFILE=paper  DATASET=fashion_mnist  RUNS=2  BENCH_S=240  GRID_S=300
set -uo pipefail
DEVICE=${DEVICE:-cuda} PROFILE=${PROFILE:-paper} DATASET=${DATASET:-fashion_mnist} RUNS=${RUNS:-2}
BENCH_S=${BENCH_S:-240} GRID_S=${GRID_S:-300} PY=${PY:-python3}
OUT=${OUT:-$PWD/.gpurun/out}
mkdir -p "$OUT" .gpurun
exec > >(tee "$OUT/run.log") 2>&1

$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 2
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=160
export DCBENCH_RESULTS=$PWD/.gpurun/results DCBENCH_DATA=/tmp/dcbench-data
raw=$DCBENCH_DATA/FashionMNIST/raw
if [ "$DATASET" = fashion_mnist ] && [ ! -f "$raw/t10k-labels-idx1-ubyte" ]; then
    mkdir -p "$raw" && for f in .gpudata/*.gz; do gunzip -c "$f" > "$raw/$(basename "$f" .gz)"; done
fi
dc() { $PY -c 'from dcbench.cli import main; main()' "$@"; }

echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)"
$PY -c 'import torch, dcbench; print("torch", torch.__version__, "dcbench", dcbench.__version__, "cuda", torch.cuda.is_available())'

# 1. Gradient matching's implementations, per outer iteration, in one process each (issue: >= 3x
#    batched over loop on a GPU). 1 ipc is the real-gradient-heavy case, 10 ipc the paper's table.
for ipc in 1 10; do
    timeout "$BENCH_S" $PY -c 'from dcbench.cli import main; main()' bench -c gm --synth convnet \
        --dataset "$DATASET" --ipc "$ipc" --iterations 4 --compare --device "$DEVICE" || echo "bench ipc $ipc: exit $?"
done

# 2. The paper's Table 1 entry for gradient matching at 1 ipc, with random beside it, resumable.
timeout "$GRID_S" $PY -c 'from dcbench.cli import main; main()' grid -c gm,random --synth convnet --cls convnet \
    --dataset "$DATASET" --ipc 1 --runs "$RUNS" --profile "$PROFILE" --runner local --device "$DEVICE"
echo "grid: exit $? (124: stopped at its time limit; call again to resume)"

dc leaderboard show --dataset "$DATASET" --profile "$PROFILE" || true
dc leaderboard publish --out .gpurun/leaderboard --dataset "$DATASET" --profile "$PROFILE" || true
tar -czf "$OUT/results.tar.gz" -C .gpurun results leaderboard 2>/dev/null || tar -czf "$OUT/results.tar.gz" -C .gpurun results
echo "== done $(date -u +%FT%TZ)"
