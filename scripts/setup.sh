#!/usr/bin/env bash
# Make .venv/ with gpubench installed (editable) and its dev tools. Idempotent; re-run after pyproject changes.
# torch: reuses the interpreter's own torch when it has one (e.g. a CUDA/ROCm build on a GPU box, through
# --system-site-packages); otherwise installs $GPUBENCH_TORCH (default torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
stamp=$VENV/.gpubench-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt scripts/setup.sh ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  if "$PY" -c "import torch" 2>/dev/null; then
    echo "setup: using the system torch ($("$PY" -c 'import torch; print(torch.__version__)'))"
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup: installing ${GPUBENCH_TORCH:-torch==2.13.0}"
  "$VENV/bin/python" -m pip install -q "${GPUBENCH_TORCH:-torch==2.13.0}"
fi
"$VENV/bin/python" -m pip install -q -e ".[dev]"
touch "$stamp"
