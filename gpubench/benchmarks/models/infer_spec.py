"""Spec of `infer` (workload: gpubench.benchmarks.models.infer): one forward pass under inference_mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.models.catalog import MODEL_NAMES, SIZE_KEYS, identify, make_normalize, model_params
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, WorkloadRef
from gpubench.precisions import INFER_PRECISIONS
from gpubench.schema import cols

normalize = make_normalize(("model", "precision", "batch", "compile"))


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    return identify(p, mode="infer", benchmark="infer")


SPEC = BenchmarkSpec(
    name="infer",
    version=1,
    factory="gpubench.benchmarks.models.infer:infer",
    description="Inference: one forward pass of a fixed batch under inference_mode; samples/s or tokens/s",
    params=model_params(
        MODEL_NAMES,
        INFER_PRECISIONS,
        "fp32, fp16, bf16 (whole net cast) or int8 (CPU quantization)",
        batch_help="samples (sequences) per step; 1 = latency (0 = model default)",
        compile_help="torch.compile the network",
    ),
    normalize=normalize,
    tags=("model", "inference"),
    columns=cols(
        ("params_count", "int", "parameters of the network run"),
        ("channels_last", "bool", "NHWC memory format"),
        ("int8_finetune_loss", "str", "int8 check: loss before -> after fine-tuning the fp32 net on the slice"),
        ("int8_method", "str", "how the int8 copy was made (torch.ao.quantization)"),
    ),
    headline=Headline(label="infer {workload}", group_by=("model", "precision")),
    workload=workload,
    defines=("model", "precision", *SIZE_KEYS),
    section="models",
)
