"""The paper's experiments as named sweeps, at CPU scale and at the paper's (GPU) scale.

Each is a function ``(scale) -> Sweep`` built from a base config in a few lines. CPU scale uses the
small presets and the 2048-token BPE: models of tens of thousands of non-embedding parameters whose
capacity (about 2 bits per parameter) is comparable with the knowledge's entropy (46.6 bits per
person), so that the knowledge competes for capacity (an r-sweep at a fixed budget confounds ratio and exposures; see the README). GPU scale uses the
Pythia presets, the Pythia tokenizer and SynBio sizes scaled to what one GPU trains in hours.

Every mixing-ratio sweep carries exposure-matched controls (ratio r/2 trained twice as long) and
horizon extensions at low r (4x the tokens, the paper's "training longer barely helps" test), because at a fixed budget exposures grow with r and an S-curve in r
alone cannot tell capacity from exposure counts.

    python -m empirical sweep --list
    python -m empirical sweep ratio --dry-run
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Callable

from empirical.sweeps.adaptive import Search
from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.sweeps.spec import Run, Sweep, exposure_matched, grid, horizon
from empirical.sweeps.reasoning_continual import continual, reasoning, reasoning_max

SCALES = ("cpu", "gpu")


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")


def base_config(scale: str = "cpu") -> TrainConfig:
    """The shared starting point of every sweep at this scale."""
    _check_scale(scale)
    if scale == "cpu":
        # seq 192 holds the longest 2048-BPE biography (167 tokens) uncut; lr 5e-3 (measured on these CPU models: small
        # models learned far faster at 5e-3 than 2e-3).
        return TrainConfig(
            model="tiny-50k",
            data=DataConfig(knowledge="synbio", people=400, mixing_ratio=0.3, tokenizer="bpe-2048", seq_len=192),
            optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(kind="wsd", warmup_steps=50),
            eval=EvalConfig(points=6, people=200, templates="first", web_sequences=32),
            batch_size=16, tokens=3_000_000,
        )
    # The paper's setup (arXiv 2505.18091): Pythia tokenizer, WSD, lr 1e-3, bf16; SynBio and budgets
    # scaled down from 320k people / 32B tokens so one run takes an hour or so on one H200.
    return TrainConfig(
        model="pythia-70m",
        data=DataConfig(knowledge="synbio", people=20_000, mixing_ratio=0.3, tokenizer="pythia", seq_len=2048),
        optim=OptimConfig(lr=1e-3), schedule=ScheduleConfig(kind="wsd", warmup_steps=200),
        eval=EvalConfig(points=8, people=1000, templates="all", web_sequences=64),
        batch_size=64, tokens=500_000_000, precision="bf16", compile=True,
    )


CPU_RATIOS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.6]
GPU_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5]


def ratio(scale: str = "cpu") -> Sweep:
    """Phase transition in the mixing ratio (Fig. 2), with exposure-matched controls and horizons."""
    base = base_config(scale)
    ratios = CPU_RATIOS if scale == "cpu" else GPU_RATIOS
    main = grid(base, {"data.mixing_ratio": ratios})
    controls = [exposure_matched(run, 2.0) for run in main if run.config.data.mixing_ratio >= 0.2]
    # 4x, not 2x: r = 0.1 at 2x is already the control of r = 0.2 (a config is one run, with one role).
    horizons = [horizon(run, 4.0) for run in main if run.config.data.mixing_ratio <= 0.1]
    return Sweep("ratio", tuple(main + controls + horizons), "accuracy against the mixing ratio (paper Fig. 2)")


def size(scale: str = "cpu") -> Sweep:
    """Phase transition in model size at fixed ratios (Fig. 1)."""
    base = base_config(scale)
    models = ["tiny-50k", "tiny-100k", "small-200k", "small-500k"] if scale == "cpu" else \
        ["pythia-14m", "pythia-31m", "pythia-70m", "pythia-160m", "pythia-410m"]
    ratios = [0.2, 0.4] if scale == "cpu" else [0.2, 0.4]
    return Sweep("size", tuple(grid(base, {"model": models, "data.mixing_ratio": ratios})),
                 "accuracy against model size (paper Fig. 1)")


def horizon_sweep(scale: str = "cpu") -> Sweep:
    """Training horizon against 1/r (Figs. 3-4): long runs, many evaluation points."""
    base = base_config(scale)
    base = base.replace(tokens=base.tokens * 4, **{"eval.points": 12})
    ratios = [0.1, 0.15, 0.2, 0.3, 0.4] if scale == "cpu" else [0.2, 0.25, 0.3, 0.4, 0.5]
    return Sweep("horizon", tuple(grid(base, {"data.mixing_ratio": ratios})),
                 "accuracy against training tokens; tokens to target against 1/r (paper Figs. 3-4)",
                 meta={"target_accuracy": 0.5})


def powerlaw(scale: str = "cpu") -> Sweep:
    """Threshold frequency against model size on power-law SynBio (Fig. 7a)."""
    base = base_config(scale)
    if scale == "cpu":
        # 400 people in 20 groups (p_g ~ g^-1.5): at 5.5M tokens the groups get from about 480 exposures per
        # person (g = 1) to 5 (g = 20), across the 50-200 the CPU sizes need (full preset). 2000 people at
        # 3M tokens gave at most 35 and no group was learned at any size.
        base = base.replace(**{"data.knowledge": "synbio-powerlaw", "data.people": 400, "data.powerlaw_groups": 20,
                               "data.mixing_ratio": 0.5, "eval.people": 0, "optim.lr": 1e-2,
                               "tokens": 16 * 192 * 1800, "eval.points": 8})
        models = ["tiny-50k", "tiny-100k", "small-200k", "small-500k"]
    else:
        base = base.replace(**{"data.knowledge": "synbio-powerlaw", "data.people": 10_000, "data.powerlaw_groups": 100,
                               "data.mixing_ratio": 0.5, "eval.people": 0})
        models = ["pythia-14m", "pythia-31m", "pythia-70m", "pythia-160m"]
    return Sweep("powerlaw", tuple(grid(base, {"model": models})),
                 "threshold frequency against model size (paper Fig. 7a)")


def subsampling(scale: str = "cpu") -> Sweep:
    """Subsampling (rho) and compact knowledge mixing (tau) at a low ratio (Fig. 8)."""
    base = base_config(scale).replace(**{"data.mixing_ratio": 0.1 if scale == "cpu" else 0.2})
    runs = grid(base, {"data.subsample_rho": [1.0, 0.5, 0.25, 0.125]}) + grid(base, {"data.ckm_tau": [0.25, 0.5]})
    return Sweep("subsampling", tuple(runs), "subsampling and compact knowledge mixing (paper Fig. 8)")


def quick() -> list[Sweep]:
    """paper_repro's default: about 5 minutes on 2 CPU cores (4 min 44 s measured). One tiny model and a
    small population (32 people, so exposures per person span 24-145 across the ratios), an r-sweep with exposure-matched
    controls (the pair at r = 0.6 with a second seed, to show the seed-to-seed spread) and a horizon
    extension, and two larger models at r = 0.3 for the web-loss law.

    This population is 2% of the tiny model's capacity: the theory puts the critical ratio near zero, so
    the r-sweep here shows exposure counts and whatever else depends on the ratio at equal exposures,
    and the report says which; the capacity regime needs the ``full`` preset's larger populations and
    budgets. Ratios stop at 0.6: above it a 131-token biography no longer fits the 192-token sequences
    often enough, and padding caps the knowledge share below r."""
    base = TrainConfig(
        model="tiny-50k",
        data=DataConfig(knowledge="synbio", people=32, mixing_ratio=0.3, tokenizer="bpe-2048", seq_len=192),
        optim=OptimConfig(lr=1e-2), schedule=ScheduleConfig(kind="wsd", warmup_steps=50),
        eval=EvalConfig(points=5, people=0, templates="first", web_sequences=32),
        batch_size=16, tokens=16 * 192 * 330,
    )
    main = grid(base, {"data.mixing_ratio": [0.1, 0.2, 0.3, 0.4, 0.6]}) + grid(base.replace(**{"data.mixing_ratio": 0.6}),
                                                                               {"seed": [1]})
    controls = [exposure_matched(run, 2.0) for run in main if run.config.data.mixing_ratio >= 0.3]
    horizons = [horizon(run, 2.0) for run in main if run.config.data.mixing_ratio == 0.1]
    sizes = grid(base, {"model": ["tiny-100k", "small-200k"]})
    return [Sweep("quick-ratio", tuple(main + controls + horizons), "r-sweep with exposure-matched controls"),
            Sweep("quick-size", tuple(sizes), "model sizes at r = 0.3 for the web-loss law")]


FULL_PEOPLE = 128
FULL_STEPS = 1800
FULL_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.6]


def _full_base() -> TrainConfig:
    """The full preset's starting point: 128 people with 1,800 steps of 16 x 192 tokens (5.5M tokens, 40-200
    exposures per person across the ratios)."""
    return base_config("cpu").replace(**{"data.people": FULL_PEOPLE, "tokens": 16 * 192 * FULL_STEPS,
                                         "eval.points": 8, "eval.people": 0, "optim.lr": 1e-2})


def full() -> list[Sweep]:
    """CPU, about 1.5 hours on 2 cores with 2 workers (resumable): the capacity regime. 128 people (6k
    bits of knowledge), where 400 left tiny-50k under 3% recall at every ratio within 10M tokens
    (docs/full-n400/). The decisive exposure-matched pairs come first (``capacity_probe``), then the
    r-sweep with three seeds, its controls and 4x horizons below the transition, the same r-sweep at two
    more sizes (transitions in r at three sizes and in size at every ratio, and the held-out size of the
    critical-ratio test), power-law SynBio and subsampling/CKM."""
    base = _full_base()
    ratios = grid(base, {"data.mixing_ratio": FULL_RATIOS, "seed": [0, 1, 2]})
    seed0 = [run for run in ratios if run.config.seed == 0]
    controls = [exposure_matched(run, 2.0) for run in seed0 if run.config.data.mixing_ratio >= 0.2]
    horizons = [horizon(run, 4.0) for run in seed0 if run.config.data.mixing_ratio <= 0.2]
    sizes = grid(base, {"model": ["tiny-100k", "small-200k"], "data.mixing_ratio": FULL_RATIOS})
    # A fourth size for the web-loss law only: fitted without the held-out size it still has three.
    sizes += grid(base, {"model": ["small-500k"], "data.mixing_ratio": [0.2]})
    return [capacity_probe(),
            Sweep("full-ratio", tuple(ratios + controls + horizons), "r-sweep, controls, horizons, 3 seeds"),
            Sweep("full-size", tuple(sizes), "the r-sweep at two more model sizes, a fourth size at r = 0.2"),
            powerlaw("cpu"), full_subsampling(), reasoning("cpu"), continual("cpu")]


def full_subsampling() -> Sweep:
    """Subsampling (rho) and compact knowledge mixing (tau) at r = 0.3, below tiny-50k's transition in the
    full preset: does concentrating the same knowledge tokens on fewer people get them learned (Fig. 8)?"""
    base = _full_base().replace(**{"data.mixing_ratio": 0.3})
    runs = grid(base, {"data.subsample_rho": [1.0, 0.5, 0.25]}) + grid(base, {"data.ckm_tau": [0.25, 0.5]})
    return Sweep("full-subsampling", tuple(runs), "subsampling and compact knowledge mixing at r = 0.3 (Fig. 8)")



def capacity_probe() -> Sweep:
    """The full preset's decisive pairs (seed 0): r = 0.6 and 0.4 against r = 0.3 and 0.2 with twice the
    tokens, at equal exposures."""
    main = grid(_full_base(), {"data.mixing_ratio": [0.4, 0.6]})
    return Sweep("full-probe", tuple(main + [exposure_matched(run, 2.0) for run in main]),
                 "exposure-matched pairs at 128 people")


def gpu() -> list[Sweep]:
    """The paper's Pythia sizes on one GPU (hours): every sweep at GPU scale."""
    return [ratio("gpu"), size("gpu"), horizon_sweep("gpu"), powerlaw("gpu"), subsampling("gpu")]


