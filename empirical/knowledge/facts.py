"""A user's own knowledge set from a JSONL facts file (schema: docs/FACTS.md), as a knowledge source.

This is the package's route to real-world knowledge data such as the paper's WikiBio (arXiv
2505.18091, Section 6: Wikipedia biographies, 10 paraphrases each): every entity has several
paraphrased texts and (attribute, value) probes. An exposure of an entity is one of its texts,
drawn afresh each time (as SynBio draws fresh templates); the mixer places exposures into the web
text at ratio r exactly as for SynBio. The variants of ``SynBioConfig`` carry over:

* subsampling (Section 6): a seeded fraction rho of the entities is trained on; evaluation still
  covers every entity, so accuracy is at most about rho;
* compact knowledge mixing, CKM (Section 6): an exposure is, with probability q, the compact tuple
  form "Bio: N {name} | {attribute} {value} | ..." built from the probes, q set so that compact
  tokens are a fraction tau of the text tokens in expectation.

Evaluation is exact match (arXiv 2505.18091, Section 2): greedy-decode the value's tokens after a
probe's prompt; the value is joined to the prompt by one space, as "{prompt} {value}".
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from empirical.knowledge.jsonl import read_records
from empirical.knowledge.base import EvaluationItem, LaidOutExposures, PieceTable, ragged_split, tokenize_pieces

PREFIX = "facts:"
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "facts" / "sample.jsonl"
ENTITY_KEYS = {"id", "name", "texts", "probes"}
PROBE_KEYS = {"attribute", "prompt", "value", "match"}
MATCH_RULES = ("exact",)
COMPACT_PREFIX = "Bio: N"
_ATTRIBUTE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ -]*$")
_FORBIDDEN = "<|endoftext|>"


@dataclass(frozen=True)
class Probe:
    attribute: str
    prompt: str
    value: str
    match: str = "exact"


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    texts: tuple[str, ...]
    probes: tuple[Probe, ...]

    @property
    def values(self) -> dict[str, str]:
        """{attribute: value}, in the order the probes first name each attribute."""
        return {p.attribute: p.value for p in self.probes}


def facts_path(kind: str) -> Path:
    """The path of a "facts:PATH" knowledge kind."""
    if not kind.startswith(PREFIX) or not kind[len(PREFIX):].strip():
        raise ValueError(f"knowledge kind must be 'facts:PATH' with a path, got {kind!r}")
    return Path(kind[len(PREFIX):]).expanduser()


def _text(where: str, key: str, value, *, allow_edge_space: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string, got {value!r}")
    if not allow_edge_space and value != value.strip():
        raise ValueError(f"{where}: {key} must not start or end with whitespace, got {value!r}")
    if _FORBIDDEN in value:
        raise ValueError(f"{where}: {key} must not contain the end-of-text token {_FORBIDDEN}")
    return value


def _probe(where: str, k: int, raw, texts: tuple[str, ...]) -> Probe:
    at = f"{where}: probes[{k}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{at} must be an object with attribute, prompt, value, got {raw!r}")
    unknown, missing = set(raw) - PROBE_KEYS, {"attribute", "prompt", "value"} - set(raw)
    if unknown or missing:
        raise ValueError(f"{at}: " + (f"unknown key(s) {sorted(unknown)}" if unknown else f"missing key(s) {sorted(missing)}")
                         + f"; allowed: {sorted(PROBE_KEYS)}")
    attribute = _text(at, "attribute", raw["attribute"])
    if not _ATTRIBUTE.match(attribute):
        raise ValueError(f"{at}: attribute must be letters, digits, '_', '-' or spaces, got {attribute!r}")
    prompt = _text(at, "prompt", raw["prompt"])
    value = _text(at, "value", raw["value"])
    match = raw.get("match", "exact")
    if match not in MATCH_RULES:
        raise ValueError(f"{at}: match must be one of {MATCH_RULES}, got {match!r}")
    if not any(value in t for t in texts):
        raise ValueError(f"{at}: value {value!r} of {attribute!r} appears in none of the entity's texts, "
                         "so training could not teach it")
    return Probe(attribute, prompt, value, match)


def parse_entity(raw, where: str) -> Entity:
    """One line's entity, validated; ``where`` ("FILE:LINE") starts every error."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    unknown, missing = set(raw) - ENTITY_KEYS, ENTITY_KEYS - set(raw)
    if unknown or missing:
        raise ValueError(f"{where}: " + (f"unknown key(s) {sorted(unknown)}" if unknown else f"missing key(s) {sorted(missing)}")
                         + f"; an entity has exactly {sorted(ENTITY_KEYS)}")
    entity_id = _text(where, "id", raw["id"])
    name = _text(where, "name", raw["name"])
    if not isinstance(raw["texts"], list) or not raw["texts"]:
        raise ValueError(f"{where}: texts must be a non-empty list of strings, got {raw['texts']!r}")
    texts = tuple(_text(where, f"texts[{k}]", t) for k, t in enumerate(raw["texts"]))
    if not isinstance(raw["probes"], list) or not raw["probes"]:
        raise ValueError(f"{where}: probes must be a non-empty list of objects, got {raw['probes']!r}")
    probes = tuple(_probe(where, k, p, texts) for k, p in enumerate(raw["probes"]))
    seen: dict[str, str] = {}
    for p in probes:
        if seen.setdefault(p.attribute, p.value) != p.value:
            raise ValueError(f"{where}: attribute {p.attribute!r} has two values, {seen[p.attribute]!r} and {p.value!r}")
    return Entity(entity_id, name, texts, probes)


