"""The report's LLM section: prefill and decode speed with their work as TFLOP/s and GB/s, the serving curve
(throughput per device against tokens/s per user, with MLPerf's interactive threshold), and capacity."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from gpubench.benchmarks.llm.presets import capacity_rows, largest_fitting
from gpubench.benchmarks.llm.presets import preset as preset_named
from gpubench.errors import GpubenchError
from gpubench.frame import frame_rows
from gpubench.report import figures as F
from gpubench.report.blocks import Block, Cell, Figure, Note, Table
from gpubench.report.cells import rows_of_family, swatch
from gpubench.report.data import ReportData, esc, is_num
from gpubench.report.i18n import Messages, load_messages
from gpubench.report.plot import Plot
from gpubench.report.workloads import label_text, workload_ref

# MLPerf Inference v5 Llama-2-70B interactive scenario: >= 25 tokens/s per user (TPOT <= 40 ms), TTFT <= 450 ms.
INTERACTIVE_TOKENS_PER_S = 25.0
INTERACTIVE_TTFT_S = 0.450
CARD_GB = [24, 48, 80, 141, 192]


def _num(data: ReportData, value: Any, digits: int = 3, suffix: str = "") -> str:
    return f"{data.msg.num(value, digits)}{suffix}" if is_num(value) else "–"


def speed_table(data: ReportData, prefill: pd.DataFrame, decode: pd.DataFrame) -> Table:
    t = data.msg
    header = [
        t(f"llm.speed.col.{c}")
        for c in (
            "run",
            "workload",
            "batch",
            "tokens",
            "tps",
            "per_seq",
            "latency",
            "tflops",
            "gbps",
            "pct_copy",
            "pct_sheet",
            "layers",
        )
    ]
    rows = []
    for frame, kind in ((prefill, "prefill"), (decode, "decode")):
        for r in frame_rows(frame):
            s = data.by_run.get(str(r.get("run_id")))
            run = Cell(s.label, color=s.color, title=s.run_id) if s else Cell(str(r.get("run_id")))
            tokens = r.get("prompt") if kind == "prefill" else r.get("cached_tokens")
            tokens = int(tokens) if is_num(tokens) else tokens
            per_seq = r.get("tokens_per_s_per_seq") if kind == "decode" else None
            latency = (
                f"TTFT {_num(data, 1e3 * r['median_s'], 3, ' ms')}"
                if kind == "prefill"
                else f"TPOT {_num(data, r.get('ms_per_token'), 3, ' ms')}"
            )
            rows.append(
                [
                    run,
                    Cell(model_label(data, r), cls="wrap"),
                    Cell(str(r.get("batch")), cls="num"),
                    Cell(str(tokens), cls="num"),
                    Cell(_num(data, r.get("throughput")), cls="num"),
                    Cell(_num(data, per_seq), cls="num"),
                    Cell(latency),
                    Cell(_num(data, r.get("tflops")), cls="num"),
                    Cell(_num(data, r.get("achieved_gbps")), cls="num"),
                    Cell(_num(data, r.get("pct_of_copy_bw"), 3, "%"), cls="num"),
                    Cell(_num(data, r.get("pct_of_datasheet_bw"), 3, "%"), cls="num"),
                    Cell(t.said(r.get("layers_note") or "")),
                ]
            )
    return Table(
        header,
        rows,
        t("llm.speed.caption"),
    )


def serving_points(prefill: pd.DataFrame, decode: pd.DataFrame) -> pd.DataFrame:
    """One point per serving decode case: tokens/s per user (1 / TPOT) and output tokens/s per device over
    the whole request (TTFT + O x TPOT). TTFT from the prefill of the same batch and input length, else
    from batch 1 times the batch (prefill is compute-bound), else left out of the throughput."""
    cols = ["run_id", "preset", "precision", "batch", "prompt", "median_s"]
    pre = prefill[[c for c in cols if c in prefill]].copy() if not prefill.empty else pd.DataFrame(columns=cols)
    out = []
    for r in frame_rows(decode):
        output = r.get("output")
        if not (is_num(output) and output > 0 and is_num(r.get("median_s"))) or F.is_true(r.get("compile")):
            continue  # compiled twins are in the speed table; the curve is one method per line
        same = pre[
            (pre["run_id"] == r["run_id"])
            & (pre["preset"] == r["preset"])
            & (pre["precision"] == r["precision"])
            & (pre["prompt"] == r["context"])
        ]
        exact = same[same["batch"] == r["batch"]]
        one = same[same["batch"] == 1]
        ttft, how = None, "none"
        if not exact.empty:
            ttft, how = float(exact["median_s"].iloc[0]), "measured"
        elif not one.empty:
            ttft, how = float(one["median_s"].iloc[0]) * int(r["batch"]), "scaled"
        tpot = float(r["median_s"])
        total = ttft + output * tpot if ttft is not None else output * tpot
        out.append(
            {
                "run_id": r["run_id"],
                "scenario": f"{int(r['context'])}/{int(output)}",
                "preset": r["preset"],
                "precision": r["precision"],
                "batch": int(r["batch"]),
                "per_user": 1.0 / tpot,
                "per_device": int(r["batch"]) * output / total,
                "ttft_s": ttft,
                "ttft_from": how,
                "tpot_ms": 1e3 * tpot,
                "layers_note": r.get("layers_note"),
            }
        )
    return pd.DataFrame(out)


def serving_figure(data: ReportData, points: pd.DataFrame) -> Plot:
    t = data.msg
    # Titles wrapped for a phone, the chart's title below Plotly's toolbar.
    title = F.esc_wrapped(t("llm.serving.title"), 38)
    top = 42 + 20 * (title.count("<br>") + 1) + 14
    fig = F.new_figure(
        title,
        height=440 + top,
        xaxis_title=F.esc_wrapped(t("llm.serving.x"), 36),
        yaxis_title=esc(t("llm.serving.y")),
        margin=dict(t=top),
    )
    fig.update_layout(title=dict(xanchor="left", yref="container", y=1, yanchor="top", pad=dict(t=40)))
    dashes = ["solid", "dash", "dot", "dashdot"]
    symbols = ["circle", "square", "diamond", "triangle-up", "x"]
    # One line per run, model, precision and scenario: only the batch varies along a line (a bf16 and an
    # int8 point are two workloads, never one curve).
    configs = sorted(
        {
            (str(p), str(q), str(c))
            for p, q, c in zip(points["preset"], points["precision"], points["scenario"], strict=True)
        }
    )
    for run_id, mine in points.groupby("run_id", sort=False):
        s = data.by_run.get(str(run_id))
        for i, (preset, precision, scenario) in enumerate(configs):
            pts = mine[
                (mine["preset"].astype(str) == preset)
                & (mine["precision"].astype(str) == precision)
                & (mine["scenario"] == scenario)
            ].sort_values("batch")
            if pts.empty:
                continue
            hover = [
                f"<b>{esc(s.label if s else run_id)}</b><br>"
                + esc(
                    t(
                        "llm.serving.hover",
                        preset=p["preset"],
                        precision=p["precision"],
                        scenario=scenario,
                        batch=p["batch"],
                        per_user=t.num(p["per_user"]),
                        tpot=t.num(p["tpot_ms"]),
                        per_device=t.num(p["per_device"]),
                        ttft=t.num(1e3 * p["ttft_s"]) + " ms" if is_num(p["ttft_s"]) else "–",
                        how=t(f"llm.serving.ttft_{p['ttft_from']}"),
                    )
                ).replace("\n", "<br>")
                for p in frame_rows(pts)
            ]
            fig.add_scatter(
                x=pts["per_user"],
                y=pts["per_device"],
                mode="lines+markers+text" if len(pts) > 1 else "markers+text",
                text=[esc(t("llm.serving.batch", n=b)) for b in pts["batch"]],
                textposition="top center",
                name=esc(f"{s.label if s else run_id} · {preset} {precision} · {scenario}"),
                line=dict(color=s.color if s else None, dash=dashes[i % len(dashes)]),
                marker=dict(symbol=symbols[i % len(symbols)], size=8),
                hovertext=hover,
                hovertemplate=F.HOVER,
            )
    # The threshold as a trace (a shape's position on a log axis is version-dependent in plotly).
    y_lo, y_hi = float(points["per_device"].min()) / 2, float(points["per_device"].max()) * 2
    fig.add_scatter(
        x=[INTERACTIVE_TOKENS_PER_S] * 2,
        y=[y_lo, y_hi],
        mode="lines+text",
        line=dict(color="#c0392b", dash="dash"),
        text=["", F.esc_wrapped(t("llm.serving.line_text"), 22)],
        textposition="bottom right",  # inside the plot: to the left the label would be clipped
        name=esc(t("llm.serving.line_name")),
        hoverinfo="skip",
    )
    lo = min(float(points["per_user"].min()), INTERACTIVE_TOKENS_PER_S) / 2
    hi = max(float(points["per_user"].max()), INTERACTIVE_TOKENS_PER_S) * 2
    fig.update_xaxes(type="log", range=[math.log10(lo), math.log10(hi)])
    fig.update_yaxes(type="log", range=[math.log10(y_lo), math.log10(y_hi)])
    return fig


def capacity_table(data: ReportData, rows: pd.DataFrame) -> Table:
    t = data.msg
    header = [
        t(f"llm.capacity.col.{c}")
        for c in ("run", "preset", "precision", "context", "max_batch", "how", "longest", "largest", "memory")
    ]
    out = []
    for r in frame_rows(rows):
        s = data.by_run.get(str(r.get("run_id")))
        out.append(
            [
                Cell(s.label, color=s.color, title=s.run_id) if s else Cell(str(r.get("run_id"))),
                Cell(str(r.get("preset"))),
                Cell(str(r.get("precision"))),
                Cell(_num(data, r.get("context"), 6), cls="num"),
                Cell(_num(data, r.get("max_batch"), 6), cls="num"),
                Cell(str(r.get("capacity_method"))),
                Cell(_num(data, r.get("max_context_b1"), 6), cls="num"),
                Cell(str(r.get("largest_preset_fitting"))),
                Cell(_num(data, r.get("capacity_memory_bytes", 0) / 2**30, 3, " GiB"), cls="num"),
            ]
        )
    return Table(
        header,
        out,
        t("llm.capacity.caption"),
    )


def catalog_capacity_table(context: int = 8192, msg: Messages | None = None) -> Table:
    t = msg or load_messages()
    rows = capacity_rows([float(g) for g in CARD_GB], contexts=(context,))
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    header = [
        t("llm.catalog.col.memory"),
        t("llm.catalog.col.precision"),
        *presets,
        t("llm.catalog.col.largest"),
    ]
    out = []
    for gb in CARD_GB:
        for precision in ("bf16", "fp8"):
            mine = {r["preset"]: r for r in rows if r["memory_gb"] == gb and r["precision"] == precision}
            out.append(
                [
                    Cell(f"{gb} GB"),
                    Cell(precision),
                    *[Cell(str(mine[p][f"max_batch_{context}"]), cls="num") for p in presets],
                    Cell(largest_fitting(precision, gb * 2**30, context) or t("llm.catalog.none")),
                ]
            )
    return Table(
        header,
        out,
        t("llm.catalog.caption", context=context),
    )


TEST_MODEL_PARAMS = 10e6
"""A language model below this many parameters is a test model: it exercises the code, not a real LLM."""


def model_label(data: ReportData, row: dict[str, Any]) -> str:
    """What an LLM row ran, in words: its workload's label from the spec where there is one, else the preset
    with its size; a test-sized model says so ("tiny: a 0.52 M-parameter test model")."""
    t = data.msg
    ref = workload_ref(row)
    preset = str(row.get("preset") or row.get("workload") or "?")
    params = row.get("params_full") if is_num(row.get("params_full")) else row.get("params_count")
    if not is_num(params):  # rows that time one part of a model (attention) still ran a preset of known size
        try:
            params = preset_named(preset).full_params
        except (KeyError, ValueError, GpubenchError):
            params = None
    if is_num(params) and float(params) < TEST_MODEL_PARAMS:
        return t("llm.test_model", preset=preset, params=t.num(float(params) / 1e6, 2))
    if ref is not None:
        return label_text(t, ref)
    return t("llm.model", preset=preset, params=t.num(float(params) / 1e9, 2)) if is_num(params) else preset


def finetune_table(data: ReportData, rows: pd.DataFrame) -> Table:
    """Fine-tuning rows (LoRA or full): speed, what is trained, and the memory a full fine-tune would need."""
    t = data.msg
    out = []
    for r in frame_rows(rows):
        if str(r.get("run_id")) not in data.by_run:
            continue
        full = r.get("memory_needed_full_bytes")
        out.append(
            [
                swatch(data, str(r["run_id"])),
                Cell(model_label(data, r), cls="wrap"),
                Cell(str(r.get("precision") or "–")),
                Cell(t(f"llm.finetune.mode.{r.get('mode')}", default=str(r.get("mode") or "–"))),
                Cell(_num(data, r.get("batch")), cls="num"),
                Cell(_num(data, r.get("seq")), cls="num"),
                Cell(_num(data, r.get("throughput")), cls="num"),
                Cell(_num(data, r.get("tflops")), cls="num"),
                Cell(_num(data, r.get("trainable_params")), cls="num"),
                Cell(t.bytes(full), cls="num"),
            ]
        )
    cols = ("run", "model", "precision", "mode", "batch", "seq", "tps", "tflops", "trainable", "full_memory")
    return Table([t(f"llm.finetune.col.{c}") for c in cols], out, t("llm.finetune.caption"))


def attention_table(data: ReportData, rows: pd.DataFrame) -> Table:
    """Attention kernels alone: which backend, how long a context, TFLOP/s and time per call."""
    t = data.msg
    out = []
    for r in frame_rows(rows):
        if str(r.get("run_id")) not in data.by_run:
            continue
        heads = f"{_num(data, r.get('heads'))} / {_num(data, r.get('kv_heads'))}"
        out.append(
            [
                swatch(data, str(r["run_id"])),
                Cell(model_label(data, r), cls="wrap"),
                Cell(str(r.get("precision") or "–")),
                Cell(str(r.get("sdpa_backend") or r.get("backend") or "–")),
                Cell(_num(data, r.get("context")), cls="num"),
                Cell(_num(data, r.get("batch")), cls="num"),
                Cell(heads, cls="num"),
                Cell(_num(data, r.get("throughput")), cls="num"),
                Cell(
                    _num(data, 1e3 * float(r["median_s"]) if is_num(r.get("median_s")) else None, 3, " ms"), cls="num"
                ),
            ]
        )
    cols = ("run", "model", "precision", "backend", "context", "batch", "heads", "tflops", "time")
    return Table([t(f"llm.attention.col.{c}") for c in cols], out, t("llm.attention.caption"))


def build_llm(data: ReportData) -> list[Block]:
    """Prefill/decode speeds, the serving curve and capacity; empty when the runs have no LLM rows."""
    prefill, decode, capacity, finetune, attention = (
        rows_of_family(data, *f)
        for f in (("llm_prefill",), ("llm_decode",), ("llm_capacity",), ("llm_lora", "llm_finetune"), ("attention",))
    )
    if prefill.empty and decode.empty and capacity.empty and finetune.empty and attention.empty:
        return []
    t = data.msg
    blocks: list[Block] = []  # the explanation (section.llm.explain) comes first from build_sections
    if not prefill.empty or not decode.empty:
        blocks.append(speed_table(data, prefill, decode))
    points = serving_points(prefill, decode)
    if not points.empty:
        blocks.append(Figure(serving_figure(data, points), t("llm.serving.caption")))
        slow = points[[is_num(t) and t > INTERACTIVE_TTFT_S for t in points["ttft_s"]]]
        if not slow.empty:
            blocks.append(
                Note(
                    t("llm.serving.slow_ttft", ms=t.fixed(INTERACTIVE_TTFT_S * 1e3), k=len(slow), n=len(points)),
                    kind="warn",
                )
            )
    if not finetune.empty:
        blocks.append(finetune_table(data, finetune))
    if not attention.empty:
        blocks.append(attention_table(data, attention))
    if not capacity.empty:
        blocks.append(capacity_table(data, capacity))
    blocks.append(catalog_capacity_table(msg=t))
    return blocks
