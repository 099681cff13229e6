"""The theory of knowledge acquisition under data mixing (arXiv 2505.18091, Sec. 4). Imports no torch."""
from capacity.allocation import Allocation, optimal_allocation, optimal_allocation_cvxpy
from capacity.critical import CriticalEstimate, critical_frequency, critical_point, critical_ratio, critical_size, firth_logistic, logistic_fit
from capacity.calibration import MeasuredCritical, RunRecord, WebLaw, fit_web_law, load_runs, measure_critical_ratios
from capacity.curves import FactGroup, FactsCurve, LossCurve, MultiFrequencyFactsCurve, PowerLawCurve, TabulatedCurve
from capacity.fit import (
    ScalingLawFit,
    fit_power_law_slope,
    fit_scaling_law,
    fit_steps_to_target,
    threshold_frequency_grouped,
    threshold_popularity,
)
from capacity.phase import facts_capacity_grid, phase_diagram
from capacity.predictors import PREDICTORS, Fitted, Predictor
from capacity.protocol import Prediction, evaluate, paper_checks, pick_predictor
from capacity.strategies import best_subsampling_ratio, ckm_facts_learned, subsampling_facts_learned
from capacity.thresholds import (
    MixingThresholds,
    critical_capacity,
    critical_mixing_ratio,
    facts_capacity,
    mixing_thresholds,
    threshold_frequency,
    threshold_frequency_slope,
)
from capacity.units import (
    DEFAULT_BITS_PER_PARAMETER,
    PAPER_FINEWEB_EDU_LAW,
    KnowledgeSet,
    WebLossLaw,
    bits_to_nats,
    capacity_bits,
    nats_to_bits,
    params_from_capacity,
    synbio_bits_per_person,
)

__all__ = [name for name in dir() if not name.startswith("_")]
