"""Datasheet catalog: every entry validated, torch device names matched (or refused), % of peak."""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpubench.errors import GpubenchError
from gpubench.files import tomllib
from gpubench.specs import (
    PRECISIONS,
    DeviceSpec,
    catalog_table,
    check_spec,
    load_catalog,
    match_device,
    mfu,
    normalize_precision,
    pct_of_peak,
    peak_for,
)

GIB = 2**30
REQUIRED_SLUGS = {
    "rtx-3080",
    "rtx-3090",
    "rtx-4090",
    "rtx-5090",
    "rtx-a6000",
    "rtx-6000-ada",
    "a100-sxm-40gb",
    "a100-pcie-40gb",
    "a100-sxm-80gb",
    "a100-pcie-80gb",
    "h100-sxm",
    "h100-pcie",
    "h200-sxm",
    "l40s",
    "mi100",
    "mi210",
    "mi250x-gcd",
    "mi300x",
}


@pytest.fixture(scope="module")
def catalog() -> dict[str, DeviceSpec]:
    return load_catalog()


# --------------------------------------------------------------------------------------- catalog checks


def test_catalog_has_every_required_device(catalog):
    assert set(catalog) >= REQUIRED_SLUGS
    assert all(slug == spec.slug for slug, spec in catalog.items())


def test_every_entry_passes_the_sanity_checks(catalog):
    problems = {slug: check_spec(spec) for slug, spec in catalog.items()}
    assert {slug: p for slug, p in problems.items() if p} == {}


@pytest.mark.parametrize("slug", sorted(REQUIRED_SLUGS))
def test_entry_figures_are_sourced_and_in_sane_units(catalog, slug):
    spec = catalog[slug]
    figures = spec.figures()
    assert "memory_bandwidth_gbps" in figures and "peak.fp32" in figures
    for figure in figures:
        assert spec.source(figure).startswith("https://"), figure
    # Decimal GB/s, not TB/s: every device here moves between 0.5 and 6 TB/s.
    assert 500 <= spec.memory_bandwidth_gbps <= 6000
    assert 8 <= spec.memory_gb <= 200
    assert 150 <= spec.tdp_w <= 800
    assert 2019 <= spec.year <= 2026
    assert spec.launch_price_usd is None or 500 <= spec.launch_price_usd <= 10_000
    p = spec.peaks
    assert set(p) <= set(PRECISIONS)
    for half in ("fp16", "bf16"):
        if half in p:
            assert p[half] >= p["fp32"]
    if "fp64" in p:
        assert p["fp64"] <= p["fp32"]
    if "tf32" in p:
        assert p["fp32"] <= p["tf32"] <= p.get("fp16", math.inf)
    if "fp8" in p:
        assert p["fp8"] >= p["fp16"]


def test_geforce_half_precision_is_the_fp32_accumulate_rate(catalog):
    # GeForce runs FP16/BF16 tensor math with FP32 accumulate at half the FP16-accumulate rate, which makes
    # it exactly 2x the FP32 rate on GA102/AD102/GB202; the workstation cards are not halved (4x TF32 = 2x).
    for slug in ("rtx-3080", "rtx-3090", "rtx-4090", "rtx-5090"):
        spec = catalog[slug]
        assert spec.peak("bf16") == pytest.approx(2 * spec.peak("fp32"), rel=0.01), slug
        assert spec.peak("tf32") == pytest.approx(spec.peak("fp32"), rel=0.01), slug
    assert catalog["rtx-a6000"].peak("fp16") == pytest.approx(2 * catalog["rtx-a6000"].peak("tf32"), rel=0.01)
    assert catalog["rtx-4090"].peak("fp16") == pytest.approx(165.2)


def test_peaks_are_dense_not_the_sparse_headline(catalog):
    assert catalog["h100-sxm"].peak("bf16") == pytest.approx(1979 / 2, rel=0.01)
    assert catalog["h100-sxm"].peak("fp8") == pytest.approx(3958 / 2, rel=0.01)
    assert catalog["l40s"].peak("fp8") == pytest.approx(1466 / 2, rel=0.01)
    assert catalog["a100-sxm-80gb"].peak("bf16") == 312
    assert catalog["mi300x"].peak("bf16") == pytest.approx(1307.4)


