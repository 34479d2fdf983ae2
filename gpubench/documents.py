"""The declared shapes (pydantic models) of the documents gpubench.inputs checks: a suite's TOML and a run
folder's run.json. Imported only when a document is validated: pydantic and building these models cost a
noticeable part of a second, which `gpubench --help`, `list` and the first line of `run` do not wait for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from gpubench.limits import LIMITS
from gpubench.run_shape import RUN_JSON, Section

# ------------------------------------------------------------------------------------------------ suites

Scalar = bool | int | float | str


class _Range(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    range: list[int] = Field(min_length=3, max_length=3)

    @field_validator("range")
    @classmethod
    def _bounded(cls, value: list[int]) -> list[int]:
        start, stop, step = value
        if step <= 0:
            raise ValueError(f"step {step}: must be > 0")
        count = max(0, (stop - start) // step + 1)  # arithmetic, not len(range(...)): no OverflowError
        if count > LIMITS.range_values:
            raise ValueError(f"{count:,} values; at most {LIMITS.range_values:,}")
        return value


class SuiteEntry(BaseModel):
    """One `[[benchmarks]]` entry: the benchmark's name and parameters (values checked by the benchmark's spec)."""

    model_config = ConfigDict(strict=True, extra="allow")
    benchmark: str
    label: str = ""
    __pydantic_extra__: dict[str, Scalar | list[Scalar] | _Range]


class SuiteDocument(BaseModel):
    """The shape of a suite file; gpubench.suite checks the values against each benchmark's declaration."""

    model_config = ConfigDict(strict=True, extra="allow")  # unknown keys: gpubench.suite names them all
    name: str | None = None
    description: str = ""
    defaults: dict[str, float] = Field(default_factory=dict)  # strict: an int passes, true does not
    benchmarks: list[SuiteEntry] = Field(min_length=1)


# --------------------------------------------------------------------------------------------- run.json


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)


_TYPES: dict[str, type] = {"int": int, "float": float, "str": str}


def _model(name: str, shape: Section) -> type[BaseModel]:
    """The pydantic model of a section of gpubench.run_shape's declaration (sub-sections become sub-models)."""
    fields: dict[str, Any] = {}
    for key, declared in shape.fields.items():
        if isinstance(declared, Section):
            sub = _model(f"{name}_{key}", declared)
            if declared.nullable:
                fields[key] = (sub | None, None)
            else:
                fields[key] = (sub, Field(default_factory=sub))
            continue
        kind: Any = _TYPES[declared.kind]
        bounds = {
            k: v
            for k, v in (
                ("ge", declared.ge),
                ("gt", declared.gt),
                ("le", declared.le),
                ("min_length", declared.min_length),
            )
            if v is not None
        }
        if declared.optional:
            fields[key] = (kind | None, Field(default=None, **bounds))
        else:
            fields[key] = (kind, Field(..., **bounds))
    return create_model(name, __base__=_Section, **fields)


RunMeta = _model("RunMeta", RUN_JSON)
"""run.json: the fields any reader uses, with their types; other keys pass through untouched (declared in
gpubench.run_shape, which also checks a document without pydantic)."""
