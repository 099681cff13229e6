"""K independent GPT-NeoX (Pythia architecture) models in one module.

Every parameter has a leading model axis K: ``GPTNeoX(config, seeds)`` holds ``len(seeds)``
models of one architecture that share nothing, so K = 1 is the ordinary model. Linear layers are
batched matrix products over K, attention folds K into the batch, layer norms normalise without
affine and then apply each model's own gain and bias. Because the models share nothing, the sum of
the per-model losses gives every model exactly the gradient it would get alone: training K at once
is training each alone (issue 7), in one program with few, large kernel launches.

The layer is GPT-NeoX's (Black et al. 2022; Pythia, Biderman et al. 2023), matched to Hugging
Face ``GPTNeoXForCausalLM`` by tests: rotary position embeddings on the first ``rotary_pct`` of
each head's dims (rotate_half convention), a fused QKV projection laid out per head as [q, k, v],
parallel residual x + attn(ln1(x)) + mlp(ln2(x)), exact GELU, a final layer norm and an untied
output head ``embed_out``. Parameter names follow Hugging Face's (without ``gpt_neox.``), and
Linear weights keep its (out, in) layout, so conversion is slicing along K.

Shapes: K models, B sequences, T positions, d = d_model, H heads of hs = d / H dims, V vocab.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from empirical.presets import ModelConfig


class Linear(nn.Module):
    """K independent affine maps: y[k] = x[k] W[k]^T + b[k], weight (K, out, in) as nn.Linear."""

    def __init__(self, K: int, d_in: int, d_out: int, init_std: float, bias: bool = True):
        super().__init__()
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(K, d_out, d_in))
        self.bias = nn.Parameter(torch.empty(K, d_out)) if bias else None

    def forward(self, x):  # (K, ..., d_in) -> (K, ..., d_out)
        x3 = x.reshape(x.shape[0], -1, x.shape[-1])  # (K, N, d_in), a view when contiguous
        if self.bias is None:
            y = torch.bmm(x3, self.weight.transpose(1, 2))
        else:
            y = torch.baddbmm(self.bias.unsqueeze(1), x3, self.weight.transpose(1, 2))
        return y.view(*x.shape[:-1], y.shape[-1])


class LayerNorm(nn.Module):
    """K layer norms; ``affine`` applies model k's gain and bias to an already normalised x[k]."""

    def __init__(self, K: int, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(K, d))
        self.bias = nn.Parameter(torch.empty(K, d))

    def normalise(self, x):  # (K, ..., d), zero mean and unit variance over d
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)

    def affine(self, xn):  # (K, ..., d) -> (K, ..., d)
        shape = (xn.shape[0],) + (1,) * (xn.dim() - 2) + (xn.shape[-1],)
        return torch.addcmul(self.bias.view(shape), xn, self.weight.view(shape))

    def forward(self, x):
        return self.affine(self.normalise(x))


