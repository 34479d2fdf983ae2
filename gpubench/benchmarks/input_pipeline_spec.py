"""Spec of `input_pipeline` (workload: gpubench.benchmarks.input_pipeline): training fed by a DataLoader."""

from __future__ import annotations

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param
from gpubench.records import ParamValue
from gpubench.schema import cols

SOURCES = ("device", "loader")


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    source, batch = params["source"], int(params["batch"])
    samples = max(batch, int(params["samples"]) // batch * batch)  # whole batches: every step has `batch`
    loader = source == "loader"
    return {
        "source": source,
        "batch": batch,
        "samples": samples,
        "workers": int(params.get("workers") or 0) if loader else 0,
        "pin_memory": bool(params.get("pin_memory", False)) if loader else False,
    }


SPEC = BenchmarkSpec(
    name="input_pipeline",
    version=1,
    factory="gpubench.benchmarks.input_pipeline:input_pipeline",
    description="mnist_cnn training fed from on-device data vs a DataLoader that decodes and augments on the host",
    params={
        "source": Param(str, choices=SOURCES, help="device: data already there; loader: a DataLoader"),
        "batch": Param(int, minimum=1, help="samples per step"),
        "samples": Param(int, minimum=1, help="samples per epoch (rounded down to whole batches)"),
        "workers": Param(int, default=0, minimum=0, help="DataLoader worker processes (0 = in process)"),
        "pin_memory": Param(bool, default=False, help="page-locked batches and non_blocking copies"),
    },
    normalize=normalize,
    tags=("model", "training"),
    columns=cols(
        ("model", "str", "network trained (mnist_cnn)"),
        ("dataset_samples", "int", "samples in the synthetic dataset"),
        ("host_augment", "str", "augmentation done on the host per sample"),
    ),
    headline=Headline(label="input pipeline ({source})", group_by=("source", "workers", "pin_memory")),
    section="topics.input",
)
