#!/usr/bin/env bash
# Every GPU check in one call (device machines are lent by the minute): install gpubench without touching the
# machine's torch, run the GPU tests, the standard/power/training suites with telemetry required, independent
# reference measurements, and print a table: gpubench vs reference, and NVML sanity.
# Usage: OUT=/some/dir scripts/gpu_check.sh [--short]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpubench-check}
mkdir -p "$OUT"
# Everything also goes to one log: the device tool returns at most 8 files.
exec > >(tee -a "$OUT/check.log") 2>&1
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
short=${1:-}
RES=results/gpu-check
rm -rf "$RES"; mkdir -p "$RES"
t0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }
# Keep what has finished: the machine and its disk go away when the call ends, however it ends.
save() { tar czf "$OUT/runs.tar.gz" "$RES" 2>/dev/null; }

stamp "install"
if ! $PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1; then
  echo "pip install failed; using PYTHONPATH"; export PYTHONPATH=$PWD
fi
GB="$PY -m gpubench.cli"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,temperature.gpu --format=csv

stamp "GPU tests"
timeout -s INT 80 $PY -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/test_telemetry_gpu.py \
  tests/test_models.py "tests/test_distributed.py::test_nccl_ranks_on_this_machines_gpus" 2>&1 | tail -15

stamp "reference measurements (plain torch)"
timeout 45 $PY scripts/reference_bench.py $short >"$OUT/reference.json" 2>/dev/null

# Each step is bounded; SIGINT makes gpubench stop after keeping every finished case.
stamp "power suite (telemetry required)"
timeout -s INT 45 $GB run power --device cuda --telemetry required --out "$RES" --idle-s 3; save

stamp "standard suite: memory (telemetry required)"
timeout -s INT 45 $GB run standard --only 'memory*' --device cuda --telemetry required --out "$RES" --idle-s 1; save

stamp "standard suite: matmul (telemetry required)"
timeout -s INT 120 $GB run standard --only 'matmul*' --device cuda --telemetry required --out "$RES" --idle-s 1; save

stamp "training suite: ResNet-50 in every precision, GPT-2 small bf16 (telemetry required)"
timeout -s INT 80 $GB run training --device cuda --telemetry required --out "$RES" --idle-s 1 \
  --only 'train[model=resnet50,*compile=false]' --only 'train[model=gpt2,precision=amp_bf16,batch=8,compile=false*' \
  --only 'infer[model=resnet50,precision=bf16,batch=256*'; save

stamp "table"
$PY scripts/gpu_table.py "$RES" "$OUT/reference.json" | tee "$OUT/table.txt"
stamp "done"