def smoke_reproduction() -> list[Sweep]:
    """Seconds: every piece of a reproduction (r-sweep, a control, a horizon, three sizes) on tiny budgets."""
    base = smoke().runs[0].config.replace(**{"data.mixing_ratio": 0.3, "eval.points": 3})
    main = grid(base, {"data.mixing_ratio": [0.3, 0.6]})
    extra = [exposure_matched(main[1], 2.0), horizon(main[0], 3.0)]
    return [Sweep("smoke-ratio", tuple(main + extra)),
            Sweep("smoke-size", tuple(grid(base, {"model": ["tiny-100k", "small-200k"]})))]


# --- the predict study: r_c measured adaptively at five sizes and three budgets ----------------------
PREDICT_PEOPLE = 128
PREDICT_STEPS = 900  # the first budget T0: 900 steps of 16 x 192 tokens, 2.76M tokens
PREDICT_SIZES = ("tiny-50k", "tiny-100k", "small-200k", "small-500k", "small-1m")  # 50,880 to 991,616: 19.5x
# (model, budget in units of T0, phase): all sizes at T0 first, then 4 T0 at three sizes spanning 11x, and
# tiny-50k pushed to 16 T0 (does r_c stop falling with the budget, as the capacity-limited theory assumes?).
PREDICT_SETTINGS = tuple((m, 1, 0) for m in PREDICT_SIZES) + (
    ("tiny-50k", 4, 1), ("small-200k", 4, 1), ("tiny-50k", 16, 2), ("small-500k", 4, 2))
