"""The theory fitted on our own runs (arXiv 2505.18091, Section 4 and Theorem 4.3).

``theory_on_runs`` turns a results table into the theory's inputs, all measured on the same runs:
the web-loss law L(M) = C + A M^-alpha fitted on the final web loss of the main runs against
non-embedding parameters (every ratio's runs, each corrected for the rise of the web loss with r, one
point per size: ``analysis.measure.web_loss_at_zero_ratio``); the knowledge set from its measured
statistics (people N, tokens per exposure L, 46.6 bits per person, so each fact's exposure frequency
is p = 1 / (N L) per knowledge token, arXiv 2505.18091, Section 4); and bits per parameter
(Allen-Zhu & Li's 2 by default). From these come the predicted critical ratio of each model, the
critical size at each ratio and the capacity the optimal learner gives the knowledge, m1*(r, M).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.measure import web_loss_at_zero_ratio
from analysis.tables import WebLossFit, baseline, final_rows, fit_web_loss
from capacity._validate import check_finite, check_positive
from capacity.allocation import optimal_allocation
from capacity.curves import PowerLawCurve
from capacity.thresholds import critical_capacity, critical_mixing_ratio
from capacity.units import KnowledgeSet, WebLossLaw, capacity_bits, params_from_capacity, synbio_bits_per_person


class ThresholdPowerLaw(PowerLawCurve):
    """C + A m^-alpha for any alpha > 0. The thresholds of Theorem 4.3 (arXiv 2505.18091, Section 4)
    need only a convex, falling web curve, which this is for every alpha > 0; alpha < 1 is the
    paper's range for real web data, and a law fitted on a few small models (or without one of
    them) can land above it."""

    def __post_init__(self) -> None:
        check_finite("irreducible loss C", self.irreducible)
        check_positive("amplitude A", self.amplitude)
        check_positive("exponent alpha", self.exponent)


def threshold_curve(law: WebLossLaw, bits_per_parameter: float) -> ThresholdPowerLaw:
    """``law.capacity_curve`` (bits per token over bits of capacity) without the alpha < 1 restriction:
    F2(m) = C/ln2 + (A/ln2) (beta u)^alpha m^-alpha for a law in nats over parameters in units of u."""
    check_positive("bits_per_parameter", bits_per_parameter)
    to_bits = 1.0 / math.log(2.0) if law.loss_unit == "nats" else 1.0
    return ThresholdPowerLaw(law.irreducible * to_bits,
                             law.amplitude * to_bits * (bits_per_parameter * law.size_unit) ** law.exponent, law.exponent)


@dataclass(frozen=True)
class TheoryOnRuns:
    web: WebLossFit
    law: WebLossLaw  # nats per token over non-embedding parameters
    curve: PowerLawCurve  # the same in bits per token over bits of capacity
    knowledge: KnowledgeSet
    people: int
    tokens_per_person: float
    bits_per_parameter: float
    accuracy_level: float = 0.1  # the level the measured critical ratios are read at

    @property
    def exposure_frequency(self) -> float:
        return float(self.knowledge.groups[0].exposure_frequency)

    def critical_ratio(self, params_nonembedding, accuracy_level: float | None = None) -> np.ndarray:
        """The ratio at which a share ``accuracy_level`` (default: this theory's) of the knowledge's bits
        is stored: the onset M0- of Theorem 4.3 for a learner of beta M - level H bits, since past the
        onset the facts get exactly the capacity beyond it. This is the quantity measured as the
        ratio where accuracy reaches the level, so the two compare like with like; level 0 gives the
        onset itself."""
        level = self.accuracy_level if accuracy_level is None else float(accuracy_level)
        if not 0.0 <= level < 1.0:
            raise ValueError(f"accuracy_level must be in [0, 1), got {accuracy_level!r}")
        bits = np.asarray(capacity_bits(params_nonembedding, self.bits_per_parameter), dtype=float)
        effective = bits - level * self.knowledge.entropy_bits
        if np.any(effective <= 0):
            raise ValueError(f"a model of {float(np.min(params_nonembedding)):,.0f} parameters holds fewer bits than "
                             f"{level:.0%} of the knowledge's {self.knowledge.entropy_bits:,.0f}: no ratio reaches the level")
        return critical_mixing_ratio(self.curve, self.exposure_frequency, effective)

    def critical_size(self, mixing_ratio) -> np.ndarray:
        return params_from_capacity(critical_capacity(self.curve, self.exposure_frequency, mixing_ratio),
                                    self.bits_per_parameter)

    def knowledge_bits(self, mixing_ratio, params_nonembedding) -> np.ndarray:
        """m1*(r, M): the capacity (bits) the optimal learner gives the knowledge."""
        out = []
        for r, n in zip(np.atleast_1d(mixing_ratio), np.atleast_1d(params_nonembedding)):
            if r <= 0:
                out.append(0.0)
                continue
            if r >= 1:
                out.append(min(self.knowledge.entropy_bits, float(capacity_bits(n, self.bits_per_parameter))))
                continue
            allocation = optimal_allocation([self.knowledge.curve(), self.curve], [r, 1 - r],
                                            float(capacity_bits(n, self.bits_per_parameter)))
            out.append(float(allocation.capacity_bits[0]))
        return np.array(out)


def theory_on_runs(df: pd.DataFrame, *, law_mixing_ratio: float | None = None, bits_per_parameter: float = 2.0,
                   n_bootstrap: int = 200, seed: int = 0, accuracy_level: float = 0.1) -> TheoryOnRuns:
    """Fit the web law on the runs and describe the knowledge set they trained on.

    The law is fitted on final main runs of uniform SynBio at one token budget (the most common among
    them), every ratio included: the rise of the web loss with r is estimated within sizes and each
    run corrected to r = ``law_mixing_ratio`` (0, a web-only model, when None), then each size gives
    one point, the mean of its runs, so that neither the ratio nor the number of runs per size reads
    as an effect of size. The reference ratio only moves C: A and alpha, which set the thresholds,
    are the same for any. The knowledge set is the most common population N among those runs.
    """
    final = baseline(final_rows(df), roles=("main",))
    final = final[final["knowledge"] == "synbio"]
    if final.empty:
        found = sorted(map(str, baseline(final_rows(df))["knowledge"].unique()))
        raise ValueError(f"theory_on_runs needs final main runs of uniform SynBio (rho = 1, tau = 0); the table has "
                         f"knowledge {found}")
    final = final[final["tokens"] == final["tokens"].mode().iloc[0]]
    points, slope_in_r = web_loss_at_zero_ratio(final)
    reference = 0.0 if law_mixing_ratio is None else float(law_mixing_ratio)
    if not 0.0 <= reference < 1.0:
        raise ValueError(f"law_mixing_ratio must be in [0, 1), got {law_mixing_ratio!r}")
    points = pd.DataFrame({"run_id": [f"size-{n:.0f}" for n in points["params_nonembedding"]], "step": 0,
                           "params_nonembedding": points["params_nonembedding"], "mixing_ratio": reference,
                           "web_loss": points["web_loss"] + slope_in_r * -np.log1p(-reference), "role": "main"})
    # No bootstrap asked, no band either (the band's refits are most of the cost).
    web = fit_web_loss(points, n_bootstrap=n_bootstrap, band_resamples=50 if n_bootstrap else 0, seed=seed)
    law = WebLossLaw(web.law.C, web.law.A, web.law.alpha, loss_unit="nats", size_unit=1.0, params_kind="nonembedding")
    people = int(final["people"].mode().iloc[0])
    tokens_per_person = float(final.loc[final["people"] == people, "tokens_per_exposure"].mean())
    knowledge = KnowledgeSet.from_token_statistics(people, tokens_per_person, synbio_bits_per_person())
    return TheoryOnRuns(web, law, threshold_curve(law, bits_per_parameter), knowledge, people, tokens_per_person,
                        bits_per_parameter, accuracy_level)
