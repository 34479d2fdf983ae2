"""Datasheet catalog: every entry validated, torch device names matched (or refused), % of peak."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest

from gpubench.errors import GpubenchError
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
        ("NVIDIA GH200 480GB", 102_005_473_280, 900.0),
        ("AMD Instinct MI300X", 48 * GIB, 750.0),  # a partitioned MI300X (CPX/NPS4)
        ("NVIDIA L40", 48_305_799_168, 300.0),
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
