"""Importing this module registers every LLM benchmark (it imports torch)."""

from gpubench.benchmarks.llm import attention, capacity, decode, prefill, train  # noqa: F401
