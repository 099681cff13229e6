"""SynBio-N, the synthetic biographies of arXiv 2505.18091 (its experimental setup), and its variants (Fig. 7a; Sec. 6).

N people, each with a unique full name (first x middle x last: 400 x 400 x 1000 = 1.6e8 names,
drawn without replacement) and five attributes drawn uniformly and independently:

    birth_date   day 1-28 x 12 months x years 1900-2099   log2(67200) = 16.04 bits
    birth_city   200 US cities                              log2(200)   =  7.64
    university   300                                        log2(300)   =  8.23
    major        100                                        log2(100)   =  6.64
    employer     263 companies                              log2(263)   =  8.04
                                                            total         46.59 bits per person

Each exposure of a person is a biography of five sentences, one per attribute, in a random order,
each from one of five templates drawn afresh; the full name starts every sentence; the biography
ends with end-of-text. Variants, all from ``SynBioConfig``:

* power-law frequencies (Fig. 7a): G groups of N/G people; group g = 1..G is sampled
  with probability proportional to g**-exponent, uniformly within the group;
* subsampling (section 6): only a seeded fraction rho of the people is trained on (evaluation still
  covers everyone, so accuracy is at most about rho, as in the paper's numbers);
* compact knowledge mixing, CKM (section 6): an exposure is, with probability q, the compact form
  "Bio: N {name} | B {date} | C {city} | U {university} | M {major} | E {employer}"; q is set so
  that compact tokens are a fraction tau of the biography tokens in expectation (the mixing ratio r
  of the stream is unchanged, so biographies get r / (1 + tau) of all tokens).

Text (no tokenizer needed) and token ids come from the same row of pieces, so with the same rng
``render`` and ``exposures`` describe the same exposures, and decoding the ids gives the text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from empirical.knowledge.base import (EMPTY_PIECE, EvaluationItem, LaidOutExposures,
                                 PieceTable, ragged_split, split_template, tokenize_pieces)

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "names"
ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
DAYS, YEARS = range(1, 29), range(1900, 2100)
DATE_DOMAIN = len(DAYS) * len(MONTHS) * len(YEARS)  # 67,200

# Five templates per attribute, all "{name}<words> {value}<end>": the prompt of an evaluation item
# is the sentence up to the value (arXiv 2505.18091, setup: evaluation).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "{name}'s birth date is {value}.",
        "{name} was born on {value}.",
        "{name} came into this world on {value}.",
        "{name}'s date of birth is {value}.",
        "{name} was brought into the world on {value}.",
    ),
    "birth_city": (
        "{name}'s birthplace is {value}.",
        "{name} was born in {value}.",
        "{name} spent the early years of life in {value}.",
        "{name} originates from {value}.",
        "{name} hails from {value}.",
    ),
    "university": (
        "{name} studied at {value}.",
        "{name} graduated from {value}.",
        "{name} completed a degree program at {value}.",
        "{name} spent the college years at {value}.",
        "{name} earned a diploma from {value}.",
    ),
    "major": (
        "{name} has a degree in {value}.",
        "{name} majored in {value}.",
        "{name} focused academic studies on {value}.",
        "{name} specialized in the field of {value}.",
        "{name} chose {value} as a field of study.",
    ),
    "employer": (
        "{name} works at {value}.",
        "{name} is employed by {value}.",
        "{name} holds a job at {value}.",
        "{name} earns a living at {value}.",
        "{name} has a position at {value}.",
    ),
}
COMPACT_PREFIX = "Bio: N"
COMPACT_KEYS = (" | B", " | C", " | U", " | M", " | E")  # one per attribute, in ATTRIBUTES order

SENTENCE_WIDTH = 8  # pieces per sentence: first, middle, last, words, value (3 pieces), end
ROW_WIDTH = 5 * SENTENCE_WIDTH + 1  # five sentences and end-of-text


def load_list(name: str) -> list[str]:
    """Items of empirical/data/names/<name>.txt (comments and blank lines dropped)."""
    lines = (DATA_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class Domains:
    """The name lists and attribute domains (arXiv 2505.18091, setup)."""

    first: tuple[str, ...]
    middle: tuple[str, ...]
    last: tuple[str, ...]
    values: dict[str, tuple[str, ...]]  # rendered attribute values, by attribute

    @classmethod
    def load(cls) -> "Domains":
        dates = tuple(f"{MONTHS[m]} {d:02d}, {y}" for y in YEARS for m in range(12) for d in DAYS)
        return cls(first=tuple(load_list("first")), middle=tuple(load_list("middle")), last=tuple(load_list("last")),
                   values={"birth_date": dates, "birth_city": tuple(load_list("cities")),
                           "university": tuple(load_list("universities")), "major": tuple(load_list("majors")),
                           "employer": tuple(load_list("employers"))})

    @property
    def name_space(self) -> int:
        return len(self.first) * len(self.middle) * len(self.last)

    @property
    def sizes(self) -> dict[str, int]:
        return {a: len(v) for a, v in self.values.items()}


def date_index(day: int, month: int, year: int) -> int:
    """Index of a birth date in ``Domains.values["birth_date"]`` (month 1-12)."""
    return (year - YEARS[0]) * 12 * len(DAYS) + (month - 1) * len(DAYS) + (day - 1)


def attribute_entropy_bits(domains: Domains | None = None) -> dict[str, float]:
    """log2 of each attribute's domain size: the entropy of a uniform attribute, in bits."""
    sizes = (domains or Domains.load()).sizes
    return {a: math.log2(sizes[a]) for a in ATTRIBUTES}