# r_c at 10% from the logistic fit of docs/full (128 people, 5.53M tokens): tiny-50k (3 seeds), tiny-100k,
# small-200k; small-500k read from its one run (27% at r = 0.2) with small-200k's slope; small-1m extrapolated.
# Used only to place the first round of each search.
FULL_CRITICAL_RATIO = {"tiny-50k": 0.35, "tiny-100k": 0.25, "small-200k": 0.196, "small-500k": 0.173,
                       "small-1m": 0.161}
FULL_TOKENS = 16 * 192 * FULL_STEPS
BUDGET_EXPONENT = -0.3  # r_c ~ T^-0.3 at tiny-50k in docs/full (its exposure-matched and 4x horizon runs)


def predict_start(model: str, tokens: int) -> float:
    """Where a search starts: docs/full's r_c for the size, moved along T^-0.3 to the budget."""
    return round(FULL_CRITICAL_RATIO[model] * (tokens / FULL_TOKENS) ** BUDGET_EXPONENT, 3)


def predict(precision: str = "fp32") -> list[Search]:
    """The study of the critical ratio's dependence on size and budget: one adaptive search (two seeds,
    r_c at 10% accuracy, 95% interval within +-5%) per setting of ``PREDICT_SETTINGS``.

    128 people, as the full preset: 5,964 bits of knowledge, which is 5.9% (tiny-50k) to 0.30% (small-1m)
    of the capacity at 2 bits per non-embedding parameter, and 63% to 3.2% at the 0.19 bits per parameter
    that docs/full's held-out test fitted to the measured critical ratios (``predict_knowledge_share``).
    More people would need proportionally more tokens for the same exposures per person. Evaluation: all
    128 people, first template (640 items); four evaluation points. ``precision``: "fp32" or "bf16".
    """
    base = _full_base().replace(**{"tokens": 16 * 192 * PREDICT_STEPS, "eval.points": 4, "precision": precision})
    searches = []
    for model, factor, phase in PREDICT_SETTINGS:
        config = base.replace(model=model, tokens=base.tokens * factor)
        long = factor >= 16  # the least certain start (the premise test) and the costliest runs
        searches.append(Search(f"{model}@{factor}T0", config, start=predict_start(model, config.tokens), phase=phase,
                               initial=4 if long else 3, max_runs=16))
    return searches


