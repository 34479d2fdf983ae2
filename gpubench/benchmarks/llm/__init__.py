"""LLM workloads: a Llama-style decoder in the shapes people run, and the benchmarks built on it.

`presets` (shapes, parameter counts, FLOPs and bytes per step, memory capacity) and `workloads` (identity and
costs of a row) import no torch, so the report and the advisor can use them; each benchmark's spec is
`<name>_spec.py`, its torch workload `prefill`, `decode`, `capacity`, `attention` or `train`.
"""
