"""Spec of `max_batch` (workload: gpubench.benchmarks.models.train): the largest training batch that fits."""

from __future__ import annotations

from gpubench.benchmarks.models.catalog import MODEL_NAMES, make_normalize, model_params
from gpubench.benchmarks.models.train_spec import TRAINING_COLUMNS
from gpubench.benchmarks.spec import BenchmarkSpec, Headline
from gpubench.precisions import TRAIN_PRECISIONS
from gpubench.schema import cols

normalize = make_normalize(("model", "precision"))

SPEC = BenchmarkSpec(
    name="max_batch",
    version=1,
    factory="gpubench.benchmarks.models.train:max_batch",
    description="Largest training batch that fits in GPU memory (doubling, then bisection); then trains at it",
    params=model_params(
        MODEL_NAMES, TRAIN_PRECISIONS, "fp32, tf32, amp_fp16, amp_bf16", batch_help=None, compile_help=None
    ),
    normalize=normalize,
    tags=("model", "training"),
    columns=TRAINING_COLUMNS
    + cols(
        ("batch", "int", "the batch found, trained at"),
        ("compile", "bool", "torch.compile used (never, here)"),
        ("max_batch", "int", "largest batch that fit"),
        ("max_batch_capped", "bool", "the search stopped at its limit"),
    ),
    headline=Headline(
        metric="max_batch", label="max batch {model} {precision}", unit="samples", group_by=("model", "precision")
    ),
    section="models",
)
