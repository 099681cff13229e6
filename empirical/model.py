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


def compute_dtype(param: torch.Tensor, device: torch.device) -> torch.dtype:
    """The dtype of the matrix products: autocast's (bf16) when it is on for ``device``, else the
    parameters' own.

    The mixed-precision policy (``TrainConfig.precision == "bf16"``): parameters, their gradients
    and the optimiser stay fp32 (master weights); each forward casts every weight to bf16 once,
    and the linear layers, the MLP and the output head's products run in bf16 (the head's
    softmax accumulates in fp32 and writes bf16 probabilities, which its gradient products take);
    the residual stream, layer norms, rotary, the loss sums and, on CPU, attention stay fp32
    (``attention_dtype``). Autocast instead casts around every op, and on CPU sends attention to
    a bf16 kernel slower than the fp32 one: that made bf16 training slower than fp32 here.
    """
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return param.dtype


def attention_dtype(dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """Attention's dtype in a model computing in ``dtype``: fp32 on CPU, where PyTorch's bf16
    flash-attention backward ran 2.3x slower than its fp32 one at head_dim 16 (and the scores are
    no larger than the activations at these lengths); ``dtype`` on accelerators."""
    return torch.float32 if device.type == "cpu" else dtype


class _RotaryTables:
    """Rotary embedding tables for one forward pass, in the attention dtype.

    GPT-NeoX rotates the first r dims of each head's q and k: x * cos + rotate_half(x) * sin,
    rotate_half exchanging the two halves of those dims (its sign is folded into the sin table).
    Over a whole head row of hs dims that is ``x * C + (x @ P) * S``, P the (hs, hs) permutation
    exchanging the halves, C = 1 and S = 0 beyond the first r dims; its gradient is
    ``g * C + (g @ P) * (S P)`` (P is its own inverse and transpose). Three kernels each way on
    whole rows, where the rotated slices (4 dims in a tiny model) took a tenth of a training step.
    """

    def __init__(self, cfg: ModelConfig, cos, sin, dtype: torch.dtype):
        self.n_head, self.head_dim, r = cfg.n_head, cfg.head_dim, cfg.rotary_dims
        self.dtype = dtype
        self.rotates = r > 0
        if not self.rotates:
            return
        hs, device = self.head_dim, cos.device
        lead = cos.shape[:-1]  # (T,), (B, T) or (K, B, T)
        C = torch.ones(*lead, hs, dtype=dtype, device=device)
        S = torch.zeros(*lead, hs, dtype=dtype, device=device)
        C[..., :r], S[..., :r] = cos, sin
        perm = torch.arange(hs, device=device)
        perm[:r] = torch.cat((perm[r // 2:r], perm[:r // 2]))
        self.P = torch.eye(hs, dtype=dtype, device=device)[perm]  # (x @ P)[i] = x[perm[i]]
        # (..., T, hs) -> (..., 1, T, hs): broadcast over heads in the (K, B, H, T, hs) layout.
        self.C, self.S, self.S_perm = C.unsqueeze(-3), S.unsqueeze(-3), S[..., perm].unsqueeze(-3)

    def rotate(self, qk):  # (2, K, B, H, T, hs)
        return torch.addcmul(qk * self.C, qk @ self.P, self.S)

    def rotate_back(self, g):  # the gradient of rotate
        return torch.addcmul(g * self.C, g @ self.P, self.S_perm)


class _SplitHeads(torch.autograd.Function):
    """The fused projection's output (K, B, T, 3d), laid out per head as [q | k | v], to rotated q
    and k and v, each (K*B, H, T, hs) contiguous in the attention dtype: one copy does the
    split, the head transpose and the cast, and the backward assembles the projection's gradient
    with one copy per part (autograd's slicing would zero-fill it three times per layer)."""

    @staticmethod
    def forward(ctx, qkv, rope: _RotaryTables):
        K, B, T, _ = qkv.shape
        H, hs = rope.n_head, rope.head_dim
        parts = qkv.view(K, B, T, H, 3, hs).permute(4, 0, 1, 3, 2, 5)  # (3, K, B, H, T, hs), a view
        qk = torch.empty((2, K, B, H, T, hs), dtype=rope.dtype, device=qkv.device).copy_(parts[:2])
        v = torch.empty((K, B, H, T, hs), dtype=rope.dtype, device=qkv.device).copy_(parts[2])
        if rope.rotates:
            qk = rope.rotate(qk)
        ctx.rope, ctx.dtype, ctx.shape = rope, qkv.dtype, qkv.shape
        q, k = qk.view(2, K * B, H, T, hs).unbind(0)
        return q, k, v.view(K * B, H, T, hs)

    @staticmethod
    def backward(ctx, dq, dk, dv):
        K, B, T, _ = ctx.shape
        rope = ctx.rope
        H, hs = rope.n_head, rope.head_dim
        device = next(g for g in (dq, dk, dv) if g is not None).device
        dq, dk = [torch.zeros((K * B, H, T, hs), dtype=rope.dtype, device=device) if g is None else g
                  for g in (dq, dk)]
        dqk = torch.stack((dq, dk)).view(2, K, B, H, T, hs)
        if rope.rotates:
            dqk = rope.rotate_back(dqk)
        grad = torch.empty((K, B, T, H, 3, hs), dtype=ctx.dtype, device=dqk.device)
        grad[..., :2, :].copy_(dqk.permute(1, 2, 4, 3, 0, 5))
        if dv is not None:
            grad[..., 2, :].copy_(dv.view(K, B, H, T, hs).transpose(2, 3))
        else:
            grad[..., 2, :].zero_()
        return grad.view(ctx.shape), None


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
        else:  # a view into an optimiser's flat buffer (empirical.optim): rows of K tables
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
        # The matrix products and the softmax's output run in h's dtype (bf16 in bf16 mode, where
        # the softmax accumulates in fp32 and its bf16 output is what the gradient products take
        # anyway); the loss and the head's gradient are summed in fp32.
        mm_dtype = h.dtype
        with torch.autocast(device_type, enabled=False):
            hm, wm = h, weight.to(mm_dtype)
            counted = targets != ignore_index  # (K, N)
            inv_count = 1.0 / counted.sum(1).clamp(min=1).to(torch.float32)  # (K,)
            safe = torch.where(counted, targets, 0).unsqueeze(-1)  # (K, N, 1)
            loss = torch.zeros(K, dtype=torch.float32, device=h.device)
            grad_h = torch.empty_like(hm) if want_grad else None
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device) if want_grad else None
            rows = torch.arange(K * min(N, chunk_rows), device=h.device)
            for s in range(0, N, chunk_rows):
                hc, yc = hm[:, s:s + chunk_rows], safe[:, s:s + chunk_rows]  # (K, c, d), (K, c, 1)
                row_weight = (counted[:, s:s + chunk_rows] * inv_count[:, None]).unsqueeze(-1)  # (K, c, 1)
                logits = torch.bmm(hc, wm.transpose(1, 2))  # (K, c, V)
                # softmax then log of the target's probability: one pass over the logits where
                # log_softmax + exp took four times as long on CPU.
                p = torch.softmax(logits, -1)
                loss += (_target_nll(p, logits, yc) * row_weight).sum((1, 2))
                if want_grad:
                    # p - onehot(y) in place; indexing, since scatter_add_ on bf16 converted the
                    # whole chunk to fp32 and back (3x the softmax's time)
                    dlogits = p
                    dlogits.view(-1, p.shape[-1])[rows[:p.shape[0] * p.shape[1]], yc.reshape(-1)] -= 1
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


def _target_nll(p, logits, yc):
    """-log p[y] (K, c, 1) in fp32 from the softmax p; a row whose target probability underflowed
    (a logit ~87 below the largest) takes logsumexp - logit[y] from its logits instead."""
    p_y = p.gather(-1, yc).float()
    nll = -p_y.log()
    tiny = p_y < 1e-30
    # Eager CPU tests for such rows first (a host check costs nothing there); elsewhere the
    # exact values are computed unconditionally, since the test would synchronise the device or
    # break a compiled graph.
    if p.device.type != "cpu" or torch.compiler.is_compiling() or bool(tiny.any()):
        exact = torch.logsumexp(logits.float(), -1, keepdim=True) - logits.gather(-1, yc).float()
        nll = torch.where(tiny, exact, nll)
    return nll


def head_loss(h, weight, targets, ignore_index: int = -100, chunk_bytes: int | None = None):
    """Mean cross-entropy per model (K,) of the head ``weight`` (K, V, d) on hidden states
    ``h`` (K, N, d) against ``targets`` (K, N); rows whose target is ``ignore_index`` count for
    nothing. Equals ``per_model_loss(h @ weight^T, targets)`` with gradients, without ever
    holding all the logits: chunks of about ``chunk_bytes`` of fp32 logits (default 2 MiB on
    CPU, where a chunk then stays in a core's cache through its five passes: up to 1.3x faster
    than 8 MiB at d = 32-64 here; 1 GiB on accelerators, where launches cost more).
    The products run in h's dtype (the weight is cast to it), the loss is summed in fp32."""
    K, N, _ = h.shape
    if chunk_bytes is None:
        chunk_bytes = 1 << 21 if h.device.type == "cpu" else 1 << 30
    chunk_rows = max(1, min(N, chunk_bytes // (4 * K * weight.shape[1])))
    # Under no_grad the gradients are not made (needs_input_grad does not see the grad mode).
    want_grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
    return _HeadCrossEntropy.apply(h, weight, targets, ignore_index, chunk_rows, want_grad)


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
