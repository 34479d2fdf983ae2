"""Acceptance rules in TOML, SuperBench-style: which cases, which metric, and the least a GPU must reach, against
a baseline value or against the fleet median; a limit on its own spread; bounds on its recorded facts.

    [defaults]
    threshold = 0.05          # the fleet rule: fail more than 5 % below the fleet median ...
    mad_z = 3.5               # ... and a robust outlier (median absolute deviation) beyond its own noise

    [[rule]]
    name = "gemm bf16"
    case = "matmul[dtype=bf16,*"  # * and ? are the only wildcards (case ids hold brackets)
    device = "*H100*"             # optional, over device names
    metric = "throughput"         # any numeric result column; throughput by default
    baseline = 760.0              # a value in the metric's unit
    min_ratio_to_baseline = 0.95
    min_ratio_to_median = 0.95
    max_cov = 0.05                # its own step-time spread (coefficient of variation)

    [[rule]]
    fact = "ecc_uncorrectable_volatile"   # a fact recorded per GPU in run.json (telemetry)
    max = 0

`gpubench fleet baseline RUNS -o baseline.toml` writes such a file from a known-good fleet.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpubench.errors import GpubenchError
from gpubench.files import tomllib

DEFAULT_THRESHOLD = 0.05
DEFAULT_MAD_Z = 3.5

_RULE_KEYS = {
    "name",
    "case",
    "device",
    "metric",
    "baseline",
    "min_ratio_to_baseline",
    "min_ratio_to_median",
    "max_cov",
    "fact",
    "min",
    "max",
}


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` and `?` as wildcards, every other character literal (case ids hold `[`, `]` and `=`)."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$")


@dataclass(frozen=True)
class Rule:
    """One acceptance rule. A case rule (no `fact`) applies to result rows whose case id and device name match
    its globs; a fact rule bounds a number recorded per GPU."""

    name: str
    case: str = "*"
    device: str = "*"
    metric: str = "throughput"
    baseline: float | None = None
    min_ratio_to_baseline: float | None = None
    min_ratio_to_median: float | None = None
    max_cov: float | None = None
    fact: str | None = None
    min: float | None = None
    max: float | None = None
    _case_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _device_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_case_re", glob_regex(self.case))
        object.__setattr__(self, "_device_re", glob_regex(self.device))

    def matches(self, case_id: str, device_name: str) -> bool:
        return bool(self._case_re.match(case_id)) and bool(self._device_re.match(device_name))


@dataclass(frozen=True)
class RuleSet:
    threshold: float = DEFAULT_THRESHOLD
    mad_z: float = DEFAULT_MAD_Z
    rules: tuple[Rule, ...] = ()

    def merged(self, other: RuleSet) -> RuleSet:
        return RuleSet(other.threshold, other.mad_z, self.rules + other.rules)


def _number(where: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise GpubenchError(f"{where}: expected a number, got {value!r}")
    if positive and value <= 0:
        raise GpubenchError(f"{where}: must be above 0, got {value!r}")
    return float(value)


def parse_rules(text: str, source: str) -> RuleSet:
    """A rules file's text -> RuleSet; every error names the file and the key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GpubenchError(f"{source}: not valid TOML ({e})") from None
    unknown = set(data) - {"defaults", "rule"}
    if unknown:
        raise GpubenchError(f"{source}: unknown key {sorted(unknown)[0]!r} (expected [defaults] and [[rule]])")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise GpubenchError(f"{source}: defaults must be a table")
    extra = set(defaults) - {"threshold", "mad_z"}
    if extra:
        raise GpubenchError(f"{source}: defaults.{sorted(extra)[0]}: unknown (threshold, mad_z)")
    threshold = _number(f"{source}: defaults.threshold", defaults.get("threshold", DEFAULT_THRESHOLD))
    if not 0 <= threshold < 1:
        raise GpubenchError(f"{source}: defaults.threshold: a fraction in [0, 1), e.g. 0.05 for 5 %")
    mad_z = _number(f"{source}: defaults.mad_z", defaults.get("mad_z", DEFAULT_MAD_Z), positive=True)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise GpubenchError(f"{source}: rule must be an array of tables ([[rule]])")
    rules = []
    for i, raw in enumerate(raw_rules):
        where = f"{source}: rule[{i}]"
        if not isinstance(raw, dict):
            raise GpubenchError(f"{where}: must be a table")
        bad = set(raw) - _RULE_KEYS
        if bad:
            raise GpubenchError(f"{where}.{sorted(bad)[0]}: unknown key (one of {', '.join(sorted(_RULE_KEYS))})")
        for key in ("name", "case", "device", "metric", "fact"):
            if key in raw and not isinstance(raw[key], str):
                raise GpubenchError(f"{where}.{key}: expected text, got {raw[key]!r}")
        nums = {
            k: _number(f"{where}.{k}", raw[k], positive=k != "min" and k != "max")
            for k in ("baseline", "min_ratio_to_baseline", "min_ratio_to_median", "max_cov", "min", "max")
            if k in raw
        }
        fact = raw.get("fact")
        if fact:
            if not ({"min", "max"} & set(nums)):
                raise GpubenchError(f"{where}: a fact rule needs min or max")
            if set(nums) - {"min", "max"}:
                raise GpubenchError(f"{where}: a fact rule takes only min and max")
        else:
            if "min" in nums or "max" in nums:
                raise GpubenchError(f"{where}: min/max bound facts; a case rule uses the min_ratio_* keys")
            if "min_ratio_to_baseline" in nums and "baseline" not in nums:
                raise GpubenchError(f"{where}: min_ratio_to_baseline needs a baseline value")
            if not ({"min_ratio_to_baseline", "min_ratio_to_median", "max_cov"} & set(nums)):
                raise GpubenchError(f"{where}: give min_ratio_to_baseline, min_ratio_to_median or max_cov")
        name = raw.get("name") or fact or f"{raw.get('case', '*')} {raw.get('metric', 'throughput')}"
        rules.append(
            Rule(
                name=name,
                case=raw.get("case", "*"),
                device=raw.get("device", "*"),
                metric=raw.get("metric", "throughput"),
                fact=fact,
                **nums,  # type: ignore[arg-type]
            )
        )
    return RuleSet(threshold, mad_z, tuple(rules))


def load_rules(path: str | Path) -> RuleSet:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GpubenchError(f"rules file {p} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GpubenchError(f"rules file {p}: cannot be read ({e})") from None
    return parse_rules(text, str(p))


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value)) if isinstance(value, float) else str(value)


def rules_toml(rules: Sequence[Rule], threshold: float, mad_z: float, header: Iterable[str] = ()) -> str:
    """A rules file that `load_rules` reads back."""
    lines = [f"# {h}" for h in header]
    lines += ["[defaults]", f"threshold = {_toml_value(threshold)}", f"mad_z = {_toml_value(mad_z)}", ""]
    for r in rules:
        lines.append("[[rule]]")
        for key in ("name", "case", "device", "metric", "fact"):
            value = getattr(r, key)
            if value is not None and not (key in ("case", "device") and value == "*"):
                if key == "metric" and r.fact:
                    continue
                lines.append(f"{key} = {_toml_value(value)}")
        for key in ("baseline", "min_ratio_to_baseline", "min_ratio_to_median", "max_cov", "min", "max"):
            value = getattr(r, key)
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
