"""The reader used when no telemetry is available: every metric NaN, and the reason why."""

from __future__ import annotations

from typing import Any

from gpubench.telemetry.base import nan_reading


class NullReader:
    """Reads nothing; `static_info()["reason"]` says why there is no telemetry."""

    name = "null"

    def __init__(self, reason: str = "no telemetry reader for this device") -> None:
        self.reason = reason

    def static_info(self) -> dict[str, Any]:
        return {"reader": self.name, "has_energy_counter": False, "reason": self.reason}

    def read(self) -> dict[str, float]:
        return nan_reading()

    def close(self) -> None:
        pass
