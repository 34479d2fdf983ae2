"""Training and inference workloads (CNN, RNN, GAN, transformer): benchmarks `train`, `infer`, `max_batch`.

`catalog` lists the models as data (no torch); `nets` holds the networks and `zoo` their synthetic data,
losses and training helpers (torch). Each benchmark's spec is `<name>_spec.py`; its factory is in `train`
or `infer`.
"""
