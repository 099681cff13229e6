"""Which knowledge source a run trains on: ``make_knowledge`` reads the kind named in the run's config
(``empirical.config.KNOWLEDGE_KINDS``, or "facts:PATH") and builds it. The sources import the shared
pieces of ``empirical.knowledge.base``; only this registry imports the sources, so there is no cycle.
"""
from __future__ import annotations

from typing import Any

from empirical.config import KNOWLEDGE_KINDS, task_parameter
from empirical.knowledge.base import KnowledgeSource
from empirical.knowledge.facts import make_facts
from empirical.knowledge.synbio import SynBio, SynBioConfig
from empirical.knowledge.tasks import make_task


def make_knowledge(kind: str, tokenizer: Any | None, *, people: int = 1000, seed: int = 0, subsample_rho: float = 1.0,
                   ckm_tau: float = 0.0, powerlaw_groups: int = 100, powerlaw_exponent: float = 1.5,
                   eot_id: int | None = None, eval_items: int = 1000) -> KnowledgeSource:
    """The knowledge source of a run: SynBio (uniform or power-law, with rho and tau) or a task.

    ``powerlaw_groups`` only applies to "synbio-powerlaw" (``people`` must be a multiple of it);
    ``eval_items`` only to the tasks (held-out instances)."""
    if kind in ("synbio", "synbio-powerlaw"):
        config = SynBioConfig(people=people, seed=seed, subsample_rho=subsample_rho, ckm_tau=ckm_tau,
                              powerlaw_groups=powerlaw_groups if kind == "synbio-powerlaw" else 0,
                              powerlaw_exponent=powerlaw_exponent)
        return SynBio(config, tokenizer, eot_id)
    if kind in ("slope", "max"):
        return make_task(kind, tokenizer, eot_id, seed=seed, eval_items=eval_items)
    if kind.startswith(("slope:", "max:")):  # a smaller task for small models (empirical.config.task_parameter)
        value = task_parameter(kind)
        if value is None:
            raise ValueError(f"knowledge {kind!r}: expected 'slope:M' with M in [9, 99] or 'max:N' with N in [2, 30]")
        size = {"max_value": value} if kind.startswith("slope:") else {"count": value}
        return make_task(kind.split(":")[0], tokenizer, eot_id, seed=seed, eval_items=eval_items, **size)
    if kind.startswith("facts:"):  # a user's facts file (docs/FACTS.md); ``people`` keeps its first entities
        return make_facts(kind, tokenizer, people=people, seed=seed, subsample_rho=subsample_rho, ckm_tau=ckm_tau,
                          eot_id=eot_id)
    raise ValueError(f"unknown knowledge kind {kind!r}: choose one of {KNOWLEDGE_KINDS}")
