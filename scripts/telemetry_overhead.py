"""How much does the telemetry sampler slow a benchmark down? A matmul loop, sampler on vs off.

Rounds alternate off/on, on/off (ABBA) so drift of the machine (clocks, temperature, other load) hits
both arms alike; medians and bests of each arm are compared. Also times `reader.read()` alone (its
cost times the rate is the sampler's CPU budget) and, for every sampled round, compares the energy
from the hardware counter with integrated power.

    python scripts/telemetry_overhead.py                          # CPU matmul, CPU reader (RAPL/psutil)
    python scripts/telemetry_overhead.py --reader null
    python scripts/telemetry_overhead.py --device cuda            # bf16 GPU matmul, NVML reader
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from gpubench.telemetry import NullReader, Reader, Sampler, case_aggregates, open_reader


def open_for(kind: str) -> Reader:
    if kind == "null":
        return NullReader("overhead test")
    if kind == "nvidia":
        props = torch.cuda.get_device_properties(0)
        bus = f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
        info = {"vendor": "nvidia", "uuid": str(props.uuid), "pci_bus_id": bus, "index": 0}
        return open_reader(info, "required")[0]
    return open_reader({"vendor": "cpu"}, "auto")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--reader", choices=("cpu", "null", "nvidia"), default=None)
    parser.add_argument("--hz", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=8, help="rounds per arm")
    parser.add_argument("--size", type=int, default=None, help="matrix size (default 512 CPU, 8192 GPU)")
    parser.add_argument("--round-s", type=float, default=1.0, help="target seconds per round")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    reader = open_for(args.reader or ("nvidia" if cuda else "cpu"))
    print(f"reader={reader.name} static_info={reader.static_info()}")
    print(f"one reading: {reader.read()}")

    n_reads = 200
    t0 = time.perf_counter()
    for _ in range(n_reads):
        reader.read()
    read_us = (time.perf_counter() - t0) / n_reads * 1e6
    print(f"reader.read(): {read_us:.1f} us per call = {read_us * args.hz / 1e4:.3f}% of one core at {args.hz:g} Hz")

    size = args.size or (8192 if cuda else 512)
    dtype = torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(0)
    a = torch.randn(size, size, device=args.device, dtype=dtype)
    b = torch.randn(size, size, device=args.device, dtype=dtype)

    def matmul_round(steps: int) -> tuple[float, int, int]:
        if cuda:
            torch.cuda.synchronize()
        start_ns = time.monotonic_ns()
        start = time.perf_counter()
        for _ in range(steps):
            torch.mm(a, b)
        if cuda:
            torch.cuda.synchronize()  # one sync per round, not per step
        return time.perf_counter() - start, start_ns, time.monotonic_ns()

    matmul_round(10)  # warm up
    per_step = matmul_round(20)[0] / 20
    steps = max(1, round(args.round_s / per_step))
    matmul_round(steps)  # let clocks settle before the first measured round
    print(f"device={args.device} size={size} dtype={dtype} torch threads={torch.get_num_threads()} steps/round={steps}")

    off: list[float] = []
    on: list[float] = []
    aggs: list[dict] = []
    for i in range(args.rounds):
        for arm in ("off", "on") if i % 2 == 0 else ("on", "off"):
            if arm == "off":
                off.append(matmul_round(steps)[0])
                continue
            with Sampler(reader, hz=args.hz) as sampler:
                seconds, start_ns, end_ns = matmul_round(steps)
            on.append(seconds)
            aggs.append(case_aggregates(sampler.frame(), start_ns, end_ns))
    reader.close()

    med_off, med_on = statistics.median(off), statistics.median(on)
    print(f"off: median {med_off:.4f} s  (min {min(off):.4f}, max {max(off):.4f})")
    print(f"on:  median {med_on:.4f} s  (min {min(on):.4f}, max {max(on):.4f})")
    print(
        f"slowdown with the sampler at {args.hz:g} Hz: median {100 * (med_on - med_off) / med_off:+.2f}%, "
        f"best {100 * (min(on) - min(off)) / min(off):+.2f}%"
    )
    samples = [agg["telemetry_samples"] for agg in aggs]
    print(f"samples per sampled round: {statistics.mean(samples):.1f} (expected ~{args.hz * med_on:.1f})")
    for key in ("avg_power_w", "peak_power_w", "peak_temp_c", "mean_sm_clock_mhz", "mean_util_pct"):
        values = [agg[key] for agg in aggs if math.isfinite(agg[key])]
        if values:
            print(f"{key}: median {statistics.median(values):.1f}")
    ratios = [
        agg["energy_counter_j"] / agg["energy_integrated_j"]
        for agg in aggs
        if math.isfinite(agg["energy_counter_j"]) and agg["energy_integrated_j"] > 0
    ]
    if ratios:
        print(f"energy counter / integrated power per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"throttle reasons seen: {sorted({agg['throttle_reasons'] for agg in aggs})}")


if __name__ == "__main__":
    main()
