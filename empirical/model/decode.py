"""Batched greedy decoding and target scoring for a K-stack of GPT-NeoX models.

Prompts are either shared by all K models (a list of N token-id lists) or given per model (a list
of K such lists, N each: models trained on different populations). Items are sorted by prompt
length and batched; prompts are left-padded so every prompt ends in the same column, with an
attention mask over the padding and rotary positions counted from each prompt's first real token,
so a padded item computes what it would alone.

Exact match and greedy decoding agree by induction: the greedy continuation of a prompt equals
the target y_1..y_n iff, for every j, argmax_v p(v | prompt, y_<j) = y_j. ``score_targets`` checks
that under teacher forcing in one forward pass, so recall needs no token-by-token loop;
``greedy_decode`` produces the continuations themselves (to show misses, or for open prompts).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from empirical.model.gptneox import GPTNeoX, KVCache


def _per_model(model: GPTNeoX, items, name: str) -> list[list[list[int]]]:
    """Token-id lists as K lists of N lists: shared (depth 2, converted once) or per model (depth 3)."""
    items = list(items)
    if not items:
        raise ValueError(f"{name} must hold at least one item, got none")
    K = model.n_models
    shared = all(isinstance(t, int) for t in items[0]) if len(items[0]) else True
    per_model = [items] if shared else [list(x) for x in items]
    if (not shared and len(per_model) != K) or len({len(x) for x in per_model}) != 1:
        raise ValueError(f"{name} per model must be {K} lists of equal length, got "
                         f"lengths {[len(x) for x in per_model]}")
    converted = [[[int(t) for t in seq] for seq in x] for x in per_model]
    return converted * K if shared else converted


def _check_tokens(seqs: list[list[list[int]]], name: str, vocab_size: int, min_len: int):
    for x in {id(x): x for x in seqs}.values():  # a shared list once
        for seq in x:
            if len(seq) < min_len:
                raise ValueError(f"every item of {name} needs at least {min_len} token(s), got {seq!r}")
            if seq and not (0 <= min(seq) and max(seq) < vocab_size):
                raise ValueError(f"{name} token ids must be in [0, {vocab_size}), got {seq!r}")


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])  # little padding per batch
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


def _left_pad(seqs: list[list[list[int]]], items: list[int], width: int, device):
    """Token ids (K, b, width), real-token mask and rotary positions, prompts right-aligned."""
    rows = [[0] * (width - len(x[i])) + x[i] for x in seqs for i in items]
    real = [[False] * (width - len(x[i])) + [True] * len(x[i]) for x in seqs for i in items]
    shape = (len(seqs), len(items), width)
    return torch.tensor(rows).view(shape).to(device), torch.tensor(real).view(shape).to(device)


def _right_pad(seqs: list[list[list[int]]], items: list[int], width: int, fill: int):
    """Token ids (K, b, width), sequences left-aligned, ``fill`` after them."""
    rows = [x[i][:width] + [fill] * (width - len(x[i][:width])) for x in seqs for i in items]
    return torch.tensor(rows, dtype=torch.long).view(len(seqs), len(items), width)


def _positions(real):
    # Position 0 at each item's first real token, as if it were alone (Hugging Face does the same).
    return (real.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def greedy_decode(model: GPTNeoX, prompts, max_new_tokens, *, batch_size: int = 128):
    """Greedy continuations for every model and prompt: out[k][i] has max_new_tokens[i] ids.

    ``max_new_tokens`` is an int, N ints (per prompt) or K lists of N ints. Each batch decodes
    the largest length it holds, with a KV cache; each item keeps only its own length.
    """
    cfg, K, device = model.config, model.n_models, model.embed_in.device
    prompt_ids = _per_model(model, prompts, "prompts")
    _check_tokens(prompt_ids, "prompts", cfg.vocab_size, min_len=1)
    N = len(prompt_ids[0])
    if isinstance(max_new_tokens, int):
        new = [[max_new_tokens] * N] * K
    elif all(isinstance(n, int) for n in max_new_tokens):
        new = [list(max_new_tokens)] * K
    else:
        new = [list(x) for x in max_new_tokens]
    if len(new) != K or any(len(x) != N for x in new) or any(n < 0 for x in new for n in x):
        raise ValueError(f"max_new_tokens must be ints >= 0, one per prompt ({N}), got {max_new_tokens!r}")
    out = [[[] for _ in range(N)] for _ in range(K)]
    lengths = [max(len(prompt_ids[k][i]) for k in range(K)) for i in range(N)]
    for items in _batches(lengths, batch_size):
        width = max(lengths[i] for i in items)
        steps = max(new[k][i] for k in range(K) for i in items)
        if steps == 0:
            continue
        if width + steps - 1 > cfg.max_seq_len:
            raise ValueError(f"prompt ({width}) + new tokens ({steps}) - 1 exceeds max_seq_len={cfg.max_seq_len}")
        idx, real = _left_pad(prompt_ids, items, width, device)
        real = torch.cat((real, real.new_ones(K, len(items), steps - 1)), dim=-1)  # (K, b, width + steps - 1)
        positions = _positions(real)
        cache = KVCache(model, len(items), width + steps - 1)
        tokens = []
        token = model(idx, positions=positions[..., :width], key_mask=real[..., :width], cache=cache,
                      last=1).argmax(-1)  # (K, b, 1)
        tokens.append(token)
        for t in range(width, width + steps - 1):
            token = model(token, positions=positions[..., t:t + 1], key_mask=real[..., :t + 1], cache=cache,
                          last=1).argmax(-1)
            tokens.append(token)
        generated = torch.cat(tokens, dim=-1).tolist()  # (K, b, steps)
        for k in range(K):
            for j, i in enumerate(items):
                out[k][i] = generated[k][j][:new[k][i]]
    return out


@dataclass(frozen=True)
class TargetScores:
    """Per model and item (K, N): cross-entropy of the target span after the prompt.

    nll_nats[k, i] = - sum_j ln p_k(y_j | prompt_i, y_<j) over the target's n_tokens[k, i] tokens;
    exact_match[k, i] is True iff greedy decoding from prompt_i reproduces the target exactly.
    """

    nll_nats: torch.Tensor  # (K, N) float64
    n_tokens: torch.Tensor  # (K, N) int64
    exact_match: torch.Tensor  # (K, N) bool

    @property
    def nll_nats_per_token(self) -> torch.Tensor:
        return self.nll_nats / self.n_tokens


@torch.no_grad()
def score_targets(model: GPTNeoX, prompts, targets, *, batch_size: int = 128) -> TargetScores:
    """Teacher-forced cross-entropy and exact match of ``targets`` after ``prompts``, all K models.

    Input per item: the prompt left-padded to the batch's longest, then target[:-1] right-padded;
    the logits of the last T_target columns predict the targets (one forward per batch).
    """
    cfg, K, device = model.config, model.n_models, model.embed_in.device
    prompt_ids = _per_model(model, prompts, "prompts")
    target_ids = _per_model(model, targets, "targets")
    _check_tokens(prompt_ids, "prompts", cfg.vocab_size, min_len=1)
    _check_tokens(target_ids, "targets", cfg.vocab_size, min_len=1)
    N = len(prompt_ids[0])
    if len(target_ids[0]) != N:
        raise ValueError(f"targets must hold one item per prompt ({N}), got {len(target_ids[0])}")
    nll = torch.zeros(K, N, dtype=torch.float64)
    exact = torch.zeros(K, N, dtype=torch.bool)
    n_tokens = torch.tensor([[len(t) for t in x] for x in target_ids], dtype=torch.long)
    lengths = [max(len(prompt_ids[k][i]) for k in range(K)) for i in range(N)]
    # Teacher forcing: each target without its last token follows the prompt (a shared list once).
    follow_of = {id(x): [y[:-1] for y in x] for x in target_ids}
    follow_ids = [follow_of[id(x)] for x in target_ids]
    for items in _batches(lengths, batch_size):
        width = max(lengths[i] for i in items)
        span = max(len(target_ids[k][i]) for k in range(K) for i in items)
        if width + span - 1 > cfg.max_seq_len:
            raise ValueError(f"prompt ({width}) + target ({span}) - 1 exceeds max_seq_len={cfg.max_seq_len}")
        idx, real = _left_pad(prompt_ids, items, width, device)
        follow = _right_pad(follow_ids, items, span - 1, fill=0)
        labels = _right_pad(target_ids, items, span, fill=-100)
        idx = torch.cat((idx, follow.to(device)), dim=-1)
        # Right padding after the target is never attended by target positions (causal), so the
        # mask only has to hide the left padding.
        real = torch.cat((real, real.new_ones(K, len(items), span - 1)), dim=-1)
        logits = model(idx, positions=_positions(real), key_mask=real, last=span).float()  # (K, b, span, V)
        labels = labels.to(device)
        token_nll = F.cross_entropy(logits.flatten(0, 2), labels.flatten(), ignore_index=-100,
                                    reduction="none").view(K, len(items), span)
        hit = (logits.argmax(-1) == labels) | (labels == -100)
        nll[:, items] = token_nll.sum(-1).double().cpu()
        exact[:, items] = hit.all(-1).cpu()
    return TargetScores(nll_nats=nll, n_tokens=n_tokens, exact_match=exact)
