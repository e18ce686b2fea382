#!/usr/bin/env bash
# Run here, in the repository root, with the dev environment active (building the wheel needs
# hatchling: `. .venv/bin/activate`), before a session's device calls. It fills the two ignored
# folders that `run.sh` needs on the lent GPU machine (no network there, no sqlite-utils, no Ray):
#   .whl/      dcbench's own wheel and the pure-Python wheels that machine lacks
#   .gpudata/  Fashion-MNIST's four gzipped IDX files, from Debian's dataset-fashion-mnist
# Then call the device tool with carry [".whl", ".gpudata"] and the command `bash scripts/gpu/run.sh`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PY=${PY:-python3}
mkdir -p .whl .gpudata
# Rebuilt every time: run.sh runs the wheel, not the checkout, so a stale one would test old code.
# STAMP names the commit it was built from (and whether the tree had changes); run.sh prints it.
rm -f .whl/dcbench-*.whl
$PY -m pip wheel -q --no-deps --no-build-isolation -w .whl .
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!.whl' ':!.gpudata' || echo +changes)" > .whl/STAMP
# sqlite-utils and the two of its needs the GPU image does not hold (it has click, tabulate,
# python-dateutil and pluggy); the versions the CPU machines test with. Kept once fetched.
ls .whl/sqlite_utils-*.whl .whl/sqlite_fts4-*.whl .whl/click_default_group-*.whl >/dev/null 2>&1 \
    || $PY -m pip download -q --no-deps --only-binary=:all: -d .whl \
        sqlite-utils==4.2.1 sqlite-fts4==1.0.3 click-default-group==1.2.4
cp /usr/share/datasets/fashion-mnist/*.gz .gpudata/ 2>/dev/null \
    || echo "no /usr/share/datasets/fashion-mnist: apt-get install dataset-fashion-mnist, or run.sh can only use digits" >&2
du -sh .whl .gpudata
