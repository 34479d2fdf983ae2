"""`gpubench devices` and `gpubench list`: what this machine has, and what gpubench can run on it."""

from __future__ import annotations

import json

from rich.table import Table

from gpubench.cli.common import JsonOpt, console, escape, handle_errors


@handle_errors
def devices(as_json: JsonOpt = False) -> None:
    """List every device torch can use: GPUs (NVIDIA, AMD under ROCm, Intel XPU, Apple MPS), XLA devices, the CPU."""
    from gpubench.devices import describe_devices

    found = describe_devices()
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    for d in found:
        table = Table(title=f"{d['torch_device']}: {escape(d['name'])}", show_header=False, title_justify="left")
        for key, value in d.items():
            if key in ("name", "torch_device") or value in (None, [], ""):
                continue
            if key.endswith("_bytes") and isinstance(value, int):
                value = f"{value / 2**30:.1f} GiB"
            table.add_row(key, escape(", ".join(value) if isinstance(value, list) else value))
        console.print(table)


@handle_errors
def list_(as_json: JsonOpt = False) -> None:
    """Show benchmarks, their parameters, and the suites."""
    from gpubench.benchmarks import definitions
    from gpubench.suite import available_suites, load_suite

    registry = definitions()  # the specs: parameters as each benchmark declares them, without importing torch
    suites = {}
    for name in available_suites():
        s = load_suite(name, registry)
        suites[name] = {"description": s.description, "cases": len(s.cases)}
    if as_json:
        benches = {
            b.name: {
                "version": b.version,
                "description": b.description,
                "params": {
                    p: {
                        "type": s.type.__name__,
                        "default": s.default,
                        "choices": list(s.choices) if s.choices else None,
                        "help": s.help,
                    }
                    for p, s in b.params.items()
                },
            }
            for b in registry.values()
        }
        print(json.dumps({"benchmarks": benches, "suites": suites}, indent=2))
        return
    table = Table(title="benchmarks", title_justify="left")
    for col in ("name", "v", "parameters", "description"):
        table.add_column(col)
    for b in registry.values():
        params = "\n".join(
            f"{p}: {'|'.join(map(str, s.choices)) if s.choices else s.type.__name__}"
            + (f" = {s.default}" if s.default is not None else "")
            for p, s in b.params.items()
        )
        table.add_row(b.name, str(b.version), params, b.description)
    console.print(table)
    st = Table(title="suites", title_justify="left")
    for col in ("suite", "cases", "description"):
        st.add_column(col)
    for name, s in suites.items():
        st.add_row(escape(name), str(s["cases"]), escape(s["description"]))
    console.print(st)