class KVCache:
    """Keys and values of past positions for incremental decoding: per layer (K*B, H, T_max, hs)."""

    def __init__(self, model: "GPTNeoX", batch_size: int, max_len: int):
        cfg, p = model.config, model.embed_in
        shape = (model.n_models * batch_size, cfg.n_head, max_len, cfg.head_dim)
        self.keys = [torch.empty(shape, dtype=p.dtype, device=p.device) for _ in range(cfg.n_layer)]
        self.values = [torch.empty(shape, dtype=p.dtype, device=p.device) for _ in range(cfg.n_layer)]
        self.length = 0  # positions already stored


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, K: int):
        super().__init__()
        self.n_head, self.head_dim, self.rotary_dims = cfg.n_head, cfg.head_dim, cfg.rotary_dims
        self.query_key_value = Linear(K, cfg.d_model, 3 * cfg.d_model, cfg.input_init_std)
        self.dense = Linear(K, cfg.d_model, cfg.d_model, cfg.output_init_std)

    def forward(self, x, cos, sin, mask, cache: KVCache | None, layer: int):
        K, B, T, d = x.shape
        H, hs, r = self.n_head, self.head_dim, self.rotary_dims
        # GPT-NeoX lays the fused projection out per head as [q | k | v].
        qkv = self.query_key_value(x).view(K, B, T, H, 3, hs)
        if r:
            # Rotary on the first r dims of q and k together; rotate_half(x) * sin is computed as
            # cat(x2, x1) * cat(-sin, sin), which is the same numbers with one op fewer.
            qk = qkv[..., :2, :]  # (K, B, T, H, 2, hs)
            rot = qk[..., :r]
            rot = rot * cos + torch.cat((rot[..., r // 2:], rot[..., :r // 2]), dim=-1) * sin
            qk = torch.cat((rot, qk[..., r:]), dim=-1)
        else:
            qk = qkv[..., :2, :]
        q = qk[..., 0, :].flatten(0, 1).transpose(1, 2)  # (K*B, H, T, hs)
        k = qk[..., 1, :].flatten(0, 1).transpose(1, 2)
        v = qkv[..., 2, :].flatten(0, 1).transpose(1, 2)
        if cache is not None:
            start = cache.length
            cache.keys[layer][:, :, start:start + T] = k
            cache.values[layer][:, :, start:start + T] = v
            k = cache.keys[layer][:, :, :start + T]
            v = cache.values[layer][:, :, :start + T]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        y = y.transpose(1, 2).reshape(K, B, T, d)  # (K, B, T, d)
        return self.dense(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, K: int):
        super().__init__()
        self.dense_h_to_4h = Linear(K, cfg.d_model, cfg.d_ff, cfg.input_init_std)
        self.dense_4h_to_h = Linear(K, cfg.d_ff, cfg.d_model, cfg.output_init_std)

    def forward(self, x):  # (K, B, T, d)
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x)))  # exact GELU, as Pythia


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, K: int):
        super().__init__()
        self.parallel_residual = cfg.parallel_residual
        self.input_layernorm = LayerNorm(K, cfg.d_model, cfg.layer_norm_eps)
        self.post_attention_layernorm = LayerNorm(K, cfg.d_model, cfg.layer_norm_eps)
        self.attention = Attention(cfg, K)
        self.mlp = MLP(cfg, K)

    def forward(self, x, cos, sin, mask, cache, layer):  # (K, B, T, d) -> (K, B, T, d)
        if self.parallel_residual:
            # Both branches read the same x: normalise once, apply the two affines separately.
            xn = self.input_layernorm.normalise(x)
            a = self.attention(self.input_layernorm.affine(xn), cos, sin, mask, cache, layer)
            m = self.mlp(self.post_attention_layernorm.affine(xn))
            return m + a + x  # Hugging Face's order of additions
        x = x + self.attention(self.input_layernorm(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class GPTNeoX(nn.Module):
    """K = len(seeds) independent GPT-NeoX models; model k is initialised from seeds[k] alone."""

    def __init__(self, config: ModelConfig, seeds: Sequence[int]):
        super().__init__()
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must name at least one model, got an empty list")
        K, cfg = len(seeds), config
        self.config, self.n_models = cfg, K
        self.embed_in = nn.Parameter(torch.empty(K, cfg.vocab_size, cfg.d_model))
        self.layers = nn.ModuleList(Block(cfg, K) for _ in range(cfg.n_layer))
        self.final_layer_norm = LayerNorm(K, cfg.d_model, cfg.layer_norm_eps)
        self.embed_out = Linear(K, cfg.d_model, cfg.vocab_size, cfg.input_init_std, bias=False)
        # Rotary tables as Hugging Face computes them: angle = position * base^(-2i / r), in fp32.
        r = cfg.rotary_dims
        inv_freq = 1.0 / (cfg.rotary_base ** (torch.arange(0, r, 2, dtype=torch.int64).float() / r))
        angle = torch.arange(cfg.max_seq_len).float()[:, None] * inv_freq[None, :]  # (T_max, r/2)
        self.register_buffer("rotary_cos", torch.cat((angle.cos(), angle.cos()), -1), persistent=False)
        self.register_buffer("rotary_sin", torch.cat((-angle.sin(), angle.sin()), -1), persistent=False)
        for k, seed in enumerate(seeds):
            self._init_model(k, seed)

    @torch.no_grad()
    def _init_model(self, k: int, seed: int):
        # One generator per model, parameters in registration order: model k's numbers depend on
        # its seed only, so a K-stack slice is bit-identical to the same model built alone.
        gen = torch.Generator().manual_seed(seed)
        std_of = {id(self.embed_in): self.config.input_init_std}
        for module in self.modules():
            if isinstance(module, Linear):
                std_of[id(module.weight)] = module.init_std
        for name, p in self.named_parameters():
            if id(p) in std_of:
                p[k].copy_(torch.normal(0.0, std_of[id(p)], p.shape[1:], generator=gen))
            elif name.endswith("layernorm.weight") or name == "final_layer_norm.weight":
                p[k].fill_(1.0)
            else:  # biases
                p[k].zero_()

    def forward(self, idx, targets=None, *, positions=None, key_mask=None, cache: KVCache | None = None,
                last: int | None = None, ignore_index: int = -100):
        """Logits (K, B, T, V) for token ids ``idx`` (K, B, T), or with ``targets`` (K, B, T) the
        per-model mean cross-entropy (K,) in nats, fused with the output head (see head_loss).

        Training passes ``idx`` and ``targets`` (causal attention, positions 0..T-1). Decoding
        left-padded prompts passes ``positions`` (B, T) or (K, B, T), ``key_mask`` (B, T_k) or
        (K, B, T_k), True at real tokens, over all keys including cached ones, and a ``KVCache``;
        ``last`` keeps only the last positions' logits.
        """
        K, B, T = idx.shape
        cfg = self.config
        start = cache.length if cache is not None else 0
        if start + T > cfg.max_seq_len:
            raise ValueError(f"sequence length {start + T} exceeds max_seq_len={cfg.max_seq_len}")
        # Model k reads row k*V + token of the flattened (K*V, d) table: one embedding kernel. An
        # id >= V would silently read the next model's table, so check it where that costs no
        # device synchronisation (on accelerators the data pipeline must guarantee it).
        if (idx.device.type == "cpu" and not torch.compiler.is_compiling() and idx.numel()
                and not (0 <= int(idx.min()) and int(idx.max()) < cfg.vocab_size)):
            raise ValueError(f"token ids must be in [0, {cfg.vocab_size}), got {int(idx.min())}..{int(idx.max())}")
        offsets = torch.arange(K, device=idx.device).view(K, 1, 1) * cfg.vocab_size
        x = F.embedding(idx + offsets, self.embed_in.view(-1, cfg.d_model))  # (K, B, T, d)
        if positions is None:
            cos, sin = self.rotary_cos[start:start + T], self.rotary_sin[start:start + T]
        else:
            cos, sin = self.rotary_cos[positions], self.rotary_sin[positions]
        cos, sin = cos[..., None, None, :], sin[..., None, None, :]  # broadcast over (H, q|k)
        mask = None
        if key_mask is not None or cache is not None:
            mask = self._attention_mask(K, B, T, start, key_mask, idx.device)
        for layer, block in enumerate(self.layers):
            x = block(x, cos, sin, mask, cache, layer)
        if cache is not None:
            cache.length = start + T
        if last is not None:
            x = x[:, :, T - last:]  # the head is per position: skip the logits nobody reads
        x = self.final_layer_norm(x)
        if targets is not None:
            return head_loss(x.reshape(K, -1, cfg.d_model), self.embed_out.weight, targets.reshape(K, -1),
                             ignore_index)
        return self.embed_out(x)  # (K, B, T, V)

    @staticmethod
    def _attention_mask(K, B, T, start, key_mask, device):
        # Query i (absolute position start + i) sees key j <= start + i that is a real token. A
        # padding query also sees itself, so no row is all -inf (NaN would leak through 0 * NaN).
        q_pos = torch.arange(start, start + T, device=device)[:, None]
        k_pos = torch.arange(start + T, device=device)[None, :]
        mask = k_pos <= q_pos  # (T, T_k)
        if key_mask is None:
            return mask
        mask = (mask & key_mask[..., None, :]) | (k_pos == q_pos)  # (..., B, T, T_k)
        return mask.expand(K, B, T, start + T).reshape(K * B, 1, T, start + T)


class _HeadCrossEntropy(torch.autograd.Function):
    """Output head and mean cross-entropy per model, in row chunks, gradients made on the way.

    For hidden states h (K, N, d), head W (K, V, d) and targets y, model k's loss is
    L_k = (1 / n_k) sum_i [logsumexp_v (h_i W^T)_v - (h_i W^T)_{y_i}] over its n_k counted rows,
    with dL_k/dlogits_i = (softmax(h_i W^T) - onehot(y_i)) / n_k. Each chunk's logits are made,
    used for the loss and both gradients (dh = dlogits W, dW += dlogits^T h), and dropped, so the
    (K, N, V) logits never exist in memory: for small models they dominate the step's time.
    """

    @staticmethod
    def forward(ctx, h, weight, targets, ignore_index: int, chunk_rows: int, want_grad: bool):
        K, N, _ = h.shape
        device_type = h.device.type
        # Under autocast the matrix products run in the autocast dtype, the softmax in fp32.
        mm_dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else h.dtype
        with torch.autocast(device_type, enabled=False):
            hm, wm = h.to(mm_dtype), weight.to(mm_dtype)
            counted = targets != ignore_index  # (K, N)
            inv_count = 1.0 / counted.sum(1).clamp(min=1).to(torch.float32)  # (K,)
            safe = torch.where(counted, targets, 0).unsqueeze(-1)  # (K, N, 1)
            loss = torch.zeros(K, dtype=torch.float32, device=h.device)
            grad_h = torch.empty_like(hm) if want_grad else None
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device) if want_grad else None
            for s in range(0, N, chunk_rows):
                hc, yc = hm[:, s:s + chunk_rows], safe[:, s:s + chunk_rows]  # (K, c, d), (K, c, 1)
                row_weight = (counted[:, s:s + chunk_rows] * inv_count[:, None]).unsqueeze(-1)  # (K, c, 1)
                logp = torch.log_softmax(torch.bmm(hc, wm.transpose(1, 2)).float(), -1)  # (K, c, V)
                loss -= (logp.gather(-1, yc) * row_weight).sum((1, 2))
                if want_grad:
                    dlogits = logp.exp_().scatter_add_(-1, yc, torch.full_like(row_weight, -1.0)).to(mm_dtype)
                    # The per-row weights scale the small (K, c, d) operands, not the (K, c, V) one.
                    grad_h[:, s:s + chunk_rows] = torch.bmm(dlogits, wm) * row_weight.to(mm_dtype)
                    grad_w += torch.bmm(dlogits.transpose(1, 2), hc * row_weight.to(mm_dtype)).float()
        if want_grad:
            ctx.save_for_backward(grad_h, grad_w)
        ctx.dtypes = (h.dtype, weight.dtype)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # (K,)
        grad_h, grad_w = ctx.saved_tensors
        g = grad_loss.view(-1, 1, 1)
        return (grad_h * g.to(grad_h.dtype)).to(ctx.dtypes[0]), (grad_w * g).to(ctx.dtypes[1]), None, None, None, None


def head_loss(h, weight, targets, ignore_index: int = -100, chunk_bytes: int | None = None):
    """Mean cross-entropy per model (K,) of the head ``weight`` (K, V, d) on hidden states
    ``h`` (K, N, d) against ``targets`` (K, N); rows whose target is ``ignore_index`` count for
    nothing. Equals ``per_model_loss(h @ weight^T, targets)`` with gradients, without ever
    holding all the logits: chunks of about ``chunk_bytes`` of fp32 logits (default 8 MiB on
    CPU, where they then stay in cache, 1 GiB on accelerators, where launches cost more)."""
    K, N, _ = h.shape
    if chunk_bytes is None:
        chunk_bytes = 1 << 23 if h.device.type == "cpu" else 1 << 30
    chunk_rows = max(1, min(N, chunk_bytes // (4 * K * weight.shape[1])))
    # Under no_grad the gradients are not made (needs_input_grad does not see the grad mode).
    want_grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
    return _HeadCrossEntropy.apply(h, weight, targets, ignore_index, chunk_rows, want_grad)


def per_model_loss(logits, targets, ignore_index: int = -100):
    """Mean next-token cross-entropy (nats) per model: (K,) from logits (K, B, T, V), targets (K, B, T).

    Positions whose target is ``ignore_index`` (padding) count for nothing. ``.sum()`` of the
    result backpropagates into each model its own mean loss's gradient.
    """
    K = logits.shape[0]
    nll = F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten(), ignore_index=ignore_index,
                          reduction="none").view(K, -1)
    counts = (targets.reshape(K, -1) != ignore_index).sum(1).clamp(min=1)
    return nll.sum(1) / counts


@torch.no_grad()
def clip_grad_norm_per_model(model: nn.Module, max_norm: float) -> torch.Tensor:
    """Clip each model's gradient to global L2 norm ``max_norm``; return the norms before (K,).

    Model k's norm runs over slice k of every parameter, so clipping the stack equals applying
    ``torch.nn.utils.clip_grad_norm_`` to each model alone (same coefficient, same 1e-6).
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norms = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]), dim=0)  # (K,)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
    return norms


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed memory for large tensors instead of unmapping it.

    By default glibc serves allocations above ~32 MiB with fresh mmap()s and returns them on
    free, so every training step page-faults its big activations anew; a K-stack has K-times
    larger tensors and paid up to 3x for it here. Process-wide: call once at program start
    (trainer, benchmarks), CPU runs on Linux only. Returns whether the setting was applied.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
        return bool(libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
                    and libc.mallopt(M_TOP_PAD, 64 << 20))
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return False


# --- Hugging Face interoperability -----------------------------------------------------------
# Checkpoint names are Pythia's (``gpt_neox.*`` and ``embed_out.weight``): transformers 4.x loads
# them as they are and 5.x renames embed_out to lm_head on load.

def hf_config(cfg: ModelConfig, **overrides):
    """The ``transformers.GPTNeoXConfig`` of one model of this architecture."""
    from transformers import GPTNeoXConfig

    kwargs = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer,
                  num_attention_heads=cfg.n_head, intermediate_size=cfg.d_ff, hidden_act="gelu",
                  max_position_embeddings=cfg.max_seq_len, rotary_pct=cfg.rotary_pct,
                  rotary_emb_base=cfg.rotary_base, layer_norm_eps=cfg.layer_norm_eps,
                  use_parallel_residual=cfg.parallel_residual, tie_word_embeddings=False,
                  initializer_range=cfg.init_std, bos_token_id=None, eos_token_id=None,
                  attention_dropout=0.0, hidden_dropout=0.0)
    kwargs.update(overrides)
    return GPTNeoXConfig(**kwargs)


def config_from_hf(hf_cfg) -> ModelConfig:
    """Our ModelConfig for a ``GPTNeoXConfig``; ValueError for features we do not implement."""
    rope = getattr(hf_cfg, "rope_parameters", None) or {}
    checks = {"hidden_act": ("gelu", getattr(hf_cfg, "hidden_act", "gelu")),
              "tie_word_embeddings": (False, getattr(hf_cfg, "tie_word_embeddings", False)),
              "attention_bias": (True, getattr(hf_cfg, "attention_bias", True)),
              "rope_type": ("default", rope.get("rope_type", "default"))}
    for name, (wanted, got) in checks.items():
        if got != wanted:
            raise ValueError(f"GPTNeoXConfig.{name}={got!r} is not supported (only {wanted!r})")
    return ModelConfig(
        n_layer=hf_cfg.num_hidden_layers, d_model=hf_cfg.hidden_size, n_head=hf_cfg.num_attention_heads,
        d_ff=hf_cfg.intermediate_size, vocab_size=hf_cfg.vocab_size,
        max_seq_len=hf_cfg.max_position_embeddings,
        rotary_pct=float(rope.get("partial_rotary_factor", getattr(hf_cfg, "rotary_pct", 0.25))),
        rotary_base=float(rope.get("rope_theta", getattr(hf_cfg, "rotary_emb_base", 10000.0))),
        layer_norm_eps=hf_cfg.layer_norm_eps, parallel_residual=hf_cfg.use_parallel_residual,
        init_std=hf_cfg.initializer_range)


def to_hf_state_dict(model: GPTNeoX, k: int) -> dict[str, torch.Tensor]:
    """Model k's weights under Pythia checkpoint names (copies, detached, contiguous)."""
    if not 0 <= k < model.n_models:
        raise ValueError(f"k must be in [0, {model.n_models}), got {k!r}")
    return {_hf_name(name): p.detach()[k].clone().contiguous() for name, p in model.named_parameters()}


def _hf_name(name: str) -> str:
    if name == "embed_in":
        return "gpt_neox.embed_in.weight"
    return name if name.startswith("embed_out") else "gpt_neox." + name


def to_hf(model: GPTNeoX, k: int, **overrides):
    """Model k as an in-memory ``GPTNeoXForCausalLM`` (fp32, eval mode)."""
    from transformers import GPTNeoXForCausalLM

    hf = GPTNeoXForCausalLM(hf_config(model.config, **overrides)).eval()
    state = to_hf_state_dict(model, k)
    head = [n for n, p in hf.named_parameters() if p is hf.get_output_embeddings().weight][0]
    state[head] = state.pop("embed_out.weight")
    hf.load_state_dict({n: t.float() for n, t in state.items()}, strict=True)
    return hf


def from_hf(hf_models) -> GPTNeoX:
    """A K-stack from one ``GPTNeoXForCausalLM`` or a list of K of one architecture."""
    hf_models = list(hf_models) if isinstance(hf_models, (list, tuple)) else [hf_models]
    cfg = config_from_hf(hf_models[0].config)
    for hf in hf_models[1:]:
        if config_from_hf(hf.config) != cfg:
            raise ValueError("from_hf needs models of one architecture; configs differ")
    model = GPTNeoX(cfg, seeds=[0] * len(hf_models))
    head = [n for n, p in hf_models[0].named_parameters() if p is hf_models[0].get_output_embeddings().weight][0]
    states = [hf.state_dict() for hf in hf_models]
    hf_name = {name: head if name == "embed_out.weight" else _hf_name(name) for name, _ in model.named_parameters()}
    stacked = {name: torch.stack([st[hf_name[name]].float() for st in states]) for name in hf_name}
    model.load_state_dict(stacked, strict=True)
    return model


def save_pretrained(model: GPTNeoX, k: int, path, **hf_overrides) -> Path:
    """Write model k as a Hugging Face directory (config.json + model.safetensors).

    ``GPTNeoXForCausalLM.from_pretrained(path)`` loads it, so lm-evaluation-harness can evaluate
    it; ``hf_overrides`` set config fields such as ``bos_token_id`` / ``eos_token_id``. Our own
    ModelConfig goes alongside in ``phasemix_model_config.json``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = hf_config(model.config, **hf_overrides)
    cfg.architectures = ["GPTNeoXForCausalLM"]
    cfg.save_pretrained(path)
    # Also the 4.x names of the rotary settings, so older transformers read them too.
    config_file = path / "config.json"
    data = json.loads(config_file.read_text())
    data.update(rotary_pct=model.config.rotary_pct, rotary_emb_base=model.config.rotary_base)
    config_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    state = {n: t.float() for n, t in to_hf_state_dict(model, k).items()}
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "phasemix_model_config.json").write_text(model.config.to_json() + "\n")
    return path


def load_pretrained(path) -> GPTNeoX:
    """A K = 1 model from a Hugging Face GPT-NeoX directory (ours or a Pythia checkpoint)."""
    from transformers import GPTNeoXForCausalLM

    model = from_hf(GPTNeoXForCausalLM.from_pretrained(str(path)))
    ours = Path(path) / "phasemix_model_config.json"
    if ours.exists():  # ours carries the init settings too, which config.json does not
        saved = ModelConfig.from_json(ours.read_text())
        init = ("init_method", "output_layer_init_method", "init_std")
        if saved.replace(**{f: getattr(model.config, f) for f in init}) != model.config:
            raise ValueError(f"{ours} disagrees with config.json: {saved} vs {model.config}")
        model.config = saved
    return model
