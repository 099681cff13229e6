"""The reproduction report's measurements: no crash for a steep web law, a law that uses every ratio
without reading the ratio as size, a threshold frequency that is not quantised to the groups, and
intermediate rows told apart from final ones."""
import json

import numpy as np
import pandas as pd
import pytest

from analysis.critical_ratios import held_out_critical_ratio
from analysis.measure import evaluation_phase, threshold_frequency_crossings, web_loss_at_zero_ratio
from analysis.theory_fit import theory_on_runs, threshold_curve
from capacity.thresholds import critical_mixing_ratio
from capacity.units import KnowledgeSet, WebLossLaw, synbio_bits_per_person


def _row(run_id, model, params, r, accuracy, web_loss, items=10**6, step=100, **extra):
    return dict(run_id=run_id, step=step, tokens=1000, model=model, params_nonembedding=params, mixing_ratio=r,
                accuracy=accuracy, role="main", web_loss=web_loss, knowledge="synbio", people=40, rho=1.0, tau=0.0,
                seed=0, tokens_per_exposure=130.0, items_evaluated=items, people_evaluated=40,
                exposures_per_person=10.0, **extra)


def _table(law: WebLossLaw, slope_in_r: float, bits: float, sizes):
    knowledge = KnowledgeSet.from_token_statistics(40, 130.0, synbio_bits_per_person())
    rows = []
    for i, n in enumerate(sizes):
        r_c = float(critical_mixing_ratio(threshold_curve(law, bits), knowledge.groups[0].exposure_frequency,
                                          bits * n - 0.1 * knowledge.entropy_bits))
        for j, r in enumerate((0.8 * r_c, r_c, 1.25 * r_c, min(2 * r_c, 0.9))):
            accuracy = 1 / (1 + np.exp(-(np.log(1 / 9) + 8 * np.log(r / r_c))))
            rows.append(_row(f"m{i}-{j}", f"m{i}", n, r, accuracy, float(law.loss(n)) + slope_in_r * -np.log1p(-r)))
    return pd.DataFrame(rows)


def test_a_steep_law_without_a_size_no_longer_crashes_the_held_out_prediction():
    law = WebLossLaw(2.0, 4e6, 1.3)  # alpha > 1: PowerLawCurve refuses it, the thresholds do not need it
    df = _table(law, 0.0, 3.0, (2e4, 5e4, 1e5, 2e5))
    prediction = held_out_critical_ratio(df, "m1")
    assert prediction.bits_per_parameter == pytest.approx(3.0, rel=1e-2)
    assert prediction.ratio == pytest.approx(1.0, rel=1e-2)


def test_the_web_law_uses_every_ratio_without_reading_r_as_size():
    law = WebLossLaw(2.0, 30.0, 0.3)
    df = _table(law, 0.9, 2.0, (2e4, 5e4, 1e5, 2e5))
    points, slope = web_loss_at_zero_ratio(df)
    assert slope == pytest.approx(0.9, rel=1e-6)
    assert points["web_loss"].to_numpy() == pytest.approx(law.loss(points["params_nonembedding"].to_numpy()), rel=1e-9)
    theory = theory_on_runs(df, n_bootstrap=0)
    assert theory.law.exponent == pytest.approx(0.3, rel=1e-2) and theory.law.amplitude == pytest.approx(30, rel=5e-2)


def test_threshold_frequency_is_a_crossing_between_groups():
    freqs = {str(g): 1e-4 * 0.7 ** g for g in range(10)}
    truth = 1e-4 * 0.7 ** 4.5
    acc = {g: float(1 / (1 + np.exp(-(np.log(4) + 3 * np.log(f / truth))))) for g, f in freqs.items()}
    row = _row("p", "m", 1e5, 0.5, 0.5, 4.0, items=10**6, accuracy_by_group=acc, exposure_frequency_by_group=freqs)
    row["knowledge"] = "synbio-powerlaw"
    table = threshold_frequency_crossings(pd.DataFrame([row]), n_boot=50)
    got = table["threshold_frequency"].iloc[0]
    assert got == pytest.approx(truth, rel=1e-3) and table["censored"].iloc[0] == ""
    assert not np.isclose(list(freqs.values()), got, rtol=1e-2).any()  # not quantised to a group


def test_stable_phase_rows_are_told_apart_from_final_rows():
    config = json.dumps({"schedule": {"kind": "wsd", "cooldown_fraction": 0.2}})
    df = pd.DataFrame([_row("a", "m", 1e5, 0.3, 0.1, 4.0, step=s, config=config) for s in (10, 50, 85, 100)])
    assert evaluation_phase(df).tolist() == ["stable", "stable", "cooldown", "final"]
