"""`gpubench monitor`: a live table of one device's telemetry readings."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from gpubench.cli.common import DeviceOpt, check_numbers, console, escape, fmt, handle_errors
from gpubench.errors import GpubenchError


@handle_errors
def monitor(
    device: DeviceOpt = "auto",
    seconds: Annotated[float, typer.Option("--seconds", help="stop after this long (0 = until Ctrl-C)")] = 0.0,
    hz: Annotated[float, typer.Option("--hz", help="readings per second")] = 1.0,
) -> None:
    """A live table of power, energy, temperature, clocks and throttle reasons (like `nvidia-smi dmon`)."""
    from gpubench.devices import describe, resolve_device
    from gpubench.telemetry import decode_throttle, open_reader
    from gpubench.telemetry import monitor as monitor_readings

    check_numbers(hz=hz, seconds=seconds)
    # "auto": a CPU without RAPL still shows clocks and memory; only no reader at all is an error.
    reader, reason = open_reader(describe(resolve_device(device)), "auto")
    if reason is not None:
        raise GpubenchError(f"no telemetry for this device: {reason}")
    cols = (
        "time_s",
        "power_w",
        "energy_j",
        "temp_c",
        "mem_temp_c",
        "sm_clock_mhz",
        "mem_clock_mhz",
        "util_pct",
        "mem_used_gib",
        "throttle",
    )
    console.print(
        escape(
            f"reader: {reader.name}  "
            + "  ".join(f"{k}={fmt(v)}" for k, v in reader.static_info().items() if k != "reader")
        ),
        highlight=False,
    )
    console.print(" ".join(f"{c:>13}" for c in cols))
    try:
        for reading in monitor_readings(reader, seconds=seconds, hz=hz):
            mask = reading.get("throttle_mask", math.nan)
            throttle = ",".join(decode_throttle(int(mask))) if isinstance(mask, float) and math.isfinite(mask) else "-"
            used = reading.get("mem_used_bytes", math.nan)
            values = [
                round(reading.get("time_s", math.nan), 1),
                reading.get("power_w"),
                reading.get("energy_j"),
                reading.get("temp_c"),
                reading.get("mem_temp_c"),
                reading.get("sm_clock_mhz"),
                reading.get("mem_clock_mhz"),
                reading.get("util_pct"),
                used / 2**30 if used == used else math.nan,
            ]
            console.print(" ".join(f"{fmt(v):>13}" for v in values) + f" {throttle:>13}", highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()
