#!/usr/bin/env bash
# Fetch, on this machine (which reaches PyPI), the wheels gpubench needs that the GPU machine's image lacks, into
# .whl/ (git-ignored): the device call carries them (`carry: [".whl"]`) and scripts/gpu_check.sh installs them
# into a private folder there. The image already has torch, pandas, pyarrow, typer, rich, nvidia-ml-py and
# narwhals; plotly (for the report) is the one missing (checked against the device tool's package list, 2026-11-17).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl "plotly>=5.18"
ls -l .whl
