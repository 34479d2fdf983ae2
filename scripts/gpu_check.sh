#!/usr/bin/env bash
# Every GPU check in one call (device machines are lent by the minute): install gpubench without touching the
# machine's torch, run the GPU tests, the standard/power/training suites with telemetry required, independent
# reference measurements, and print a table: gpubench vs reference, and NVML sanity.
# Usage: OUT=/some/dir scripts/gpu_check.sh [--short]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpubench-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
short=${1:-}
RES=results/gpu-check
rm -rf "$RES"; mkdir -p "$RES"
t0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

stamp "install"
if ! $PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.log" 2>&1; then
  echo "pip install failed (see install.log); using PYTHONPATH"; export PYTHONPATH=$PWD
fi
GB="$PY -m gpubench.cli"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,temperature.gpu --format=csv | tee "$OUT/nvidia-smi.csv"

stamp "GPU tests"
timeout -s INT 150 $PY -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors tests \
  -W ignore::DeprecationWarning 2>&1 | tail -25 | tee "$OUT/pytest-gpu.log"

stamp "reference measurements (plain torch)"
timeout 120 $PY scripts/reference_bench.py $short >"$OUT/reference.json" 2>"$OUT/reference.err"; tail -3 "$OUT/reference.err"

stamp "power suite (telemetry required)"
timeout -s INT 60 $GB run power --device cuda --telemetry required --out "$RES" --idle-s 3 2>&1 | tail -8

stamp "standard suite (telemetry required)"
timeout -s INT 240 $GB run standard --device cuda --telemetry required --out "$RES" --idle-s 3 >"$OUT/standard.log" 2>&1
tail -5 "$OUT/standard.log"

stamp "training suite (telemetry required)"
timeout -s INT 150 $GB run training --device cuda --telemetry required --out "$RES" --idle-s 2 >"$OUT/training.log" 2>&1
tail -5 "$OUT/training.log"

stamp "table"
tar czf "$OUT/runs.tar.gz" "$RES"
$PY scripts/gpu_table.py "$RES" "$OUT/reference.json" | tee "$OUT/table.txt"
stamp "done"
