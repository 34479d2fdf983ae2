"""Independent reference measurements in plain torch, written apart from gpubench's code on purpose.

gpubench's figures are checked against these: same hardware, same moment, a different implementation.
Prints one JSON object. Usage: python scripts/reference_bench.py [--quick] > ref.json
"""

import json
import sys
import time

import torch


def events_per_iter(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / iters


def gemm_tflops(m, n, k, iters, warmup):
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    t = events_per_iter(lambda: a @ b, iters, warmup)
    return 2 * m * n * k / t / 1e12


def main():
    quick = "--quick" in sys.argv
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no GPU"}))
        return
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    # Long warm-up first: clocks take seconds to settle once GEMMs start.
    t0 = time.time()
    gemm_tflops(8192, 8192, 8192, 10, 200 if not quick else 5)
    out["warmup_s"] = time.time() - t0
    out["bf16_8192_tflops"] = gemm_tflops(8192, 8192, 8192, 100 if not quick else 5, 10)
    sweep = {}
    for m in range(1024, 20481, 2048 if not quick else 8192):
        sweep[m] = gemm_tflops(m, 4096, 4096, 50 if not quick else 3, 10)
    out["mamf_sweep_tflops"] = sweep
    out["mamf_best_tflops"] = max(sweep.values())
    size = 2 << 30 if not quick else 64 << 20
    src = torch.randint(0, 255, (size,), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    t = events_per_iter(lambda: dst.copy_(src), 20 if not quick else 3, 3)
    out["d2d_2gib_gbps_rw"] = 2 * size / t / 1e9
    assert torch.equal(src, dst)
    size = 1 << 30 if not quick else 64 << 20
    host = torch.randint(0, 255, (size,), dtype=torch.uint8).pin_memory()
    dev = torch.empty(size, dtype=torch.uint8, device="cuda")
    t = events_per_iter(lambda: dev.copy_(host, non_blocking=True), 10 if not quick else 2, 2)
    out["h2d_pinned_1gib_gbps"] = size / t / 1e9
    print(json.dumps(out))


if __name__ == "__main__":
    main()
