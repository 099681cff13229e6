"""The reasoning-task and continual pre-training experiments of arXiv 2505.18091 as named sweeps, at CPU
scale (registered in ``empirical.sweeps.named.SWEEPS``).

* ``reasoning`` (section 3.3, Fig. 5): the slope task mixed into web text, an r-sweep with
  exposure-matched controls (r/2 trained twice as long: the same number of task examples at half the
  ratio) and a size sweep; accuracy is exact match of the final answer on 1,000 fresh held-out
  questions. CPU models cannot learn the paper's coordinates 0-99 (digits are separate tokens, and the
  answer is a reduced fraction of two-digit differences), so the CPU scale uses coordinates 0-9
  ("slope:9"); the GPU scale uses the paper's task.
* ``reasoning-max`` (Appendix D.3): Max-over-N the same way, N = 10 numbers at CPU scale, 30 on GPU.
* ``continual`` (section 6, Appendix D.1): a model pre-trained on web text alone (r = 0), then
  continued on SynBio mixtures at several r and with subsampling; the from-scratch runs of equal total
  tokens are the full preset's r-sweep and subsampling runs (the same configs, so the same runs). The
  continued runs name their source as "run:<run_id>" (``empirical.train.init``); the runner trains it first.

    python -m empirical sweep reasoning --dry-run
    python -m empirical sweep continual --dry-run
"""
from __future__ import annotations

from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.sweeps.spec import Run, Sweep, exposure_matched, grid

REASONING_STEPS = 900  # 2.76M tokens of 16 x 192
REASONING_RATIOS = [0.05, 0.1, 0.2, 0.3, 0.5]
REASONING_MODEL = "tiny-100k"
REASONING_SIZES = ["tiny-50k", "tiny-100k", "small-200k", "small-500k"]
REASONING_SIZE_RATIO = 0.3
EVAL_QUESTIONS = 1000  # fresh held-out questions, first template each (arXiv 2505.18091 section 3.3: 1k questions)


def reasoning_base(task: str, scale: str = "cpu") -> TrainConfig:
    """The reasoning sweeps' starting point: the task mixed into the default web text."""
    if scale not in ("cpu", "gpu"):
        raise ValueError(f"scale must be one of ('cpu', 'gpu'), got {scale!r}")
    if scale == "gpu":
        return TrainConfig(
            model="pythia-70m", data=DataConfig(knowledge=task, mixing_ratio=0.3, tokenizer="pythia", seq_len=2048),
            optim=OptimConfig(lr=1e-3), schedule=ScheduleConfig(kind="wsd", warmup_steps=200),
            eval=EvalConfig(points=6, people=EVAL_QUESTIONS, templates="first", web_sequences=64),
            batch_size=64, tokens=500_000_000, precision="bf16", compile=True)
    return TrainConfig(
        model=REASONING_MODEL, data=DataConfig(knowledge=task, mixing_ratio=0.3, tokenizer="bpe-2048", seq_len=192),
        optim=OptimConfig(lr=1e-2), schedule=ScheduleConfig(kind="wsd", warmup_steps=50),
        eval=EvalConfig(points=4, people=EVAL_QUESTIONS, templates="first", web_sequences=32),
        batch_size=16, tokens=16 * 192 * REASONING_STEPS)


def _reasoning(name: str, task: str, scale: str, description: str) -> Sweep:
    base = reasoning_base(task, scale)
    sizes = REASONING_SIZES if scale == "cpu" else ["pythia-14m", "pythia-31m", "pythia-70m", "pythia-160m"]
    main = grid(base, {"data.mixing_ratio": REASONING_RATIOS})
    controls = [exposure_matched(run, 2.0) for run in main if run.config.data.mixing_ratio >= 0.2]
    by_size = grid(base.replace(**{"data.mixing_ratio": REASONING_SIZE_RATIO}), {"model": sizes})
    return Sweep(name, tuple(main + controls + by_size), description,
                 meta={"model": base.model, "size_ratio": REASONING_SIZE_RATIO})


def reasoning(scale: str = "cpu") -> Sweep:
    """The slope task (Fig. 5): accuracy against r with exposure-matched controls, and against size."""
    task = "slope:9" if scale == "cpu" else "slope"
    return _reasoning("reasoning", task, scale, f"{task} task: accuracy against r and size (paper Fig. 5)")


def reasoning_max(scale: str = "cpu") -> Sweep:
    """Max-over-N (Appendix D.3), the same design as ``reasoning``."""
    task = "max:10" if scale == "cpu" else "max"
    return _reasoning("reasoning-max", task, scale, f"{task} task: accuracy against r and size (paper App. D.3)")


