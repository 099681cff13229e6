"""Synthetic run tables for the prediction tests: each built from a known model, exactly (expected
counts with a million items, so a fit can recover the constants to rounding)."""
import math

import numpy as np

from capacity.calibration import RunRecord

LEVEL = 0.1
LAW = dict(C=3.6, A=900.0, alpha=0.6, B=0.9)  # web loss C + A M^-alpha + B (-log(1 - r)), nats
PEOPLE, TPE = 128, 131.0
ITEMS = 10**6
SIZES = (5e4, 1e5, 2e5, 4e5, 8e5)


def web_loss(M, r):
    return LAW["C"] + LAW["A"] * M ** -LAW["alpha"] + LAW["B"] * -math.log1p(-r)


def table(critical, sizes=SIZES, budgets=(5e6,), slope=8.0, seeds=(0,)):
    """Runs at ratios around critical(M, T), accuracy logistic in log r with ``slope``, crossing LEVEL there."""
    runs = []
    for M in sizes:
        for T in budgets:
            r_c = critical(M, T)
            for s in seeds:
                for f in (0.55, 0.75, 1.0, 1.3, 1.7):
                    r = min(r_c * f, 0.97)
                    p = 1 / (1 + math.exp(-(math.log(LEVEL / (1 - LEVEL)) + slope * math.log(r / r_c))))
                    runs.append(RunRecord(f"{M:g}-{T:g}-{r:.5f}-{s}", f"m{M:g}", M, T, r, ITEMS * p, ITEMS, s,
                                          PEOPLE, TPE, web_loss(M, r), 5.0))
    return runs


def odds(r):
    return r / (1 - r)


def from_odds(o):
    return o / (1 + o)


def results_rows(runs):
    """The runs as rows of a results table (docs/RESULTS.md), one final row each."""
    return [{"schema": "phasemix.results/1", "run_id": r.run_id, "step": 100, "model": r.model,
             "params_nonembedding": int(r.params), "tokens": int(r.tokens), "mixing_ratio": r.ratio,
             "accuracy": r.correct / r.total, "items_evaluated": int(r.total), "people_evaluated": int(r.total / 5),
             "seed": r.seed, "people": r.people, "tokens_per_exposure": r.tokens_per_exposure, "web_loss": r.web_loss,
             "knowledge": "synbio", "rho": 1.0, "tau": 0.0, "role": "main"} for r in runs]


def rng_table(critical, seed, items=640, **kw):
    """``table`` with binomial noise on 640 items per run (for coverage checks)."""
    rng = np.random.default_rng(seed)
    out = []
    for r in table(critical, **kw):
        p = r.correct / r.total
        out.append(RunRecord(r.run_id, r.model, r.params, r.tokens, r.ratio, float(rng.binomial(items, p)), items,
                             r.seed, r.people, r.tokens_per_exposure, r.web_loss, 5.0))
    return out
