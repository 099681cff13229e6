"""Evaluation of a K-stack of models, each on its own run's data (arXiv 2505.18091, setup: evaluation).

* Exact-match recall: prompt with a template's prefix up to the value, greedy-decode as many tokens
  as the value has; correct iff the output equals the value. Overall, per attribute, per template,
  and per power-law group (arXiv 2505.18091, Fig. 7a: the threshold frequency is read from the groups).
  (Greedy decoding reproduces the value iff every value token is the argmax under teacher forcing,
  so one forward pass per batch decides it: ``empirical.model.decode.score_targets``.)
* Loss on held-out web text and on fresh knowledge sequences (nats per token).
* Bits of knowledge stored, after Allen-Zhu & Li: per (person, attribute),
  max(0, H(attribute) - CE(value | prompt)) in bits, CE averaged over the evaluated templates,
  summed over people (scaled from the sampled people to the whole population).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from empirical.model.decode import score_targets
from empirical.model.gptneox import GPTNeoX


@dataclass(frozen=True)
class EvalItem:
    prompt: list[int]  # token ids of the prompt prefix
    target: list[int]  # token ids of the expected value
    attribute: str
    template: int
    person: int
    group: int = 0  # the person's power-law group (0-based, most frequent first); 0 for uniform sets and tasks


@torch.no_grad()
def sequence_loss(model: GPTNeoX, sequences: np.ndarray, pad_id: int | None = None, batch_size: int = 32) -> np.ndarray:
    """Mean next-token loss (nats) of each model on its sequences (K, n, T), padding excluded, shape (K,)."""
    K, n, _ = sequences.shape
    total = torch.zeros(K, dtype=torch.float64)
    counted = torch.zeros(K, dtype=torch.float64)
    for start in range(0, n, batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(sequences[:, start:start + batch_size])).long()
        chunk = chunk.to(model.embed_in.device)
        targets = chunk[..., 1:]
        if pad_id is not None:
            targets = targets.masked_fill(targets == pad_id, -100)
        count = (targets != -100).reshape(K, -1).sum(1).double().cpu()
        losses = model(chunk[..., :-1], targets)  # (K,) mean over the chunk's counted targets
        total += losses.double().cpu() * count
        counted += count
    return (total / counted.clamp(min=1)).numpy()


def _fill(items: list[EvalItem], n: int) -> list[EvalItem]:
    """Cycle a run's items to length n (runs in a group may have fewer); only the first len(items) count."""
    return [items[i % len(items)] for i in range(n)]


@torch.no_grad()
def evaluate_knowledge(model: GPTNeoX, items_per_model: list[list[EvalItem]],
                       attribute_entropy_bits: list[dict[str, float]], population: list[int],
                       batch_size: int = 256) -> list[dict]:
    """Recall, per-attribute, per-template and per-group recall, and stored bits for each of the K models.

    ``accuracy_by_group`` ({str(group): recall}) is given only when a model's items span more than one
    group (power-law SynBio); it is None otherwise (uniform SynBio, the tasks), so a uniform set is
    never mistaken for a one-group power law.
    """
    K = model.n_models
    if len(items_per_model) != K:
        raise ValueError(f"need one item list per model ({K}), got {len(items_per_model)}")
    n = max(len(x) for x in items_per_model)
    filled = [_fill(x, n) for x in items_per_model]
    scores = score_targets(model, [[it.prompt for it in x] for x in filled], [[it.target for it in x] for x in filled],
                           batch_size=batch_size)
    out = []
    for k, items in enumerate(items_per_model):
        m = len(items)
        correct = scores.exact_match[k, :m].numpy()
        nll_bits = (scores.nll_nats[k, :m] / math.log(2)).numpy()
        by_attribute, by_template, by_group = defaultdict(list), defaultdict(list), defaultdict(list)
        ce_by_fact = defaultdict(list)
        for item, hit, ce in zip(items, correct, nll_bits):
            by_attribute[item.attribute].append(hit)
            by_template[item.template].append(hit)
            by_group[item.group].append(hit)
            ce_by_fact[(item.person, item.attribute)].append(ce)
        stored_bits = sum(max(0.0, attribute_entropy_bits[k][attr] - float(np.mean(ces)))
                          for (_, attr), ces in ce_by_fact.items() if attr in attribute_entropy_bits[k])
        people_evaluated = len({person for person, _ in ce_by_fact})
        out.append({
            "accuracy": float(correct.mean()),
            "accuracy_by_attribute": {a: float(np.mean(v)) for a, v in sorted(by_attribute.items())},
            "accuracy_by_template": {str(t): float(np.mean(v)) for t, v in sorted(by_template.items())},
            "accuracy_by_group": ({str(g): float(np.mean(v)) for g, v in sorted(by_group.items())}
                                  if len(by_group) > 1 else None),
            "value_loss_bits": float(nll_bits.mean()),
            "people_evaluated": people_evaluated,
            "items_evaluated": m,
            "bits_stored_per_person": stored_bits / max(people_evaluated, 1),
            "bits_stored": stored_bits / max(people_evaluated, 1) * population[k],
        })
    return out
