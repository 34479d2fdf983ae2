"""gpubench: how fast is this accelerator at deep-learning work, what does it cost in watts, which card to buy.

Importing the package is cheap and never imports torch: `load_runs` and the report work on any laptop.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_runs"]


def load_runs(paths, **kwargs):  # noqa: ANN001, ANN201 - thin re-export, documented in store.load_runs
    """Load run folders into one DataFrame (a row per case, run metadata joined). See `gpubench.store.load_runs`."""
    from gpubench.store import load_runs as _load_runs

    return _load_runs(paths, **kwargs)
