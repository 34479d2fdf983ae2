"""A Llama-style decoder in plain torch: RMSNorm, RoPE, grouped-query attention through
`scaled_dot_product_attention`, SwiGLU MLP, tied or untied embeddings, and a static (preallocated) KV cache.

Weights are random (no model hub is needed: speed depends on shapes, not values), drawn on the device in the
case's dtype, scaled so activations stay O(1) in fp16 at any depth. Llama 3's RoPE frequency scaling changes
values, not work, and is left out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gpubench import devices
from gpubench.benchmarks.llm.presets import KV_BYTES, WEIGHT_BYTES, Preset, serving_name
from gpubench.benchmarks.models.zoo import first_call
from gpubench.errors import Unsupported, first_line
from gpubench.records import CheckResult, Work, Workload

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
ACT_DTYPE = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "int8": torch.bfloat16,
    "fp8": torch.bfloat16,
}
SEED = 1234
CHECK_TOKENS = 16  # prompt length of the cache check (per sequence, at most 2 sequences)
# Relative L2 error of next-token logits, cached decode vs a full forward over the same tokens, same precision.
# Both paths round differently (other matmul shapes); a cache that loses or misplaces tokens gives ~0.3-1.
CHECK_TOL = {"fp32": 1e-4, "bf16": 0.05, "fp16": 0.01, "int8": 0.05, "fp8": 0.15}

Cache = list[tuple[torch.Tensor, torch.Tensor]]


def _normal(shape: tuple[int, ...], std: float, like: dict[str, Any], gen: torch.Generator | None) -> nn.Parameter:
    t = torch.empty(shape, **like)
    if gen is not None:  # None on the meta device: shapes only, nothing to draw
        t.normal_(0.0, std, generator=gen)
    return nn.Parameter(t, requires_grad=False)


class Linear(nn.Module):
    """y = x W^T (+ b) with W stored dense, int8 weight-only (per-channel scales) or fp8 (per-tensor scales)."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter | None = None) -> None:
        super().__init__()
        self.weight = weight
        self.bias = bias
        self.mode = "dense"
        self.lora: tuple[nn.Parameter, nn.Parameter] | None = None

    def add_lora(self, rank: int, gen: torch.Generator) -> None:
        """A trainable low-rank update W + B A (B starts at zero, so the output starts unchanged)."""
        out_f, in_f = self.weight.shape
        a = torch.empty(rank, in_f, device=self.weight.device, dtype=torch.float32)
        a.normal_(0.0, in_f**-0.5, generator=gen)
        self.lora = (nn.Parameter(a), nn.Parameter(torch.zeros(out_f, rank, device=a.device)))
        self.lora_a, self.lora_b = self.lora

    def quantize(self, mode: str) -> None:
        w = self.weight.detach()
        if mode == "int8":
            scale = w.abs().amax(dim=1).float().clamp(min=1e-8) / 127.0
            q = torch.round(w.float() / scale[:, None]).clamp(-127, 127).to(torch.int8)
            self.weight = nn.Parameter(q, requires_grad=False)
            self.register_buffer("scale", scale.to(w.dtype))
        elif mode == "fp8":
            fp8 = devices.get(w.device).fp8_dtype()
            scale = (w.abs().amax().float().clamp(min=1e-8) / torch.finfo(fp8).max).reshape(())
            self.weight = nn.Parameter((w.float() / scale).to(fp8), requires_grad=False)
            self.register_buffer("scale", scale)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "dense":
            y = F.linear(x, self.weight, self.bias)
            if self.lora is not None:
                y = y + F.linear(F.linear(x, self.lora_a.to(x.dtype)), self.lora_b.to(x.dtype))
            return y
        flat = x.reshape(-1, x.shape[-1])
        if self.mode == "int8":
            y = torch._weight_int8pack_mm(flat, self.weight, self.scale)
        else:  # fp8: activations quantized per call (one scale per tensor), fp32 accumulate, bf16 out
            fp8 = self.weight.dtype
            xs = (flat.abs().amax().float().clamp(min=1e-8) / torch.finfo(fp8).max).reshape(())
            xq = (flat.float() / xs).to(fp8)
            y = torch._scaled_mm(xq, self.weight.t(), scale_a=xs, scale_b=self.scale, out_dtype=x.dtype)
        y = y.reshape(*x.shape[:-1], y.shape[-1])
        return y + self.bias if self.bias is not None else y


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, like: dict[str, Any]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, **like))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # the mean square in fp32, as the reference implementations do
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (i, i + head_dim/2) by position-dependent angles (the Hugging Face Llama layout)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class Layer(nn.Module):
    def __init__(self, p: Preset, like: dict[str, Any], gen: torch.Generator | None) -> None:
        super().__init__()
        d, kv, inner = p.hidden, p.kv_dim, p.intermediate
        # Residual branches end in o and down: scaled by 1/sqrt(2 * layers) so the stream stays O(1).
        out_std = 1.0 / math.sqrt(d) / math.sqrt(2 * p.total_layers)
        bias = (lambda n: _normal((n,), 0.02, like, gen)) if p.qkv_bias else (lambda n: None)
        self.norm1, self.norm2 = RMSNorm(d, p.rms_eps, like), RMSNorm(d, p.rms_eps, like)
        self.q = Linear(_normal((d, d), d**-0.5, like, gen), bias(d))
        self.k = Linear(_normal((kv, d), d**-0.5, like, gen), bias(kv))
        self.v = Linear(_normal((kv, d), d**-0.5, like, gen), bias(kv))
        self.o = Linear(_normal((d, d), out_std, like, gen))
        self.gate = Linear(_normal((inner, d), d**-0.5, like, gen))
        self.up = Linear(_normal((inner, d), d**-0.5, like, gen))
        self.down = Linear(_normal((d, inner), inner**-0.5 / math.sqrt(2 * p.total_layers), like, gen))
        self.heads, self.kv_heads, self.head_dim = p.heads, p.kv_heads, p.head_dim

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: tuple[torch.Tensor, torch.Tensor] | None,
        pos: int,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if cache is not None:
            k_cache, v_cache = cache
            k_cache[:, :, pos : pos + t] = k  # static cache: write in place, attend over the filled prefix
            v_cache[:, :, pos : pos + t] = v
            k, v = k_cache[:, :, : pos + t], v_cache[:, :, : pos + t]
        # A single new token sees every cached one (no mask); a prompt from position 0 is causal. A prompt
        # appended to a filled cache would need an explicit mask, and is not used here.
        if t > 1 and pos > 0:
            raise ValueError("multi-token steps must start at position 0")
        a = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, enable_gqa=self.kv_heads != self.heads)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    """The decoder of a preset. `forward(tokens, cache, pos)` returns fp32 logits of the last position."""

    def __init__(self, p: Preset, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        like = {"device": device, "dtype": dtype}
        gen = None if device == torch.device("meta") else torch.Generator(device=device).manual_seed(SEED)
        self.preset = p
        self.embed = _normal((p.vocab, p.hidden), 1.0, like, gen)
        self.layers = nn.ModuleList(Layer(p, like, gen) for _ in range(p.layers))
        self.norm = RMSNorm(p.hidden, p.rms_eps, like)
        # Tied: the output projection is the embedding matrix (scaled at use so logits stay O(1)).
        self.head = Linear(self.embed if p.tied else _normal((p.vocab, p.hidden), p.hidden**-0.5, like, gen))
        self.head_scale = p.hidden**-0.5 if p.tied else 1.0
        inv = 1.0 / (p.rope_theta ** (torch.arange(0, p.head_dim, 2, device=device).float() / p.head_dim))
        self.inv_freq = inv

    def quantize(self, mode: str) -> None:
        """Weight-only int8 / fp8 for every projection (embedding lookup stays 16-bit)."""
        if self.preset.tied:  # the head needs its own quantized copy; the lookup keeps the 16-bit matrix
            self.head = Linear(nn.Parameter(self.embed.detach().clone(), requires_grad=False))
        for m in self.modules():
            if isinstance(m, Linear):
                m.quantize(mode)

    def rope_tables(self, pos: int, t: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(pos, pos + t, device=self.inv_freq.device).float()
        angles = torch.outer(positions, self.inv_freq)
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def forward(
        self, tokens: torch.Tensor, cache: Cache | None = None, pos: int = 0, every_position: bool = False
    ) -> torch.Tensor:
        x = F.embedding(tokens, self.embed)
        cos, sin = self.rope_tables(pos, tokens.shape[1], x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if cache is None else cache[i], pos)
        if every_position:  # training: a loss on every next token
            return (self.head(self.norm(x)) * self.head_scale).float()
        x = self.norm(x[:, -1:])  # serving computes logits for the last position only
        return (self.head(x) * self.head_scale).float()[:, 0]


# --- building a case ---------------------------------------------------------------------------------------


def require_precision(precision: str, device: torch.device) -> None:
    """Raise Unsupported when this device / torch cannot run `precision` the way this decoder does."""
    if precision in ("bf16", "fp16"):
        devices.get(device).require(precision, autocast=True)
    elif precision == "int8":
        probe(device, "int8", "torch._weight_int8pack_mm (weight-only int8)")
    elif precision == "fp8":
        dev = devices.get(device)
        if dev.is_host:
            raise Unsupported("fp8 matmuls (torch._scaled_mm) need a GPU with fp8 tensor cores")
        dev.require("fp8")
        probe(device, "fp8", "torch._scaled_mm (fp8 weights and activations, per-tensor scales)")


def probe(device: torch.device, mode: str, what: str) -> None:
    """Run one small quantized matmul: a kernel this torch lacks on this device becomes Unsupported."""
    w = torch.randn(32, 64, device=device, dtype=torch.bfloat16)
    lin = Linear(nn.Parameter(w, requires_grad=False))
    try:
        lin.quantize(mode)
        lin(torch.randn(2, 64, device=device, dtype=torch.bfloat16))
    except (RuntimeError, NotImplementedError, AttributeError) as e:
        raise Unsupported(
            f"{what} does not run on {devices.get(device).kind} with this torch: {first_line(e)[:200]}"
        ) from None


def build(p: Preset, precision: str, device: torch.device) -> Decoder:
    """The decoder in the case's precision on `device` (int8/fp8: quantized from a 16-bit draw)."""
    require_precision(precision, device)
    model = Decoder(p, device, ACT_DTYPE[precision])
    if precision in ("int8", "fp8"):
        model.quantize(precision)
    return model.eval()


def new_cache(p: Preset, batch: int, length: int, precision: str, device: torch.device, fill: bool) -> Cache:
    """Per layer (keys, values) of shape (batch, kv_heads, length, head_dim). `fill`: random values standing
    for `length` earlier tokens (decode speed depends on how many are cached, not on what they are)."""
    gen = torch.Generator(device=device).manual_seed(SEED + 1)
    shape = (batch, p.kv_heads, length, p.head_dim)
    dtype = ACT_DTYPE[precision]
    out = []
    for _ in range(p.layers):
        k, v = torch.empty(shape, device=device, dtype=dtype), torch.empty(shape, device=device, dtype=dtype)
        if fill:
            k.normal_(generator=gen)
            v.normal_(generator=gen)
        out.append((k, v))
    return out


def bytes_per(precision: str) -> tuple[float, float]:
    return WEIGHT_BYTES[precision], KV_BYTES[precision]


def random_tokens(p: Preset, batch: int, length: int, device: torch.device, seed: int = SEED) -> torch.Tensor:
    gen = torch.Generator(device=device).manual_seed(seed)
    return torch.randint(0, p.vocab, (batch, length), device=device, generator=gen)


def cache_check(
    model: Decoder,
    cache: Cache,
    precision: str,
    prefill: Callable[..., torch.Tensor],
    decode: Callable[..., torch.Tensor],
) -> CheckResult:
    """Next-token logits through the cache == a full forward over the same tokens (no cache), same precision.

    Up to 2 sequences of CHECK_TOKENS are prefilled into the first positions of the case's own cache by
    `prefill`, one more token is decoded against it by `decode`; the full forward sees all of them at once.
    A cache that drops, misplaces or mis-rotates tokens changes the logits far beyond rounding."""
    b = min(2, cache[0][0].shape[0])
    t = min(CHECK_TOKENS, cache[0][0].shape[2] - 1)
    device = cache[0][0].device
    seq = random_tokens(model.preset, b, t + 1, device, seed=SEED + 7)
    view = [(k[:b], v[:b]) for k, v in cache]
    with torch.inference_mode():
        prefill(seq[:, :t], view, 0)
        got = decode(seq[:, t:], view, t)
        ref = model(seq)
    got, ref = got.double().cpu(), ref.double().cpu()
    if not bool(torch.isfinite(got).all()):
        return CheckResult(math.inf, CHECK_TOL[precision], "cached decode produced non-finite logits")
    err = (torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref)).item()
    agree = (got.argmax(-1) == ref.argmax(-1)).double().mean().item()
    return CheckResult(
        err,
        CHECK_TOL[precision],
        f"cached decode vs full forward over {t + 1} tokens x {b} sequence(s): relative logit error, "
        f"top-1 agrees on {agree:.0%}",
    )


def compiled(fn: Callable[..., Any], device: torch.device) -> Callable[..., Any]:
    """torch.compile; on a GPU with CUDA graphs ("reduce-overhead"): decode steps are launch-bound."""
    mode = "reduce-overhead" if devices.get(device).graphs else None
    return torch.compile(fn, mode=mode, dynamic=False)


def timed_first_call(step: Callable[[], Any], what: str, device: torch.device) -> tuple[Any, float]:
    """First call (compiles, initialises kernels) in the factory, with its wall time for the row."""
    t0 = time.perf_counter()
    out = first_call(step, what, device)
    devices.get(device).synchronize()
    return out, time.perf_counter() - t0


def common_info(p: Preset, precision: str) -> dict[str, Any]:
    """Row columns every LLM case carries."""
    info: dict[str, Any] = {
        "preset": p.name,
        "layers_run": p.layers,
        "layers_total": p.total_layers,
        "layers_note": p.layers_text,
        "params_count": p.params,
        "params_full": p.full_params,
        "weight_bytes_per_param": WEIGHT_BYTES[precision],
        "preset_source": p.source,
    }
    if precision in ("int8", "fp8"):
        info["quant_method"] = (
            "weight-only int8, per-channel scales, torch._weight_int8pack_mm"
            if precision == "int8"
            else "fp8 e4m3 weights and per-call activations, per-tensor scales, torch._scaled_mm"
        )
    return info


def serving_workload(
    benchmark: str,
    p: Preset,
    precision: str,
    device: torch.device,
    model: Decoder,
    cache: Cache,
    tokens: torch.Tensor,
    pos: int,
    compile_: bool,
    amount: float,
    work: tuple[float, float],
    extra: dict[str, Any],
) -> Workload:
    """The Workload of one forward step `model(tokens, cache, pos)` (prefill: a prompt at 0; decode: one token
    at `pos`), eager or compiled, with its work (FLOPs, bytes), the row's columns and the cache check (the
    timed path fills the cache for a prefill, decodes against it otherwise)."""
    forward = compiled(model, device) if compile_ else model

    def step() -> torch.Tensor:
        with torch.inference_mode():
            return forward(tokens, cache, pos)  # decode: same position every step, the cache stays C long

    _, first_s = timed_first_call(step, f"{p.name} {benchmark} in {precision}", device)
    info = {
        **common_info(p, precision),
        "workload": serving_name(benchmark, p.name, precision),
        "kv_cache_bytes": float(sum(k.numel() * k.element_size() * 2 for k, _ in cache)),
        ("compile_s" if compile_ else "first_call_s"): first_s,
        **extra,
    }
    prefill, decode = (forward, model) if benchmark == "llm_prefill" else (model, forward)

    def check() -> CheckResult:
        return cache_check(model, cache, precision, prefill, decode)

    def close() -> None:
        nonlocal model, cache, forward
        del model, cache, forward

    flops, moved = work
    return Workload(
        step=step, work=Work(amount, "token", flops=flops, bytes=moved), check=check, info=info, close=close
    )