@dataclass(frozen=True)
class SynBioConfig:
    """One SynBio knowledge set. ``seed`` fixes the people (names and attributes) and the subsample."""

    people: int
    seed: int = 0
    subsample_rho: float = 1.0
    ckm_tau: float = 0.0
    powerlaw_groups: int = 0  # 0: uniform frequencies; G > 0: G power-law groups of people / G
    powerlaw_exponent: float = 1.5

    def __post_init__(self) -> None:
        space = 400 * 400 * 1000
        if not isinstance(self.people, (int, np.integer)) or not 1 <= self.people <= space:
            raise ValueError(f"people must be an integer in [1, {space}] (the name space), got {self.people!r}")
        if not 0.0 < self.subsample_rho <= 1.0:
            raise ValueError(f"subsample_rho must be in (0, 1], got {self.subsample_rho!r}")
        if not 0.0 <= self.ckm_tau <= 10.0:
            raise ValueError(f"ckm_tau must be in [0, 10], got {self.ckm_tau!r}")
        if self.powerlaw_groups < 0 or (self.powerlaw_groups and self.people % self.powerlaw_groups):
            raise ValueError(f"powerlaw_groups must be 0 or a divisor of people={self.people}, "
                             f"got {self.powerlaw_groups!r}")
        if not self.powerlaw_exponent > 0:
            raise ValueError(f"powerlaw_exponent must be > 0, got {self.powerlaw_exponent!r}")


