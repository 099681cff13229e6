"""AdamW and learning-rate schedules for a K-stack of models.

Every parameter has a leading model axis K, so Adam's element-wise update is already per model; what
must be per model is everything that reduces over parameters: gradient clipping (each model's own
global norm) and, when runs differ, the learning rate. ``StackedAdamW`` does both and reduces to
``torch.optim.AdamW`` with ``clip_grad_norm_`` for K = 1 (tested).
"""
from __future__ import annotations

import math

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
    """AdamW over parameters shaped (K, ...), with per-model learning rates and gradient clipping."""

    def __init__(self, params, n_models: int, config: OptimConfig):
        self.config = config
        self.n_models = n_models
        self.params = []
        self.decay = []
        for p in params:
            if p.requires_grad:
                self.params.append(p)
                self.decay.append(decays(p))
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def grad_norms(self) -> torch.Tensor:
        """Each model's global gradient norm, shape (K,)."""
        squares = torch.zeros(self.n_models, dtype=torch.float32, device=self.params[0].device)
        for p in self.params:
            if p.grad is not None:
                squares += p.grad.detach().float().pow(2).reshape(self.n_models, -1).sum(dim=1)
        return squares.sqrt()

    @torch.no_grad()
    def step(self, lrs: torch.Tensor) -> torch.Tensor:
        """One update with learning rate lrs[k] for model k; returns the pre-clip gradient norms (K,)."""
        cfg = self.config
        norms = self.grad_norms()
        # torch's clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
        scale = (cfg.grad_clip / (norms + 1e-6)).clamp(max=1.0)
        self.step_count += 1
        t = self.step_count
        bias1 = 1.0 - cfg.beta1**t
        bias2_sqrt = math.sqrt(1.0 - cfg.beta2**t)
        lrs = lrs.to(dtype=self.params[0].dtype, device=self.params[0].device)
        for p, m, v, decay in zip(self.params, self.exp_avg, self.exp_avg_sq, self.decay):
            if p.grad is None:
                continue
            shape = (self.n_models,) + (1,) * (p.dim() - 1)
            g = p.grad * scale.view(shape).to(p.grad.dtype)
            lr = lrs.view(shape)
            if decay and cfg.weight_decay:
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
