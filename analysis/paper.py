"""The paper's own settings and numbers (arXiv 2505.18091), for predicting them and drawing them next to ours.

Each entry names the table, figure or section of the paper it comes from. Accuracies are fractions (the paper prints
percentages); tokens are raw counts unless a key says otherwise. The figures draw an entry only where
its axes are the figure's axes, always labelled "paper".
"""
from __future__ import annotations

from types import MappingProxyType

PAPER_REFERENCE = MappingProxyType({
    "table1_70m": MappingProxyType({
        "section": "arXiv 2505.18091, Fig. 2 and Table 1 (phase transition in the mixing ratio)",
        "label": "paper: Pythia-70M, SynBio-320k (Table 1)",
        "model": "pythia-70m",
        "people": 320_000,
        "tokens": 32e9,
        "mixing_ratio": (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45),
        "accuracy": (0.004, 0.004, 0.004, 0.008, 0.073, 0.275, 0.404, 0.581),
        # Standard deviations over 3 seeds, printed only from r = 0.30 on.
        "accuracy_sd": (None, None, None, None, 0.028, 0.028, 0.031, 0.031),
    }),
    "synbio_1_28m_410m": MappingProxyType({
        "section": "arXiv 2505.18091, Fig. 2b (Pythia-410M on SynBio-1.28M)",
        "label": "paper: Pythia-410M, SynBio-1.28M (approximate)",
        "model": "pythia-410m",
        "people": 1_280_000,
        "statement": "near 0 for r <= 0.3, about 80% at r = 0.4",
        "mixing_ratio": (0.4,),
        "accuracy": (0.8,),
    }),
    "threshold_frequency_slope": MappingProxyType({
        "section": "arXiv 2505.18091, Sec. 5, Fig. 7a (threshold frequency against model size)",
        "label": "paper: SynBio-10k-power-law, r = 0.01",
        "measured": -1.152,
        "predicted": -1.283,  # -(alpha + 1) with alpha = 0.283 from the FineWeb-Edu law
        "accuracy_target": 0.8,
    }),
    "fineweb_edu_law": MappingProxyType({
        "section": "arXiv 2505.18091, Sec. 5, Fig. 7 (FineWeb-Edu validation-loss fit)",
        "label": "paper: FineWeb-Edu validation loss, Pythia 70M-410M",
        "irreducible": 1.769,
        "amplitude": 4.952,
        "exponent": 0.283,
        "size_unit": 1e6,  # M in millions of parameters
        "loss_unit": "nats",
        "sizes": (70e6, 410e6),
    }),
    "steps_to_target_fits": MappingProxyType({
        "section": "arXiv 2505.18091, Figs. 3-4 and Appendix E.5 (training longer barely helps)",
        "label": "paper: Pythia-70M, T to 40% accuracy, T in billions of tokens",
        "target": 0.4,
        "tokens_unit": 1e9,
        "exponential": MappingProxyType({"log_A": -0.25512, "B": 1.5137, "r_squared": 0.998, "fitted_on": "r >= 0.3"}),
        "power_law": MappingProxyType({"C": 0.098158, "D": 3.83878, "r_squared": 0.985,
                                       "fitted_on": "r in {0.3, ..., 0.55}"}),
        # measured / predicted at ratios left out of the fits; all are lower bounds ("more than").
        "held_out_lower_bounds": MappingProxyType({
            0.25: MappingProxyType({"power_law": 2.9, "exponential": 2.0}),
            0.20: MappingProxyType({"power_law": 1.9}),
        }),
    }),
    "subsampling_410m": MappingProxyType({
        "section": "arXiv 2505.18091, Sec. 6 (random subsampling)",
        "label": "paper: Pythia-410M, SynBio-1.28M, r = 0.2, 32B tokens",
        "model": "pythia-410m",
        "people": 1_280_000,
        "mixing_ratio": 0.2,
        "rho": (0.25, 0.5, 0.5625, 0.625, 1.0),
        # rho = 0.625 and rho = 1 are reported as "~0%"; drawn as 0.
        "accuracy": (0.2353, 0.3746, 0.3981, 0.0, 0.0),
    }),
    "ckm_wikibio": MappingProxyType({
        "section": "arXiv 2505.18091, Sec. 6 (compact knowledge mixing on WikiBio)",
        "label": "paper: WikiBio, facts learned relative to tau = 0",
        "tau": (0.0, 0.1, 0.3),
        "facts_learned_ratio": (1.0, 4.0, 20.0),
    }),
    "first_principles_70m": MappingProxyType({
        "section": "docs/THEORY.md, section 7 (our check, not the paper's)",
        "label": "theory from first principles vs paper's measurement, 70M on SynBio-320k",
        "predicted_critical_mixing_ratio": 0.08,
        "measured_critical_mixing_ratio": 0.3,
    }),
})

# Non-embedding parameters of the Pythia models the paper trained (GPT-NeoX configs).
PYTHIA_NONEMBEDDING = MappingProxyType({"14M": 1_189_888, "31M": 4_739_072, "70M": 18_915_328, "160M": 85_056_000,
                                        "410M": 302_311_424})
# arXiv 2505.18091, Table 1 (70M, SynBio-320k), accuracy in per cent: the transition the theory should place.
PAPER_TABLE1 = MappingProxyType({0.10: 0.4, 0.15: 0.4, 0.20: 0.4, 0.25: 0.8, 0.30: 7.3, 0.35: 27.5, 0.40: 40.4,
                                 0.45: 58.1})