class SynBio(LaidOutExposures):
    """A SynBio knowledge set: its people, their biographies as text or token ids, evaluation items.

    Pass a ``tokenizers.Tokenizer`` for token-level generation (``exposures``,
    ``evaluation_items``); without one, only text rendering (``render``) works.
    """

    attributes = ATTRIBUTES

    def __init__(self, config: SynBioConfig, tokenizer: Any | None = None, eot_id: int | None = None,
                 domains: Domains | None = None):
        self.config = config
        self.domains = domains or Domains.load()
        self.name = "synbio"
        self.num_items = config.people
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
        d = self.domains
        # Names without replacement from first x middle x last (arXiv 2505.18091, setup).
        code = rng.choice(d.name_space, size=config.people, replace=False)
        self.name_index = np.stack([code // (len(d.middle) * len(d.last)), code // len(d.last) % len(d.middle),
                                    code % len(d.last)], axis=1)  # (N, 3): first, middle, last
        sizes = d.sizes
        self.value_index = np.stack([rng.integers(sizes[a], size=config.people) for a in ATTRIBUTES], axis=1)  # (N, 5)
        self.trained = self._subsample()
        self._build_pieces()
        self.eot_id = tokenize_pieces(self.pieces, tokenizer, eot_id)
        self.compact_probability = self._compact_probability()

    # --- population ---------------------------------------------------------------------------

    def _subsample(self) -> np.ndarray:
        """Sorted indices of the people trained on: a seeded fraction rho (arXiv 2505.18091, Sec. 6)."""
        n = self.config.people
        if self.config.subsample_rho >= 1.0:
            return np.arange(n)
        keep = max(1, round(self.config.subsample_rho * n))
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 1]))
        return np.sort(rng.choice(n, size=keep, replace=False))

    @property
    def group_of(self) -> np.ndarray:
        """Power-law group (0-based, most frequent first) of each person; all 0 when uniform."""
        groups = self.config.powerlaw_groups
        return np.arange(self.num_items) // (self.num_items // groups) if groups else np.zeros(self.num_items, int)

    @cached_property
    def item_probabilities(self) -> np.ndarray:
        """Probability that an exposure shows person i: p_g / n in group g = 1..G, with
        p_g proportional to g**-exponent (arXiv 2505.18091, Fig. 7); restricted to the subsample."""
        p = np.zeros(self.num_items)
        if self.config.powerlaw_groups:
            weights = np.arange(1, self.config.powerlaw_groups + 1, dtype=float) ** -self.config.powerlaw_exponent
            p[self.trained] = weights[self.group_of[self.trained]]
        else:
            p[self.trained] = 1.0
        return p / p.sum()

    @property
    def uniform(self) -> bool:
        """Whether exposures are uniform over the trained people (so shuffled passes are possible)."""
        return not self.config.powerlaw_groups

    def person_name(self, i: int) -> str:
        f, m, l = self.name_index[i]
        return f"{self.domains.first[f]} {self.domains.middle[m]} {self.domains.last[l]}"

    def attribute_values(self, i: int) -> dict[str, str]:
        return {a: self.domains.values[a][self.value_index[i, k]] for k, a in enumerate(ATTRIBUTES)}

    @property
    def attribute_entropy_bits(self) -> dict[str, float]:
        return attribute_entropy_bits(self.domains)

    @property
    def bits_per_item(self) -> float:
        """Information per person, sum of log2(domain size) over the five attributes (~46.6 bits)."""
        return float(sum(self.attribute_entropy_bits.values()))

    # --- pieces -------------------------------------------------------------------------------

    def _build_pieces(self) -> None:
        d, pt = self.domains, PieceTable()
        self.pieces = pt
        self.first_bare = pt.add(d.first)  # a biography's first sentence: no space before the name
        self.first_spaced = pt.add([" " + x for x in d.first])
        self.middle_spaced = pt.add([" " + x for x in d.middle])
        self.last_spaced = pt.add([" " + x for x in d.last])
        # Values as up to three pieces: " August" " 09" ", 1992" for dates, one piece otherwise.
        # Global value index = offset of the attribute + index in its domain.
        sizes = d.sizes
        self.value_offset = np.cumsum([0] + [sizes[a] for a in ATTRIBUTES[:-1]])
        table = np.full((sum(sizes.values()), 3), EMPTY_PIECE, dtype=np.int64)
        months = pt.add([" " + m for m in MONTHS])
        days = pt.add([f" {x:02d}" for x in DAYS])
        years = pt.add([f", {y}" for y in YEARS])
        k = np.arange(DATE_DOMAIN)
        table[:DATE_DOMAIN] = np.stack([months[k // len(DAYS) % 12], days[k % len(DAYS)], years[k // (12 * len(DAYS))]], 1)
        for a, offset in zip(ATTRIBUTES[1:], self.value_offset[1:]):
            table[offset:offset + sizes[a], 0] = pt.add([" " + v for v in d.values[a]])
        self.value_pieces = table
        self.words = np.zeros((5, 5), dtype=np.int64)  # (attribute, template): the words between name and value
        self.ends = np.zeros((5, 5), dtype=np.int64)  # (attribute, template): after the value
        for a, attr in enumerate(ATTRIBUTES):
            for t, template in enumerate(TEMPLATES[attr]):
                parts = split_template(template)
                shape = [(p.slot, p.spaced) for p in parts if p.slot]
                if shape != [("name", False), ("value", True)] or parts[0].slot != "name" or len(parts) > 4:
                    raise ValueError(f"template must be '{{name}}<words> {{value}}<end>', got {template!r}")
                self.words[a, t] = pt.add([parts[1].text])[0]
                self.ends[a, t] = pt.add([parts[3].text if len(parts) == 4 else ""])[0]
        self.compact_prefix = pt.add([COMPACT_PREFIX])[0]
        self.compact_keys = pt.add(list(COMPACT_KEYS))
        self.eot_piece = pt.add_special("eot")

    def _values_of(self, items: np.ndarray, attributes: np.ndarray) -> np.ndarray:
        """Value pieces (..., 3) of the given people's attributes (broadcast shapes)."""
        return self.value_pieces[self.value_offset[attributes] + self.value_index[items, attributes]]

    def layout(self, rng: np.random.Generator, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Piece ids (B, ROW_WIDTH) of one exposure of each of ``items``: a fresh sentence order and
        fresh templates for every biography (arXiv 2505.18091, setup); CKM compact forms with probability q."""
        items = np.asarray(items, dtype=np.int64)
        B = items.shape[0]
        order = rng.permuted(np.tile(np.arange(5), (B, 1)), axis=1)  # (B, 5) attribute of each sentence
        template = rng.integers(0, 5, size=(B, 5))
        compact = rng.random(B) < self.compact_probability if self.compact_probability > 0 else np.zeros(B, bool)
        rows = np.empty((B, 5, SENTENCE_WIDTH), dtype=np.int64)
        names = self.name_index[items]  # (B, 3)
        rows[:, :, 0] = self.first_spaced[names[:, 0]][:, None]
        rows[:, 0, 0] = self.first_bare[names[:, 0]]
        rows[:, :, 1] = self.middle_spaced[names[:, 1]][:, None]
        rows[:, :, 2] = self.last_spaced[names[:, 2]][:, None]
        rows[:, :, 3] = self.words[order, template]
        rows[:, :, 4:7] = self._values_of(items[:, None], order)
        rows[:, :, 7] = self.ends[order, template]
        out = np.empty((B, ROW_WIDTH), dtype=np.int64)
        out[:, :-1] = rows.reshape(B, -1)
        out[:, -1] = self.eot_piece
        if compact.any():
            out[compact] = self._compact_layout(items[compact])
        return out, compact

    def _compact_layout(self, items: np.ndarray) -> np.ndarray:
        """"Bio: N Gracie Tessa Howell | B August 09, 1992 | C St. Louis, MO | U ... | M ... | E ...",
        padded with empty pieces to ROW_WIDTH."""
        B = items.shape[0]
        out = np.full((B, ROW_WIDTH), EMPTY_PIECE, dtype=np.int64)
        names = self.name_index[items]
        out[:, 0] = self.compact_prefix
        out[:, 1] = self.first_spaced[names[:, 0]]
        out[:, 2] = self.middle_spaced[names[:, 1]]
        out[:, 3] = self.last_spaced[names[:, 2]]
        values = self._values_of(items[:, None], np.arange(5)[None, :])  # (B, 5, 3)
        block = np.concatenate([np.broadcast_to(self.compact_keys[None, :, None], (B, 5, 1)), values], axis=2)
        out[:, 4:24] = block.reshape(B, 20)
        out[:, 24] = self.eot_piece
        return out

    # --- lengths ------------------------------------------------------------------------------

    def _lengths(self) -> np.ndarray:
        """Length of each piece: tokens once tokenized, else characters (text-only mode)."""
        return self.pieces.length if self.pieces.tokenized else self.pieces.text_length

    def _name_and_value_tokens(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per person: the name's length summed over the five sentences (bare in exactly one of
        them), and the five values' total length."""
        n = self._lengths()
        names = self.name_index[items]
        spaced = n[self.middle_spaced[names[:, 1]]] + n[self.last_spaced[names[:, 2]]]
        name = n[self.first_bare[names[:, 0]]] + 4 * n[self.first_spaced[names[:, 0]]] + 5 * spaced
        per_value = n[self.value_pieces].sum(axis=1)
        values = per_value[self.value_offset + self.value_index[items]].sum(axis=1)
        return name, values

    def expected_biography_tokens(self, items: np.ndarray | None = None) -> np.ndarray:
        """Exact expected length of one biography of each person (tokens, or characters without a
        tokenizer), including end-of-text; only the templates vary between exposures."""
        items = np.arange(self.num_items) if items is None else np.asarray(items)
        n = self._lengths()
        name, values = self._name_and_value_tokens(items)
        words = (n[self.words] + n[self.ends]).mean(axis=1).sum()  # mean over templates, sum over attributes
        return name + words + values + n[self.eot_piece]

    def compact_tokens(self, items: np.ndarray | None = None) -> np.ndarray:
        """Length of each person's compact (CKM) form, end-of-text included."""
        items = np.arange(self.num_items) if items is None else np.asarray(items)
        n = self._lengths()
        names = self.name_index[items]
        fixed = n[self.compact_prefix] + n[self.compact_keys].sum() + n[self.eot_piece]
        name = n[self.first_spaced[names[:, 0]]] + n[self.middle_spaced[names[:, 1]]] + n[self.last_spaced[names[:, 2]]]
        per_value = n[self.value_pieces].sum(axis=1)
        return fixed + name + per_value[self.value_offset + self.value_index[items]].sum(axis=1)

    def _compact_probability(self) -> float:
        """q with q E[compact] = tau (1 - q) E[biography]: compact tokens are tau x biography tokens."""
        tau = self.config.ckm_tau
        if tau == 0:
            return 0.0
        p = self.item_probabilities[self.trained]
        bio = float(p @ self.expected_biography_tokens(self.trained))
        compact = float(p @ self.compact_tokens(self.trained))
        return tau * bio / (compact + tau * bio)

    @cached_property
    def expected_tokens_per_exposure(self) -> float:
        """Exact mean tokens per exposure under the sampling distribution (CKM forms included)."""
        p = self.item_probabilities[self.trained]
        q = self.compact_probability
        per_item = self.expected_biography_tokens(self.trained)
        if q:
            per_item = (1 - q) * per_item + q * self.compact_tokens(self.trained)
        return float(p @ per_item)

    @cached_property
    def max_tokens_per_exposure(self) -> int:
        """Upper bound on an exposure's length: each person's longest templates."""
        n = self._lengths()
        name, values = self._name_and_value_tokens(np.arange(self.num_items))
        words = (n[self.words] + n[self.ends]).max(axis=1).sum()
        bio = int((name + values).max() + words + n[self.eot_piece])
        return max(bio, int(self.compact_tokens().max()))

    # --- sampling -----------------------------------------------------------------------------

    def sample_items(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """People of ``count`` independent exposures, drawn from ``item_probabilities``."""
        if self.uniform:
            return self.trained[rng.integers(0, self.trained.shape[0], size=count)]
        cdf = np.cumsum(self.item_probabilities)
        return np.minimum(np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right"), self.num_items - 1)

    # --- evaluation ---------------------------------------------------------------------------

    def evaluation_items(self, items: Sequence[int] | None = None) -> list[EvaluationItem]:
        """Every (person, attribute, template) of ``items`` (default: all people): prompt = the
        sentence up to the value, as in a biography's first sentence, so its ids are an exact prefix
        of that training sentence's ids; target = the value's ids (with its leading space)."""
        if not self.pieces.tokenized:
            raise ValueError("evaluation items need a tokenizer: construct SynBio(config, tokenizer)")
        people = np.arange(self.num_items) if items is None else np.asarray(items, dtype=np.int64)
        P = people.shape[0]
        person = np.repeat(people, 25)
        attribute = np.tile(np.repeat(np.arange(5), 5), P)
        template = np.tile(np.arange(5), 5 * P)
        names = self.name_index[person]
        prompt_rows = np.stack([self.first_bare[names[:, 0]], self.middle_spaced[names[:, 1]],
                                self.last_spaced[names[:, 2]], self.words[attribute, template]], axis=1)
        target_rows = self._values_of(person, attribute)
        prompt_ids, prompt_lengths = self.pieces.gather(prompt_rows)
        target_ids, target_lengths = self.pieces.gather(target_rows)
        prompts = ragged_split(prompt_ids, prompt_lengths)
        targets = ragged_split(target_ids, target_lengths)
        prompt_texts = self.pieces.render(prompt_rows)
        target_texts = self.pieces.render(target_rows)
        return [EvaluationItem(prompt=prompts[k], target=targets[k], attribute=ATTRIBUTES[attribute[k]],
                               template=int(template[k]), person=int(person[k]), prompt_text=prompt_texts[k],
                               target_text=target_texts[k][1:])
                for k in range(person.shape[0])]