def test_mi250x_is_encoded_per_gcd(catalog):
    gcd = catalog["mi250x-gcd"]
    assert gcd.devices_per_card == 2
    assert gcd.peak("bf16") == pytest.approx(383 / 2)
    assert gcd.memory_gb == 64
    assert gcd.memory_bandwidth_gbps == pytest.approx(3276.8 / 2)


def test_datacenter_cards_have_no_made_up_price(catalog):
    for slug in ("h100-sxm", "h100-pcie", "a100-sxm-80gb", "mi300x", "l40s"):
        assert catalog[slug].launch_price_usd is None
    assert catalog["rtx-4090"].launch_price_usd == 1599


def test_catalog_table_rows(catalog):
    rows = catalog_table(catalog)
    assert len(rows) == len(catalog)
    row = next(r for r in rows if r["slug"] == "h100-pcie")
    assert row["bf16"] == catalog["h100-pcie"].peak("bf16")
    assert row["source"].startswith("https://")
    assert next(r for r in rows if r["slug"] == "mi100")["tf32"] is None


# ------------------------------------------------------------------------------------- custom catalogs

_GOOD = """
[toy]
name = "Toy GPU"
vendor = "nvidia"
year = 2023
match = ['toy gpu']
memory_gb = 16
memory_bandwidth_gbps = 500
tdp_w = 200
source = "https://example.com/toy.pdf"
[toy.peak]
fp32 = 10
bf16 = 40
"""


def _write(tmp_path, text: str):
    path = tmp_path / "specs.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_custom_catalog_loads_and_matches(tmp_path):
    cat = load_catalog(_write(tmp_path, _GOOD))
    assert list(cat) == ["toy"]
    assert match_device("NVIDIA Toy GPU", catalog=cat).slug == "toy"
    assert cat["toy"].source("peak.bf16") == "https://example.com/toy.pdf"


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ('source = "https://example.com/toy.pdf"\n', "", "toy.source: missing"),
        ("https://example.com/toy.pdf", "http://example.com/toy.pdf", "not an https URL"),
        ("memory_bandwidth_gbps = 500", "memory_bandwidth_gbps = 3.35", "memory_bandwidth_gbps = 3.35"),
        ("bf16 = 40", "bf16 = 5", "peak.fp32 (10.0) > peak.bf16 (5.0)"),
        ("bf16 = 40", "fp4 = 80", "toy.peak.fp4: unknown precision"),
        ("tdp_w = 200", "tdp_w = 200\nprice = 5", "toy.price: unknown key"),
        ("match = ['toy gpu']", "match = ['toy (gpu']", "bad regular expression"),
        ("year = 2023", 'year = "2023"', "toy.year: wrong type"),
    ],
)
def test_bad_catalog_entries_are_refused_with_the_key(tmp_path, old, new, complaint):
    path = _write(tmp_path, _GOOD.replace(old, new))
    with pytest.raises(GpubenchError) as info:
        load_catalog(path)
    assert complaint in str(info.value)
    assert str(path.name) in str(info.value)


def test_per_figure_source_must_name_a_figure(tmp_path):
    text = _GOOD + '[toy.sources]\n"peak.fp64" = "https://example.com/x"\n'
    with pytest.raises(GpubenchError, match="names no figure"):
        load_catalog(_write(tmp_path, text))


def test_missing_catalog_file_is_a_user_error(tmp_path):
    with pytest.raises(GpubenchError, match="not found"):
        load_catalog(tmp_path / "nope.toml")


# ------------------------------------------------------------------------------------------- matching

