"""K independent GPT-NeoX (Pythia architecture) models in one module.

Every parameter has a leading model axis K: ``GPTNeoX(config, seeds)`` holds ``len(seeds)``
models of one architecture that share nothing, so K = 1 is the ordinary model. Linear layers are
batched matrix products over K, attention folds K into the batch, layer norms normalise without
affine and then apply each model's own gain and bias. Because the models share nothing, the sum of
the per-model losses gives every model exactly the gradient it would get alone: training K at once
is training each alone, in one program with few, large kernel launches.

The layer is GPT-NeoX's (Black et al. 2022; Pythia, Biderman et al. 2023), matched to Hugging
Face ``GPTNeoXForCausalLM`` by tests: rotary position embeddings on the first ``rotary_pct`` of
each head's dims (rotate_half convention), a fused QKV projection laid out per head as [q, k, v],
parallel residual x + attn(ln1(x)) + mlp(ln2(x)), exact GELU, a final layer norm and an untied
output head ``embed_out``. Parameter names follow Hugging Face's (without ``gpt_neox.``), and
Linear weights keep its (out, in) layout, so conversion is slicing along K.

Shapes: K models, B sequences, T positions, d = d_model, H heads of hs = d / H dims, V vocab.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from empirical.model import fused_attention
from empirical.model.kernels import _RotaryTables, _SplitHeads, attention_dtype, compute_dtype, head_loss
from empirical.model.presets import ModelConfig


class Linear(nn.Module):
    """K independent affine maps: y[k] = x[k] W[k]^T + b[k], weight (K, out, in) as nn.Linear."""

    def __init__(self, K: int, d_in: int, d_out: int, init_std: float, bias: bool = True):
        super().__init__()
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(K, d_out, d_in))
        self.bias = nn.Parameter(torch.empty(K, d_out)) if bias else None

    def forward(self, x):  # (K, ..., d_in) -> (K, ..., d_out), in x's dtype
        x3 = x.reshape(x.shape[0], -1, x.shape[-1])  # (K, N, d_in), a view when contiguous
        w = self.weight.to(x.dtype)  # no copy in fp32; in bf16 mode the step's bf16 copy
        if self.bias is None:
            y = torch.bmm(x3, w.transpose(1, 2))
        else:
            y = torch.baddbmm(self.bias.to(x.dtype).unsqueeze(1), x3, w.transpose(1, 2))
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

    def forward(self, x, rope: "_RotaryTables", mask, cache: KVCache | None, layer: int):
        K, B, T, d = x.shape
        H, hs = self.n_head, self.head_dim
        # Rotary (on q and k) and attention run in rope's dtype (attention_dtype: fp32 on CPU),
        # the projections in x's.
        q, k, v = _SplitHeads.apply(self.query_key_value(x), rope)  # each (K*B, H, T, hs)
        if cache is not None:
            start = cache.length
            cache.keys[layer][:, :, start:start + T] = k
            cache.values[layer][:, :, start:start + T] = v
            k = cache.keys[layer][:, :, :start + T]
            v = cache.values[layer][:, :, :start + T]
        if mask is None and fused_attention.usable(q):  # training and scoring whole sequences on CPU
            y = fused_attention.causal_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        # (K*B, H, T, hs) -> (K, B, T, d) in x's dtype: the head merge and the cast in one copy
        merged = torch.empty((K * B, T, H, hs), dtype=x.dtype, device=x.device).copy_(y.transpose(1, 2))
        return self.dense(merged.view(K, B, T, d))


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

    def forward(self, x, rope, mask, cache, layer, dtype):  # (K, B, T, d) -> (K, B, T, d)
        # x, the residual stream, stays in its own (fp32) dtype; the branches compute in ``dtype``
        # and their outputs join the stream in fp32 (a no-op in fp32 mode).
        if self.parallel_residual:
            # Both branches read the same x: normalise once, apply the two affines separately.
            xn = self.input_layernorm.normalise(x)
            a = self.attention(self.input_layernorm.affine(xn).to(dtype), rope, mask, cache, layer)
            m = self.mlp(self.post_attention_layernorm.affine(xn).to(dtype))
            return m.to(x.dtype) + a + x  # Hugging Face's order of additions
        x = x + self.attention(self.input_layernorm(x).to(dtype), rope, mask, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x).to(dtype))


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

        Under ``torch.autocast`` the model runs its own mixed-precision policy instead of
        autocast's per-op casts: see ``compute_dtype``.
        """
        dtype = compute_dtype(self.embed_in, idx.device)
        with torch.autocast(idx.device.type, enabled=False):
            return self._forward(idx, targets, positions, key_mask, cache, last, ignore_index, dtype)

    def _forward(self, idx, targets, positions, key_mask, cache, last, ignore_index, dtype):
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
        if self.embed_in.is_contiguous():
            offsets = torch.arange(K, device=idx.device).view(K, 1, 1) * cfg.vocab_size
            x = F.embedding(idx + offsets, self.embed_in.view(-1, cfg.d_model))  # (K, B, T, d)
        else:  # a view into an optimiser's flat buffer (empirical.train.optim): rows of K tables
            x = self.embed_in[torch.arange(K, device=idx.device).view(K, 1, 1), idx]
        if positions is None:
            cos, sin = self.rotary_cos[start:start + T], self.rotary_sin[start:start + T]
        else:
            cos, sin = self.rotary_cos[positions], self.rotary_sin[positions]
        rope = _RotaryTables(cfg, cos, sin, attention_dtype(dtype, idx.device) if cache is None
                             else cache.keys[0].dtype)
        mask = None
        if key_mask is not None or cache is not None:
            mask = self._attention_mask(K, B, T, start, key_mask, idx.device)
        for layer, block in enumerate(self.layers):
            x = block(x, rope, mask, cache, layer, dtype)
        if cache is not None:
            cache.length = start + T
        if last is not None:
            x = x[:, :, T - last:]  # the head is per position: skip the logits nobody reads
        x = self.final_layer_norm(x).to(dtype)
        if targets is not None:
            return head_loss(x.reshape(K, -1, cfg.d_model), self.embed_out.weight, targets.reshape(K, -1),
                             ignore_index)
        return self.embed_out(x)  # (K, B, T, V), in dtype

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


def training_flops_per_token(cfg: ModelConfig, seq_len: int) -> int:
    """Matrix-product FLOPs per trained token, forward and backward (3x the forward; 2 FLOPs per
    multiply-add), for sequences of ``seq_len`` positions. The forward per token: per layer
    2 (3d^2 + d^2 + 2 d d_ff) for the QKV, output and MLP projections plus 4 d (T + 1) / 2 for
    causal attention's scores and weighted values (a position sees (T + 1) / 2 keys on average),
    and 2 V d for the output head. Norms, softmaxes, GELU, rotary and the optimiser are not
    counted (elementwise, a few percent of these FLOPs). The throughput benchmarks divide by it.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len!r}")
    d, f, L, V = cfg.d_model, cfg.d_ff, cfg.n_layer, cfg.vocab_size
    forward = L * (2 * (4 * d * d + 2 * d * f) + 2 * d * (seq_len + 1)) + 2 * V * d
    return 3 * forward


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
