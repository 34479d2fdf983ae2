"""The shape of a run folder's run.json, declared once: the fields any reader uses, their types and bounds
(unknown keys pass through untouched).

Two readers of the one declaration: `fits` checks a parsed document in plain Python, and
gpubench.documents builds the pydantic model `RunMeta` from it. A report reads the run.json of every run it
draws; `fits` answers for a document gpubench wrote without importing pydantic and building its models (a
sixth of a one-run report's CPU). It is stricter than the model where that is simpler (numbers are Python
ints or finite floats, sections plain dicts); whatever it does not accept goes to the model, which decides and
says what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Value:
    """A scalar field. kind: int (a whole number), float (a number), str; `optional`: None is accepted, and the
    field may be absent (otherwise it is required); bounds as pydantic's ge / gt / le / min_length."""

    kind: Literal["int", "float", "str"]
    optional: bool = True
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None


@dataclass(frozen=True)
class Section:
    """A table of fields. `nullable`: the key may be absent or null (otherwise an absent one is an empty table)."""

    fields: Mapping[str, Value | Section] = field(default_factory=dict)
    nullable: bool = False


_TEXT = Value("str")
_COUNT = Value("int", ge=0)
_WATTS = Value("float", ge=0)

RUN_JSON = Section(
    {
        "schema_version": Value("int", optional=False),
        "run_id": Value("str", optional=False, min_length=1),
        "gpubench_version": _TEXT,
        "host": _TEXT,
        "command": _TEXT,
        "status": _TEXT,
        "error": _TEXT,
        "started_utc": _TEXT,
        "finished_utc": _TEXT,
        "device": Section(
            {
                "name": _TEXT,
                "vendor": _TEXT,
                "memory_bytes": _COUNT,
                "multiprocessors": _COUNT,
                "uuid": _TEXT,
                "driver": _TEXT,
                "cuda": _TEXT,
                "hip": _TEXT,
                "compute_capability": _TEXT,
                "gcn_arch": _TEXT,
                "power_limit_w": _WATTS,
            }
        ),
        "software": Section({"torch": _TEXT, "cuda": _TEXT, "hip": _TEXT}),
        "suite": Section({"name": _TEXT, "path": _TEXT, "sha256": _TEXT}),
        "telemetry": Section(
            {
                "reader": _TEXT,
                "reason": _TEXT,
                "power_limit_w": _WATTS,
                "idle_power_w": _WATTS,
                "sample_hz": Value("float", gt=0),
            }
        ),
        "distributed": Section(
            {"world_size": Value("int", optional=False, ge=1), "n_nodes": Value("int", ge=1)}, nullable=True
        ),
        # The share of the machine's processor time other programs took during the run (telemetry.host).
        "host_cpu": Section({"others_share": Value("float", ge=0, le=1), "cores": Value("int", ge=1)}, nullable=True),
    }
)
"""run.json: every section and field gpubench reads."""


def fits(document: Any, shape: Section = RUN_JSON) -> bool:
    """Whether `document` certainly has `shape` (False: ask gpubench.documents' model, which may still accept
    it and otherwise says what is wrong)."""
    if type(document) is not dict:
        return False
    for key, declared in shape.fields.items():
        if key not in document:
            if isinstance(declared, Value) and not declared.optional:
                return False
            continue
        value = document[key]
        if isinstance(declared, Section):
            if value is None and declared.nullable:
                continue
            if not fits(value, declared):
                return False
        elif not _value_fits(value, declared):
            return False
    return True


def _value_fits(value: Any, declared: Value) -> bool:
    if value is None:
        return declared.optional
    kind = type(value)
    if declared.kind == "str":
        return kind is str and (declared.min_length is None or len(value) >= declared.min_length)
    if declared.kind == "int":
        if kind is not int:
            return False
    elif kind is not float or not math.isfinite(value):  # an int for a float: the model decides
        return False
    return (
        (declared.ge is None or value >= declared.ge)
        and (declared.gt is None or value > declared.gt)
        and (declared.le is None or value <= declared.le)
    )
