"""Input pipeline: the same training step fed from data already on the device or by a DataLoader.

The other training benchmarks keep their batch on the device, so they measure the device alone. A real run
decodes and augments every sample on the host, batches it, copies it over: if that is slower than the step,
the device waits. Here the mnist_cnn training step is fed three ways:

- `source = "device"`: every sample decoded once, up front, and kept on the device; the step slices a batch;
- `source = "loader"`: a `torch.utils.data.DataLoader` over a synthetic dataset whose `__getitem__` decodes
  (random bytes from a per-sample seed, standing in for a JPEG) and augments (random crop and flip, normalise)
  on the host, with `workers` worker processes (0 = in the training process), optionally `pin_memory` and
  `non_blocking` copies to the device.

Samples/s is the row's throughput; the fraction of the step spent waiting for data is 1 - (device-fed step
time / loader-fed step time), from two rows of one run (the report pairs them). The check walks one full epoch
of the same loader and demands every sample exactly once.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from gpubench import devices
from gpubench.benchmarks.input_pipeline_spec import normalize
from gpubench.benchmarks.models.nets import MnistCNN
from gpubench.benchmarks.models.zoo import classifier_loss
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

SIDE, PAD, CLASSES, SEED = 28, 4, 10, 4_000_037


class SyntheticImages(Dataset):
    """`n` grey images: 'decoded' from a per-sample seed, then cropped, flipped and normalised on the host.

    Module level, so worker processes started by fork or spawn alike can use it. Returns (image, label, index):
    the index lets the check prove that every sample arrives once per epoch.
    """

    def __init__(self, n: int, augment: bool = True) -> None:
        self.n = n
        self.augment = augment

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        gen = torch.Generator().manual_seed(SEED + i)
        raw = torch.randint(0, 256, (1, SIDE + PAD, SIDE + PAD), dtype=torch.uint8, generator=gen)  # "decode"
        if self.augment:
            dy, dx, flip = torch.randint(0, PAD + 1, (3,), generator=gen).tolist()
        else:
            dy = dx = flip = 0
        img = raw[:, dy : dy + SIDE, dx : dx + SIDE]
        if flip % 2:
            img = img.flip(-1)
        x = (img.float() / 255.0 - 0.5) / 0.25
        return x, i % CLASSES, i


def input_pipeline(case: Case, device: torch.device) -> Workload:
    p = normalize(case.as_dict())
    source, batch, samples = str(p["source"]), int(p["batch"]), int(p["samples"])
    workers, pin = int(p["workers"]), bool(p["pin_memory"])
    if pin and devices.get(device).is_host:
        raise Unsupported("pin_memory speeds host -> GPU copies; the CPU device copies nothing")
    torch.manual_seed(SEED)
    net = MnistCNN(CLASSES).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    dataset = SyntheticImages(samples)
    loader: DataLoader | None = None
    it: Iterator[Any] | None = None

    def train(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = classifier_loss(net, {"x": x, "y": y})
        loss.backward()
        opt.step()
        return loss

    if source == "device":
        xs, ys, _ = (t.to(device) for t in next(iter(DataLoader(dataset, batch_size=samples))))
        cursor = [0]

        def step() -> torch.Tensor:
            lo = cursor[0]
            cursor[0] = (lo + batch) % samples
            return train(xs[lo : lo + batch], ys[lo : lo + batch])

        def epoch_indices() -> list[int]:
            return [i for lo in range(0, samples, batch) for i in range(lo, lo + batch)]
    else:
        # A seeded shuffle: each epoch a new order, every sample once. Persistent workers live for the case.
        loader = DataLoader(
            dataset,
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(SEED),
        )
        it = iter(loader)

        def step() -> torch.Tensor:
            nonlocal it
            assert loader is not None
            try:
                x, y, _ = next(it)  # type: ignore[arg-type]
            except StopIteration:  # the epoch ended: start the next one (the workers stay)
                it = iter(loader)
                x, y, _ = next(it)
            return train(x.to(device, non_blocking=pin), y.to(device, non_blocking=pin))

        def epoch_indices() -> list[int]:
            assert loader is not None
            return [i for _, _, idx in loader for i in idx.tolist()]

    def check() -> CheckResult:
        seen = epoch_indices()
        missing = samples - len(set(seen))
        repeated = len(seen) - len(set(seen))
        loss = float(step().detach())
        bad = missing + repeated + (0 if math.isfinite(loss) else 1)
        return CheckResult(
            float(bad),
            0.0,
            f"one epoch: {len(seen)} samples delivered of {samples}, "
            f"{missing} missing, {repeated} repeated; loss {loss:.3g}",
        )

    def close() -> None:
        nonlocal it, loader
        it = loader = None  # the last references: the persistent workers are shut down here
        gc.collect()

    return Workload(
        step=step,
        work=Work(float(batch), "sample"),
        check=check,
        info={"model": "mnist_cnn", "dataset_samples": samples, "host_augment": "crop+flip+normalise"},
        close=close,
    )
