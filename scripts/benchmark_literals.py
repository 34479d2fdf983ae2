"""Count string literals equal to a benchmark name outside gpubench/benchmarks/ (issue 22: code outside the specs
asks a spec instead of comparing benchmark names).

    python scripts/benchmark_literals.py [ROOT]     # per-file counts, most first, and the total

A literal names a benchmark when its value is the name, or starts with the name and "/" or "[" (a workload key
such as "matmul/bf16" or "train/", a case id such as "matmul[dtype=bf16]"); f-string pieces count. Docstrings
are not counted (they are prose). The names come from the catalogue when it imports, else BENCHMARK_NAMES.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# The names of today's benchmarks, for trees whose catalogue cannot be imported (a checkout of an old commit).
BENCHMARK_NAMES = (
    "matmul",
    "memory",
    "train",
    "infer",
    "max_batch",
    "collective",
    "ddp_train",
    "memory_stride",
    "overlap",
    "input_pipeline",
    "pipeline",
    "sustained",
    "llm_prefill",
    "llm_decode",
    "llm_capacity",
    "attention",
    "llm_train",
)


def benchmark_names() -> tuple[str, ...]:
    try:
        from gpubench.benchmarks.catalog import NAMES
    except ImportError:
        return BENCHMARK_NAMES
    return tuple(NAMES)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (first statement of a module, class or function)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def names_benchmark(value: str, names: frozenset[str]) -> bool:
    head = value.split("/", 1)[0].split("[", 1)[0]
    return head in names


def count_file(path: Path, names: frozenset[str]) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and names_benchmark(node.value, names)
    )


def count_tree(root: Path, names: tuple[str, ...] | None = None) -> dict[str, int]:
    """{path relative to root: count} for every file of root/gpubench outside gpubench/benchmarks/ (non-zero)."""
    wanted = frozenset(names or benchmark_names())
    package = root / "gpubench"
    out = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("gpubench/benchmarks/"):
            continue
        n = count_file(path, wanted)
        if n:
            out[rel] = n
    return out


def table(counts: dict[str, int]) -> str:
    lines = [f"{n:4d}  {path}" for path, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append(f"{sum(counts.values()):4d}  total")
    return "\n".join(lines)


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print(table(count_tree(root)))
