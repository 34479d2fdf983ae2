#!/usr/bin/env bash
# Fetch, on this machine (which reaches PyPI), the wheels gpubench needs that the GPU machine's image lacks, into
# .whl/ (git-ignored): the device call carries them (`carry: [".whl"]`) and scripts/gpu_check.sh installs them
# into a private folder there. The image already has torch, pandas, pyarrow, typer, rich, nvidia-ml-py and
# narwhals; plotly (for the report) was the one missing (checked against the device tool's package list, 2026-11-17).
# Since 2026-12-06 gpubench also needs pydantic (the input validation boundary) and babel (report numbers in the
# user's language), and orjson (the report serialises its figures through it); their wheels travel too, in case the
# image lacks them (pip skips what is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl "plotly>=5.18" "pydantic>=2" pydantic-core annotated-types typing-inspection \
  typing-extensions "babel>=2.12" "orjson>=3.9"
ls -l .whl
