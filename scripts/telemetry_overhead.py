"""How much does the telemetry sampler slow a benchmark down? CPU matmul loop, sampler on vs off.

Rounds alternate off/on/on/off (ABBA) so drift of the machine (thermal, other load) hits both arms
alike; the median of each arm is compared. Also times `reader.read()` alone: its cost times the
sampling rate is the sampler's CPU budget.

    python scripts/telemetry_overhead.py [--reader cpu|null|nvidia] [--hz 20] [--rounds 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gpubench.telemetry import NullReader, Sampler, open_reader


def matmul_round(a: torch.Tensor, b: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        torch.mm(a, b)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", choices=("cpu", "null", "nvidia"), default="cpu")
    parser.add_argument("--hz", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=8, help="rounds per arm")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--round-s", type=float, default=1.0, help="target seconds per round")
    args = parser.parse_args()

    if args.reader == "null":
        reader = NullReader("overhead test")
    elif args.reader == "nvidia":
        props = torch.cuda.get_device_properties(0)
        reader, reason = open_reader({"vendor": "nvidia", "uuid": str(props.uuid), "index": 0}, "required")
    else:
        reader, reason = open_reader({"vendor": "cpu"}, "auto")
    print(f"reader={reader.name} info={reader.static_info()}")

    n_reads = 200
    t0 = time.perf_counter()
    for _ in range(n_reads):
        reader.read()
    read_us = (time.perf_counter() - t0) / n_reads * 1e6
    print(
        f"reader.read(): {read_us:.1f} us per call -> {read_us * args.hz / 1e4:.3f}% of one core at {args.hz:g} Hz"
    )

    torch.manual_seed(0)
    a = torch.randn(args.size, args.size)
    b = torch.randn(args.size, args.size)
    matmul_round(a, b, 5)  # warm up
    per_step = matmul_round(a, b, 20) / 20
    steps = max(1, round(args.round_s / per_step))
    print(f"torch threads={torch.get_num_threads()} size={args.size} steps/round={steps}")

    off: list[float] = []
    on: list[float] = []
    samples = 0
    for i in range(args.rounds):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for arm in order:
            if arm == "off":
                off.append(matmul_round(a, b, steps))
            else:
                with Sampler(reader, hz=args.hz) as sampler:
                    on.append(matmul_round(a, b, steps))
                samples += len(sampler.samples)
    reader.close()
    med_off, med_on = statistics.median(off), statistics.median(on)
    print(f"off: median {med_off:.4f} s  (min {min(off):.4f}, max {max(off):.4f})")
    print(
        f"on:  median {med_on:.4f} s  (min {min(on):.4f}, max {max(on):.4f}); {samples / len(on):.1f} samples/round"
    )
    print(
        f"slowdown with sampler at {args.hz:g} Hz: median {100 * (med_on - med_off) / med_off:+.2f}%, "
        f"best-of {100 * (min(on) - min(off)) / min(off):+.2f}%"
    )


if __name__ == "__main__":
    main()