# (torch device name, total_memory bytes as torch reports it, power limit W, expected slug)
REAL_DEVICES = [
    ("NVIDIA H100 80GB HBM3", 85_520_809_984, 700.0, "h100-sxm"),
    ("NVIDIA H100 PCIe", 85_031_714_816, 350.0, "h100-pcie"),
    ("NVIDIA H100 NVL", 100_485_038_080, 400.0, "h100-nvl"),
    ("NVIDIA H200", 150_754_820_096, 700.0, "h200-sxm"),
    ("NVIDIA H200 NVL", 150_754_820_096, 600.0, "h200-nvl"),
    ("NVIDIA A100-SXM4-80GB", 85_097_971_712, 400.0, "a100-sxm-80gb"),
    ("NVIDIA A100 80GB PCIe", 85_097_971_712, 300.0, "a100-pcie-80gb"),
    ("NVIDIA A100-SXM4-40GB", 42_505_273_344, 400.0, "a100-sxm-40gb"),
    ("NVIDIA A100-PCIE-40GB", 42_505_273_344, 250.0, "a100-pcie-40gb"),
    ("A100-SXM4-40GB", 42_505_273_344, None, "a100-sxm-40gb"),  # older drivers drop the vendor word
    ("NVIDIA L40S", 48_305_799_168, 350.0, "l40s"),  # ECC on: 1/16 of the GDDR6 reserved
    ("NVIDIA RTX A6000", 51_041_271_808, 300.0, "rtx-a6000"),
    ("NVIDIA RTX 6000 Ada Generation", 51_527_024_640, 300.0, "rtx-6000-ada"),
    ("NVIDIA GeForce RTX 3080", 10_496_835_584, 320.0, "rtx-3080"),
    ("NVIDIA GeForce RTX 3090", 25_438_126_080, 350.0, "rtx-3090"),
    ("NVIDIA GeForce RTX 4090", 25_393_692_672, 450.0, "rtx-4090"),
    ("NVIDIA GeForce RTX 4090", 25_393_692_672, 600.0, "rtx-4090"),  # raised limit: still the 4090
    ("NVIDIA GeForce RTX 5090", 34_190_458_880, 575.0, "rtx-5090"),
    ("AMD Instinct MI300X", 205_822_885_888, 750.0, "mi300x"),
    ("AMD Instinct MI300X VF", 205_822_885_888, None, "mi300x"),
    ("AMD Instinct MI210", 68_702_699_520, 300.0, "mi210"),
    ("AMD Instinct MI100", 34_342_961_152, 290.0, "mi100"),
    ("  nvidia   geforce rtx 4090 ", None, None, "rtx-4090"),
    ("NVIDIA GH200 480GB", 102_005_473_280, 900.0, "gh200-96gb"),  # 96 GB HBM3 module (95 GiB)
    ("NVIDIA GH200 144G HBM3e", 151_468_769_280, 900.0, "gh200-144gb"),
    ("NVIDIA H20", 102_005_473_280, 400.0, "h20"),
    ("NVIDIA L20", 47_697_362_944, 275.0, "l20"),
    ("NVIDIA A40", 47_697_362_944, 300.0, "a40"),
    ("NVIDIA B300 SXM6 AC", 287 * GIB, 1100.0, "b300"),
    ("NVIDIA GB200", 185 * GIB, 1200.0, "gb200"),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 101_970_771_968, 600.0, "rtx-pro-6000-blackwell"),
    ("Tesla V100-SXM2-16GB", 16_945_512_448, 300.0, "v100-sxm2-16gb"),
    ("Tesla V100-SXM2-32GB", 34_089_730_048, 300.0, "v100-sxm2-32gb"),
    ("Tesla V100-PCIE-32GB", 34_089_730_048, 250.0, "v100-pcie-32gb"),
    ("NVIDIA GeForce RTX 4070", 12_878_086_144, 200.0, "rtx-4070"),
    ("NVIDIA GeForce RTX 4070 SUPER", 12_878_086_144, 220.0, "rtx-4070-super"),
    ("NVIDIA GeForce RTX 4070 Ti", 12_878_086_144, 285.0, "rtx-4070-ti"),
    ("NVIDIA GeForce RTX 4070 Ti SUPER", 17_170_825_216, 285.0, "rtx-4070-ti-super"),
    ("NVIDIA GeForce RTX 4060 Ti", 17_175_150_592, 165.0, "rtx-4060-ti-16gb"),
    ("NVIDIA GeForce RTX 3070", 8_589_606_912, 220.0, "rtx-3070"),
    ("NVIDIA GeForce RTX 3070 Ti", 8_589_606_912, 290.0, "rtx-3070-ti"),
    ("AMD Radeon RX 7900 XTX", 25_753_026_560, 355.0, "rx-7900-xtx"),
    ("GAUDI2", 101_590_839_296, 600.0, "gaudi2"),
    ("Apple M2 Ultra", 147 * GIB, None, "apple-m2-ultra"),  # MPS reports ~75 % of RAM: not a size check
    ("Apple M3 Max", 48 * GIB, None, "apple-m3-max"),
    ("Apple M4 Max", 96 * GIB, None, "apple-m4-max"),
    ("XLA TPU", 16_909_336_576, None, "tpu-v5e"),  # torch_xla names every TPU alike: memory decides
    ("XLA TPU", 33_818_673_152, None, "tpu-v6e"),
]