def predict_knowledge_share(bits_per_parameter: float = 2.0) -> dict[str, float]:
    """Knowledge entropy of the study's people over each size's capacity (arXiv 2505.18091, section 4)."""
    from capacity.units import capacity_bits, synbio_bits_per_person
    from empirical.model.presets import params_nonembedding, sized_for

    knowledge = PREDICT_PEOPLE * synbio_bits_per_person()
    return {m: float(knowledge / capacity_bits(params_nonembedding(sized_for(m, 2048, 192)), bits_per_parameter))
            for m in PREDICT_SIZES}


STUDIES: dict[str, Callable[..., list[Search]]] = {"predict": predict}

REPRODUCTIONS: dict[str, Callable[[], list[Sweep]]] = {"quick": quick, "full": full, "gpu": gpu,
                                                       "smoke": smoke_reproduction}


def smoke(scale: str = "cpu") -> Sweep:
    """Three tiny runs (seconds): to try the machinery."""
    _check_scale(scale)
    base = TrainConfig(model="tiny-50k", data=DataConfig(people=20, seq_len=192), batch_size=4, tokens=4 * 192 * 12,
                       optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(warmup_steps=2),
                       eval=EvalConfig(points=2, people=10, templates="first", web_sequences=4))
    return Sweep("smoke", tuple(grid(base, {"data.mixing_ratio": [0.2, 0.5, 1.0]})), "three tiny runs")


SWEEPS: dict[str, Callable[[str], Sweep]] = {
    "ratio": ratio, "size": size, "horizon": horizon_sweep, "powerlaw": powerlaw, "subsampling": subsampling,
    "smoke": smoke, "reasoning": reasoning, "reasoning-max": reasoning_max, "continual": continual,
}


def resolve_sweep(spec: str, scale: str = "cpu") -> Sweep:
    """A named sweep, or ``path/to/file.py:function`` / ``package.module:function`` returning a Sweep."""
    if spec in SWEEPS:
        return SWEEPS[spec](scale)
    if ":" not in spec:
        raise ValueError(f"unknown sweep {spec!r}; named sweeps: {', '.join(SWEEPS)} "
                         f"(or give FILE.py:FUNCTION or MODULE:FUNCTION)")
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.exists():
            raise ValueError(f"sweep file {path} does not exist")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    function = getattr(module, name, None)
    if function is None:
        raise ValueError(f"{where} has no function {name!r}")
    sweep = function()
    if isinstance(sweep, (list, tuple)):  # a plain list of configs or runs
        sweep = Sweep(name, tuple(r if isinstance(r, Run) else Run(r) for r in sweep))
    if not isinstance(sweep, Sweep):
        raise ValueError(f"{spec} returned {type(sweep).__name__}, expected a Sweep or a list of TrainConfigs")
    return sweep
