"""Training and inference workloads (CNN, RNN, GAN, transformer): benchmarks `train`, `infer`, `max_batch`.

Models live in `nets`, their synthetic data, losses and defaults in `zoo`; importing this package
registers the benchmarks.
"""

from gpubench.benchmarks.models import infer, train  # noqa: F401  (register on import)
