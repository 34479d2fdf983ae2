"""Spec of `ddp_train` (workload: gpubench.benchmarks.collective): DistributedDataParallel training, weak scaling."""

from __future__ import annotations

from gpubench.benchmarks.models.catalog import MODEL_NAMES, MODELS, make_normalize, model_params
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param
from gpubench.precisions import TRAIN_PRECISIONS
from gpubench.records import ParamValue
from gpubench.schema import cols

# Single-network models: a GAN's two networks and two optimizers per step are not one DDP module.
DDP_MODELS = tuple(name for name in MODEL_NAMES if MODELS[name].kind == "classifier")
_normalize_base = make_normalize(("model", "precision", "batch", "compile"))


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    return {**_normalize_base(params), "ranks": int(params.get("ranks") or 0)}


SPEC = BenchmarkSpec(
    name="ddp_train",
    version=1,
    factory="gpubench.benchmarks.collective:ddp_train",
    description="Training under DistributedDataParallel on `ranks` ranks (weak scaling): samples/s over all ranks",
    params={
        **model_params(
            DDP_MODELS,
            TRAIN_PRECISIONS,
            "fp32, tf32, amp_fp16 (+GradScaler), amp_bf16",
            batch_help="samples (sequences) per rank and step (0 = model default)",
            compile_help="torch.compile the DDP-wrapped network",
        ),
        "ranks": Param(int, default=0, minimum=0, help="ranks that train (0 = every rank of the run)"),
    },
    normalize=normalize,
    tags=("model", "training", "distributed"),
    columns=cols(
        ("params_count", "int", "trainable parameters"),
        ("optimizer", "str", "optimizer class"),
        ("dp_ranks", "int", "data-parallel ranks"),
        ("batch_per_rank", "int", "samples per rank and step"),
        ("global_batch", "int", "batch over all ranks"),
        ("grad_scaler", "bool", "fp16 loss scaling (GradScaler) used"),
    ),
    headline=Headline(label="DDP {model} {precision}", group_by=("model", "precision", "ranks")),
    needs_context=True,
    section="scaling",
)
