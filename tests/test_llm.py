"""LLM workloads: preset shapes and counts, suite validation, the KV-cache check, work per step, capacity."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from gpubench.benchmarks import catalog, load_all
from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm import presets as P
from gpubench.cli import app
from gpubench.errors import SuiteError, Unsupported
from gpubench.records import Case
from gpubench.suite import parse_suite

CPU = torch.device("cpu")
REGISTRY = load_all()

# Published totals (model cards / release notes), in billions, and the counts the shapes give.
PUBLISHED = {
    "llama-3.2-1b": 1.24,
    "llama-3.1-8b": 8.03,
    "llama-3.1-70b": 70.6,
    "qwen2.5-7b": 7.62,
    "mistral-7b": 7.24,
}
EXACT = {
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.1-70b": 70_553_706_496,
    "qwen2.5-7b": 7_615_616_512,
    "mistral-7b": 7_241_732_096,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_published(name):
    p = P.PRESETS[name]
    assert p.params == EXACT[name]
    assert p.published_params == pytest.approx(PUBLISHED[name] * 1e9)
    # The published figure is rounded to 3 significant digits: within half a unit of its last digit.
    half_unit = 0.05 if name == "llama-3.1-70b" else 0.005
    assert abs(p.params / 1e9 - PUBLISHED[name]) <= half_unit
    assert p.source.startswith("https://huggingface.co/") and p.source.endswith("/config.json")


@pytest.mark.parametrize("name", ["llama-3.2-1b", "llama-3.1-8b", "qwen2.5-7b", "tiny"])
def test_torch_module_has_the_counted_parameters(name):
    """The decoder built on the meta device (no memory) holds exactly the parameters the arithmetic counts."""
    p = P.PRESETS[name]
    model = M.Decoder(p.with_layers(min(p.layers, 2)), torch.device("meta"), torch.bfloat16)
    assert sum(t.numel() for t in model.parameters()) == p.with_layers(min(p.layers, 2)).params


def test_sliced_preset_says_so_and_keeps_the_full_count():
    p = P.preset("llama-3.1-70b", layers=2)
    assert (p.layers, p.total_layers, p.layers_text) == (2, 80, "2 of 80 layers")
    assert p.full_params == P.PRESETS["llama-3.1-70b"].params
    assert p.params < p.full_params


def _suite(body: str):
    return parse_suite(body, "x.toml", REGISTRY)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('benchmark = "llm_decode"\npreset = "llama-9"\nprecision = "bf16"', "'llama-9' is not one of"),
        (
            'benchmark = "llm_decode"\npreset = "mistral-7b"\nprecision = "bf16"\ncontext = 32000\noutput = 1024',
            "context \\+ output = 33024 tokens is beyond mistral-7b's maximum context of 32768",
        ),
        (
            'benchmark = "llm_prefill"\npreset = "tiny"\nprecision = "bf16"\nbatch = 0',
            "batch = 0: needs at least one",
        ),
        (
            'benchmark = "llm_train"\npreset = "tiny"\nprecision = "bf16"\nlayers = 5',
            "tiny has only 2 layers",
        ),
    ],
)
def test_bad_parameters_fail_suite_validation(entry, message):
    with pytest.raises(SuiteError, match=message) as info:
        _suite(f"[[benchmarks]]\n{entry}\n")
    assert str(info.value).startswith("x.toml: benchmarks[0]")


def test_bad_context_is_a_one_line_error_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[benchmarks]]\nbenchmark = "llm_prefill"\npreset = "tiny"\nprecision = "bf16"\nprompt = 5000\n')
    result = CliRunner().invoke(app, ["run", str(path), "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "beyond tiny's maximum context of 4096" in result.output
    assert "Traceback" not in result.output


# --- the cache check --------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_cached_decode_matches_full_forward(precision):
    p = P.preset("tiny")
    model = M.build(p, precision, CPU)
    cache = M.new_cache(p, 2, 40, precision, CPU, fill=True)
    result = M.cache_check(model, cache, precision, model, model)
    assert result.ok, result.detail


def test_broken_cache_is_wrong():
    """Decoding without the cache, or one position off, must fail the check, not pass as fast."""
    p = P.preset("tiny")
    model = M.build(p, "fp32", CPU)
    cache = M.new_cache(p, 2, 40, "fp32", CPU, fill=True)
    ignores_cache = M.cache_check(model, cache, "fp32", model, lambda tok, c, pos: model(tok))
    off_by_one = M.cache_check(model, cache, "fp32", model, lambda tok, c, pos: model(tok, c, pos + 1))
    assert not ignores_cache.ok and ignores_cache.error > 10 * ignores_cache.tolerance
    assert not off_by_one.ok


def _workload(benchmark: str, **params):
    bench = REGISTRY[benchmark]
    full = {k: v.default for k, v in bench.params.items()} | params
    return bench.factory(Case.of(benchmark, bench.normalize(full)), CPU)


def _matmul_flops(counter: FlopCounterMode) -> float:
    counts = counter.get_flop_counts()["Global"]
    return float(sum(v for op, v in counts.items() if "attention" not in str(op)))


def test_decode_work_counts_match_the_flop_counter():
    w = _workload("llm_decode", preset="tiny", precision="fp32", batch=3, context=50)
    counter = FlopCounterMode(display=False)
    with counter:
        logits = w.step()
    assert logits.shape == (3, 512) and torch.isfinite(logits).all()
    assert w.work.unit == "token" and w.work.amount == 3
    # Projections and the output head as FlopCounterMode counts them; attention from its closed form (the
    # counter does not see every backend's SDPA kernel, e.g. the CPU flash kernel).
    assert w.work.flops == pytest.approx(_matmul_flops(counter) + P.preset("tiny").attention_flops(3, 1, 50), rel=1e-9)
    p = P.preset("tiny")
    weights = 4 * (p.layers * p.layer_params + p.vocab * p.hidden + p.hidden)
    kv = 2 * p.layers * p.kv_dim * 4 * 3 * 51  # keys + values of 50 cached tokens and the new one, 3 sequences
    assert w.work.bytes == weights + kv
    assert w.info["workload"] == "llm_decode/tiny/fp32" and w.info["layers_note"] == "2 of 2 layers"
    assert w.check().ok


def test_prefill_flops_count_the_causal_half():
    w = _workload("llm_prefill", preset="tiny", precision="fp32", batch=2, prompt=32)
    counter = FlopCounterMode(display=False)
    with counter:
        w.step()
    p = P.preset("tiny")
    full_square = 4.0 * 2 * p.layers * p.heads * p.head_dim * 32 * 32
    causal = p.attention_flops(2, 32, 0)
    assert causal == pytest.approx(full_square * (32 + 1) / (2 * 32))  # the causal half, with the diagonal
    assert w.work.flops == pytest.approx(_matmul_flops(counter) + causal, rel=1e-9)
    assert w.work.amount == 64 and w.check().ok


def test_fp8_is_skipped_on_the_cpu_with_the_reason():
    with pytest.raises(Unsupported, match="fp8 .*need a GPU"):
        _workload("llm_decode", preset="tiny", precision="fp8", batch=1, context=8)


def test_serving_scenario_caches_the_middle_of_generation():
    w = _workload("llm_decode", preset="tiny", precision="bf16", batch=2, context=64, output=32)
    assert w.info["cached_tokens"] == 80
    assert w.check().ok


# --- attention and training -------------------------------------------------------------------------------


def test_attention_backends_on_cpu():
    flash = _workload("attention", preset="tiny", precision="fp32", backend="flash", context=128)
    flash.step()
    assert flash.check().ok and flash.info["sdpa_backend"] == "FLASH_ATTENTION"
    assert flash.work.flops == 2.0 * 4 * 128 * 128 * 32
    with pytest.raises(Unsupported, match="efficient cannot run here"):
        _workload("attention", preset="tiny", precision="fp32", backend="efficient", context=128)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_fine_tuning_learns_and_lora_freezes_the_base(mode):
    w = _workload("llm_train", preset="tiny", precision="fp32", mode=mode, batch=2, seq=32)
    result = w.check()
    assert result.ok, result.detail
    p = P.preset("tiny")
    if mode == "lora":
        assert w.info["trainable_params"] == P.lora_params(p, 16)
    else:
        assert w.info["trainable_params"] == p.params
    assert w.work.flops == pytest.approx(
        (3.0 if mode == "full" else 2.0)
        * (p.matmul_flops_per_token() * 64 + p.attention_flops(2, 32, 0) + 2.0 * 64 * p.hidden * p.vocab)
    )


# --- capacity ---------------------------------------------------------------------------------------------


def test_capacity_is_the_largest_batch_that_fits():
    p = P.PRESETS["llama-3.1-8b"]
    memory = 80 * 2**30
    best = P.max_batch(p, "bf16", 8192, memory)
    budget = P.usable_bytes(memory)
    assert P.memory_needed(p, "bf16", best, 8192) <= budget < P.memory_needed(p, "bf16", best + 1, 8192)
    # KV cache of Llama-3.1-8B: 2 (K, V) x 32 layers x 8 heads x 128 x 2 bytes = 128 KiB per token.
    assert p.kv_bytes_per_token(2) == 131072
    assert P.max_batch(P.PRESETS["llama-3.1-70b"], "bf16", 8192, memory) == 0  # 141 GB of weights
    assert P.max_batch(P.PRESETS["llama-3.1-70b"], "fp8", 8192, memory) >= 1
    assert P.largest_fitting("bf16", 24 * 2**30) == "llama-3.1-8b"
    assert P.largest_fitting("bf16", 192 * 2**30) == "llama-3.1-70b"
    ctx = P.max_context(p, "bf16", 24 * 2**30)
    assert P.memory_needed(p, "bf16", 1, ctx) <= P.usable_bytes(24 * 2**30) < P.memory_needed(p, "bf16", 1, ctx + 1)


def test_capacity_on_the_cpu_is_computed_and_says_so():
    w = _workload("llm_capacity", preset="llama-3.1-8b", precision="bf16", context=256, layers=1, timed_batch=2)
    memory = w.info["capacity_memory_bytes"]
    assert w.info["capacity_method"] == "computed"
    assert w.info["max_batch"] == P.max_batch(P.PRESETS["llama-3.1-8b"], "bf16", 256, memory)
    assert w.info["layers_note"] == "1 of 32 layers" and w.info["timed_batch"] == 2
    assert w.check().ok


# --- columns relating rows of one run ---------------------------------------------------------------------


def test_relate_rows_uses_the_largest_copy_and_the_eager_twin():
    rows = [
        {
            "case_id": "memory[kind=d2d,size_bytes=1024]",
            "benchmark": "memory",
            "kind": "d2d",
            "size_bytes": 1024,
            "status": "ok",
            "throughput": 500.0,
        },
        {
            "case_id": "memory[kind=d2d,size_bytes=9999]",
            "benchmark": "memory",
            "kind": "d2d",
            "size_bytes": 9999,
            "status": "ok",
            "throughput": 100.0,
        },
        {
            "case_id": "llm_decode[compile=false]",
            "benchmark": "llm_decode",
            "compile": False,
            "status": "ok",
            "median_s": 0.02,
            "bytes_per_step": 1e9,  # 50 GB/s
        },
        {
            "case_id": "llm_decode[compile=true]",
            "benchmark": "llm_decode",
            "compile": True,
            "status": "ok",
            "median_s": 0.01,
            "bytes_per_step": 1e9,  # 100 GB/s
        },
    ]
    for r, extra in zip(rows, catalog.derive_rows(rows), strict=True):
        r.update(extra)
    assert rows[2]["pct_of_copy_bw"] == 50.0 and rows[3]["pct_of_copy_bw"] == 100.0
    assert rows[3]["speedup_vs_eager"] == 2.0 and "speedup_vs_eager" not in rows[2]
    row = {"benchmark": "llm_decode", "median_s": 0.004}
    row.update(catalog.derive_row(row))
    assert row["tokens_per_s_per_seq"] == 250.0 and math.isclose(row["ms_per_token"], 4.0)
