"""LLM sizing: memory breakdowns against hand calculations, tensor-parallel card counts, config.json reading,
cost arithmetic, and the advisor's per-device LLM answers."""

from __future__ import annotations

import json

import pytest

from gpubench import llm_sizing as LS
from gpubench.advisor import recommend_llm
from gpubench.errors import GpubenchError
from gpubench.specs import load_catalog

GIB = 2**30


def test_llama_8b_weights_and_kv_cache_by_hand():
    p = LS.resolve_model("llama-3.1-8b")
    # 8.03 B parameters x 2 bytes.
    assert LS.weights_bytes(p, "bf16") / 1e9 == pytest.approx(16.06, abs=0.01)
    assert LS.weights_bytes(p, "fp8") == pytest.approx(LS.weights_bytes(p, "bf16") / 2)
    assert LS.weights_bytes(p, "int4") == pytest.approx(p.full_params * (0.5 + 2 / 128))
    # KV cache per token = 2 (K and V) x layers x kv_heads x head_dim x 2 bytes = 2 * 32 * 8 * 128 * 2.
    assert LS.kv_bytes_per_token(p, "bf16") == 2 * 32 * 8 * 128 * 2 == 131072
    mem = LS.serving_memory(p, "bf16", users=20, context=4096, capacity=24 * GIB)
    assert mem.kv_cache == 131072 * 20 * 4096
    assert mem.reserve == pytest.approx(24 * GIB * 0.05 + GIB)  # presets.usable_bytes' complement
    assert mem.total == pytest.approx(mem.weights + mem.kv_cache + mem.activations + mem.reserve)
    assert not mem.fits  # 16.1 GB of weights + 10.7 GB of cache > 24 GiB less the reserve
    assert LS.serving_memory(p, "bf16", users=20, context=4096, capacity=32 * GIB).fits


def test_tensor_parallel_cards_for_70b_fp8_on_80gb():
    p = LS.resolve_model("llama-3.1-70b")
    cap = 80 * GIB
    # One user at 4k: 70.6 GB of weights + 1.3 GB of cache fit one 80 GB card.
    assert LS.cards_needed(lambda c: LS.serving_memory(p, "fp8", 1, 4096, cap, c)) == 1
    # 32 users at 8k: 70.55 GB weights + 32 * 8192 * 327,680 B = 85.9 GB cache: 163 GB in all, two cards
    # hold 35.3 + 42.9 + activations + a 5.4 GB reserve each = 85.1 GB <= 85.9 GB (80 GiB).
    assert LS.kv_bytes_per_token(p, "fp8") == 2 * 80 * 8 * 128 * 2
    two = LS.serving_memory(p, "fp8", 32, 8192, cap, 2)
    assert two.weights == pytest.approx(p.full_params / 2)
    assert two.kv_cache == pytest.approx(327680 * 32 * 8192 / 2)
    assert LS.cards_needed(lambda c: LS.serving_memory(p, "fp8", 32, 8192, cap, c)) == 2
    # bf16 doubles the weights: 141 GB cannot be held by two.
    assert LS.cards_needed(lambda c: LS.serving_memory(p, "bf16", 32, 8192, cap, c)) == 4


def test_kv_cache_splits_only_up_to_the_kv_heads():
    p = LS.resolve_model("llama-3.1-8b")  # 8 KV heads
    eight = LS.serving_memory(p, "bf16", 4, 4096, 80 * GIB, 8)
    sixteen = LS.serving_memory(p, "bf16", 4, 4096, 80 * GIB, 16)
    assert sixteen.kv_cache == eight.kv_cache and sixteen.weights == pytest.approx(eight.weights / 2)


def test_card_counts_are_powers_of_two_in_a_node_then_whole_nodes():
    assert LS.card_counts(8)[:6] == [1, 2, 4, 8, 16, 32]
    assert LS.card_counts(6)[:5] == [1, 2, 4, 6, 12]


def test_max_users_is_the_last_count_that_fits():
    p = LS.resolve_model("llama-3.1-8b")
    n = LS.max_users(p, "bf16", 4096, 24 * GIB)
    assert n >= 1
    assert LS.serving_memory(p, "bf16", n, 4096, 24 * GIB).fits
    assert not LS.serving_memory(p, "bf16", n + 1, 4096, 24 * GIB).fits
    assert LS.max_users(LS.resolve_model("llama-3.1-70b"), "bf16", 4096, 24 * GIB) == 0


def test_lora_and_full_finetune_memory_by_hand():
    p = LS.resolve_model("llama-3.1-8b")
    lora = LS.training_memory(p, "lora", "bf16", batch=1, seq=2048, capacity=24 * GIB)
    adapters = 32 * 16 * ((4096 + 4096) + (4096 + 1024) * 2 + (4096 + 4096))  # rank 16 on q, k, v, o
    assert lora.training_state == 16 * adapters
    assert lora.weights == pytest.approx(p.full_params * 2)
    # Checkpointing: each layer keeps its input (2 B x hidden per token); one layer's activations live at a time;
    # fp32 logits, softmax and gradient.
    layer = 2 * (6 * 4096 + 2 * 1024 + 4 * 14336)
    assert lora.activations == 2048 * (32 * 2 * 4096 + layer) + 2048 * 12 * 128256
    assert lora.fits  # LoRA on 8B in bf16 fits a 24 GB card with checkpointing ...
    no_ckpt = LS.training_memory(p, "lora", "bf16", 1, 2048, 24 * GIB, checkpointing=False)
    assert not no_ckpt.fits  # ... and not without
    full = LS.training_memory(p, "finetune", "bf16", 1, 2048, 80 * GIB)
    assert full.training_state == 16 * p.full_params and not full.fits  # 128 GB of optimizer state
    qlora = LS.training_memory(p, "lora", "int4", 1, 2048, 16 * GIB)
    assert qlora.fits and qlora.weights < lora.weights / 3


