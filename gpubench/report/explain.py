"""The plain-words paragraph before each section: what is measured, why it matters for deep learning, how
to read the chart, what good looks like; adapted to what the runs show (a CPU run is told what a GPU
would change). The texts live in the message catalogues (`section.<key>.explain` and `explain.<key>.*`);
this module only decides which apply and fills in the run's own numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from gpubench.report.data import ReportData, headline_metrics


def _best(data: ReportData, key: str) -> float | None:
    """The best value of a headline metric over the shown series (None when not measured)."""
    values = [m.value for m in headline_metrics(data) if m.key == key]
    return max(values) if values else None


def _ratio(data: ReportData, a: str, b: str) -> float | None:
    """For the baseline series: metric a / metric b (e.g. bf16 over fp32 matmul)."""
    mine = {m.key: m.value for m in headline_metrics(data) if m.run_id == data.baseline.run_id}
    if a in mine and b in mine and mine[b] > 0:
        return mine[a] / mine[b]
    return None


def _matmul(data: ReportData) -> list[str]:
    t = data.msg
    out = []
    ratio = _ratio(data, "matmul/bf16", "matmul/fp32") or _ratio(data, "matmul/fp16", "matmul/fp32")
    if data.cpu_only:
        if ratio is not None:
            out.append(t("explain.matmul.cpu_ratio", ratio=data.msg.num(ratio, 2)))
        out.append(t("explain.matmul.cpu_gpu"))
    elif ratio is not None:
        out.append(t("explain.matmul.gpu_ratio", ratio=data.msg.num(ratio, 2)))
    if "tf32" in data.ok and data.ok["tf32"].fillna(False).astype(bool).any():
        out.append(t("explain.matmul.tf32"))
    return out


def _memory(data: ReportData) -> list[str]:
    t = data.msg
    out = []
    best = _best(data, "memory/d2d")
    if data.cpu_only:
        out.append(t("explain.memory.cpu", best=data.msg.num(best) if best else "–"))
    kinds = set(data.ok["kind"].dropna().astype(str)) if "kind" in data.ok else set()
    if kinds & {"h2d", "d2h"}:
        out.append(t("explain.memory.pcie"))
    return out


def _models(data: ReportData) -> list[str]:
    t = data.msg
    out = []
    metrics = headline_metrics(data)
    keys = {m.key for m in metrics if m.run_id == data.baseline.run_id}
    for key in sorted(keys):
        if not key.startswith("train/") or not key.endswith("/fp32"):
            continue
        model = key.split("/")[1]
        for amp in ("amp_bf16", "amp_fp16"):
            ratio = _ratio(data, f"train/{model}/{amp}", key)
            if ratio is not None:
                out.append(t("explain.models.amp_ratio", model=model, amp=amp, ratio=data.msg.num(ratio, 2)))
                break
    if data.cpu_only:
        out.append(t("explain.models.cpu"))
    return out


def _power(data: ReportData) -> list[str]:
    t = data.msg
    out = []
    readers = {(s.meta.get("telemetry") or {}).get("reason") for s in data.series}
    if data.telemetry.empty or "power_w" not in data.telemetry or data.telemetry["power_w"].isna().all():
        reason = next((r for r in readers if r), "")
        out.append(
            t("explain.power.none", reason=t.said(str(reason).rstrip("."))) if reason else t("explain.power.none_plain")
        )
    runs = data.runs
    if "throttled" in runs and runs["throttled"].fillna(False).astype(bool).any():
        out.append(t("explain.power.throttled"))
    return out


def _efficiency(data: ReportData) -> list[str]:
    return [data.msg("explain.efficiency.cpu")] if data.cpu_only else []


_ADAPT: dict[str, Callable[[ReportData], list[str]]] = {
    "matmul": _matmul,
    "memory": _memory,
    "models": _models,
    "power": _power,
    "efficiency": _efficiency,
}


def explanation(data: ReportData, key: str) -> list[str]:
    """Paragraphs explaining section `key` for these runs: the catalogue's general text, then the notes
    that depend on what the runs show. Empty when the catalogue has no text for the section."""
    t = data.msg
    general = t.paragraphs(f"section.{key}.explain")
    extra = _ADAPT[key](data) if key in _ADAPT else []
    return general + [p for p in extra if p]


__all__ = ["explanation"]
