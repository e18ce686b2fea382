#!/usr/bin/env bash
# Run on the lent GPU machine (see prepare.sh): the checks only a GPU can make, sized for one
# device call (timeout_s 600). The phases' limits add up to 9 minutes (3 × BENCH_S + GRID_S + 30 s for
# the reproduction's dry run + 2 × 20 s for the leaderboard), which leaves a minute for installation, the import check and the tarball.
# The results store lives in the ignored folder .gpurun/, which a warm machine keeps between calls,
# so calling again resumes the grid: cells already stored are not run again, and a gradient-matching
# synthesis stopped at the limit goes on from its checkpoint (saved once a minute).
# What comes back under $OUT: run.log, and results.tar.gz (the store and the published leaderboard),
# written also when a phase stops at its limit.
#
# Environment (defaults are the real run; a CPU rehearsal sets DEVICE=cpu PROFILE=smoke DATASET=digits):
#   DEVICE=cuda  PROFILE=paper  DATASET=fashion_mnist  RUNS=1  EVALS=5  BENCH_S=90  GRID_S=200  PY=python3
set -uo pipefail
DEVICE=${DEVICE:-cuda} PROFILE=${PROFILE:-paper} DATASET=${DATASET:-fashion_mnist} RUNS=${RUNS:-1} EVALS=${EVALS:-5}
BENCH_S=${BENCH_S:-90} GRID_S=${GRID_S:-200} PY=${PY:-python3}
OUT=${OUT:-$PWD/.gpurun/out}
mkdir -p "$OUT" .gpurun

# -P: not the checkout's dcbench/ from the current directory, but the installed wheel's.
dc() { timeout "$1" $PY -P -c 'from dcbench.cli import main; main()' "${@:2}"; }

main() {
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || return 2
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 COLUMNS=160
    export DCBENCH_RESULTS=$PWD/.gpurun/results DCBENCH_DATA=/tmp/dcbench-data
    local raw=$DCBENCH_DATA/FashionMNIST/raw f
    if [ "$DATASET" = fashion_mnist ]; then
        mkdir -p "$raw"
        for f in .gpudata/*.gz; do
            [ -f "$raw/$(basename "$f" .gz)" ] && continue
            gunzip -c "$f" > "$raw/.part" && mv "$raw/.part" "$raw/$(basename "$f" .gz)"
        done
    fi

    echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)"
    echo "wheel built from $(cat .whl/STAMP 2>/dev/null || echo 'an unknown commit (no .whl/STAMP)')"
    # Every dependency imported up front: a missing one is one line here, not a failure per phase.
    timeout 60 $PY -P -c 'import torch, torchvision, dcbench, dcbench.cli, sqlite_utils, typer, rich, timm, yaml, safetensors, sklearn, scipy
print("torch", torch.__version__, "dcbench", dcbench.__version__, dcbench.__file__, "cuda", torch.cuda.is_available())' \
        || return 2

    # 1. Gradient matching's implementations per outer iteration, in one process each (the target:
    #    batched >= 3x loop on a GPU). 1 ipc is the real-gradient-heavy case, 10 ipc the paper's table.
    for ipc in 1 10; do
        dc "$BENCH_S" bench -c gm --synth convnet --dataset "$DATASET" --ipc "$ipc" --iterations 4 --compare \
            --device "$DEVICE" || echo "bench ipc $ipc: exit $? (124: stopped at its limit)"
    done
    # The arithmetic of the GPU path, IEEE float32 as the base: TF32 and bfloat16 autocast.
    dc "$BENCH_S" bench -c gm --synth convnet --dataset "$DATASET" --ipc 10 --iterations 4 --set implementation=batched \
        --vary precision=ieee,default,tf32,bf16 --device "$DEVICE" || echo "bench precision: exit $?"

    # 2. The paper's Table 1 entry for gradient matching at 1 ipc, with random beside it (wall time and
    #    peak memory are in the leaderboard's matrix), then set beside the paper's numbers: the grid's
    #    cells are the study's, so the dry run finds them (the coresets' and whole-data cells, which need
    #    a 100-epoch whole-data ConvNet, are left "not run").
    dc "$GRID_S" grid -c gm,random --synth convnet --cls convnet --dataset "$DATASET" --ipc 1 --runs "$RUNS" \
        --evals "$EVALS" --profile "$PROFILE" --runner local --device "$DEVICE"
    echo "grid: exit $? (124: stopped at its limit; call again to resume)"
    [ "$DATASET" = digits ] || dc 30 reproduce table1 --dataset "$DATASET" --ipc 1 --runs "$RUNS" --evals "$EVALS" \
        --profile "$PROFILE" --dry-run --device "$DEVICE"
    dc 20 leaderboard show --dataset "$DATASET" --profile "$PROFILE"
    dc 20 leaderboard publish --out .gpurun/leaderboard --dataset "$DATASET" --profile "$PROFILE"
}

main 2>&1 | tee "$OUT/run.log"
kept=$(cd .gpurun && ls -d results leaderboard 2>/dev/null)
[ -n "$kept" ] && tar -czf "$OUT/results.tar.gz" -C .gpurun $kept
echo "== done $(date -u +%FT%TZ)" | tee -a "$OUT/run.log"
