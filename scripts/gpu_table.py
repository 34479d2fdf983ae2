"""Print gpubench's GPU figures next to the independent reference, and NVML sanity checks.

Usage: python scripts/gpu_table.py RESULTS_DIR REFERENCE_JSON
"""

import json
import math
import sys

from gpubench.store import load_meta, load_runs


def best(df, **eq):
    sel = df[df.status == "ok"]
    for k, v in eq.items():
        if k not in sel.columns:
            return None
        sel = sel[sel[k] == v]
    return sel.sort_values("throughput", ascending=False).iloc[0] if len(sel) else None


def main(results: str, ref_path: str) -> None:
    with open(ref_path) as f:
        ref = json.load(f)
    df = load_runs([results])
    metas = {m["run_id"]: m for m in load_meta([results])}
    std = df[df.suite == "standard"]
    sweep = std[(std.benchmark == "matmul") & (std.get("dtype") == "bf16") & (std.get("n") == 4096)]
    rows = [
        (
            "bf16 GEMM 8192^3 TFLOP/s",
            best(std, benchmark="matmul", dtype="bf16", m=8192),
            ref.get("bf16_8192_tflops"),
        ),
        ("bf16 MAMF best (N=K=4096) TFLOP/s", best(sweep, k=4096), ref.get("mamf_best_tflops")),
        (
            "D2D copy 2 GiB GB/s (r+w)",
            best(std, benchmark="memory", kind="d2d", size_bytes=2 << 30),
            ref.get("d2d_2gib_gbps_rw"),
        ),
        (
            "H2D pinned 1 GiB GB/s",
            best(std, benchmark="memory", kind="h2d", pinned=True, size_bytes=1 << 30),
            ref.get("h2d_pinned_1gib_gbps"),
        ),
    ]
    print(f"device: {ref.get('device')}  torch {ref.get('torch')}")
    print(f"{'figure':40s} {'gpubench':>10s} {'reference':>10s} {'ratio':>7s} {'%peak':>7s}")
    for name, row, r in rows:
        g = row["throughput"] if row is not None else math.nan
        pct = row.get("pct_of_peak") if row is not None else None
        r = r if r is not None else math.nan
        print(
            f"{name:40s} {g:10.1f} {r:10.1f} {g / r if r else math.nan:7.3f} {pct if pct is not None else math.nan:7.1f}"
        )
    print()
    print("NVML sanity (power suite, sustained cases):")
    for _, row in df[df.suite == "power"].iterrows():
        meta = metas[row["run_id"]]
        idle = meta.get("telemetry", {}).get("idle_power_w")
        counter, integ = row.get("energy_counter_j"), row.get("energy_integrated_j")
        ratio = counter / integ if counter and integ else math.nan
        print(
            f"  {row['case_id']}: {row['status']}, avg {row.get('avg_power_w', math.nan):.0f} W (idle {idle or math.nan:.0f} W),"
            f" peak {row.get('peak_power_w', math.nan):.0f} W, counter {counter or math.nan:.0f} J vs integrated"
            f" {integ or math.nan:.0f} J (ratio {ratio:.3f}), SM {row.get('mean_sm_clock_mhz', math.nan):.0f} MHz,"
            f" peak {row.get('peak_temp_c', math.nan):.0f} C, throttle '{row.get('throttle_reasons', '')}'"
            f" {row.get('throttled_pct', math.nan):.0f}%"
        )
    train = df[(df.suite == "training") & (df.status == "ok")]
    if len(train):
        print()
        print("training/inference:")
        for _, row in train.iterrows():
            print(
                f"  {row['case_id']}: {row['throughput']:.0f} {row['throughput_unit']}"
                f" ({row.get('tflops', math.nan):.1f} TFLOP/s, mfu {row.get('mfu', math.nan)})"
            )
    bad = df[df.status.isin(["failed", "wrong"])]
    for _, row in bad.iterrows():
        print(f"  PROBLEM {row['case_id']}: {row['status']}: {row['reason']}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
