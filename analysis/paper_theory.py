"""The theory alone at the paper's own settings (the theory preset): the Pythia sizes, SynBio-320k and the
FineWeb-Edu web-loss law of arXiv 2505.18091 (Section 5, Fig. 7), with the critical ratio it predicts for
each size (Section 4, Theorem 4.3) next to the paper's Table 1.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.paper import PAPER_REFERENCE, PAPER_TABLE1, PYTHIA_NONEMBEDDING
from capacity.curves import PowerLawCurve
from capacity.thresholds import critical_mixing_ratio, threshold_frequency_slope
from capacity.units import PAPER_FINEWEB_EDU_LAW, KnowledgeSet, capacity_bits, synbio_bits_per_person

SYNBIO_PEOPLE = 320_000


@dataclass(frozen=True)
class PaperSettings:
    """What the theory preset's figures are drawn from."""
    curve: PowerLawCurve  # the FineWeb-Edu law in bits per token over bits of capacity
    knowledge: KnowledgeSet  # SynBio-320k
    bits_per_parameter: float
    tokens_per_person: float


def paper_settings(tokens_per_person: float, bits_per_parameter: float) -> PaperSettings:
    """SynBio-320k at ``tokens_per_person`` tokens per biography in the paper's FineWeb-Edu law."""
    knowledge = KnowledgeSet.from_token_statistics(SYNBIO_PEOPLE, tokens_per_person, synbio_bits_per_person())
    return PaperSettings(PAPER_FINEWEB_EDU_LAW.capacity_curve(bits_per_parameter), knowledge, bits_per_parameter,
                         tokens_per_person)


def predict_paper_settings(s: PaperSettings) -> dict:
    """The theory preset's numbers, in report.json's order: its assumptions, the predicted critical ratio
    of each Pythia size, the paper's Table 1 and the threshold frequency slope, predicted and measured."""
    law = PAPER_FINEWEB_EDU_LAW
    p = s.knowledge.groups[0].exposure_frequency
    predicted = {name: float(critical_mixing_ratio(s.curve, p, capacity_bits(n, s.bits_per_parameter)))
                 for name, n in PYTHIA_NONEMBEDDING.items()}
    return {
        "preset": "theory",
        "assumptions": {
            "web_loss_law_nats": [law.irreducible, law.amplitude, law.exponent],
            "law_size_unit": law.size_unit,
            "params_kind": "nonembedding",
            "bits_per_parameter": s.bits_per_parameter,
            "synbio_people": SYNBIO_PEOPLE,
            "tokens_per_person": s.tokens_per_person,
            "bits_per_person": synbio_bits_per_person(),
        },
        "predicted_critical_mixing_ratio_synbio_320k": predicted,
        "paper_table1_70m_accuracy_percent": dict(PAPER_TABLE1),
        "predicted_threshold_frequency_slope": threshold_frequency_slope(s.curve),
        "paper_measured_threshold_frequency_slope": PAPER_REFERENCE["threshold_frequency_slope"]["measured"],
    }
