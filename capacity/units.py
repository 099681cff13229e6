"""Units, made explicit (docs/THEORY.md, section 1: units decide the constants).

* Loss: bits or nats per token. The theory is stated in bits; measured losses are usually nats.
* Capacity: bits. A model of N parameters stores at most ``bits_per_parameter * N`` bits
  (about 2 bits per parameter, Allen-Zhu & Li, "Physics of Language Models 3.3").
* Model size: total or non-embedding parameters, always named.
* Knowledge: facts with an entropy (bits) and an exposure frequency per token of the knowledge
  data; or the token statistics of a set of items (people), from which those follow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from capacity._validate import check_finite, check_positive
from capacity.curves import FactGroup, FactsCurve, MultiFrequencyFactsCurve, PowerLawCurve

LN2 = math.log(2.0)
DEFAULT_BITS_PER_PARAMETER = 2.0
ParamsKind = Literal["total", "nonembedding"]
LossUnit = Literal["bits", "nats"]


def nats_to_bits(loss_nats):
    return np.asarray(loss_nats, dtype=float) / LN2


def bits_to_nats(loss_bits):
    return np.asarray(loss_bits, dtype=float) * LN2


def capacity_bits(params, bits_per_parameter: float = DEFAULT_BITS_PER_PARAMETER):
    """Capacity in bits of a model with ``params`` parameters (of whichever kind the caller uses)."""
    check_positive("parameter count", params)
    check_positive("bits_per_parameter", bits_per_parameter)
    return np.asarray(params, dtype=float) * bits_per_parameter


def params_from_capacity(capacity, bits_per_parameter: float = DEFAULT_BITS_PER_PARAMETER):
    check_positive("capacity_bits", capacity)
    check_positive("bits_per_parameter", bits_per_parameter)
    return np.asarray(capacity, dtype=float) / bits_per_parameter


@dataclass(frozen=True)
class WebLossLaw:
    """A measured web-loss scaling law L(N) = C + A N^-alpha.

    N is a parameter count of kind ``params_kind`` expressed in units of ``size_unit`` parameters
    (the paper's FineWeb-Edu fit, 1.769 + 4.952 N^-0.283, uses N in millions: size_unit = 1e6),
    and L is in ``loss_unit`` per token.
    """

    irreducible: float
    amplitude: float
    exponent: float
    loss_unit: LossUnit = "nats"
    size_unit: float = 1.0
    params_kind: ParamsKind = "nonembedding"

    def __post_init__(self) -> None:
        check_finite("irreducible loss C", self.irreducible)
        check_positive("amplitude A", self.amplitude)
        check_positive("exponent alpha", self.exponent)
        check_positive("size_unit", self.size_unit)
        if self.loss_unit not in ("bits", "nats"):
            raise ValueError(f"loss_unit must be 'bits' or 'nats', got {self.loss_unit!r}")
        if self.params_kind not in ("total", "nonembedding"):
            raise ValueError(f"params_kind must be 'total' or 'nonembedding', got {self.params_kind!r}")

    def loss(self, params):
        """L at ``params`` parameters (raw count), in this law's loss unit."""
        check_positive("parameter count", params)
        return self.irreducible + self.amplitude * (np.asarray(params, dtype=float) / self.size_unit) ** -self.exponent

    def capacity_curve(self, bits_per_parameter: float = DEFAULT_BITS_PER_PARAMETER) -> PowerLawCurve:
        """The same law as F2(m) in bits per token over capacity m in bits.

        With m = beta N_params and N = N_params / u: L = C + A (m / (beta u))^-alpha, so in bits
        F2(m) = C/ln2 + (A/ln2) (beta u)^alpha m^-alpha.
        """
        check_positive("bits_per_parameter", bits_per_parameter)
        to_bits = 1.0 / LN2 if self.loss_unit == "nats" else 1.0
        return PowerLawCurve(
            self.irreducible * to_bits,
            self.amplitude * to_bits * (bits_per_parameter * self.size_unit) ** self.exponent,
            self.exponent,
        )


PAPER_FINEWEB_EDU_LAW = WebLossLaw(1.769, 4.952, 0.283, loss_unit="nats", size_unit=1e6, params_kind="nonembedding")
"""arXiv 2505.18091, Fig. 7: FineWeb-Edu validation loss of Pythia models, N in millions.
The digest does not state which parameter count the fit used; our reading is non-embedding."""


@dataclass(frozen=True)
class KnowledgeSet:
    """A knowledge data set as the theory sees it: groups of facts, each with a count, an entropy
    per fact (bits) and an exposure frequency per token *of the knowledge data* (so that its
    frequency per token of the mixture is r times that)."""

    groups: tuple[FactGroup, ...]

    def __post_init__(self) -> None:
        if len(self.groups) == 0:
            raise ValueError("a knowledge set needs at least one fact group, got 0")

    @classmethod
    def uniform(cls, facts: float, entropy_bits_per_fact: float, exposure_frequency: float) -> "KnowledgeSet":
        return cls((FactGroup(facts, entropy_bits_per_fact, exposure_frequency),))

    @classmethod
    def from_token_statistics(cls, items: float, tokens_per_item: float, bits_per_item: float) -> "KnowledgeSet":
        """N items (e.g. people), each seen as a document of L tokens carrying b bits of facts.

        Each item is one exposure in N L tokens of knowledge data, so each of its facts has exposure
        frequency p = 1 / (N L) per knowledge token; H_tot = N b. (A person's five attributes share
        that frequency, so a person counts as one fact of b bits.)
        """
        check_positive("items", items)
        check_positive("tokens_per_item", tokens_per_item)
        check_positive("bits_per_item", bits_per_item)
        return cls.uniform(items, bits_per_item, 1.0 / (items * tokens_per_item))

    @classmethod
    def power_law(
        cls,
        groups: int,
        items_per_group: int,
        exponent: float,
        tokens_per_item: float,
        bits_per_item: float,
    ) -> "KnowledgeSet":
        """The power-law SynBio (arXiv 2505.18091, Fig. 7a): group g = 1..G is drawn with probability
        proportional to g^-exponent, uniformly within the group (paper: 100 x 100, exponent 1.5)."""
        if int(groups) != groups or groups < 1:
            raise ValueError(f"groups must be a positive integer, got {groups!r}")
        if int(items_per_group) != items_per_group or items_per_group < 1:
            raise ValueError(f"items_per_group must be a positive integer, got {items_per_group!r}")
        check_positive("exponent", exponent)
        check_positive("tokens_per_item", tokens_per_item)
        check_positive("bits_per_item", bits_per_item)
        share = np.arange(1, groups + 1, dtype=float) ** -exponent
        share /= share.sum()
        # A group with share q_g of the exposures: each of its n items is seen q_g / n of the time,
        # and exposures average tokens_per_item tokens.
        frequency = share / (items_per_group * tokens_per_item)
        return cls(tuple(FactGroup(items_per_group, bits_per_item, float(f)) for f in frequency))

    @property
    def entropy_bits(self) -> float:
        return float(sum(g.total_entropy_bits for g in self.groups))

    @property
    def is_uniform(self) -> bool:
        return len({g.exposure_frequency for g in self.groups}) == 1

    def curve(self, irreducible: float = 0.0) -> FactsCurve | MultiFrequencyFactsCurve:
        if self.is_uniform:
            return FactsCurve(self.groups[0].exposure_frequency, self.entropy_bits, irreducible)
        return MultiFrequencyFactsCurve(self.groups, irreducible)

    def frequencies(self) -> np.ndarray:
        return np.array([g.exposure_frequency for g in self.groups])

    def group_entropies(self) -> np.ndarray:
        return np.array([g.total_entropy_bits for g in self.groups])


def synbio_bits_per_person(
    days: int = 28, months: int = 12, years: int = 200, cities: int = 200, universities: int = 300,
    majors: int = 100, employers: int = 263,
) -> float:
    """Entropy of one SynBio person's five attributes (arXiv 2505.18091, setup: about 46.5 bits)."""
    sizes: Sequence[int] = (days * months * years, cities, universities, majors, employers)
    return float(sum(math.log2(s) for s in sizes))
