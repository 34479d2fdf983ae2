"""Bounds on what gpubench reads from outside, declared once (gpubench.inputs enforces them; gpubench.documents'
models use them too). Torch- and pydantic-free, so both can import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on what an input may hold, declared once. A file beyond them is refused with the limit named."""

    depth: int = 32  # nesting of tables / lists / objects in TOML and JSON
    toml_bytes: int = 1 << 20  # a suite or a prices TOML
    json_bytes: int = 16 << 20  # run.json (a distributed run lists every rank: still far below)
    prices_bytes: int = 4 << 20  # a prices CSV
    csv_field_bytes: int = 64 << 10  # one CSV cell
    parquet_bytes: int = 8 << 30  # a measurements / telemetry / ranks Parquet file
    int_abs: int = 2**63 - 1  # every integer is stored in an int64 column somewhere
    float_abs: float = 1e300  # beyond this a product or a reciprocal overflows
    text_chars: int = 100_000  # one string value in a document
    range_values: int = 10_000_000  # values of one {range = [start, stop, step]} (suites cap cases lower)


LIMITS = Limits()
