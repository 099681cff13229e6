"""From a run's DataConfig to everything the trainer reads: the mixed training stream, evaluation
items, held-out web and knowledge sequences, and exposure statistics.

Tokenizers and tokenized corpora are cached on disk (``empirical.text.tokenizer``, ``empirical.text.corpus``)
and in this process, so building many runs' data costs one tokenization.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from empirical.config import TrainConfig
from empirical.text.corpus import tokenize_corpus
from empirical.train.evaluate import EvalItem
from empirical.knowledge.base import KnowledgeSource
from empirical.knowledge.registry import make_knowledge
from empirical.text.mixing import MixedStream
from empirical.text.tokenizer import LoadedTokenizer, load_tokenizer

EVAL_SEED = 12345  # which people are evaluated and which fresh knowledge sequences score the loss


@lru_cache(maxsize=8)
def _tokenizer(spec: str) -> LoadedTokenizer:
    return load_tokenizer(spec)


@lru_cache(maxsize=8)
def _web_tokens(web: str, split: str, tokenizer_spec: str) -> np.ndarray:
    loaded = _tokenizer(tokenizer_spec)
    return tokenize_corpus(web, split, loaded, eot_id=loaded.info.eos_id)


@dataclass
class RunData:
    """One run's data: its stream (stateful, resumable) and its fixed evaluation material."""

    config: TrainConfig
    tokenizer: LoadedTokenizer
    knowledge: KnowledgeSource
    stream: MixedStream
    _cache: dict = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.info.vocab_size

    @property
    def pad_id(self) -> int:
        return self.tokenizer.info.pad_id

    @property
    def people(self) -> int:
        """Items the model is trained on (after subsampling); tasks count their evaluation items."""
        trained = getattr(self.knowledge, "trained", None)
        return len(trained) if trained is not None else len(self.knowledge.evaluation_items())

    @property
    def group_of(self) -> np.ndarray | None:
        """Power-law group of each person (0-based, most frequent first) when the knowledge set has
        more than one group (``SynBio.group_of``); None for uniform SynBio and the tasks."""
        key = ("groups",)
        if key not in self._cache:
            groups = getattr(self.knowledge, "group_of", None)
            self._cache[key] = groups if groups is not None and np.unique(groups).size > 1 else None
        return self._cache[key]

    @property
    def attribute_entropy_bits(self) -> dict[str, float]:
        return dict(getattr(self.knowledge, "attribute_entropy_bits", {}) or {})

    def next_batch(self) -> np.ndarray:
        """(B, T) token ids; padding is ``pad_id`` (the trainer masks it out of the loss)."""
        return self.stream.next_batch().astype(np.int64, copy=False)

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)

    def eval_items(self, max_people: int, templates: str) -> list[EvalItem]:
        """The run's exact-match items: ``max_people`` people drawn with a fixed seed (0: all), each
        item tagged with its person's power-law group; for a reasoning task, its first ``max_people``
        held-out questions (never generated in training), each once per template (``templates``). Power-law runs should evaluate everyone
        (``eval.people = 0``), so that every group's accuracy covers all of its people."""
        key = ("items", max_people, templates)
        if key not in self._cache:
            n = self.knowledge.num_items
            if n is None:  # a task: its first ``max_people`` held-out questions (0: all), fresh instances
                held_out = self.knowledge.held_out.shape[0]
                raw = self.knowledge.evaluation_items(range(min(max_people or held_out, held_out)))
            else:
                rng = np.random.default_rng(EVAL_SEED)
                people = np.arange(n) if not max_people or max_people >= n else np.sort(rng.choice(n, max_people, replace=False))
                raw = self.knowledge.evaluation_items(people)
            if templates == "first":
                raw = [it for it in raw if it.template == 0]
            groups = self.group_of
            self._cache[key] = [EvalItem(list(it.prompt), list(it.target), it.attribute, it.template, it.person,
                                         int(groups[it.person]) if groups is not None else 0)
                                for it in raw]
        return self._cache[key]

    def web_validation(self, n: int) -> np.ndarray:
        """n held-out web sequences of seq_len tokens (the validation split, cycled if short)."""
        key = ("web", n)
        if key not in self._cache:
            tokens = _web_tokens(self.config.data.web, "validation", self.config.data.tokenizer)
            T = self.config.data.seq_len
            need = n * T
            reps = -(-need // len(tokens))
            self._cache[key] = np.tile(tokens, reps)[:need].reshape(n, T).astype(np.int64)
        return self._cache[key]

    def knowledge_validation(self, n: int) -> np.ndarray:
        """n sequences of fresh knowledge exposures (new sentence orders and templates), fixed seed."""
        key = ("knowledge", n)
        if key not in self._cache:
            stream = MixedStream(self.knowledge, np.zeros(0, dtype=np.int64), mixing_ratio=1.0,
                                 seq_len=self.config.data.seq_len, batch_size=n, seed=EVAL_SEED,
                                 eot_id=self.tokenizer.info.eos_id, pad_id=self.pad_id)
            self._cache[key] = stream.next_batch().astype(np.int64)
        return self._cache[key]

    def exposure_statistics(self) -> dict:
        counter = self.stream.counter
        stats = {
            "knowledge_tokens": counter.knowledge_tokens,
            "web_tokens": counter.web_tokens,
            "pad_tokens": counter.pad_tokens,
            "mixing_ratio_measured": counter.mixing_ratio,
            "exposures": counter.exposures,
            "tokens_per_exposure": counter.mean_tokens_per_exposure,
            "web_epochs": self.stream.web_epochs,
        }
        trained = getattr(self.knowledge, "trained", None)
        if counter.item_exposures is not None and trained is not None:
            seen = counter.item_exposures[trained]
            stats["exposures_per_person"] = float(seen.mean())
            stats["exposure_frequency_per_token"] = float(seen.mean() / max(counter.content_tokens, 1))
        else:
            stats["exposures_per_person"] = None
            stats["exposure_frequency_per_token"] = None
        stats["exposure_frequency_by_group"] = None
        groups = self.group_of
        if groups is not None and counter.item_exposures is not None and trained is not None:
            # Same unit as exposure_frequency_per_token, over each group's trained people; a group with
            # no trained person (subsampling) has no measured frequency and is left out.
            tokens = max(counter.content_tokens, 1)
            member = groups[trained]
            stats["exposure_frequency_by_group"] = {
                str(g): float(counter.item_exposures[trained[member == g]].mean() / tokens)
                for g in np.unique(member)}
        return stats


def build_run_data(config: TrainConfig) -> RunData:
    d = config.data
    loaded = _tokenizer(d.tokenizer)
    knowledge = make_knowledge(d.knowledge, loaded.tokenizer, people=d.people, seed=d.population_seed,
                               subsample_rho=d.subsample_rho, ckm_tau=d.ckm_tau, powerlaw_groups=d.powerlaw_groups,
                               powerlaw_exponent=d.powerlaw_exponent, eot_id=loaded.info.eos_id)
    web = _web_tokens(d.web, "train", d.tokenizer) if d.mixing_ratio < 1.0 else np.zeros(0, dtype=np.int64)
    stream = MixedStream(knowledge, web, mixing_ratio=d.mixing_ratio, seq_len=d.seq_len,
                         batch_size=config.batch_size, seed=config.seed, eot_id=loaded.info.eos_id,
                         pad_id=loaded.info.pad_id)
    return RunData(config, loaded, knowledge, stream)
