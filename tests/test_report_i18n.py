"""The report in Hungarian, rendered from a real quick run on a CPU (tests/data/run_schema3_quick_cpu, a copy of
`gpubench run quick` on a 2-core AMD EPYC): no English the reader would see, no English number formats; and
the texts other layers write in English (skip reasons, the model's sources and warnings) through the
catalogues' templates."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_report import _visible_text

from gpubench.report import build_report, load_report_data
from gpubench.report.i18n import load_messages
from gpubench.report.workloads import workload_ref

QUICK = Path(__file__).parent / "data" / "run_schema3_quick_cpu"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("quick") / QUICK.name
    shutil.copytree(QUICK, folder)
    return folder


@pytest.fixture(scope="module")
def hu_page(quick_run: Path) -> str:
    return build_report([quick_run], lang="hu")


def _seen(page: str) -> str:
    """What a reader of the page sees: its text, the figures' titles, labels and hover texts, and the hover
    titles of its table cells."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    titles = [html.unescape(t) for t in re.findall(r'title="([^"]*)"', body)]
    return _visible_text(page) + "\n" + "\n".join(titles)


def _english_fragments() -> set[str]:
    """Every English catalogue text (labels, templates of others' texts included) that Hungarian words
    differently, cut at its fields into pieces long enough to mean something."""
    en, hu = load_messages("en"), load_messages("hu")
    out = set()
    for key in sorted(en.keys()):
        if key.startswith("unit.") or en(key) == hu(key):
            continue
        for frag in re.split(r"\{[^}]*\}|\n", en._own[key]):
            frag = frag.strip(" .,:;()–-")
            if len(frag) >= 12 and " " in frag:
                out.add(frag)
    return out


def test_a_hungarian_quick_report_shows_no_english_catalogue_text(hu_page: str) -> None:
    seen = _seen(hu_page)
    english = sorted(f for f in _english_fragments() if re.search(r"(?<![-\w])" + re.escape(f), seen))  # not a --flag
    assert not english, english[:10]


def test_a_hungarian_quick_report_writes_the_specs_labels_units_and_reasons_in_hungarian(
    quick_run: Path, hu_page: str
) -> None:
    seen = _seen(hu_page)
    rows = pd.read_parquet(quick_run / "measurements.parquet").to_dict("records")
    # Every part of every workload label the specs write in English ("2 layers", "0.14 M params",
    # "tiny (toy)", "fp32 matrix multiply, 256³ (a small size)", "device memory copy") but the names.
    parts = set()
    for row in rows:
        ref = workload_ref(row)
        if ref is not None and ref.words:
            names = {str(v) for _, fields in ref.words for k, v in fields if k == "name"}
            parts |= {p for p in ref.label.split(" · ") if p not in names}
    assert {"2 layers", "0.14 M params", "tiny (toy)", "fp32 matrix multiply, 256³ (a small size)"} <= parts
    assert sorted(p for p in parts if p in seen) == []
    # Units, skip reasons and the telemetry note, as the run folder holds them in English.
    for unit in ("samples/s", "tokens/s", "(read+write)", "sequences"):
        assert not re.search(rf"(?<![\w/]){re.escape(unit)}", seen), unit
    reasons = {str(r["reason"]) for r in rows if r.get("status") == "skipped" and r.get("reason")}
    assert len(reasons) >= 3 and not [r for r in reasons if r in seen]
    assert "no RAPL domains" not in seen and "RAPL-tartomány" in seen
    # Numbers the Hungarian way: a decimal comma, never "0.14" or "5.8×".
    assert not re.search(r"\b\d+\.\d+(×| M\b)", seen)
    assert "0,14 M paraméter" in seen and re.search(r"\d,\d×", seen)


def test_the_english_quick_report_keeps_the_specs_own_words(quick_run: Path) -> None:
    seen = _seen(build_report([quick_run], lang="en"))
    assert "gpt2 · seq 64 · vocab 512 · 2 layers · width 64 · 0.14 M params" in seen
    assert "matrix multiplication fp32 at 256³ (a small size)" in seen
    assert "fp32 matrix multiply, 256³ (a small size)" in seen  # the every-case table: the spec's label


def test_the_quick_verdict_compares_the_small_product_with_its_own_size_only(quick_run: Path) -> None:
    from gpubench.report.verdict import comparison_rows

    rows = [r for r in comparison_rows(load_report_data([quick_run])) if r.basis != "measured"]
    matmul = [r for r in rows if r.matmul_precision]
    assert matmul and {r.workload for r in matmul} == {"matmul[256³]/fp32"}
    assert max(r.multiple for r in matmul) < 100  # was 733x against best-shape (MAMF) figures


def _model_texts() -> list[str]:
    """The sources and warnings the performance model and the advisor write for what a quick run asks them."""
    from gpubench import advisor, model

    out = []
    for workload in ("memory/d2d", "matmul/bf16", "dcgan_mnist/fp32/infer", "resnet50/amp_bf16"):
        for est in model.estimate_all(workload).values():
            out += [est.source, est.warning]
    for preset_est in model.estimate_all("llm_decode/llama-3.1-8b/bf16", batch=1, context=1024).values():
        out += [preset_est.source, preset_est.warning]
    ranked = advisor.recommend(None, "memory/d2d")
    out += [str(x) for x in ranked["price_source"].dropna()] + list(ranked.attrs.get("warnings", []))
    out += [str(x) for x in ranked["basis_detail"].dropna()]
    return sorted({t for t in out if t and not t.startswith(("http", "run "))})


def test_what_the_model_and_the_advisor_write_is_shown_in_hungarian() -> None:
    en, hu = load_messages("en"), load_messages("hu")
    texts = _model_texts()
    assert len(texts) > 10
    fragments = _english_fragments()
    for text in texts:
        assert en.said(text) == text  # English is shown as written
        shown = hu.said(text)
        assert shown != text and not [f for f in fragments if re.search(r"(?<![-\w])" + re.escape(f), shown)], (
            text,
            shown,
        )


def test_said_fills_fields_translates_them_in_turn_and_leaves_unknown_text() -> None:
    hu = load_messages("hu")
    said = hu.said("datasheet bandwidth x 85% (published efficiency, amd datacenter devices)")
    assert said == "adatlapi sávszélesség × 85% (publikált hatékonyság: amd adatközponti eszközök)"
    assert (
        hu.said("gpt2 · seq 64 · 2 of 12 layers · 0.14 M params") == "gpt2 · sorozat 64 · 2/12 réteg · 0,14 M paraméter"
    )
    assert (
        hu.said("something new the catalogue has no template for") == "something new the catalogue has no template for"
    )
    assert hu.said(None) == "" and hu.said(float("nan")) == ""


def test_value_notes_name_their_workload(quick_run: Path, hu_page: str) -> None:
    """A model's warning under a Value table says which workload's figures it is about, in the report's language."""
    en = _visible_text(build_report([quick_run]))
    assert re.search(r"About the figures for [^:]+: unvalidated estimate\.", en)
    assert re.search(r"A [^:]+ számairól: nem validált becslés\.", _visible_text(hu_page))


def test_a_compiled_workload_is_labelled_in_the_report_language() -> None:
    from gpubench.report.figures import workload_label
    from gpubench.report.i18n import load_messages

    frame = pd.DataFrame([{"model": "resnet50", "precision": "bf16", "batch": 64, "compile": True}])
    label = workload_label(frame, load_messages("hu")("fig.compiled"))
    assert label.iloc[0] == "resnet50 · bf16 · b64 · lefordítva"
    assert "compiled" not in label.iloc[0]
