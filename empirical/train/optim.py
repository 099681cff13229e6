"""AdamW and learning-rate schedules for a K-stack of models.

Every parameter has a leading model axis K, so Adam's element-wise update is already per model; what
must be per model is everything that reduces over parameters: gradient clipping (each model's own
global norm) and, when runs differ, the learning rate. ``StackedAdamW`` does both and reduces to
``torch.optim.AdamW`` with ``clip_grad_norm_`` for K = 1 (tested).
"""
from __future__ import annotations

import math
import warnings

import torch

from empirical.config import OptimConfig, ScheduleConfig


def learning_rate(step: int, total_steps: int, peak: float, schedule: ScheduleConfig) -> float:
    """LR for optimiser step ``step`` (0-based) of ``total_steps``.

    WSD (the paper's): linear warmup, constant, then linear decay to final_lr_ratio * peak over the
    last ``cooldown_fraction`` of the steps. Cosine: linear warmup, then cosine to final_lr_ratio * peak.
    """
    final = schedule.final_lr_ratio * peak
    warmup = min(schedule.warmup_steps, max(total_steps - 1, 0))
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule.kind == "wsd":
        cooldown = int(round(schedule.cooldown_fraction * total_steps))
        decay_start = total_steps - cooldown
        if cooldown == 0 or step < decay_start:
            return peak
        progress = (step - decay_start + 1) / cooldown
        return peak + (final - peak) * progress
    progress = (step - warmup) / max(total_steps - warmup, 1)
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def decays(param: torch.Tensor) -> bool:
    """Weight decay on matrices (linear weights and embeddings), not on biases or layer norms (as
    GPT-NeoX and nanoGPT); with the leading model axis a matrix has three dimensions."""
    return param.dim() >= 3