@pytest.mark.parametrize(("name", "memory", "power", "slug"), REAL_DEVICES)
def test_real_torch_names_match(catalog, name, memory, power, slug):
    spec = match_device(name, memory, power, catalog=catalog)
    assert spec is not None and spec.slug == slug


@pytest.mark.parametrize(
    ("name", "memory", "power"),
    [
        ("NVIDIA GeForce GTX 1080", 8_506_769_408, 180.0),
        ("cpu", None, None),
        ("", None, None),
        ("Intel(R) Xeon(R) Platinum 8480+", None, None),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", 17_171_480_576, 150.0),
        ("NVIDIA GeForce RTX 3080 Ti", 12_884_901_888, 350.0),
        ("NVIDIA GeForce RTX 3080", 12 * GIB, 350.0),  # the 12 GB RTX 3080: another board
        ("NVIDIA A100-SXM4-80GB", 42_505_273_344, 400.0),  # name and memory disagree
        ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", 5 * GIB, None),
        ("AMD Instinct MI300X", 48 * GIB, 750.0),  # a partitioned MI300X (CPX/NPS4)
        ("NVIDIA L40", 48_305_799_168, 300.0),
        ("NVIDIA GeForce RTX 4060 Ti", 8_585_216_000, 165.0),  # the 8 GB card
        ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", 101_970_771_968, 300.0),
        ("NVIDIA GeForce RTX 4080 SUPER", 17_170_825_216, 320.0),
        ("XLA TPU", 95 * GIB, None),  # a v5p: no entry
    ],
)
def test_unknown_or_contradicting_devices_match_nothing(catalog, name, memory, power):
    assert match_device(name, memory, power, catalog=catalog) is None


def test_bare_h100_is_told_apart_by_memory_power_and_sm_count(catalog):
    mem80 = 85_520_809_984
    assert match_device("NVIDIA H100", catalog=catalog) is None  # three boards share the name
    assert match_device("NVIDIA H100", mem80, 700.0, catalog=catalog).slug == "h100-sxm"
    # 350 W fits a PCIe board and an SXM board capped low: no guess.
    assert match_device("NVIDIA H100", mem80, 350.0, catalog=catalog) is None
    assert match_device("NVIDIA H100", mem80, 350.0, compute_units=114, catalog=catalog).slug == "h100-pcie"
    assert match_device("NVIDIA H100", 100_485_038_080, None, catalog=catalog).slug == "h100-nvl"


def test_mi250x_and_mi250_gcds_need_the_cu_count(catalog):
    name, mem = "AMD Instinct MI250X/MI250", 68_702_699_520
    assert match_device(name, mem, None, catalog=catalog) is None
    assert match_device(name, mem, 560.0, compute_units=110, catalog=catalog).slug == "mi250x-gcd"
    assert match_device(name, mem, None, compute_units=104, catalog=catalog).slug == "mi250-gcd"
    assert match_device("AMD Instinct MI250X", mem, catalog=catalog).slug == "mi250x-gcd"


def test_nan_hints_are_ignored(catalog):
    nan = float("nan")
    assert match_device("NVIDIA H100 PCIe", nan, nan, compute_units=nan, catalog=catalog).slug == "h100-pcie"


# ----------------------------------------------------------------------------------------- peaks, %peak


def test_precision_aliases(catalog):
    h100 = catalog["h100-sxm"]
    assert h100.peak("bfloat16") == h100.peak("amp_bf16") == h100.peak("bf16")
    assert h100.peak("float8_e4m3fn") == h100.peak("fp8_e4m3") == h100.peak("fp8")
    assert h100.peak("float32") == 67
    assert h100.peak("fp4") is None
    assert catalog["mi250x-gcd"].peak("tf32") is None
    assert normalize_precision("amp_fp16") == "fp16"
    assert normalize_precision(None) is None


def test_peak_for():
    assert peak_for("NVIDIA A100-SXM4-80GB", "tf32") == 156
    assert peak_for("NVIDIA GeForce GTX 1080", "fp32") is None


def test_pct_of_peak_matmul_and_memory():
    h100 = ("NVIDIA H100 80GB HBM3", 85_520_809_984, 700.0)
    assert pct_of_peak(*h100, "matmul", {"dtype": "bf16", "m": 8192}, 794.5) == pytest.approx(794.5 / 989.5 * 100)
    assert pct_of_peak(*h100, "matmul", {"dtype": "int8"}, 1000.0) == pytest.approx(1000 / 1979 * 100)
    assert pct_of_peak(*h100, "matmul", {"dtype": "fp32", "tf32": True}, 247.25) == pytest.approx(50.0)
    assert pct_of_peak(*h100, "memory", {"kind": "d2d", "size_bytes": 2**30}, 3015.0) == pytest.approx(90.0)