# --- continual pre-training ---------------------------------------------------------------------------
CONTINUAL_STEPS = 900  # each phase: 900 steps; the from-scratch runs train 1,800 (the full preset's budget)
CONTINUAL_RATIOS = [0.2, 0.3, 0.4, 0.6]
CONTINUAL_RHO = (0.3, 0.5)  # subsampling at r = 0.3, as the full preset's subsampling runs


def continual_pretrain(base: TrainConfig, steps: int = CONTINUAL_STEPS) -> Run:
    """The source: ``base`` on web text alone (r = 0) for ``steps`` steps."""
    return Run(base.replace(**{"data.mixing_ratio": 0.0, "tokens": base.tokens_per_step * steps}), "reference")


def continual(scale: str = "cpu") -> Sweep:
    """Pre-train on web text, continue on SynBio mixtures (r-sweep and subsampling), and the from-scratch
    runs of equal total tokens (section 6, Appendix D.1). At CPU scale the from-scratch runs are the full
    preset's (same configs, role "main" as there); the source and the continued runs are "reference"
    runs, so that the SynBio r-sweep's analyses never mistake them for its own. To continue a downloaded
    Pythia checkpoint instead, set init_from to "hf:DIR" in your own sweep."""
    if scale not in ("cpu", "gpu"):
        raise ValueError(f"scale must be one of ('cpu', 'gpu'), got {scale!r}")
    from empirical.sweeps.named import _full_base, base_config

    # CPU: 128 people, 1,800 steps, as the full preset's r-sweep; GPU: the GPU base, its budget split in two.
    base = _full_base() if scale == "cpu" else base_config("gpu")
    steps = CONTINUAL_STEPS if scale == "cpu" else base.steps // 2
    source = continual_pretrain(base, steps)
    phase = base.replace(tokens=base.tokens_per_step * steps, init_from=f"run:{source.run_id}")
    r, rho = CONTINUAL_RHO
    continued = grid(phase, {"data.mixing_ratio": CONTINUAL_RATIOS}, role="reference")
    continued += grid(phase.replace(**{"data.mixing_ratio": r}), {"data.subsample_rho": [rho]}, role="reference")
    scratch = base.replace(tokens=source.config.tokens + phase.tokens)
    scratch_runs = grid(scratch, {"data.mixing_ratio": CONTINUAL_RATIOS})
    scratch_runs += grid(scratch.replace(**{"data.mixing_ratio": r}), {"data.subsample_rho": [rho]})
    return Sweep("continual", tuple([source] + continued + scratch_runs),
                 "continual pre-training from a web-only model against from-scratch runs (paper section 6)",
                 meta={"source": source.run_id})


def reasoning_smoke() -> Sweep:
    """Seconds: the reasoning sweep's parts (r-sweep, a control, a second size) on a tiny budget."""
    base = reasoning_base("slope:9").replace(model="tiny-50k", tokens=16 * 192 * 40, **{"schedule.warmup_steps": 4,
                                                                                         "eval.points": 2})
    main = grid(base, {"data.mixing_ratio": [0.3, 0.6]})
    return Sweep("reasoning-smoke", tuple(main + [exposure_matched(main[1], 2.0)]
                                          + grid(base.replace(**{"data.mixing_ratio": 0.3}), {"model": ["tiny-100k"]})),
                 "the reasoning sweep on a tiny budget")


def continual_smoke() -> Sweep:
    """Seconds: the continual sweep's parts on a tiny budget (a source, two continued runs, one subsampled,
    and their from-scratch matches)."""
    base = reasoning_base("slope:9").replace(
        tokens=16 * 192 * 40, **{"data.knowledge": "synbio", "data.people": 32, "model": "tiny-50k", "eval.people": 0,
                                 "schedule.warmup_steps": 4, "eval.points": 2})
    source = Run(base.replace(**{"data.mixing_ratio": 0.0, "tokens": 16 * 192 * 20}), "reference")
    phase = base.replace(tokens=16 * 192 * 20, init_from=f"run:{source.run_id}")
    runs = [source] + grid(phase, {"data.mixing_ratio": [0.3, 0.6]}) + grid(phase.replace(**{"data.mixing_ratio": 0.3}),
                                                                            {"data.subsample_rho": [0.5]})
    runs += grid(base, {"data.mixing_ratio": [0.3, 0.6]}, role="reference")
    runs += grid(base.replace(**{"data.mixing_ratio": 0.3}), {"data.subsample_rho": [0.5]}, role="reference")
    return Sweep("continual-smoke", tuple(runs), "the continual sweep on a tiny budget")
