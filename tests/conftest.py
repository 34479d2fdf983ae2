from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile

import pytest

# Tables gpubench caches per user (gpubench.cache) go to a folder of this test session, not the user's cache;
# the folder goes with the session.
if "GPUBENCH_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="gpubench-test-cache-")
    os.environ["GPUBENCH_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def _has_gpu() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a CUDA or ROCm GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
