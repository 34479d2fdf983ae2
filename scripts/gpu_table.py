"""The GPU check's closing table: gpubench's figures beside the independent plain-torch references, the LLM
decode bandwidth against the same run's copy bandwidth, sustained vs burst, overlap, and NVML sanity, each with
its target and whether it was met. Works on the dry run's CPU rows too (sizes differ; targets are GPU targets).

Usage: python scripts/gpu_table.py RESULTS_DIR REFERENCE_JSON
"""

import json
import math
import sys

from gpubench.store import load_meta, load_runs


def best(df, **eq):
    """The fastest ok row whose columns equal `eq` (None when no row matches)."""
    sel = df[df.status == "ok"]
    for k, v in eq.items():
        if k not in sel.columns:
            return None
        sel = sel[sel[k] == v]
    return sel.sort_values("throughput", ascending=False).iloc[0] if len(sel) else None


def num(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def verdict(value: float, target: float, above: bool = True) -> str:
    if not math.isfinite(value):
        return "n/a"
    return "met" if (value >= target if above else value <= target) else "MISSED"


def main(results: str, ref_path: str) -> None:
    try:
        with open(ref_path) as f:
            ref = json.load(f)
    except (OSError, json.JSONDecodeError):
        ref = {}
    df = load_runs([results])
    metas = {m["run_id"]: m for m in load_meta([results])}
    big = 8192 if "bf16_8192_tflops" in ref else 512
    copy_size = 2 << 30 if "d2d_2gib_gbps_rw" in ref else 1 << 27
    mm = df[df.benchmark == "matmul"]
    sweep = mm[(mm.get("dtype") == "bf16") & (mm.get("m") != mm.get("n"))] if "n" in mm else mm.iloc[0:0]
    print(f"device: {ref.get('device', '?')}  torch {ref.get('torch', '?')}")
    print(f"{'figure':44s} {'gpubench':>10s} {'reference':>10s} {'ratio':>7s} {'target':>8s}  result")
    pairs = [
        (f"bf16 GEMM {big}^3 TFLOP/s", best(mm, dtype="bf16", m=big, n=big), ref.get(f"bf16_{big}_tflops")),
        ("bf16 MAMF best TFLOP/s", best(sweep), ref.get("mamf_best_tflops")),
        (
            "device copy GB/s (read+write)",
            best(df, benchmark="memory", kind="d2d", size_bytes=copy_size),
            ref.get("d2d_2gib_gbps_rw", ref.get("d2d_64mib_gbps_rw")),
        ),
        (
            "H2D pinned 1 GiB GB/s",
            best(df, benchmark="memory", kind="h2d", pinned=True, size_bytes=1 << 30),
            ref.get("h2d_pinned_1gib_gbps"),
        ),
    ]
    for name, row, r in pairs:
        g = num(row["throughput"]) if row is not None else math.nan
        ratio = g / num(r) if num(r) > 0 else math.nan
        print(f"{name:44s} {g:10.4g} {num(r):10.4g} {ratio:7.3f} {'>= 0.97':>8s}  {verdict(ratio, 0.97)}")
    decode = df[(df.benchmark == "llm_decode") & (df.status == "ok")]
    copy_row = best(df, benchmark="memory", kind="d2d", size_bytes=copy_size)
    for _, row in decode.iterrows():
        # The LLM step is its own run: its rows relate to the memory step's copy when they have no copy of their own.
        copy = num(row.get("copy_bandwidth_gbps"))
        if not copy > 0 and copy_row is not None:
            copy = num(copy_row["throughput"])
        pct = num(row.get("achieved_gbps")) / copy if copy > 0 else math.nan
        target = ">= 0.8" if row.get("batch") == 1 else ""
        result = verdict(pct, 0.8) if target else ""
        print(
            f"{'decode ' + str(row.get('preset')) + ' B=' + str(row.get('batch')) + ' GB/s / copy':44s}"
            f" {num(row.get('achieved_gbps')):10.4g} {copy:10.4g} {pct:7.3f}"
            f" {target:>8s}  {result}"
        )
    for _, row in df[(df.benchmark == "sustained") & (df.status == "ok")].iterrows():
        print(
            f"{'sustained / burst TFLOP/s':44s} {num(row.get('sustained_throughput')):10.4g}"
            f" {num(row.get('burst_throughput')):10.4g} {num(row.get('sustained_over_burst')):7.3f}"
            f"           first throttle {num(row.get('first_throttle_s')):.0f} s {row.get('throttle_reasons_seen', '')}"
        )
    for _, row in df[(df.benchmark == "overlap") & (df.status == "ok")].iterrows():
        print(f"{'overlap fraction, ' + row['case_id'][8:40]:44s} {num(row.get('overlap_fraction')):10.3f}")
    print()
    print("telemetry sanity (power under load vs idle; energy counter vs integrated power, target within 5%):")
    for _, row in df[(df.status == "ok") & df.get("avg_power_w", df.status).notna()].iterrows():
        if not num(row.get("avg_power_w")) > 0:
            continue
        idle = num((metas.get(row["run_id"], {}).get("telemetry") or {}).get("idle_power_w"))
        counter, integ = num(row.get("energy_counter_j")), num(row.get("energy_integrated_j"))
        ratio = counter / integ if integ > 0 else math.nan
        print(
            f"  {row['case_id'][:60]:60s} {num(row.get('avg_power_w')):5.0f} W (idle {idle:4.0f} W)"
            f" counter/integrated {ratio:6.3f} {verdict(abs(ratio - 1), 0.05, above=False)}"
            f" throttle '{row.get('throttle_reasons', '')}'"
        )
    bad = df[df.status.isin(["failed", "wrong"])]
    for _, row in bad.iterrows():
        print(f"  PROBLEM {row['case_id']}: {row['status']}: {row['reason']}")
    print(f"{len(df)} case(s): " + ", ".join(f"{n} {s}" for s, n in df.status.value_counts().items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
