"""The declared shapes (pydantic models) of the documents gpubench.inputs checks: a suite's TOML and a run
folder's run.json. Imported only when a document is validated: pydantic and building these models cost a
noticeable part of a second, which `gpubench --help`, `list` and the first line of `run` do not wait for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gpubench.limits import LIMITS

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


Count = int | None
Number = float | None
Text = str | None


class DeviceInfo(_Section):
    name: Text = None
    vendor: Text = None
    memory_bytes: Count = Field(default=None, ge=0)
    multiprocessors: Count = Field(default=None, ge=0)
    uuid: Text = None
    driver: Text = None
    cuda: Text = None
    hip: Text = None
    compute_capability: Text = None
    gcn_arch: Text = None
    power_limit_w: Number = Field(default=None, ge=0)


class SoftwareInfo(_Section):
    torch: Text = None
    cuda: Text = None
    hip: Text = None


class SuiteInfo(_Section):
    name: Text = None
    path: Text = None
    sha256: Text = None


class TelemetryInfo(_Section):
    reader: Text = None
    reason: Text = None
    power_limit_w: Number = Field(default=None, ge=0)
    idle_power_w: Number = Field(default=None, ge=0)
    sample_hz: Number = Field(default=None, gt=0)


class DistributedInfo(_Section):
    world_size: int = Field(ge=1)
    n_nodes: int | None = Field(default=None, ge=1)


class HostCpuInfo(_Section):
    """The share of the machine's processor time other programs took during the run (gpubench.telemetry.host)."""

    others_share: Number = Field(default=None, ge=0, le=1)
    cores: Count = Field(default=None, ge=1)


class RunMeta(_Section):
    """run.json: the fields any reader uses, with their types; other keys pass through untouched."""

    schema_version: int
    run_id: str = Field(min_length=1)
    gpubench_version: Text = None
    host: Text = None
    command: Text = None
    status: Text = None
    error: Text = None
    started_utc: Text = None
    finished_utc: Text = None
    device: DeviceInfo = Field(default_factory=DeviceInfo)
    software: SoftwareInfo = Field(default_factory=SoftwareInfo)
    suite: SuiteInfo = Field(default_factory=SuiteInfo)
    telemetry: TelemetryInfo = Field(default_factory=TelemetryInfo)
    distributed: DistributedInfo | None = None
    host_cpu: HostCpuInfo | None = None
