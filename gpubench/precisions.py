"""One precision vocabulary for the whole project (standard library only).

Two families of names:
- GEMM dtypes, what a matrix unit computes in: fp64, fp32, tf32, fp16, bf16, fp8, int8. These are also the
  keys of datasheet peaks in data/specs.toml (`peak.<dtype>`); int8 peaks are TOP/s, the rest TFLOP/s.
- model precisions, how a network runs: fp32, tf32, amp_fp16 / amp_bf16 (autocast over fp32 master weights),
  fp16 / bf16 (the whole network cast), int8, fp8, int4 (quantized weights). `peak_key` maps each to the
  datasheet peak that bounds its matrix math.

Benchmarks take subsets (TRAIN_PRECISIONS for `train`, INFER_PRECISIONS for `infer`, LLM_PRECISIONS for the
LLM benchmarks); everything that names a precision imports it from here.
"""

from __future__ import annotations

GEMM_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
"""Matrix-unit precisions, widest first; the datasheet catalog gives a peak for each."""

MODEL_PRECISIONS = ("fp32", "tf32", "amp_fp16", "amp_bf16", "fp16", "bf16", "int8", "fp8", "int4")
"""Every precision a model workload may name."""

TRAIN_PRECISIONS = ("fp32", "tf32", "amp_fp16", "amp_bf16")
INFER_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
LLM_PRECISIONS = ("fp32", "bf16", "fp16", "int8", "fp8")
"""What the LLM benchmarks run: int8 and fp8 are weight quantization (activations and KV cache 16-bit)."""

ELEMENT_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
"""Bytes of one element of a GEMM dtype (tf32 is stored as fp32)."""

WEIGHT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "fp8": 1.0, "int4": 0.5}
"""Bytes per stored weight of an LLM at a precision (int4: two weights per byte, scales not counted)."""

KV_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 2.0, "fp8": 2.0, "int4": 2.0}
"""Bytes per KV-cache element: weight-only quantization keeps a 16-bit cache."""

PEAK_KEY = {
    "fp64": "fp64",
    "fp32": "fp32",
    "tf32": "tf32",
    "fp16": "fp16",
    "bf16": "bf16",
    "fp8": "fp8",
    "int8": "int8",
    "amp_fp16": "fp16",  # autocast runs the matrix math in the half type
    "amp_bf16": "bf16",
    "int4": "int8",  # no int4 peak in the catalog; int4 kernels are bounded by the integer units at best
}
"""Model precision -> the datasheet peak key that bounds its matrix math."""

_ALIASES = {
    "float64": "fp64",
    "double": "fp64",
    "float32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
}


def peak_key(precision: object) -> str | None:
    """The datasheet peak key ("bf16", "fp8", ...) for a dtype or model precision, torch dtype names included
    ("bfloat16", "amp_bf16", "float8_e4m3fn"); None when the name is no precision."""
    if not isinstance(precision, str):
        return None
    key = precision.strip().lower()
    key = _ALIASES.get(key, key)
    if key in PEAK_KEY:
        return PEAK_KEY[key]
    if key.startswith(("fp8", "float8", "e4m3", "e5m2")):
        return "fp8"
    return None


def is_half(precision: str) -> bool:
    """Whether activations are 2 bytes or fewer (every precision but fp64, fp32 and tf32)."""
    return precision not in ("fp64", "fp32", "tf32")
