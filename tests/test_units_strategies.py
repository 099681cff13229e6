import math

import numpy as np
import pytest

from capacity.allocation import optimal_allocation
from capacity.curves import FactsCurve
from capacity.strategies import best_subsampling_ratio, ckm_facts_learned, compact_mixed, subsampling_facts_learned
from capacity.thresholds import critical_mixing_ratio
from capacity.units import (
    PAPER_FINEWEB_EDU_LAW,
    KnowledgeSet,
    WebLossLaw,
    bits_to_nats,
    capacity_bits,
    nats_to_bits,
    synbio_bits_per_person,
)


def test_synbio_entropy_is_the_papers_46_5_bits():
    assert synbio_bits_per_person() == pytest.approx(
        math.log2(28 * 12 * 200) + math.log2(200) + math.log2(300) + math.log2(100) + math.log2(263)
    )
    assert synbio_bits_per_person() == pytest.approx(46.5, abs=0.1)


def test_loss_units_round_trip():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert bits_to_nats(nats_to_bits(3.7)) == pytest.approx(3.7)


def test_capacity_curve_of_a_law_in_nats_over_millions_gives_the_same_loss_in_bits():
    law = PAPER_FINEWEB_EDU_LAW
    curve = law.capacity_curve(bits_per_parameter=2.0)
    for params in [14e6, 70e6, 410e6]:
        assert curve.value(capacity_bits(params, 2.0)) == pytest.approx(law.loss(params) / math.log(2), rel=1e-12)


def test_token_statistics_give_one_over_items_times_tokens_frequency():
    knowledge = KnowledgeSet.from_token_statistics(items=1000, tokens_per_item=80, bits_per_item=46.5)
    assert knowledge.groups[0].exposure_frequency == pytest.approx(1 / 80_000)
    assert knowledge.entropy_bits == pytest.approx(46_500)
    assert isinstance(knowledge.curve(), FactsCurve)


def test_power_law_knowledge_set_frequencies_follow_the_exponent():
    knowledge = KnowledgeSet.power_law(groups=100, items_per_group=100, exponent=1.5, tokens_per_item=80, bits_per_item=46.5)
    f = knowledge.frequencies()
    assert np.polyfit(np.log(np.arange(1, 101)), np.log(f), 1)[0] == pytest.approx(-1.5)
    # Frequencies are per knowledge token: summed over all items and tokens they give one exposure per item length.
    assert float((f * 100).sum()) * 80 == pytest.approx(1.0)


def test_first_principles_critical_ratio_for_pythia_70m_on_synbio_320k():
    # docs/THEORY.md, section 7: with total parameters the prediction is ~0.08 (measured ~0.3).
    curve = PAPER_FINEWEB_EDU_LAW.capacity_curve(2.0)
    p = KnowledgeSet.from_token_statistics(320_000, 60, synbio_bits_per_person()).groups[0].exposure_frequency
    assert critical_mixing_ratio(curve, p, capacity_bits(70_426_624, 2.0)) == pytest.approx(0.08, abs=0.01)


def test_subsampling_prediction_matches_a_direct_solve():
    law = WebLossLaw(1.0, 5.0, 0.3, loss_unit="bits", size_unit=1.0).capacity_curve(1.0)
    N, L, b, r, M = 2000, 80, 46.5, 0.2, 60_000.0
    for rho in [0.1, 0.3, 1.0]:
        kept = KnowledgeSet.from_token_statistics(rho * N, L, b)
        stored = optimal_allocation([kept.curve(), law], [r, 1 - r], M).capacity_bits[0]
        predicted = subsampling_facts_learned(law, N, L, b, r, M, rho)[0]
        assert predicted == pytest.approx(stored / (N * b), rel=1e-9, abs=1e-12)


def test_best_subsampling_beats_every_grid_point_and_no_subsampling():
    law = WebLossLaw(1.0, 5.0, 0.3, loss_unit="bits", size_unit=1.0).capacity_curve(1.0)
    N, L, b, r, M = 2000, 80, 46.5, 0.2, 60_000.0
    best = best_subsampling_ratio(law, N, L, b, r, M)
    grid = subsampling_facts_learned(law, N, L, b, r, M, np.linspace(0.01, 1, 200))
    assert best.fraction_learned >= grid.max() - 1e-9
    assert best.fraction_learned > best.fraction_learned_without
    assert 0 < best.rho < 1


def test_ckm_raises_fact_frequency_and_facts_learned():
    law = WebLossLaw(1.0, 5.0, 0.3, loss_unit="bits", size_unit=1.0).capacity_curve(1.0)
    base = compact_mixed(2000, 80, 46.5, 0.0, 20).groups[0].exposure_frequency
    assert base == pytest.approx(1 / (2000 * 80))
    assert compact_mixed(2000, 80, 46.5, 0.3, 20).groups[0].exposure_frequency > base
    learned = ckm_facts_learned(law, 2000, 80, 46.5, 0.2, 60_000.0, [0.0, 0.1, 0.3], 20)
    assert learned[0] <= learned[1] <= learned[2]
    assert learned[2] > learned[0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: WebLossLaw(1, 1, 0.3, loss_unit="furlongs"), "loss_unit must be 'bits' or 'nats'"),
        (lambda: capacity_bits(-5), "parameter count must be > 0, got -5"),
        (lambda: KnowledgeSet.from_token_statistics(0, 80, 46), "items must be > 0, got 0"),
        (lambda: KnowledgeSet.power_law(2.5, 10, 1.5, 80, 46), "groups must be a positive integer, got 2.5"),
        (lambda: subsampling_facts_learned(PAPER_FINEWEB_EDU_LAW.capacity_curve(), 10, 80, 46, 0.2, 1e6, 1.5),
         "subsampling ratio rho must be in \\(0, 1\\], got 1.5"),
    ],
)
def test_bad_unit_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
