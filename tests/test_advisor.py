"""Purchase advice on small hand-made result frames: TCO arithmetic, estimates, budget, prices files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gpubench.advisor import COLUMNS, available_workloads, load_prices, recommend
from gpubench.errors import GpubenchError
from gpubench.specs import load_catalog

GIB = 2**30
RTX4090 = {
    "device_name": "NVIDIA GeForce RTX 4090",
    "device_vendor": "nvidia",
    "device_memory_bytes": 25_393_692_672,
    "power_limit_w": 450.0,
}
H100 = {
    "device_name": "NVIDIA H100 80GB HBM3",
    "device_vendor": "nvidia",
    "device_memory_bytes": 85_520_809_984,
    "power_limit_w": 700.0,
}
RTX3090 = {
    "device_name": "NVIDIA GeForce RTX 3090",
    "device_vendor": "nvidia",
    "device_memory_bytes": 25_438_126_080,
    "power_limit_w": 350.0,
}
CPU = {
    "device_name": "AMD EPYC 7763 64-Core Processor",
    "device_vendor": "cpu",
    "device_memory_bytes": 512 * GIB,
    "power_limit_w": float("nan"),
}
LIFETIME_H = 24 * 365 * 3  # the defaults: 24 h a day for 3 years


def row(device: dict, benchmark: str, throughput: float, power_w: float | None = 400.0, **params) -> dict:
    """One result row with the columns load_runs gives (params flattened, as the store writes them)."""
    unit = {"matmul": "TFLOP/s", "memory": "GB/s"}.get(benchmark, "samples/s")
    return {
        "run_id": params.pop("run_id", f"run-{device['device_name']}"),
        "case_id": f"{benchmark}[...]",
        "benchmark": benchmark,
        "status": params.pop("status", "ok"),
        "throughput": throughput,
        "throughput_unit": unit,
        "median_s": 0.01,
        "p10_s": 0.009,
        "p90_s": 0.011,
        "work_per_step": 1.0,
        "work_unit": "sample",
        "host": "box",
        "energy_j": (power_w or math.nan) * 10,
        "avg_power_w": power_w if power_w is not None else math.nan,
        "peak_power_w": (power_w or math.nan) * 1.1,
        "energy_above_idle_j": math.nan,
        "n_reps": 100,
        **device,
        **params,
    }


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def subset(catalog, *slugs):
    return {s: catalog[s] for s in slugs}


# ------------------------------------------------------------------------------------------ arithmetic


def test_tco_arithmetic_by_hand(catalog):
    df = frame(row(RTX4090, "train", 1000.0, 400.0, model="resnet50", precision="amp_bf16", batch=128))
    out = recommend(df, "resnet50/amp_bf16", catalog=subset(catalog, "rtx-4090"))
    assert list(out.columns) == list(COLUMNS)
    r = out.iloc[0]
    # 400 W for 26,280 h = 10,512 kWh; at 0.15 USD/kWh = 1,576.80 USD; plus the 1,599 USD launch price.
    assert r["price_usd"] == 1599 and r["price_source"] == "launch price 2022 (old)"
    assert r["energy_cost_usd"] == pytest.approx(1576.8)
    assert r["tco_usd"] == pytest.approx(3175.8)
    # 1,000 samples/s for 26,280 h = 94.608e9 samples.
    assert r["tco_per_unit_usd"] == pytest.approx(3175.8 / 94.608e9)
    assert r["throughput_per_usd"] == pytest.approx(1000 / 1599)
    assert r["throughput_per_w"] == pytest.approx(2.5)
    assert r["work_unit"] == "samples"
    assert r["basis"] == "measured" and r["rank"] == 1


def test_tco_uses_the_lifetime_and_electricity_price_given(catalog):
    df = frame(row(RTX4090, "matmul", 150.0, 400.0, dtype="bf16"))
    out = recommend(df, "matmul/bf16", kwh_price=0.30, hours_per_day=8, years=2, catalog=subset(catalog, "rtx-4090"))
    r = out.iloc[0]
    hours = 8 * 365 * 2
    assert out.attrs["lifetime_hours"] == hours
    assert r["energy_cost_usd"] == pytest.approx(0.4 * hours * 0.30)
    assert r["tco_per_unit_usd"] == pytest.approx((1599 + 0.4 * hours * 0.30) / (150.0 * hours * 3600))
    assert r["work_unit"] == "TFLOP"


def test_best_configuration_per_device_and_bad_rows_ignored(catalog):
    df = frame(
        row(RTX4090, "matmul", 120.0, dtype="bf16", m=2048),
        row(RTX4090, "matmul", 160.0, 430.0, dtype="bf16", m=8192),
        row(RTX4090, "matmul", 9999.0, dtype="bf16", m=4096, status="wrong"),  # fast but wrong: never counts
        row(RTX4090, "matmul", 8888.0, dtype="bf16", m=1024, status="failed"),
        row(RTX4090, "matmul", 80.0, dtype="fp32", m=8192),
    )
    out = recommend(df, "matmul/bf16", catalog=subset(catalog, "rtx-4090"))
    assert len(out) == 1
    assert out.iloc[0]["throughput"] == 160.0
    assert out.iloc[0]["avg_power_w"] == 430.0  # power of the same (best) row


def test_nested_params_column_is_understood(catalog):
    r = row(RTX4090, "train", 900.0)
    r["params"] = {"model": "gpt2", "precision": "amp_fp16", "batch": 8, "mode": "train"}
    df = frame(r)
    assert available_workloads(df) == ["gpt2/amp_fp16"]
    assert recommend(df, "gpt2/amp_fp16", catalog=subset(catalog, "rtx-4090")).iloc[0]["throughput"] == 900.0


def test_inference_rows_are_their_own_workload(catalog):
    df = frame(
        row(RTX4090, "train", 1000.0, model="resnet50", precision="amp_bf16"),
        row(RTX4090, "infer", 4000.0, model="resnet50", precision="amp_bf16"),
    )
    assert available_workloads(df) == ["resnet50/amp_bf16", "resnet50/amp_bf16/infer"]
    cat = subset(catalog, "rtx-4090")
    assert recommend(df, "resnet50/amp_bf16", catalog=cat).iloc[0]["throughput"] == 1000.0
    assert recommend(df, "resnet50/amp_bf16/train", catalog=cat).iloc[0]["throughput"] == 1000.0
    assert recommend(df, "resnet50/amp_bf16/infer", catalog=cat).iloc[0]["throughput"] == 4000.0


def test_unknown_workload_names_the_closest_ones(catalog):
    df = frame(
        row(RTX4090, "matmul", 150.0, dtype="bf16"),
        row(RTX4090, "train", 1.0, model="lstm", precision="fp32"),
    )
    measured = recommend(df, "lstm/fp32", catalog=catalog)
    mine = measured[measured["yours"].astype(bool)]
    assert list(mine["device"]) == [RTX4090["device_name"]] and list(mine["basis"]) == ["measured"]
    with pytest.raises(GpubenchError) as info:
        recommend(df, "matmul/bf61", catalog=catalog)
    message = str(info.value)
    assert "matmul/bf61" in message and "closest: matmul/bf16" in message
    assert "\n" not in message


def test_no_runs_ranks_every_catalog_device_from_the_model():
    empty = frame(row(RTX4090, "matmul", 150.0, dtype="bf16", status="failed"))
    for df in (None, empty):
        out = recommend(df, "matmul/bf16")
        assert "measured" not in set(out["basis"]) and not out["yours"].any()
        by_slug = out.set_index("slug")
        assert by_slug.loc["h100-sxm", "basis"] == "published"  # MAMF 794.5
        assert by_slug.loc["h100-sxm", "throughput"] == pytest.approx(794.5)
        assert by_slug.loc["rtx-3080", "basis"] == "estimated"  # no published bf16 GEMM figure
        assert by_slug.loc["rtx-3080", "low"] < by_slug.loc["rtx-3080", "throughput"] < by_slug.loc["rtx-3080", "high"]
        assert "t4" not in by_slug.index  # no bf16 on a T4: no figure, not a guess


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hours_per_day": 25},
        {"hours_per_day": 0},
        {"years": 0},
        {"kwh_price": -1},
        {"budget_usd": -5},
        {"price_kind": "refurbished"},
    ],
)
def test_bad_arguments_are_user_errors(kwargs):
    df = frame(row(RTX4090, "matmul", 150.0, dtype="bf16"))
    with pytest.raises(GpubenchError):
        recommend(df, "matmul/bf16", **kwargs)


# ------------------------------------------------------------------------------------------- estimates


def test_unmeasured_catalog_devices_are_labelled_estimates(catalog):
    df = frame(row(RTX4090, "matmul", 150.0, 400.0, dtype="bf16"))
    out = recommend(df, "matmul/bf16", catalog=subset(catalog, "rtx-4090", "rtx-3080"))
    by_slug = out.set_index("slug")
    assert by_slug.loc["rtx-4090", "basis"] == "measured" and by_slug.loc["rtx-4090", "yours"]
    assert by_slug.loc["rtx-4090", "throughput"] == 150.0  # never altered by the estimates
    est = by_slug.loc["rtx-3080"]  # nobody published its bf16 GEMM
    assert est["basis"] == "estimated" and not est["yours"]
    assert 0 < est["throughput"] < 59.5 * 1.3  # its datasheet peak x an efficiency
    assert est["avg_power_w"] == 320 and est["power_source"] == "TDP"
    assert est["n_runs"] == 0

    plain = recommend(df, "matmul/bf16", catalog=subset(catalog, "rtx-4090", "rtx-3080"), estimates=False)
    assert list(plain["basis"]) == ["measured"]


def test_a_run_calibrates_its_architecture_family(catalog):
    # A 3090 measured at 80 % of what the model predicts for it pulls the 3080 (same family) down by as much,
    # and leaves the 4090 (another family) alone.
    cat = subset(catalog, "rtx-3090", "rtx-3080", "rtx-4090", "a100-sxm-80gb")
    base = recommend(None, "matmul/bf16", catalog=cat).set_index("slug")
    df = frame(row(RTX3090, "matmul", 0.8 * base.loc["rtx-3090", "throughput"], dtype="bf16"))
    out = recommend(df, "matmul/bf16", catalog=cat).set_index("slug")
    assert out.loc["rtx-3080", "throughput"] == pytest.approx(0.8 * base.loc["rtx-3080", "throughput"])
    assert "calibrated" in out.loc["rtx-3080", "basis_detail"]
    assert out.loc["rtx-4090", "throughput"] == pytest.approx(base.loc["rtx-4090", "throughput"])


def test_objectives_reorder_and_budget_names_the_cheapest():
    fastest = recommend(None, "matmul/bf16", objective="throughput")
    assert fastest["throughput"].is_monotonic_decreasing
    per_usd = recommend(None, "matmul/bf16", objective="per-usd")
    priced = per_usd[per_usd["throughput_per_usd"].notna()]
    assert priced["throughput_per_usd"].is_monotonic_decreasing
    none = recommend(None, "matmul/bf16", budget_usd=100)
    cheapest = min((s for s in load_catalog().values() if s.launch_price_usd), key=lambda s: s.launch_price_usd)
    assert none.empty and none.attrs["cheapest"]["device"] == cheapest.name
    assert none.attrs["cheapest"]["price_usd"] == cheapest.launch_price_usd
    with pytest.raises(GpubenchError, match="objective"):
        recommend(None, "matmul/bf16", objective="speed")


def test_buy_or_rent_break_even_hours():
    out = recommend(
        None, "matmul/bf16", prices={"h100-sxm": {"new_usd": 30000.0, "cloud_usd_per_hour": 3.0}}, kwh_price=0.2
    ).set_index("slug")
    # 700 W TDP at 0.2 USD/kWh = 0.14 USD/h: buying pays after 30000 / (3.0 - 0.14) hours.
    assert out.loc["h100-sxm", "breakeven_hours"] == pytest.approx(30000 / (3.0 - 0.14))
    assert out.loc["l4", "cloud_source"].startswith("default table")


def test_cards_that_cannot_hold_the_workload_are_marked_and_ranked_last(catalog):
    df = frame(
        row(
            RTX4090,
            "train",
            1000.0,
            400.0,
            model="resnet50",
            precision="amp_bf16",
            batch=256,
            peak_memory_bytes=20 * GIB,
        )
    )
    out = recommend(
        df,
        "resnet50/amp_bf16",
        catalog=subset(catalog, "rtx-4090", "rtx-3080", "rtx-3090", "a100-sxm-80gb", "h200-sxm"),
    )
    by_slug = out.set_index("slug")
    assert by_slug.loc["rtx-3080", "fits_memory"] == False  # noqa: E712
    assert "needs 20.0 GB" in by_slug.loc["rtx-3080", "notes"]
    assert bool(by_slug.loc["rtx-3090", "fits_memory"]) and bool(by_slug.loc["rtx-4090", "fits_memory"])
    assert by_slug.loc["rtx-3080", "required_memory_gb"] == pytest.approx(20.0)
    ranked = out[out["ranked"]]
    assert ranked.iloc[-1]["slug"] == "rtx-3080"  # it does not fit: ranked last whatever it costs
    # Unpriced devices (no launch or shipped price) are listed apart, after the ranked ones, without a rank.
    apart = out[~out["ranked"]]
    assert list(apart["slug"]) == ["h200-sxm"] and apart["rank"].isna().all()


def test_required_memory_comes_from_any_run_that_measured_it(catalog):
    df = frame(
        row(RTX4090, "train", 1000.0, model="resnet50", precision="amp_bf16", batch=256),  # no peak memory here
        row(
            H100,
            "train",
            2600.0,
            model="resnet50",
            precision="amp_bf16",
            batch=256,
            peak_memory_bytes=40 * GIB,
        ),
    )
    out = recommend(
        df, "resnet50/amp_bf16", catalog=subset(catalog, "rtx-4090", "h100-sxm", "rtx-5090", "a100-sxm-80gb")
    )
    est = out.set_index("slug").loc["rtx-5090"]
    assert est["required_memory_gb"] == pytest.approx(40.0)
    assert est["fits_memory"] == False  # noqa: E712  (32 GB card)


# ------------------------------------------------------------------------------------ budget and prices


def test_budget_drops_dearer_and_unpriced_devices(catalog):
    df = frame(row(RTX4090, "matmul", 150.0, dtype="bf16"), row(H100, "matmul", 700.0, dtype="bf16"))
    cat = subset(catalog, "rtx-4090", "h100-sxm", "rtx-3080")
    everything = recommend(df, "matmul/bf16", catalog=cat)
    assert set(everything["slug"]) == {"rtx-4090", "h100-sxm", "rtx-3080"}
    cheap = recommend(df, "matmul/bf16", budget_usd=1000, catalog=cat)
    # 4090 costs 1,599; the H100 has no known price: both are yours, so they stay, marked, for comparison.
    assert list(cheap.loc[~cheap["yours"], "slug"]) == ["rtx-3080"]
    assert set(cheap.loc[cheap["yours"], "slug"]) == {"rtx-4090", "h100-sxm"}
    unmeasured = recommend(None, "matmul/bf16", budget_usd=1000, catalog=cat)
    assert list(unmeasured["slug"]) == ["rtx-3080"] and list(unmeasured["rank"]) == [1]
    priced = recommend(df, "matmul/bf16", budget_usd=30_000, prices={"h100-sxm": {"new_usd": 25_000}}, catalog=cat)
    assert set(priced["slug"]) == {"rtx-4090", "h100-sxm", "rtx-3080"}


def _write_prices(tmp_path):
    csv_path = tmp_path / "prices.csv"
    csv_path.write_text(
        "device,new_usd,used_usd,cloud_usd_per_hour\n"
        "rtx-4090,1800,1200,0.40\n"
        'NVIDIA H100 80GB HBM3,"$25,000",,2.50\n'
        "AMD EPYC 7763 64-Core Processor,7000,,\n"
    )
    toml_path = tmp_path / "prices.toml"
    toml_path.write_text(
        "[rtx-4090]\nnew_usd = 1800\nused_usd = 1200\ncloud_usd_per_hour = 0.40\n\n"
        '["NVIDIA H100 80GB HBM3"]\nnew_usd = 25_000\ncloud_usd_per_hour = 2.5\n\n'
        '[[prices]]\ndevice = "AMD EPYC 7763 64-Core Processor"\nnew = 7000\n'
    )
    return csv_path, toml_path


def test_prices_files_csv_and_toml_read_the_same(tmp_path):
    csv_path, toml_path = _write_prices(tmp_path)
    from_csv, from_toml = load_prices(csv_path), load_prices(toml_path)
    assert from_csv == from_toml
    assert from_csv["rtx-4090"] == {"new_usd": 1800.0, "used_usd": 1200.0, "cloud_usd_per_hour": 0.40}
    assert from_csv["NVIDIA H100 80GB HBM3"] == {
        "new_usd": 25000.0,
        "used_usd": None,
        "cloud_usd_per_hour": 2.5,
    }


def test_prices_override_catalog_and_reach_every_kind_of_device(tmp_path, catalog):
    csv_path, _ = _write_prices(tmp_path)
    prices = load_prices(csv_path)
    df = frame(
        row(RTX4090, "matmul", 150.0, 400.0, dtype="bf16"),
        row(H100, "matmul", 700.0, 650.0, dtype="bf16"),
        row(CPU, "matmul", 2.0, 280.0, dtype="bf16"),
    )
    out = recommend(df, "matmul/bf16", prices=prices, catalog=subset(catalog, "rtx-4090", "h100-sxm")).set_index(
        "device"
    )
    assert out.loc["NVIDIA GeForce RTX 4090", "price_usd"] == 1800  # the file beats the launch price
    assert out.loc["NVIDIA GeForce RTX 4090", "price_source"] == "prices file (new)"
    assert out.loc["NVIDIA H100 SXM", "price_usd"] == 25_000  # keyed by torch name, resolved to the entry
    assert out.loc["AMD EPYC 7763 64-Core Processor", "price_usd"] == 7000  # not in the catalog: raw name
    assert out.loc["NVIDIA H100 SXM", "cloud_usd_per_unit"] == pytest.approx(2.5 / (700.0 * 3600))

    used = recommend(
        df, "matmul/bf16", prices=prices, price_kind="used", catalog=subset(catalog, "rtx-4090", "h100-sxm")
    )
    used = used.set_index("device")
    assert used.loc["NVIDIA GeForce RTX 4090", "price_usd"] == 1200
    assert math.isnan(used.loc["NVIDIA H100 SXM", "price_usd"])  # no used price, and launch prices are new


def test_unmatched_price_keys_are_reported(catalog):
    df = frame(row(RTX4090, "matmul", 150.0, dtype="bf16"))
    out = recommend(
        df, "matmul/bf16", prices={"Voodoo 5 6000": {"new_usd": 600.0}}, catalog=subset(catalog, "rtx-4090")
    )
    assert out.attrs["unused_prices"] == ["Voodoo 5 6000"]


def test_gcd_devices_pay_half_the_card_price(catalog):
    gcd = {
        "device_name": "AMD Instinct MI250X/MI250",
        "device_vendor": "amd",
        "device_memory_bytes": 68_702_699_520,
        "power_limit_w": 560.0,
        "device_multiprocessors": 110,
    }
    df = frame(row(gcd, "matmul", 150.0, 250.0, dtype="bf16"))
    out = recommend(
        df, "matmul/bf16", prices={"mi250x-gcd": {"new_usd": 10_000.0}}, catalog=subset(catalog, "mi250x-gcd")
    )
    r = out.iloc[0]
    assert r["device"] == "AMD Instinct MI250X (one GCD)"
    assert r["price_usd"] == 5000
    # The budget is per card (10,000 USD), not per GCD: over 9,000 USD (without a run of one, nothing is left).
    assert recommend(
        None,
        "matmul/bf16",
        budget_usd=9000,
        prices={"mi250x-gcd": {"new_usd": 10_000.0}},
        catalog=subset(catalog, "mi250x-gcd"),
    ).empty


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("p.csv", "device,new_usd\nrtx-4090,-5\n", "non-negative"),
        ("p.csv", "device,new_usd,colour\nrtx-4090,5,red\n", "unknown price field"),
        ("p.csv", "gpu,new_usd\nrtx-4090,5\n", "'device' column"),
        ("p.csv", "device,new_usd\nrtx-4090,cheap\n", "expected a number"),
        ("p.csv", "device,new_usd\nrtx-4090,\n", "no price given"),
        ("p.toml", "[rtx-4090]\nnew_usd = true\n", "expected a number"),
        ("p.toml", "[rtx-4090\n", "not valid TOML"),
        ("p.toml", "rtx = 5\n", "expected a table"),
        ("p.json", "{}", ".csv or .toml"),
        ("p.csv", "device,new_usd\n", "no prices"),
    ],
)
def test_bad_prices_files_are_user_errors(tmp_path, name, text, complaint):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(GpubenchError) as info:
        load_prices(path)
    assert complaint in str(info.value)
    assert name in str(info.value)


def test_missing_prices_file(tmp_path):
    with pytest.raises(GpubenchError, match="not found"):
        load_prices(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_runs(monkeypatch, tmp_path):
    """`gpubench recommend` on a hand-made frame: load_runs is replaced, so no run folder is needed."""
    import gpubench

    df = frame(
        row(RTX4090, "train", 1000.0, 400.0, model="resnet50", precision="amp_bf16", batch=256),
        row(H100, "train", 2600.0, 650.0, model="resnet50", precision="amp_bf16", batch=256),
    )
    monkeypatch.setattr(gpubench, "load_runs", lambda paths, **kw: df)
    return tmp_path


def test_cli_recommend_json(cli_runs):
    import json

    from typer.testing import CliRunner

    from gpubench.cli import app

    prices = cli_runs / "p.toml"
    prices.write_text('["NVIDIA H100 80GB HBM3"]\nnew_usd = 25000\n')
    result = CliRunner().invoke(
        app,
        [
            "recommend",
            str(cli_runs),
            "-w",
            "resnet50/amp_bf16",
            "--prices",
            str(prices),
            "--json",
            "--years",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"]["years"] == 2 and data["inputs"]["workload"] == "resnet50/amp_bf16"
    by_slug = {d["slug"]: d for d in data["devices"]}
    assert by_slug["h100-sxm"]["price_usd"] == 25000 and by_slug["h100-sxm"]["basis"] == "measured"
    assert by_slug["rtx-4090"]["tco_usd"] == pytest.approx(1599 + 0.4 * 24 * 365 * 2 * 0.15)
    assert by_slug["h200-sxm"]["basis"] == "estimated"
    assert "calibrated" in by_slug["h200-sxm"]["basis_detail"]  # the H100 run scales its family
    assert by_slug["h200-sxm"]["price_usd"] is None  # strict JSON: NaN became null


def test_cli_recommend_table_and_errors(cli_runs):
    from typer.testing import CliRunner

    from gpubench.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["recommend", str(cli_runs), "-w", "resnet50/amp_bf16", "--budget", "2000"])
    assert ok.exit_code == 0, ok.output
    assert "4090" in ok.output and "RTX 5090" in ok.output and "H200" not in ok.output  # no price: over budget
    assert "* NVIDIA H100 SXM" in ok.output  # unpriced, but yours: kept and starred
    bad = runner.invoke(app, ["recommend", str(cli_runs), "-w", "vgg16/fp32"])
    assert bad.exit_code == 2
    assert "unknown workload" in bad.output and "closest" in bad.output
    assert "Traceback" not in bad.output


def test_cli_specs():
    import json

    from typer.testing import CliRunner

    from gpubench.cli import app

    runner = CliRunner()
    listing = runner.invoke(app, ["specs", "--json"])
    assert listing.exit_code == 0
    assert {r["slug"] for r in json.loads(listing.stdout)} >= {"h100-sxm", "mi300x", "rtx-4090"}
    one = runner.invoke(app, ["specs", "--match", "NVIDIA H100 PCIe", "--json"])
    assert one.exit_code == 0
    assert json.loads(one.stdout)["figures"]["peak.bf16"]["value"] == 756.5
    none = runner.invoke(app, ["specs", "--match", "NVIDIA GeForce GTX 1080"])
    assert none.exit_code == 2 and "matches no catalog entry" in none.output


def test_your_unpriced_device_stays_beside_the_budgeted_ones():
    df = frame(row(CPU, "matmul", 0.5, dtype="bf16"))
    out = recommend(df, "matmul/bf16", budget_usd=2000)
    mine = out[out["yours"]]
    assert (
        list(mine["basis"]) == ["measured"] and mine.iloc[0]["price_usd"] is None or pd.isna(mine.iloc[0]["price_usd"])
    )
    others = out[~out["yours"]]
    assert len(others) and (others["price_usd"] <= 2000).all()


def test_cli_recommend_without_workload_answers_for_what_the_run_measured(cli_runs):
    from typer.testing import CliRunner

    from gpubench.cli import app

    result = CliRunner().invoke(app, ["recommend", str(cli_runs)])
    assert result.exit_code == 0, result.output
    assert "resnet50/amp_bf16" in result.output and "x yours" in result.output
    assert "* NVIDIA H100 SXM" in result.output


def test_speedup_over_your_device_and_used_prices(cli_runs):
    df = frame(row(RTX4090, "train", 1000.0, 400.0, model="resnet50", precision="amp_bf16", batch=256))
    out = recommend(df, "resnet50/amp_bf16").set_index("slug")
    assert out.loc["rtx-4090", "speedup"] == pytest.approx(1.0)
    assert out.loc["h100-sxm", "speedup"] == pytest.approx(out.loc["h100-sxm", "throughput"] / 1000.0)
    with pytest.raises(GpubenchError, match="used prices"):
        recommend(df, "resnet50/amp_bf16", price_kind="used")
    from typer.testing import CliRunner

    from gpubench.cli import app

    bad = CliRunner().invoke(app, ["recommend", str(cli_runs), "-w", "resnet50/amp_bf16", "--used"])
    assert bad.exit_code == 2 and "used prices" in bad.output and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_per_watt_ranks_skip_devices_without_power():
    out = recommend(None, "memory/d2d", objective="per-watt")
    no_power = out[out["avg_power_w"].isna()]
    assert len(no_power) and no_power["rank"].isna().all() and not no_power["ranked"].any()
    ranked = out[out["ranked"]]
    assert ranked["throughput_per_w"].is_monotonic_decreasing
    assert "no TDP" in out.attrs["unranked_reason"]


def test_cli_llm_questions_and_their_errors(tmp_path):
    import json

    from typer.testing import CliRunner

    from gpubench.cli import app

    runner = CliRunner()
    ok = runner.invoke(
        app, ["recommend", "--llm", "llama-3.1-8b", "--users", "20", "--min-tokens-per-user", "20", "--json"]
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["inputs"]["task"] == "serve" and data["inputs"]["context"] == 4096
    assert {d["slug"]: d["cards"] for d in data["devices"]}["rtx-4090"] == 2
    table = runner.invoke(app, ["recommend", "--llm", "llama-3.1-70b", "--precision", "fp8", "--task", "decode"])
    assert table.exit_code == 0 and "H100 SXM" in table.output and "USD/M out" in table.output
    listed = runner.invoke(app, ["recommend", "--list"])
    assert "llm_decode/llama-3.1-8b/bf16" in listed.output and "llm_lora/llama-3.1-8b/int4" in listed.output
    bad_cfg = tmp_path / "config.json"
    bad_cfg.write_text("{oops")
    for args in (
        ["--llm-config", str(bad_cfg)],
        ["--llm", "llama-9"],
        ["--llm", "llama-3.1-8b", "--task", "chat"],
        ["--llm", "llama-3.1-8b", "--precision", "fp4"],
        ["--llm", "llama-3.1-8b", "--used"],
    ):
        bad = runner.invoke(app, ["recommend", *args])
        assert bad.exit_code == 2, args
        assert "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1, bad.output


def test_a_toy_run_is_compared_only_through_an_estimate_of_its_own_shape():
    cpu = {"device_name": "AMD EPYC 7B13", "device_kind": "cpu", "device_vendor": "cpu"}
    df = frame(row(cpu, "train", 2000.0, model="gpt2", precision="fp32", batch=8, layers=2, width=128))
    (toy,) = available_workloads(df)
    assert toy.startswith("gpt2[")
    out = recommend(df, toy).set_index("device")
    gpus = out[~out["yours"].astype(bool)]
    assert len(gpus) and (gpus["basis"] == "estimated").all()
    assert (gpus["throughput"] >= 2000.0).all()  # no GPU below the CPU on the same shape
    assert gpus["basis_detail"].str.contains("own").all()
    from gpubench.advisor import recommend_measured

    rankings, apart = recommend_measured(df)
    assert rankings == {} and apart == [toy]  # RUN without --workload: listed as not comparable


def test_an_llm_workload_ranks_cards_that_cannot_hold_the_model_after_those_that_can(catalog):
    """Llama-3.1-8B in bf16 is 16 GB of weights: a 10 GB or 16 GB card cannot decode it alone, however cheap."""
    out = recommend(None, "llm_decode/llama-3.1-8b/bf16", catalog=subset(catalog, "rtx-3080", "rtx-4090", "rtx-5080"))
    fits = dict(zip(out["slug"], out["fits_memory"], strict=True))
    assert fits == {"rtx-4090": True, "rtx-3080": False, "rtx-5080": False}
    assert out.iloc[0]["slug"] == "rtx-4090"
