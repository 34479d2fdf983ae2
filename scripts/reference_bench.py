"""Independent reference measurements in plain torch, written apart from gpubench's code on purpose.

gpubench's figures are checked against these: same hardware, same moment, a different implementation.
Prints one JSON object. Usage: python scripts/reference_bench.py [--device cuda|cpu] [--quick] > ref.json
(`--device cpu --quick` is the GPU check's dry run: the same code path at tiny sizes.)
"""

import json
import sys
import time

import torch


def per_iter(fn, iters, warmup, device):
    """Seconds per call: CUDA events around the loop on a GPU, the host clock after a drain on the CPU."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def gemm_tflops(m, n, k, iters, warmup, device):
    a = torch.randn(m, k, device=device, dtype=torch.bfloat16)
    b = torch.randn(k, n, device=device, dtype=torch.bfloat16)
    return 2 * m * n * k / per_iter(lambda: a @ b, iters, warmup, device) / 1e12


def main():
    quick = "--quick" in sys.argv
    name = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"
    if name == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": "no GPU"}))
        return
    device = torch.device(name)
    gpu = device.type == "cuda"
    out = {"device": torch.cuda.get_device_name(0) if gpu else "cpu", "torch": torch.__version__}
    big = 8192 if not quick else 512
    # Long warm-up first: clocks take seconds to settle once GEMMs start.
    t0 = time.time()
    gemm_tflops(big, big, big, 10, 200 if not quick else 2, device)
    out["warmup_s"] = time.time() - t0
    out["bf16_8192_tflops" if not quick else "bf16_512_tflops"] = gemm_tflops(
        big, big, big, 100 if not quick else 3, 5, device
    )
    sweep = {}
    nk = 4096 if not quick else 512
    for m in range(1024, 20481, 1024) if not quick else (256, 512):
        sweep[m] = gemm_tflops(m, nk, nk, 50 if not quick else 3, 5, device)
    out["mamf_sweep_tflops"] = sweep
    out["mamf_best_tflops"] = max(sweep.values())
    size = 2 << 30 if not quick else 64 << 20
    src = torch.randint(0, 255, (size,), dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    t = per_iter(lambda: dst.copy_(src), 20 if not quick else 3, 3, device)
    out["d2d_2gib_gbps_rw" if not quick else "d2d_64mib_gbps_rw"] = 2 * size / t / 1e9
    assert torch.equal(src, dst)
    if gpu:
        size = 1 << 30 if not quick else 64 << 20
        host = torch.randint(0, 255, (size,), dtype=torch.uint8).pin_memory()
        dev = torch.empty(size, dtype=torch.uint8, device=device)
        t = per_iter(lambda: dev.copy_(host, non_blocking=True), 10 if not quick else 2, 2, device)
        out["h2d_pinned_1gib_gbps"] = size / t / 1e9
        assert torch.equal(host, dev.cpu())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
