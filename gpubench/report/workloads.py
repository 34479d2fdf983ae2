"""What a result row is, asked of its benchmark's spec (gpubench.benchmarks): its headline (which column,
which direction is better, which rows compete) and its workload identity (the key the model and the
advisor join on, whether the row's sizes ARE that workload or a toy shape of it, a label for people).

The report never names a benchmark: it asks here, and here asks the spec.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from gpubench.benchmarks import catalog
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, WorkloadRef
from gpubench.frame import frame_rows

_DEFAULT = Headline()  # a benchmark without a spec: best throughput


def spec_of(benchmark: Any) -> BenchmarkSpec | None:
    """The benchmark's spec, or None for a benchmark this version does not know (an old or newer run)."""
    return catalog.find(benchmark)


def headline_of(benchmark: str) -> Headline:
    """The benchmark's headline, as its spec declares it (defaults: best throughput)."""
    spec = spec_of(benchmark)
    return spec.headline if spec is not None else _DEFAULT


def params_of(row: dict[str, Any]) -> dict[str, Any]:
    """A row's parameters (its params_json, else its columns)."""
    try:
        params = json.loads(row.get("params_json") or "{}")
    except (TypeError, ValueError):
        params = {}
    return params if isinstance(params, dict) and params else dict(row)


def workload_ref(row: dict[str, Any]) -> WorkloadRef | None:
    """The WorkloadRef of a result row (its spec's workload identity), or None: the row measures no workload
    (a host link, a stride sweep) or its benchmark is unknown."""
    return catalog.workload_of_row(row.get("benchmark"), params_of(row))


def role_of(benchmark: Any) -> str | None:
    """The role the benchmark plays for the performance model ("compute_anchor", "memory_anchor"), or None."""
    spec = spec_of(benchmark)
    return next(iter(spec.roles), None) if spec is not None and spec.roles else None


def benchmarks_with_role(role: str) -> list[str]:
    """Names of the benchmarks that play `role`."""
    return [s.name for s in catalog.all_specs() if role in s.roles]


BUYER_MIN_PARAMS = 1e6
"""A model below this many parameters is a toy (a 4,785-parameter char-RNN): no one buys a card for it."""


MAX_MODELS = 3
"""Model workloads in the Value section at most (with matrix math and memory bandwidth)."""

BUYER_FAMILIES = ("training", "inference", "llm_decode", "llm_prefill", "llm_lora", "llm_finetune")
"""Families of model workloads a card is bought for (matrix math and memory come through the two roles)."""


def buyer_workloads(ok: pd.DataFrame) -> list[WorkloadRef]:
    """The workloads of what a buyer of these runs' hardware cares about, in this order: full-size
    models measured (the spec says the row's sizes ARE the workload, and it is no toy of under a million
    parameters), 16-bit matrix math (else fp32; never an emulated precision, never a small product below the
    GPU plateau), memory bandwidth. Keys are
    the spec's, which the model and the advisor take."""
    if ok.empty or "benchmark" not in ok:
        return []
    models: dict[str, WorkloadRef] = {}
    matmul: dict[str, WorkloadRef] = {}
    memory: dict[str, WorkloadRef] = {}
    emulated_keys: set[str] = set()
    fastest: dict[str, float] = {}
    for row in frame_rows(ok):
        ref = workload_ref(row)
        if ref is None:
            continue
        role = role_of(row.get("benchmark"))
        if role == "compute_anchor":
            if not ref.reference:  # a small product: no one buys a card for a 256³ GEMM
                continue
            matmul[ref.precision] = ref
            if row.get("emulated") is True:
                emulated_keys.add(ref.key)
        elif role == "memory_anchor":
            memory[ref.key] = ref
        elif ref.family in BUYER_FAMILIES and is_full_size(ref):
            # One precision per model and family: the fastest this run measured (the one a buyer would use).
            slot = f"{ref.family}:{ref.label}"
            speed = float(row.get("throughput") or 0)
            if slot not in models or speed > fastest.get(slot, 0.0):
                models[slot], fastest[slot] = ref, speed
    math16 = next(
        (matmul[p] for p in ("bf16", "fp16", "fp32") if p in matmul and matmul[p].key not in emulated_keys), None
    )
    picked = [models[k] for k in sorted(models)][:MAX_MODELS]
    return picked + ([math16] if math16 else []) + list(memory.values())


def label_text(msg: Any, ref: WorkloadRef) -> str:
    """The workload's label in the report's language: its spec's words (`label.<key>` messages, joined by
    " · "; a parameter count written "0.14 M" the language's way), else its English label, which is then a
    name ("ResNet-50", "llama-3.1-8b")."""
    if not ref.words:
        return ref.label
    parts = []
    for key, fields in ref.words:
        values = {name: _field(msg, name, value) for name, value in fields}
        parts.append(msg(f"label.{key}", **values))
    return " · ".join(parts)


def _field(msg: Any, name: str, value: Any) -> str:
    if name == "params":  # as spec.millions writes it, in the language's digits
        m = float(value) / 1e6
        return msg.num(m, 2) if m < 10 else msg.fixed(m, 0)
    return str(value)


def case_labels(msg: Any, rows: pd.DataFrame) -> dict[str, str]:
    """{case id: its workload's label in the report's language} for the rows of a results frame (the case
    tables of the HTML page and the Markdown summary; CSV and JSON keep the spec's English label). One label
    per case: a case's parameters are its id, however many runs hold it."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for row in frame_rows(rows):
        case = str(row.get("case_id"))
        if case in seen:
            continue
        seen.add(case)
        ref = workload_ref(row)
        if ref is not None:
            out[case] = label_text(msg, ref)
    return out


def is_toy(ref: WorkloadRef) -> bool:
    """A test model that stands for no real one (the `tiny` LLM preset): its label already says so."""
    return any(key in ("toy", "attention_toy") for key, _ in ref.words)


def workload_words(msg: Any, ref: WorkloadRef) -> str:
    """A workload in words, in the report's language: "matrix multiplication bf16", "training ResNet-50
    amp_bf16"; a shape that is not the full-size workload says it is a toy size, a small matrix product its
    size."""
    role = role_of(ref.benchmark)
    if role == "compute_anchor":
        if ref.reference:
            return msg("workload.matmul", dtype=ref.precision)
        shape = dict(next((f for k, f in ref.words if k == "matmul_small"), ())).get("shape", "")
        return msg("workload.matmul_small", dtype=ref.precision, shape=shape)
    if role == "memory_anchor":
        return msg("workload.memory")
    key = f"workload.family.{ref.family}"  # "training ResNet-50 amp_bf16", "decoding llama-3.1-8b bf16"
    text = msg(key if msg.has(key) else "workload.other", model=label_text(msg, ref), precision=ref.precision)
    # A toy shape says so once (a test model's own label already does).
    return text if ref.reference or is_toy(ref) else msg("workload.toy", workload=text)


def is_full_size(ref: WorkloadRef | None) -> bool:
    """The row ran the real workload: the spec's defining sizes, and a model of at least a million
    parameters (a 4,785-parameter char-RNN is a teaching example, whatever its sizes)."""
    return ref is not None and ref.reference and (ref.params_count or BUYER_MIN_PARAMS) >= BUYER_MIN_PARAMS


__all__ = [
    "BUYER_MIN_PARAMS",
    "benchmarks_with_role",
    "buyer_workloads",
    "case_labels",
    "headline_of",
    "is_full_size",
    "is_toy",
    "label_text",
    "params_of",
    "role_of",
    "workload_words",
    "spec_of",
    "workload_ref",
]