@pytest.mark.parametrize(
    ("device", "benchmark", "params", "throughput"),
    [
        ("NVIDIA H100 80GB HBM3", "memory", {"kind": "h2d"}, 50.0),
        ("NVIDIA H100 80GB HBM3", "train", {"model": "resnet50", "precision": "amp_bf16"}, 2600.0),
        ("NVIDIA H100 80GB HBM3", "matmul", {"dtype": "fp4"}, 100.0),
        ("NVIDIA H100 80GB HBM3", "matmul", {"dtype": "bf16"}, float("nan")),
        ("NVIDIA H100 80GB HBM3", "matmul", {}, 100.0),
        ("AMD Instinct MI100", "matmul", {"dtype": "fp8"}, 100.0),
        ("cpu", "matmul", {"dtype": "fp32"}, 1.0),
        ("AMD EPYC 7763 64-Core Processor", "memory", {"kind": "d2d"}, 100.0),
    ],
)
def test_pct_of_peak_none_cases(device, benchmark, params, throughput):
    assert pct_of_peak(device, None, None, benchmark, params, throughput) is None


def test_mfu_uses_the_training_precision():
    assert mfu("NVIDIA A100-SXM4-80GB", None, None, "amp_bf16", 156.0) == pytest.approx(50.0)
    assert mfu("NVIDIA A100-SXM4-80GB", None, None, "fp32", 9.75) == pytest.approx(50.0)
    assert mfu("NVIDIA A100-SXM4-80GB", None, None, "tf32", 78.0) == pytest.approx(50.0)
    assert mfu("NVIDIA GeForce GTX 1080", None, None, "amp_bf16", 10.0) is None


def test_specs_and_advisor_never_import_torch():
    code = "import sys, gpubench.specs, gpubench.advisor; gpubench.specs.load_catalog(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ issue 21: catalog fields


def test_every_entry_has_a_segment_and_a_source(catalog):
    from gpubench.specs import SEGMENTS

    assert {slug: spec.segment for slug, spec in catalog.items() if spec.segment not in SEGMENTS} == {}
    for spec in catalog.values():
        assert spec.source("*").startswith("https://"), spec.slug
        if spec.vendor in ("nvidia", "amd"):
            assert spec.peak("fp32") is not None, spec.slug
    assert catalog["rtx-4090"].segment == "consumer"
    assert catalog["rtx-6000-ada"].segment == "workstation"
    assert catalog["h100-sxm"].segment == "datacenter"


def test_issue_21_devices_are_in_the_catalog(catalog):
    wanted = {
        "gh200-96gb",
        "gh200-144gb",
        "b300",
        "gb200",
        "gaudi2",
        "v100-sxm2-16gb",
        "v100-sxm2-32gb",
        "v100-pcie-32gb",
        "a40",
        "rtx-pro-6000-blackwell",
        "h20",
        "l20",
        "rtx-4070",
        "rtx-4070-super",
        "rtx-4070-ti",
        "rtx-4070-ti-super",
        "rtx-3070",
        "rtx-3070-ti",
        "rtx-4060-ti-16gb",
        "rx-7900-xtx",
        "apple-m2-ultra",
        "apple-m3-max",
        "apple-m4-max",
        "tpu-v5e",
        "tpu-v6e",
    }
    assert wanted <= set(catalog)


def test_unknown_tdp_is_none_and_never_rules_a_device_out(catalog):
    assert catalog["tpu-v6e"].tdp_w is None and catalog["gb200"].tdp_w is None
    assert catalog["h100-sxm"].tdp_w == 700
    assert match_device("NVIDIA GB200", 185 * GIB, 5000.0, catalog=catalog).slug == "gb200"
    row = next(r for r in catalog_table(catalog) if r["slug"] == "tpu-v5e")
    assert row["tdp_w"] is None and row["segment"] == "datacenter"


