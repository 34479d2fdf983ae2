"""LLM workloads: a Llama-style decoder in the shapes people run, and the benchmarks built on it.

`presets` (shapes, parameter counts, FLOPs and bytes per step, memory capacity) imports no torch, so the
report and the advisor can use it; `register` imports the torch benchmarks (`llm_prefill`, `llm_decode`,
`llm_capacity`, `attention`, `llm_train`) and is what gpubench.benchmarks.BENCHMARK_MODULES names.
"""
