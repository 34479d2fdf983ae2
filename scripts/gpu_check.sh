#!/usr/bin/env bash
# Every GPU check in one call (device machines are lent by the minute, start-up included). Steps are ordered by
# value and each is bounded by its own timeout; every step saves what it finished under $OUT the moment it ends,
# so a call that is cut off still returns every finished step. A short table is printed last.
#
#   OUT=/some/dir scripts/gpu_check.sh            # on the GPU machine (about 8 minutes of GPU work)
#   OUT=/tmp/dry  scripts/gpu_check.sh --dry-run  # the same steps on this machine's CPU at tiny sizes
#
# On the GPU machine nothing is installed from a registry: gpubench's own code comes with the tree, and what the
# machine's image lacks (plotly, for the report) travels as wheels in .whl/ (scripts/gpu_wheels.sh fetches them).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpubench-check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/check.log") 2>&1  # one log beside the results: the device tool returns few files
export PYTHONUNBUFFERED=1
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
# The GPU machine's python3 holds its torch; here the dry run uses the project's venv (make setup) when there is one.
PY=${PYTHON:-python3}
[ $DRY = 1 ] && [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
RES=results/gpu-check
rm -rf "$RES"
mkdir -p "$RES"
t0=$(date +%s)
printf 'step\trc\tseconds\n' >"$OUT/steps.tsv"
stamp() { echo "== [$(($(date +%s) - t0)) s] $*"; }
save() { tar czf "$OUT/runs.tar.gz" "$RES" 2>/dev/null; }

# step NAME SECONDS CMD...: run CMD under a timeout (SIGINT first: gpubench keeps every finished case), record
# its exit code and time, save the run folders. A failing step never stops the ones after it.
step() {
  local name=$1 limit=$2 s0 rc
  shift 2
  stamp "$name (limit ${limit} s)"
  s0=$(date +%s)
  timeout -s INT -k 10 "$limit" "$@"
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - s0))" >>"$OUT/steps.tsv"
  save
}

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpubench-site \
    .whl/*.whl && export PYTHONPATH=/tmp/gpubench-site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # this tree's gpubench, never an installed one
GB="$PY -m gpubench.cli"

if [ $DRY = 1 ]; then
  # The same steps on the CPU: the quick suite's tiny cases stand in for the real sizes.
  DEV=cpu TEL=auto STD=quick TRAIN=quick REF_ARGS="--device cpu --quick"
  MATMUL=(--only 'matmul*')
  LLM=(--only 'llm*' --only 'attention*')
  RESNET=(--only 'train[model=mnist_cnn,precision=amp_bf16*')
else
  DEV=cuda TEL=required STD=standard TRAIN=training REF_ARGS="--device cuda"
  nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,temperature.gpu --format=csv
  # Every precision at 8192 and 16384, and the MAMF sweep in bf16 (the int8 and fp8 checks are among them).
  MATMUL=(--only 'matmul[*m=8192,n=8192,k=8192]' --only 'matmul[*m=16384*' --only 'matmul[dtype=bf16,*n=4096,k=4096]')
  # Llama-3.1-8B in bf16: prefill (pp512, 4k), decode at batch 1 and 8 (eager and compiled), attention, capacity.
  LLM=(--only 'llm_prefill[preset=llama-3.1-8b,precision=bf16*' --only 'llm_decode[preset=llama-3.1-8b,precision=bf16*'
    --only 'attention[*' --only 'llm_capacity[*')
  RESNET=(--only 'train[model=resnet50,precision=amp_bf16*')
fi
# Rounds (issue 18) cost time on a lent machine: one round per case here, the check is about paths, not noise.
ROUNDS=()
$GB run --help 2>/dev/null | grep -q -- '--rounds' && ROUNDS=(--rounds 1)
RUN=($GB run --device "$DEV" --telemetry "$TEL" --out "$RES" --idle-s 1 "${ROUNDS[@]}")

# Before any GPU time is spent, every pattern of the GPU plan must select cases (a typo would waste the call).
stamp "plan check"
$PY - <<'EOF' || exit 2
from gpubench.runner import select_cases
from gpubench.suite import load_suite

plan = {
    "standard": ["matmul[*m=8192,n=8192,k=8192]", "matmul[*m=16384*", "matmul[dtype=bf16,*n=4096,k=4096]",
                 "memory[*", "llm_prefill[preset=llama-3.1-8b,precision=bf16*",
                 "llm_decode[preset=llama-3.1-8b,precision=bf16*", "attention[*", "llm_capacity[*", "sustained*",
                 "overlap*", "memory_stride*"],
    "training": ["train[model=resnet50,precision=amp_bf16*"],
}
for suite, patterns in plan.items():
    loaded = load_suite(suite)
    for pattern in patterns:
        n = len(select_cases(loaded, [pattern]))
        print(f"  {suite:9s} {pattern:55s} {n:3d} case(s)")
        assert n, f"{pattern} selects no case of {suite}"
EOF

step "GPU tests" 60 $PY -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/test_telemetry_gpu.py \
  tests/test_models.py tests/test_llm.py tests/test_topics.py
step "plain-torch references" 35 sh -c "$PY scripts/reference_bench.py $REF_ARGS >'$OUT/reference.json'"
step "matmul: precisions and MAMF sweep" 110 "${RUN[@]}" "$STD" "${MATMUL[@]}"
step "memory: device copy and host link" 40 "${RUN[@]}" "$STD" --only 'memory[*'
step "LLM: prefill, decode, attention, capacity" 70 "${RUN[@]}" "$STD" "${LLM[@]}"
step "sustained vs burst" 75 "${RUN[@]}" "$STD" --only 'sustained*'
step "ResNet-50 training, amp_bf16" 45 "${RUN[@]}" "$TRAIN" "${RESNET[@]}"
step "overlap and access stride" 35 "${RUN[@]}" "$STD" --only 'overlap*' --only 'memory_stride*'

stamp "table"
$PY scripts/gpu_table.py "$RES" "$OUT/reference.json" | tee "$OUT/table.txt"
echo
column -t -s $'\t' "$OUT/steps.tsv"
stamp "done"