def test_geforce_rule_holds_for_the_new_cards(catalog):
    for slug in ("rtx-4070", "rtx-4070-super", "rtx-4070-ti", "rtx-4070-ti-super", "rtx-4060-ti-16gb"):
        spec = catalog[slug]
        assert spec.peak("bf16") == pytest.approx(2 * spec.peak("fp32"), rel=0.01), slug
        assert spec.peak("fp8") == pytest.approx(4 * spec.peak("fp32"), rel=0.01), slug
        assert spec.peak("int8") == pytest.approx(8 * spec.peak("fp32"), rel=0.01), slug
        # fp32 = 2 x CUDA cores (128 per SM) x rated boost clock
        cores = spec.compute_units * 128
        assert spec.peak("fp32") == pytest.approx(2 * cores * spec.boost_clock_mhz / 1e6, rel=0.01), slug


def test_optional_fields_load_and_bad_segment_is_refused(tmp_path):
    text = _GOOD.replace("tdp_w = 200\n", 'segment = "consumer"\nboost_clock_mhz = 2500\nunified_memory = true\n')
    toy = load_catalog(_write(tmp_path, text))["toy"]
    assert toy.tdp_w is None and toy.segment == "consumer" and toy.boost_clock_mhz == 2500
    assert match_device("Toy GPU", 3 * GIB, catalog={"toy": toy}) is toy  # unified memory: size not checked
    with pytest.raises(GpubenchError, match="toy.segment"):
        load_catalog(_write(tmp_path, _GOOD.replace("tdp_w = 200", 'tdp_w = 200\nsegment = "gaming"')))
    with pytest.raises(GpubenchError, match="toy.unified_memory: wrong type"):
        load_catalog(_write(tmp_path, _GOOD.replace("tdp_w = 200", 'tdp_w = 200\nunified_memory = "yes"')))


# ---------------------------------------------------------------------------- published figures, prices

PUBLISHED_COLUMNS = ("device", "workload", "value", "unit", "conditions", "source", "date")
LLM_COLUMNS = ("batch", "input_tokens", "output_tokens", "gpus", "engine")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_GITHUB_AT_COMMIT = re.compile(r"https://github\.com/[^/]+/[^/]+/blob/[0-9a-f]{40}/")


def _data_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "gpubench" / "data"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.lstrip().startswith("#")))


def _workload_units(workload: str) -> set[str] | None:
    """The units a workload name may carry, or None when the name is outside the scheme."""
    from gpubench.benchmarks.llm.presets import PRESETS

    models = set(tomllib.loads((_data_dir() / "workloads.toml").read_text()))
    parts = workload.split("/")
    if len(parts) == 2 and parts[0] == "matmul" and parts[1] in PRECISIONS:
        return {"TOP/s"} if parts[1] == "int8" else {"TFLOP/s"}
    if parts == ["memory", "d2d"] or (len(parts) == 2 and parts[0] == "collective"):
        return {"GB/s"}
    if parts[0] in models and len(parts) == 2 and parts[1] in ("fp32", "tf32", "amp_fp16", "amp_bf16"):
        return {"samples/s", "tokens/s"}
    if parts[0] in models and len(parts) == 3 and parts[2] == "infer" and parts[1] in ("fp32", "fp16", "bf16", "int8"):
        return {"samples/s", "tokens/s"}
    llm_precisions = ("bf16", "fp16", "fp8", "int8", "int4")
    if (
        len(parts) == 3
        and parts[0] in ("llm_decode", "llm_prefill")
        and parts[1] in PRESETS
        and parts[2] in llm_precisions
    ):
        return {"tokens/s"}
    return None


def published_problems(path: Path, catalog: dict[str, DeviceSpec]) -> list[str]:
    """Every reason a published CSV row is not a traceable, well-formed figure (empty: the file is fine)."""
    problems = []
    for line, row in enumerate(_csv_rows(path), start=1):
        where = f"{path.name} row {line}"
        missing = [c for c in PUBLISHED_COLUMNS if not (row.get(c) or "").strip()]
        if missing:
            problems.append(f"{where}: missing {missing}")
            continue
        if row["device"] not in catalog:
            problems.append(f"{where}: device {row['device']!r} is not a catalog slug")
        units = _workload_units(row["workload"])
        if units is None:
            problems.append(f"{where}: workload {row['workload']!r} is outside the scheme")
        elif row["unit"] not in units:
            problems.append(f"{where}: unit {row['unit']!r} for {row['workload']} (expected {sorted(units)})")
        try:
            value = float(row["value"])
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            problems.append(f"{where}: value {row['value']!r} is not a positive number")
        source = row["source"]
        if not source.startswith("https://"):
            problems.append(f"{where}: source {source!r} is not an https URL")
        elif source.startswith("https://github.com/") and not _GITHUB_AT_COMMIT.match(source):
            problems.append(f"{where}: GitHub source not pinned at a commit")
        if not _DATE.fullmatch(row["date"]):
            problems.append(f"{where}: date {row['date']!r} is not YYYY-MM-DD")
        if row["workload"].startswith("llm_"):
            for col in ("batch", "gpus"):
                try:
                    ok = int(row.get(col) or "") >= 1
                except ValueError:
                    ok = False
                if not ok:
                    problems.append(f"{where}: LLM row needs a positive integer {col}")
            if not (row.get("engine") or "").strip():
                problems.append(f"{where}: LLM row needs the engine")
            for col in ("input_tokens", "output_tokens"):
                if (row.get(col) or "").strip() and not row[col].strip().isdigit():
                    problems.append(f"{where}: {col} {row[col]!r} is not a token count")
    return problems


