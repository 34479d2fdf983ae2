"""Spec of `train` (workload: gpubench.benchmarks.models.train): one optimizer step on a fixed synthetic batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.models.catalog import MODEL_NAMES, SIZE_KEYS, identify, make_normalize, model_params
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, WorkloadRef
from gpubench.precisions import TRAIN_PRECISIONS
from gpubench.schema import cols

TRAINING_COLUMNS = cols(
    ("params_count", "int", "trainable parameters"),
    ("optimizer", "str", "optimizer class per network"),
    ("channels_last", "bool", "NHWC memory format"),
    ("grad_scaler", "bool", "fp16 loss scaling (GradScaler) used"),
    ("params_count_G", "int", "parameters of a GAN's generator"),
    ("params_count_D", "int", "parameters of a GAN's discriminator"),
)

normalize = make_normalize(("model", "precision", "batch", "compile"))


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    return identify(p, mode="train", benchmark="train")


SPEC = BenchmarkSpec(
    name="train",
    version=1,
    factory="gpubench.benchmarks.models.train:train",
    description="Training throughput: one optimizer step on a fixed synthetic batch; samples/s or tokens/s",
    params=model_params(
        MODEL_NAMES, TRAIN_PRECISIONS, "fp32, tf32 (TF32 tensor cores), amp_fp16 (+GradScaler), amp_bf16"
    ),
    normalize=normalize,
    tags=("model", "training"),
    columns=TRAINING_COLUMNS,
    headline=Headline(label="train {workload}", group_by=("model", "precision")),
    workload=workload,
    defines=("model", "precision", *SIZE_KEYS),
    section="models",
)