def load_facts(path: str | Path) -> tuple[Entity, ...]:
    """Every entity of a facts file, validated; errors name the file and line."""
    return tuple(read_records(path, "facts file", parse_entity,
                              "no entities (an entity is one JSON object per line; see docs/FACTS.md)"))


class FactsKnowledge(LaidOutExposures):
    """A facts file as a :class:`empirical.knowledge.base.KnowledgeSource`.

    ``people`` keeps the file's first ``people`` entities (all of them if the file has fewer);
    ``seed`` fixes the subsample. Pass a ``tokenizers.Tokenizer`` for token ids; without one only
    ``render`` works.
    """

    def __init__(self, entities: Sequence[Entity], tokenizer: Any | None = None, eot_id: int | None = None, *,
                 people: int | None = None, seed: int = 0, subsample_rho: float = 1.0, ckm_tau: float = 0.0):
        if not 0.0 < subsample_rho <= 1.0:
            raise ValueError(f"subsample_rho must be in (0, 1], got {subsample_rho!r}")
        if not 0.0 <= ckm_tau <= 10.0:
            raise ValueError(f"ckm_tau must be in [0, 10], got {ckm_tau!r}")
        if people is not None and people < 1:
            raise ValueError(f"people must be >= 1, got {people!r}")
        self.entities = tuple(entities)[:people] if people else tuple(entities)
        if not self.entities:
            raise ValueError("a facts knowledge set needs at least one entity")
        self.name = "facts"
        self.num_items = len(self.entities)
        self.seed, self.subsample_rho, self.ckm_tau = seed, subsample_rho, ckm_tau
        self.attributes = tuple(dict.fromkeys(p.attribute for e in self.entities for p in e.probes))
        self.trained = self._subsample()
        self._build_pieces()
        self.eot_id = tokenize_pieces(self.pieces, tokenizer, eot_id)
        self.compact_probability = self._compact_probability()

    def _subsample(self) -> np.ndarray:
        """Sorted indices of the entities trained on: a seeded fraction rho (arXiv 2505.18091, Section 6)."""
        n = self.num_items
        if self.subsample_rho >= 1.0:
            return np.arange(n)
        keep = max(1, round(self.subsample_rho * n))
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1]))
        return np.sort(rng.choice(n, size=keep, replace=False))

    def _build_pieces(self) -> None:
        pt = PieceTable()
        self.pieces = pt
        # Each text is one piece: a text is tokenized as a whole, exactly as it will be trained on.
        self.text_pieces = [pt.add(list(e.texts)) for e in self.entities]
        self.text_count = np.array([p.size for p in self.text_pieces], dtype=np.int64)
        self.text_start = np.concatenate([[0], np.cumsum(self.text_count)[:-1]]).astype(np.int64)
        self.text_flat = np.concatenate(self.text_pieces)
        self.compact_piece = pt.add([self.compact_text(e) for e in self.entities])
        self.prompt_piece = [pt.add([p.prompt for p in e.probes]) for e in self.entities]
        self.value_piece = [pt.add([" " + p.value for p in e.probes]) for e in self.entities]
        self.eot_piece = pt.add_special("eot")

    @staticmethod
    def compact_text(entity: Entity) -> str:
        """"Bio: N {name} | {attribute} {value} | ...": the CKM tuple form of an entity's probes."""
        return COMPACT_PREFIX + " " + entity.name + "".join(f" | {a} {v}" for a, v in entity.values.items())

    # --- statistics -----------------------------------------------------------------------------

    def _lengths(self) -> np.ndarray:
        return self.pieces.length if self.pieces.tokenized else self.pieces.text_length

    def text_tokens(self) -> np.ndarray:
        """Mean length of one text exposure of each entity (end-of-text included)."""
        n = self._lengths()
        return np.array([n[p].mean() for p in self.text_pieces]) + n[self.eot_piece]

    def compact_tokens(self) -> np.ndarray:
        n = self._lengths()
        return n[self.compact_piece] + n[self.eot_piece]

    def _compact_probability(self) -> float:
        """q with q E[compact] = tau (1 - q) E[text]: compact tokens are tau x text tokens."""
        if self.ckm_tau == 0:
            return 0.0
        text = float(self.text_tokens()[self.trained].mean())
        compact = float(self.compact_tokens()[self.trained].mean())
        return self.ckm_tau * text / (compact + self.ckm_tau * text)

    @cached_property
    def item_probabilities(self) -> np.ndarray:
        p = np.zeros(self.num_items)
        p[self.trained] = 1.0 / self.trained.size
        return p

    @cached_property
    def expected_tokens_per_exposure(self) -> float:
        q = self.compact_probability
        per_item = (1 - q) * self.text_tokens() + q * self.compact_tokens()
        return float(per_item[self.trained].mean())

    @cached_property
    def max_tokens_per_exposure(self) -> int:
        n = self._lengths()
        longest = max(int(n[p].max()) for p in self.text_pieces)
        return int(max(longest, int(n[self.compact_piece].max())) + n[self.eot_piece])

    @property
    def attribute_entropy_bits(self) -> dict[str, float]:
        """log2 of the number of distinct values of each attribute in the file: the entropy if values
        were uniform over those seen, an upper bound on what one fact can carry."""
        values: dict[str, set[str]] = {a: set() for a in self.attributes}
        for e in self.entities:
            for a, v in e.values.items():
                values[a].add(v)
        return {a: math.log2(len(v)) for a, v in values.items()}

    @property
    def bits_per_item(self) -> float:
        bits = self.attribute_entropy_bits
        return float(np.mean([sum(bits[a] for a in e.values) for e in self.entities]))

    # --- exposures ------------------------------------------------------------------------------

    def layout(self, rng: np.random.Generator, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Piece ids (B, 2): a fresh random text of each entity (or its compact form), end-of-text."""
        items = np.asarray(items, dtype=np.int64)
        B = items.shape[0]
        choice = rng.random(B)
        compact = rng.random(B) < self.compact_probability if self.compact_probability > 0 else np.zeros(B, bool)
        rows = np.empty((B, 2), dtype=np.int64)
        count = self.text_count[items]
        rows[:, 0] = self.text_flat[self.text_start[items] + np.minimum((choice * count).astype(np.int64), count - 1)]
        rows[compact, 0] = self.compact_piece[items[compact]]
        rows[:, 1] = self.eot_piece
        return rows, compact

    def sample_items(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return self.trained[rng.integers(0, self.trained.shape[0], size=count)]

    # --- evaluation -----------------------------------------------------------------------------

    def evaluation_items(self, items: Sequence[int] | None = None) -> list[EvaluationItem]:
        """Every probe of ``items`` (default: all entities): prompt ids, then the value's ids (with
        its leading space); ``template`` numbers an entity's probes of one attribute."""
        if not self.pieces.tokenized:
            raise ValueError("evaluation items need a tokenizer: construct FactsKnowledge(entities, tokenizer)")
        people = range(self.num_items) if items is None else [int(i) for i in items]
        prompt_rows, value_rows, meta = [], [], []
        for i in people:
            seen: dict[str, int] = {}
            for k, probe in enumerate(self.entities[i].probes):
                template = seen[probe.attribute] = seen.get(probe.attribute, -1) + 1
                prompt_rows.append(self.prompt_piece[i][k])
                value_rows.append(self.value_piece[i][k])
                meta.append((i, probe, template))
        if not meta:
            return []
        prompt_rows, value_rows = np.array(prompt_rows)[:, None], np.array(value_rows)[:, None]
        prompts = ragged_split(*self.pieces.gather(prompt_rows))
        targets = ragged_split(*self.pieces.gather(value_rows))
        return [EvaluationItem(prompt=prompts[k], target=targets[k], attribute=probe.attribute, template=template,
                               person=i, prompt_text=probe.prompt, target_text=probe.value)
                for k, (i, probe, template) in enumerate(meta)]


def make_facts(kind: str, tokenizer: Any | None, *, people: int | None = None, seed: int = 0,
               subsample_rho: float = 1.0, ckm_tau: float = 0.0, eot_id: int | None = None) -> FactsKnowledge:
    """The knowledge source of a "facts:PATH" run."""
    return FactsKnowledge(load_facts(facts_path(kind)), tokenizer, eot_id, people=people, seed=seed,
                          subsample_rho=subsample_rho, ckm_tau=ckm_tau)
