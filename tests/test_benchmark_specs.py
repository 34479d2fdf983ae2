"""Benchmark specs: one torch-free declaration per benchmark, workload identity and costs, derivations, the
precision vocabulary, a true row schema, and no benchmark names spelled out outside gpubench/benchmarks/."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gpubench import precisions, specs
from gpubench.benchmarks import catalog, load_all
from gpubench.benchmarks.llm import presets as P
from gpubench.benchmarks.models import catalog as models
from gpubench.benchmarks.spec import TYPE_NAMES, BenchmarkSpec, Param
from gpubench.records import Case
from gpubench.schema import ROW_COLUMNS, TELEMETRY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import benchmark_literals  # noqa: E402

QUICK_GPT2 = {"model": "gpt2", "precision": "fp32", "batch": 4, "layers": 2, "width": 64, "seq": 64, "vocab": 512}


def test_catalogue_lists_each_benchmark_once_and_each_spec_names_itself():
    names = [s.name for s in catalog.all_specs()]
    assert names == list(catalog.NAMES) and len(set(names)) == len(names)
    for s in catalog.all_specs():
        assert s.description and s.version >= 1
        module = s.factory.partition(":")[0]
        assert module.startswith("gpubench.benchmarks.") and not module.endswith("_spec")
    with pytest.raises(KeyError, match="unknown benchmark"):
        catalog.spec("no_such_benchmark")
    assert catalog.find("no_such_benchmark") is None and catalog.find(float("nan")) is None


def test_factories_load_from_the_sibling_workload_module():
    registry = load_all()
    for s in catalog.all_specs():
        bench = registry[s.name]
        assert bench.spec is s and bench.params is s.params and bench.normalize is s.normalize
        assert bench.factory.__module__ == s.factory.partition(":")[0]


def test_parameters_are_declared_once_and_type_their_columns():
    common = {c.name for c in ROW_COLUMNS} | {c.name for c in TELEMETRY_COLUMNS}
    for s in catalog.all_specs():
        for name, p in s.params.items():
            col = p.column(name)
            assert col.type == TYPE_NAMES[p.type] and col.meaning
        extra = {c.name for c in s.columns}
        assert not extra & set(s.params), s.name
        assert not extra & common, f"{s.name} redeclares common columns {sorted(extra & common)}"
        assert all(c.meaning for c in s.columns)
    with pytest.raises(ValueError, match="declared twice"):
        BenchmarkSpec("x", 1, "m:f", {"a": Param(int)}, columns=(Param(int).column("a"),))


def test_a_spec_rejects_a_factory_that_is_no_module_path_and_an_unknown_role():
    with pytest.raises(ValueError, match="module:function"):
        BenchmarkSpec("x", 1, "gpubench.benchmarks.matmul.matmul", {})
    with pytest.raises(ValueError, match="role"):
        BenchmarkSpec("x", 1, "m:f", {}, roles={"anchor": "x"})


# --- workload identity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "benchmark,params,key",
    [
        ("matmul", {"dtype": "bf16", "m": 4096}, "matmul/bf16"),
        ("memory", {"kind": "d2d", "size_bytes": 1 << 28}, "memory/d2d"),
        ("train", {"model": "resnet50", "precision": "amp_bf16", "batch": 64}, "resnet50/amp_bf16"),
        ("infer", {"model": "resnet50", "precision": "bf16", "batch": 256}, "resnet50/bf16/infer"),
        ("train", {"model": "gpt2", "precision": "bf16", "seq": 1024, "layers": 12}, "gpt2/bf16"),
        ("llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16", "batch": 8}, "llm_decode/llama-3.1-8b/bf16"),
        ("llm_prefill", {"preset": "qwen2.5-7b", "precision": "fp8", "prompt": 2048}, "llm_prefill/qwen2.5-7b/fp8"),
        ("llm_train", {"preset": "llama-3.1-8b", "precision": "bf16", "mode": "lora"}, "llm_lora/llama-3.1-8b/bf16"),
    ],
)
def test_full_size_rows_keep_the_names_users_type(benchmark, params, key):
    ref = catalog.workload_of_row(benchmark, params)
    assert ref is not None and ref.key == key == ref.base and ref.reference


def test_a_resized_or_toy_row_is_its_own_workload():
    toy = catalog.workload_of_row("train", QUICK_GPT2)
    assert toy.key == "gpt2[seq=64,vocab=512,layers=2,width=64]/fp32" and toy.base == "gpt2/fp32"
    assert not toy.reference and "2 layers" in toy.label and "M params" in toy.label
    full = catalog.workload_of_row("train", {"model": "gpt2", "precision": "fp32"})
    assert full.label == "GPT-2 small" and full.params_count == pytest.approx(124_439_808)
    # ~900x less work per token than GPT-2 small: nothing may join the two.
    assert full.flops_per_item / toy.flops_per_item > 500
    cut = catalog.workload_of_row("llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16", "layers": 2})
    assert cut.key == "llm_decode/llama-3.1-8b[layers=2]/bf16" and not cut.reference
    assert cut.base == "llm_decode/llama-3.1-8b/bf16" and "2 of 32 layers" in cut.label
    tiny = catalog.workload_of_row("llm_decode", {"preset": "tiny", "precision": "bf16"})
    assert tiny.key == "llm_decode/tiny/bf16" and not tiny.reference and "toy" in tiny.label


def test_rows_as_loaded_text_numpy_and_nan_identify_the_same():
    import numpy as np

    as_text = {k: str(v) for k, v in QUICK_GPT2.items()}
    as_numpy = {k: (np.int64(v) if isinstance(v, int) else v) for k, v in QUICK_GPT2.items()}
    keys = {catalog.workload_of_row("train", p).key for p in (QUICK_GPT2, as_text, as_numpy)}
    assert len(keys) == 1
    cnn = {"model": "resnet50", "precision": "fp32", "seq": math.nan, "layers": None, "dtype": math.nan}
    assert catalog.workload_of_row("train", cnn).key == "resnet50/fp32"
    assert catalog.workload_of_row("matmul", {"m": 8}) is None  # the defining dtype is missing
    assert catalog.workload_of_row("memory", {"kind": "h2d"}) is None  # host links are no workload
    assert catalog.workload_of_row("collective", {"op": "all_reduce"}) is None
    assert catalog.workload_of_row("published_figure", {"model": "x"}) is None


def test_decode_costs_follow_batch_and_context():
    one = catalog.workload_of_row("llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16", "batch": 1})
    many = catalog.workload_of_row("llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16", "batch": 32})
    # Batch 1 reads every weight but the embedding (one row per token) for one token: ~15 GB in bf16 (8.03 B
    # parameters less 0.53 B of embedding, plus the KV cache); 32 sequences share that read.
    assert one.bytes_per_item == pytest.approx(2 * (8.03e9 - 128256 * 4096), rel=0.02)
    assert many.bytes_per_item < one.bytes_per_item / 10
    assert one.flops_per_item == pytest.approx(2 * (8.03e9 - 128256 * 4096), rel=0.02)  # 2 per weight used
    long = catalog.workload_of_row(
        "llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16", "batch": 32, "context": 32768}
    )
    assert long.bytes_per_item > many.bytes_per_item  # the KV cache grows with the context
    fp8 = catalog.workload_of_row("llm_decode", {"preset": "llama-3.1-8b", "precision": "fp8", "batch": 1})
    assert fp8.bytes_per_item < 0.55 * one.bytes_per_item and fp8.peak_key == "fp8"


def test_zoo_model_costs_at_their_own_sizes_are_the_shipped_counts():
    shipped = models.shipped_costs()
    for name in models.MODEL_NAMES:
        train, infer, count = models.costs(name, {})
        assert train == pytest.approx(shipped[name]["train_flops"], rel=1e-9), name
        assert infer == pytest.approx(shipped[name]["infer_flops"], rel=1e-9), name
        assert count == pytest.approx(shipped[name]["params"], rel=1e-9), name


@pytest.mark.parametrize(
    "model,sizes",
    [
        ("gpt2", {"layers": 2, "width": 64, "seq": 64, "vocab": 512}),
        ("gpt2", {"layers": 3, "width": 128, "seq": 32, "vocab": 1000}),
        ("lstm_lm", {"layers": 1, "width": 96, "seq": 16, "vocab": 300}),
        ("char_rnn", {"seq": 20, "vocab": 40}),
    ],
)
def test_costs_of_any_shape_match_torchs_flop_counter(model, sizes):
    from gpubench.benchmarks.models import nets, zoo

    defn = zoo.MODELS[model]
    full = {**defn.sizes, **sizes}
    batch = 2
    per_item = full["seq"] if defn.unit == "token" else 1
    train, infer, count = models.costs(model, full)
    assert train == pytest.approx(zoo.count_flops(defn, full, batch, train=True) / (batch * per_item), rel=1e-9)
    assert infer == pytest.approx(zoo.count_flops(defn, full, batch, train=False) / (batch * per_item), rel=1e-9)
    built = zoo.build_on(defn, full, zoo.META)
    assert count == nets.count_params(*built.values())


def test_roles_name_the_roofline_anchors():
    compute, template = catalog.by_role("compute_anchor")
    assert compute.name == "matmul" and template.format(precision="bf16") == "matmul/bf16"
    memory, key = catalog.by_role("memory_anchor")
    assert memory.identify({"kind": "d2d", "size_bytes": 1 << 20}).key == key == "memory/d2d"
    assert catalog.by_role("nothing") is None


def test_headlines_say_what_to_show():
    for s in catalog.all_specs():
        h = s.headline
        assert h.better in ("higher", "lower") and h.metric
        assert set(h.group_by) <= set(s.params), s.name
    mm = catalog.spec("matmul").headline
    assert mm.selection == "best per dtype" and mm.is_better(2.0, 1.0)


# --- derivations ------------------------------------------------------------------------------------------


def _run_rows():
    return [
        {
            "case_id": "memory[kind=d2d,size_bytes=1]",
            "benchmark": "memory",
            "kind": "d2d",
            "size_bytes": 1 << 20,
            "status": "ok",
            "throughput": 50.0,
            "median_s": 1e-3,
        },
        {
            "case_id": "memory[kind=d2d,size_bytes=2]",
            "benchmark": "memory",
            "kind": "d2d",
            "size_bytes": 1 << 27,
            "status": "ok",
            "throughput": 40.0,
            "median_s": 1e-2,
        },
        {
            "case_id": "llm_decode[compile=false]",
            "benchmark": "llm_decode",
            "compile": False,
            "status": "ok",
            "median_s": 0.02,
            "bytes_per_step": 4e8,
            "preset": "tiny",
            "precision": "bf16",
        },
        {
            "case_id": "llm_decode[compile=true]",
            "benchmark": "llm_decode",
            "compile": True,
            "status": "ok",
            "median_s": 0.01,
            "bytes_per_step": 4e8,
            "preset": "tiny",
            "precision": "bf16",
        },
    ]


def test_derivations_relate_rows_of_one_run():
    derived = catalog.derive_rows(_run_rows())
    assert derived[0] == {} and derived[1] == {}  # copies derive nothing of their own
    eager, compiled = derived[2], derived[3]
    # 4e8 bytes a step at 20 ms and 10 ms; the run's copy bandwidth is its largest buffer's (40), not its fastest.
    assert eager["achieved_gbps"] == pytest.approx(20.0) and compiled["achieved_gbps"] == pytest.approx(40.0)
    assert compiled["copy_bandwidth_gbps"] == 40.0 and compiled["pct_of_copy_bw"] == pytest.approx(100.0)
    assert compiled["speedup_vs_eager"] == pytest.approx(2.0) and "speedup_vs_eager" not in eager
    assert compiled["ms_per_token"] == pytest.approx(10.0) and compiled["tokens_per_s_per_seq"] == pytest.approx(100.0)
    failed = [{**r, "status": "failed"} for r in _run_rows()]
    assert catalog.derive_rows(failed) == [{}, {}, {}, {}]


def test_collective_bandwidths_derive_from_throughput_and_the_bus_factor():
    from gpubench.benchmarks.collective_spec import busbw_factor
    from gpubench.distributed.results import busbw_factor as merged_factor

    for op in ("all_reduce", "all_gather", "sendrecv"):
        assert busbw_factor(op, 4) == merged_factor(op, 4)
    row = {"benchmark": "collective", "throughput": 10.0, "busbw_factor": busbw_factor("all_reduce", 4)}
    assert catalog.derive_row(row) == {"algbw_gbps": 10.0, "busbw_gbps": pytest.approx(15.0)}
    assert catalog.derive_row({"benchmark": "collective", "throughput": 10.0}) == {}


# --- precisions -------------------------------------------------------------------------------------------


def test_one_precision_vocabulary_maps_to_datasheet_peaks():
    assert set(precisions.TRAIN_PRECISIONS) | set(precisions.INFER_PRECISIONS) <= set(precisions.MODEL_PRECISIONS)
    assert set(precisions.GEMM_DTYPES) == set(specs.PRECISIONS)
    for name in (*precisions.GEMM_DTYPES, *precisions.MODEL_PRECISIONS, "bfloat16", "float8_e4m3fn", "half"):
        assert precisions.peak_key(name) in precisions.GEMM_DTYPES, name
        if name != "int4":
            assert precisions.peak_key(name) == specs.normalize_precision(name), name
    assert precisions.peak_key("fp9") is None and precisions.peak_key(None) is None
    assert catalog.spec("matmul").params["dtype"].choices == precisions.GEMM_DTYPES
    assert catalog.spec("train").params["precision"].choices == precisions.TRAIN_PRECISIONS
    assert P.PRECISIONS == precisions.LLM_PRECISIONS


# --- torch-free, and no names outside the specs -------------------------------------------------------------


def test_the_catalogue_imports_no_torch():
    code = (
        "import sys\n"
        "from gpubench.benchmarks import catalog\n"
        "[s.identify({}) for s in catalog.all_specs()]\n"
        "catalog.workload_of_row('train', {'model': 'gpt2', 'precision': 'fp32', 'layers': 2})\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_list_shows_each_specs_parameters_without_importing_torch():
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from gpubench.cli import app\n"
        "r = CliRunner().invoke(app, ['list', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(r.output)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["benchmarks"]
    assert list(listed) == list(catalog.NAMES)
    for s in catalog.all_specs():
        shown = listed[s.name]["params"]
        assert list(shown) == list(s.params)
        for name, p in s.params.items():
            assert shown[name]["type"] == p.type.__name__ and shown[name]["help"] == p.help
            assert shown[name]["choices"] == (list(p.choices) if p.choices else None)


# Benchmark-name literals per file outside gpubench/benchmarks/, measured at this branch's last merge of main
# (scripts/benchmark_literals.py). Others remove theirs; a file may only go down. The lead tightens it to 0.
LITERALS_AT_MERGE = {
    "gpubench/model.py": 51,
    "gpubench/report/explain.py": 9,
    "gpubench/fleet/synthetic.py": 7,
    "gpubench/report/llm.py": 7,
    "gpubench/report/topics.py": 7,
    "gpubench/advisor.py": 4,
    "gpubench/report/sections.py": 4,
    "gpubench/cli/recommend.py": 2,
    "gpubench/report/workloads.py": 2,
    "gpubench/fleet/launch.py": 1,
}


def test_benchmark_names_spelled_outside_the_specs_do_not_grow(capsys):
    counts = benchmark_literals.count_tree(ROOT)
    with capsys.disabled():
        print("\nbenchmark-name literals outside gpubench/benchmarks/:\n" + benchmark_literals.table(counts))
    grown = {f: n for f, n in counts.items() if n > LITERALS_AT_MERGE.get(f, 0)}
    assert not grown, f"ask the spec instead of naming a benchmark: {grown}"


def test_the_literal_scan_counts_names_keys_and_case_ids_but_not_docstrings(tmp_path):
    pkg = tmp_path / "gpubench"
    (pkg / "benchmarks").mkdir(parents=True)
    (pkg / "x.py").write_text(
        '"""matmul in a docstring"""\n'
        'A = "matmul"\nB = f"train/{1}"\nC = "memory[kind=d2d]"\nD = "matmulx"\nE = "the matmul"\n'
    )
    (pkg / "benchmarks" / "y.py").write_text('A = "matmul"\n')
    assert benchmark_literals.count_tree(tmp_path) == {"gpubench/x.py": 3}


# --- the schema is true -----------------------------------------------------------------------------------


# Besides the first case of each benchmark, the quick cases whose rows carry columns of their own.
QUICK_VARIANTS = (
    {"benchmark": "matmul", "dtype": "fp8"},  # fp8_format, emulated
    {"benchmark": "memory", "kind": "h2d"},
    {"benchmark": "train", "model": "dcgan_mnist", "precision": "amp_bf16"},  # a GAN's two networks
    {"benchmark": "train", "model": "gpt2", "precision": "fp32"},
    {"benchmark": "infer", "model": "mnist_cnn", "precision": "int8"},  # int8_method, int8_finetune_loss
    {"benchmark": "memory_stride", "access": "gather", "dtype": "fp32"},
    {"benchmark": "input_pipeline", "source": "loader", "workers": 0},
    {"benchmark": "llm_decode", "precision": "int8"},  # quant_method
)


# bf16 autocast is emulated on most CPUs: the same columns, several times slower than fp32.
QUICK_OVERRIDES = {"llm_train": {"precision": "fp32"}}


def quick_cases():
    """The quick suite cut to one case per benchmark and the variants above, at the shortest timing."""
    from gpubench.suite import Timing, load_suite

    suite = load_suite("quick")
    fast = Timing(warmup_s=0.0, min_warmup=1, max_warmup_s=0.05, min_reps=2, min_time_s=0.0, max_reps=3)
    fast = replace(fast, max_time_s=0.2)
    seen: set[str] = set()
    keep = []
    for pc in suite.cases:
        fields = {"benchmark": pc.case.benchmark, **pc.case.as_dict()}
        variant = any(all(fields.get(k) == v for k, v in want.items()) for want in QUICK_VARIANTS)
        if pc.case.benchmark not in seen or variant:
            seen.add(pc.case.benchmark)
            case = Case.of(pc.case.benchmark, {**pc.case.as_dict(), **QUICK_OVERRIDES.get(pc.case.benchmark, {})})
            keep.append(replace(pc, case=case, timing=fast))
    return replace(suite, cases=tuple(keep))


@pytest.mark.slow
def test_every_column_the_quick_suite_writes_is_declared(tmp_path):
    """Runs every benchmark of the quick suite (and the cases whose rows differ) on the CPU at the shortest
    timing, telemetry on where the machine has it, and compares every key of every row with the schema."""
    from gpubench.runner import RunOptions, run_suite
    from gpubench.suite import load_suite

    suite = quick_cases()
    outcome = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path, telemetry="auto"))
    declared = {c.name for c in catalog.declared_columns()}
    undeclared = {(r["benchmark"], k) for r in outcome.rows for k in r if k not in declared}
    assert not undeclared, sorted(undeclared)
    quick = {pc.case.benchmark for pc in load_suite("quick").cases}
    assert {r["benchmark"] for r in outcome.rows} == quick
    assert sum(r["status"] == "ok" for r in outcome.rows) >= len(quick) - 1  # overlap skips on the CPU


def test_a_new_benchmark_is_a_spec_file_a_workload_file_and_a_catalogue_line(tmp_path, monkeypatch):
    """What adding a benchmark takes: its spec, its workload, one catalogue line (and a suite line)."""
    import gpubench.benchmarks as benchmarks
    from gpubench.runner import RunOptions, run_suite
    from gpubench.suite import parse_suite

    pkg = tmp_path / "toybench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "toy_spec.py").write_text(
        "from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param\n"
        "from gpubench.schema import cols\n"
        "SPEC = BenchmarkSpec('toy', 1, 'toybench.toy:toy', {'n': Param(int, default=3, minimum=1, help='terms')},\n"
        "    description='sums n terms', columns=cols(('terms_seen', 'int', 'terms the last step summed')),\n"
        "    headline=Headline(label='toy {n}', group_by=('n',)))\n"
    )
    (pkg / "toy.py").write_text(
        "from gpubench.records import Work, Workload\n"
        "def toy(case, device):\n"
        "    n = case.param('n')\n"
        "    return Workload(step=lambda: sum(range(n)), work=Work(float(n), 'sample'), info={'terms_seen': n})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(catalog.SPEC_MODULES, "toy", "toybench.toy_spec")  # the registration line
    monkeypatch.setattr(catalog, "NAMES", (*catalog.NAMES, "toy"))
    monkeypatch.setattr(benchmarks, "REGISTRY", {})
    catalog.spec.cache_clear()
    catalog.all_specs.cache_clear()
    try:
        text = 'name = "t"\n[defaults]\nmin_reps = 2\nmin_time_s = 0\nwarmup_s = 0\n[[benchmarks]]\nbenchmark = "toy"\nn = 5\n'
        suite = parse_suite(text, "t.toml", benchmarks.definitions())  # the suite line
        only_toy = {"toy": benchmarks.load_all()["toy"]}
        rows = run_suite(
            suite, RunOptions(device="cpu", out_dir=tmp_path / "res", telemetry="off"), registry=only_toy
        ).rows
        assert [r["status"] for r in rows] == ["ok"] and rows[0]["terms_seen"] == 5
        declared = {c.name for c in catalog.declared_columns()}
        assert all(k in declared for k in rows[0]), sorted(k for k in rows[0] if k not in declared)
        assert "toy" in [s.name for s in catalog.all_specs()]
    finally:
        catalog.spec.cache_clear()
        catalog.all_specs.cache_clear()


# ------------------------------------------------------------------------------------ small matrix products


@pytest.mark.parametrize(
    "m,n,k,key",
    [
        (256, 256, 256, "matmul[256³]/fp32"),  # quick's product: a GPU is launch-bound on it
        (128, 256, 256, "matmul[128×256×256]/fp32"),  # m×n×k when not a square
        (1024, 1024, 1024, "matmul[1024³]/fp32"),  # below 2*2048^3 FLOPs
        (16, 65536, 65536, "matmul[16×65536×65536]/fp32"),  # the FLOPs, but ~32 FLOPs per element: memory-bound
        (2048, 2048, 2048, "matmul/fp32"),  # at the plateau: the precision's GEMM throughput
        (512, 4096, 4096, "matmul/fp32"),  # a MAMF sweep shape
        (8192, 8192, 8192, "matmul/fp32"),
    ],
)
def test_a_matmul_below_the_gpu_plateau_is_its_own_workload(m, n, k, key):
    ref = catalog.workload_of_row("matmul", {"dtype": "fp32", "m": m, "n": n, "k": k})
    assert ref.key == key and ref.base == "matmul/fp32"
    assert ref.reference == (key == "matmul/fp32")
    assert ("small size" in ref.label) == (not ref.reference)
    assert ref.items_per_step == 2.0 * m * n * k


def test_a_matmul_row_without_sizes_names_the_precision():
    # Hand-made and published rows carry no shape: they are the precision's GEMM figure, as before.
    assert catalog.workload_of_row("matmul", {"dtype": "bf16"}).key == "matmul/bf16"


def test_the_model_estimates_a_small_product_at_its_own_shape_in_tflops():
    from gpubench import model

    runs = [
        {
            "run_id": "cpu1",
            "benchmark": "matmul",
            "dtype": "fp32",
            "m": 256,
            "n": 256,
            "k": 256,
            "status": "ok",
            "throughput": 0.1,
            "device_name": "AMD EPYC",
            "device_kind": "cpu",
        }
    ]
    import pandas as pd

    small = model.estimate("matmul[256³]/fp32", "rtx-4090", pd.DataFrame(runs))
    best = model.estimate("matmul/fp32", "rtx-4090")
    assert small.unit == "TFLOP/s" and small.basis == "estimated" and "256³" in small.source
    # Launch-bound: far below the best-shape figure, yet above the CPU's 0.1 TFLOP/s.
    assert 0.1 < small.value < best.value / 5


# ------------------------------------------------------------------------------------------- report section


def test_every_spec_names_a_report_section_or_topic_that_exists():
    from gpubench.report.sections import SECTIONS
    from gpubench.report.topics import TOPICS

    known = {s.key for s in SECTIONS} | {section for section, _ in TOPICS}
    assert {s.name: s.section for s in catalog.all_specs() if s.section not in known} == {}
    # Every topic is some benchmark's: the topics read their rows through the specs, never by name.
    assert all(any(s.section == section for s in catalog.all_specs()) for section, _ in TOPICS)


# ----------------------------------------------------------------------------------------------- labels


def _label_refs():
    rows = [
        (
            "train",
            {"model": "gpt2", "precision": "fp32", "batch": 2, "seq": 64, "vocab": 512, "layers": 2, "width": 64},
        ),
        ("infer", {"model": "char_rnn", "precision": "fp32", "seq": 50}),
        ("infer", {"model": "resnet50", "precision": "bf16"}),
        ("llm_decode", {"preset": "tiny", "precision": "bf16", "batch": 2, "context": 64}),
        ("llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16", "layers": 2}),
        ("llm_decode", {"preset": "llama-3.1-8b", "precision": "bf16"}),
        ("attention", {"preset": "tiny", "precision": "bf16", "backend": "flash"}),
        ("matmul", {"dtype": "bf16", "m": 128, "n": 256, "k": 256}),
        ("matmul", {"dtype": "fp32", "m": 4096}),
        ("memory", {"kind": "d2d", "size_bytes": 1 << 20}),
    ]
    return [catalog.workload_of_row(b, p) for b, p in rows]


def test_a_label_in_words_reads_as_the_specs_english_label():
    from gpubench.report.i18n import load_messages
    from gpubench.report.workloads import label_text

    en, hu = load_messages("en"), load_messages("hu")
    for ref in _label_refs():
        assert label_text(en, ref) == ref.label, ref.key
        if ref.words:  # a label in parts has its own Hungarian (a name is the same in every language)
            assert label_text(hu, ref) != ref.label, ref.key
            assert not {"layers", "params", "width", "vocab", "toy", "multiply", "small"} & set(
                label_text(hu, ref).replace("(", " ").replace(")", " ").replace(",", " ").split()
            ), label_text(hu, ref)