class StackedAdamW:
    """AdamW over parameters shaped (K, ...), with per-model learning rates and gradient clipping.

    The parameters, their gradients and Adam's moments live in flat (K, P) fp32 buffers (the
    parameters become views into them, matrices first), so one step is a dozen whole-model
    operations rather than a dozen per parameter tensor: on CPU the per-tensor loop over a small
    model's ~50 tensors cost more than the arithmetic. ``zero_grad`` zeroes the gradient buffer in
    place and autograd accumulates into it. If a parameter's storage or gradient was replaced
    (``model.to(device)`` after construction, a gradient assigned by hand), the step falls back to
    the same arithmetic per tensor, so results never depend on which path ran. As with
    ``torch.optim.AdamW`` after ``zero_grad(set_to_none=False)``, a parameter that got no gradient
    in a step is stepped with a zero one (its moments decay).
    """

    def __init__(self, params, n_models: int, config: OptimConfig):
        self.config = config
        self.n_models = n_models
        params = [p for p in params if p.requires_grad]
        if not params:
            raise ValueError("StackedAdamW needs at least one parameter that requires grad, got none")
        for p in params:
            if p.shape[0] != n_models:
                raise ValueError(f"every parameter needs a leading model axis of {n_models}, got shape {tuple(p.shape)}")
        if n_models > 1:
            # Model k's slice of a parameter is contiguous but the K slices are a buffer row apart,
            # so autograd notes once that the gradient it accumulates into is not dense; the
            # accumulation is in place and correct, and the note would only alarm.
            warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")
        self.params = params  # in the caller's order, as the per-model state lists (checkpoints)
        self.decay = [decays(p) for p in params]
        # Matrices (decayed) first in the buffers: weight decay is then one operation on a slice.
        sizes = [p[0].numel() for p in params]
        offsets, offset = {}, 0
        for i in sorted(range(len(params)), key=lambda i: not self.decay[i]):
            offsets[i], offset = offset, offset + sizes[i]
        self.n_decayed = sum(n for n, d in zip(sizes, self.decay) if d)
        first = params[0]
        make = lambda: torch.zeros(n_models, offset, dtype=first.dtype, device=first.device)  # noqa: E731
        self.flat_param, self.flat_grad, self.flat_exp_avg, self.flat_exp_avg_sq = make(), make(), make(), make()
        self._param_views, self._grad_views, self.exp_avg, self.exp_avg_sq = [], [], [], []
        with torch.no_grad():
            for i, (p, n) in enumerate(zip(params, sizes)):
                def view(buf, start=offsets[i], n=n, shape=p.shape):
                    return buf[:, start:start + n].view(shape)
                pv = view(self.flat_param)
                pv.copy_(p)
                p.data = pv  # the parameter is now a view of the flat buffer
                if p.grad is not None:
                    view(self.flat_grad).copy_(p.grad)
                p.grad = view(self.flat_grad)
                self._param_views.append(pv)
                self._grad_views.append(p.grad)
                self.exp_avg.append(view(self.flat_exp_avg))
                self.exp_avg_sq.append(view(self.flat_exp_avg_sq))
        self.step_count = 0

    def _flat(self) -> bool:
        """Whether every parameter and gradient is still the view this optimiser made."""
        return all(p.grad is g and p.data_ptr() == v.data_ptr()
                   for p, g, v in zip(self.params, self._grad_views, self._param_views))

    def zero_grad(self) -> None:
        if all(p.data_ptr() == v.data_ptr() for p, v in zip(self.params, self._param_views)):
            for p, g in zip(self.params, self._grad_views):  # re-attach gradients replaced by hand
                p.grad = g
            self.flat_grad.zero_()
            return
        for p in self.params:
            p.grad = None

    def grad_norms(self) -> torch.Tensor:
        """Each model's global gradient norm, shape (K,)."""
        if self._flat():
            return torch.linalg.vector_norm(self.flat_grad, dim=1)
        squares = torch.zeros(self.n_models, dtype=torch.float32, device=self.params[0].device)
        for p in self.params:
            if p.grad is not None:
                squares += p.grad.detach().float().pow(2).reshape(self.n_models, -1).sum(dim=1)
        return squares.sqrt()

    @torch.no_grad()
    def step(self, lrs: torch.Tensor) -> torch.Tensor:
        """One update with learning rate lrs[k] for model k; returns the pre-clip gradient norms (K,)."""
        if lrs.shape != (self.n_models,):
            raise ValueError(f"lrs must have shape ({self.n_models},), got {tuple(lrs.shape)}")
        cfg = self.config
        norms = self.grad_norms()
        # torch's clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
        scale = (cfg.grad_clip / (norms + 1e-6)).clamp(max=1.0)
        self.step_count += 1
        t = self.step_count
        bias1 = 1.0 - cfg.beta1**t
        bias2_sqrt = math.sqrt(1.0 - cfg.beta2**t)
        lrs = lrs.to(dtype=self.params[0].dtype, device=self.params[0].device)
        if self._flat():
            groups = [(self.flat_param, self.flat_grad, self.flat_exp_avg, self.flat_exp_avg_sq, None)]
        else:
            groups = [(p, p.grad, m, v, decay)
                      for p, m, v, decay in zip(self.params, self.exp_avg, self.exp_avg_sq, self.decay)
                      if p.grad is not None]
        for p, grad, m, v, decay in groups:
            shape = (self.n_models,) + (1,) * (p.dim() - 1)
            g = grad * scale.view(shape).to(grad.dtype)
            lr = lrs.view(shape)
            if cfg.weight_decay:
                if decay is None:  # the flat buffers: the decayed matrices are the leading columns
                    p[:, :self.n_decayed].mul_(1.0 - lr * cfg.weight_decay)
                elif decay:
                    p.mul_(1.0 - lr * cfg.weight_decay)
            m.lerp_(g, 1.0 - cfg.beta1)
            v.mul_(cfg.beta2).addcmul_(g, g, value=1.0 - cfg.beta2)
            # torch.optim.AdamW's arithmetic, so that K = 1 matches it to the last bit.
            denom = (v.sqrt() / bias2_sqrt).add_(cfg.eps)
            p.sub_((lr / bias1) * m / denom)
        return norms

    def state_dict_for(self, k: int) -> dict:
        """Model k's optimiser state (for its own checkpoint)."""
        return {
            "step_count": self.step_count,
            "exp_avg": [m[k].clone() for m in self.exp_avg],
            "exp_avg_sq": [v[k].clone() for v in self.exp_avg_sq],
        }

    def load_state_for(self, k: int, state: dict) -> None:
        if len(state["exp_avg"]) != len(self.exp_avg):
            raise ValueError(f"optimiser state has {len(state['exp_avg'])} tensors, expected {len(self.exp_avg)}")
        for m, saved in zip(self.exp_avg, state["exp_avg"]):
            m[k].copy_(saved)
        for v, saved in zip(self.exp_avg_sq, state["exp_avg_sq"]):
            v[k].copy_(saved)
        self.step_count = int(state["step_count"])