def test_training_flops_per_token():
    p = LS.resolve_model("llama-3.1-8b")
    lora = LS.train_flops_per_token(p, "lora", 2048, checkpointing=False)
    full = LS.train_flops_per_token(p, "finetune", 2048, checkpointing=False)
    assert full == pytest.approx(lora * 1.5)  # 6N vs 4N
    assert lora == pytest.approx(4 * p.full_params, rel=0.25)


def test_cost_and_energy_arithmetic():
    assert LS.usd_per_million(2.0, 1000.0) == pytest.approx(2.0 / 3.6e6 * 1e6)
    assert LS.usd_per_million(None, 1000.0) is None and LS.usd_per_million(2.0, 0.0) is None
    assert LS.joules_per_token(300.0, 100.0) == 3.0
    # 1,000 USD over 3 years x 24 h + 0.3 kW at 0.15 USD/kWh.
    hourly = LS.ownership_usd_per_hour(1000.0, 300.0, 3, 24, 0.15)
    assert hourly == pytest.approx(1000 / (3 * 365 * 24) + 0.045)


def test_config_json_reads_like_the_preset(tmp_path):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "max_position_embeddings": 131072,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    p = LS.load_config(path)
    assert p.full_params == LS.resolve_model("llama-3.1-8b").full_params
    assert LS.kv_bytes_per_token(p, "bf16") == 131072


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"hidden_size": 4096}', "num_attention_heads"),
        ('{"hidden_size": 64, "num_attention_heads": 4, "num_local_experts": 8}', "mixture-of-experts"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, text, complaint):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(GpubenchError, match=complaint) as info:
        LS.load_config(path)
    assert "\n" not in str(info.value)
    with pytest.raises(GpubenchError, match="not found"):
        LS.load_config(tmp_path / "missing.json")
    with pytest.raises(GpubenchError, match="unknown LLM"):
        LS.resolve_model("llama-9")


def test_serving_answer_per_device():
    p = LS.resolve_model("llama-3.1-8b")
    out = recommend_llm(p, "serve", "bf16", context=4096, users=20, min_tokens_per_user=20.0)
    by = out.set_index("slug")
    # 24 GB cards need two (tensor parallel); a 32 GB RTX 5090 holds it alone.
    assert by.loc["rtx-4090", "cards"] == 2 and not by.loc["rtx-4090", "fits_one"]
    assert by.loc["rtx-5090", "cards"] == 1
    r = by.loc["rtx-5090"]
    assert r["weights_gb"] == pytest.approx(16.06, abs=0.01)
    assert r["kv_cache_gb"] == pytest.approx(131072 * 20 * 4096 / 1e9)
    assert r["decode_tps_user"] == pytest.approx(r["decode_tps_total"] / 20)
    assert r["ttft_ms"] == pytest.approx(4096 / r["prefill_tps"] * 1e3)
    assert r["usd_per_m_output"] == pytest.approx(r["usd_per_hour"] / (r["decode_tps_total"] * 3600) * 1e6)
    assert r["j_per_output_token"] == pytest.approx(575 / r["decode_tps_total"], rel=0.2)
    assert 0 < r["mbu"] <= 1
    # Ranked ones first (priced), unpriced after them with no rank.
    ranked = out[out["rank"].notna()]
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert out["rank"].isna().sum() == len(out) - len(ranked)
    assert out.iloc[: len(ranked)]["rank"].notna().all()


def test_budget_and_gpu_hour_price():
    p = LS.resolve_model("llama-3.1-8b")
    out = recommend_llm(p, "lora", "bf16", context=2048, budget_usd=1500)
    assert len(out) and (out["price_usd"] <= 1500).all()
    rented = recommend_llm(p, "decode", "bf16", context=1024, usd_per_gpu_hour=2.0)
    h100 = rented.set_index("slug").loc["h100-sxm"]
    assert h100["usd_per_hour"] == 2.0 * h100["cards"]
    assert h100["usd_per_m_output"] == pytest.approx(2.0 / (h100["decode_tps_total"] * 3600) * 1e6)


def test_bad_llm_arguments_are_user_errors():
    p = LS.resolve_model("llama-3.1-8b")
    with pytest.raises(GpubenchError, match="precision"):
        recommend_llm(p, "serve", "fp4")
    with pytest.raises(GpubenchError, match="task"):
        recommend_llm(p, "chat", "bf16")
    with pytest.raises(GpubenchError, match="beyond"):
        recommend_llm(p, "serve", "bf16", context=10**6)
    with pytest.raises(GpubenchError, match="used prices"):
        recommend_llm(p, "serve", "bf16", price_kind="used")
    with pytest.raises(GpubenchError, match="users"):
        recommend_llm(p, "serve", "bf16", users=0)


def test_a_device_without_tdp_has_no_energy_figure():
    catalog = load_catalog()
    no_tdp = [s for s, spec in catalog.items() if not getattr(spec, "tdp_w", None) and spec.memory_bandwidth_gbps]
    if not no_tdp:
        pytest.skip("every catalog device has a TDP")
    out = recommend_llm(LS.resolve_model("llama-3.2-1b"), "decode", "bf16", context=1024)
    rows = out[out["slug"].isin(no_tdp)]
    assert len(rows) and rows["j_per_output_token"].isna().all()
    assert rows["notes"].str.contains("no TDP").all()