def _published_files() -> list[Path]:
    return sorted((_data_dir() / "published").glob("*.csv"))


@pytest.mark.parametrize("path", _published_files(), ids=lambda p: p.name)
def test_published_rows_are_traceable_and_well_formed(catalog, path):
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert header, f"{path.name}: no header comment saying what the source is"
    assert published_problems(path, catalog) == []


def test_the_published_check_catches_bad_rows(catalog, tmp_path):
    good = "https://github.com/o/r/blob/" + "a" * 40 + "/x.md"
    rows = [
        ",".join(PUBLISHED_COLUMNS + LLM_COLUMNS),
        f"h100-sxm,matmul/bf16,700,TFLOP/s,ok,{good},2026-12-06,,,,,",
        f"h100-sxmx,matmul/bf16,700,TFLOP/s,typo,{good},2026-12-06,,,,,",
        f"h100-sxm,matmul/bf17,700,TFLOP/s,bad precision,{good},2026-12-06,,,,,",
        f"h100-sxm,matmul/bf16,-5,TFLOP/s,negative,{good},2026-12-06,,,,,",
        "h100-sxm,matmul/bf16,700,TFLOP/s,unpinned,https://github.com/o/r/blob/main/x.md,2026-12-06,,,,,",
        f"h100-sxm,matmul/bf16,700,TFLOP/s,date,{good},06/12/2026,,,,,",
        f"h100-sxm,memory/d2d,700,TFLOP/s,unit,{good},2026-12-06,,,,,",
        f"h100-sxm,llm_decode/llama-3.1-8b/bf16,900,tokens/s,no batch,{good},2026-12-06,,128,128,1,vllm",
        f"h100-sxm,llm_decode/llama-9-8b/bf16,900,tokens/s,no preset,{good},2026-12-06,1,128,128,1,vllm",
    ]
    path = tmp_path / "bad.csv"
    path.write_text("# test\n" + "\n".join(rows) + "\n")
    problems = published_problems(path, catalog)
    flagged = sorted({int(p.split(" row ")[1].split(":")[0]) for p in problems})
    assert flagged == list(range(2, 10)), problems  # every bad row, and the good one (row 1) not


def test_published_data_spans_vendors_and_families(catalog):
    rows = [r for path in _published_files() for r in _csv_rows(path)]
    families = {r["workload"].split("/")[0] for r in rows}
    assert {"matmul", "memory", "resnet50", "llm_decode", "llm_prefill"} <= families
    vendors = {catalog[r["device"]].vendor for r in rows if r["workload"].startswith("matmul/")}
    assert {"nvidia", "amd", "intel"} <= vendors
    assert len(_published_files()) >= 6


@pytest.mark.parametrize("name", ["prices.csv", "cloud_prices.csv"])
def test_price_rows_are_dated_sourced_and_name_catalog_devices(catalog, name):
    path = _data_dir() / name
    header = " ".join(line for line in path.read_text().splitlines() if line.startswith("#")).lower()
    assert "move" in header and "dated" in header, f"{name}: the header must say prices are dated and move"
    rows = _csv_rows(path)
    assert rows
    for row in rows:
        assert row["device"] in catalog, row
        assert row["source"].startswith("https://"), row
        assert _DATE.fullmatch(row["date"]), row
        price_cols = [c for c in row if c.endswith("usd") or c.endswith("usd_per_hour")]
        assert price_cols and all(float(row[c]) > 0 for c in price_cols if row[c]), row
