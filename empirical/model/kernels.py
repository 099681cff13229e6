"""The fused pieces of the model's step, each an exact rewrite of the plain computation (tested
against it): the bf16 policy (which dtype the matrix products and attention run in), rotary embedding
and the head split as whole-row kernels with hand-written backward passes, and the output head fused
with the cross-entropy in chunks, so a (B, T, V) logits tensor never exists in full. They are what made
bf16 training on CPU faster than fp32 instead of slower (README, "Training speed").
"""
from __future__ import annotations

import torch

from empirical.model.presets import ModelConfig


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
