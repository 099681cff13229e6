"""Starting a run from trained weights: ``TrainConfig.init_from`` (continual pre-training, arXiv
2505.18091 section 6 and Appendix D.1, where Pythia checkpoints are trained further on mixtures).

Two kinds of source, both read from local folders only (never the network):

* ``"run:DIR"``: one of our runs. DIR is a run folder (``work_dir/<run_id>``, holding the run's
  ``checkpoint.pt`` and, when it was saved, ``model/``), a checkpoint file, or a folder written by
  ``empirical.model.hf.save_pretrained``. A relative DIR that does not exist from the current folder is
  looked up beside the new run's own folder, so a sweep names the run it continues by its id
  ("run:<run_id>") and the config stays the same on every machine. A checkpoint must be its run's
  last one: continuing from an unfinished run would silently start from a different model.
* ``"hf:DIR"``: a Hugging Face GPT-NeoX folder (``config.json`` and weights), e.g. a downloaded Pythia
  checkpoint, loaded with ``transformers`` (``local_files_only``).

The source must have the run's architecture and vocabulary (its model preset as sized for its
tokenizer); anything else is refused with one line naming the first difference. Only the weights are
loaded: the optimiser state and the data stream start fresh, as the run's own schedule (warmup
included) applies to the continued training.
"""
from __future__ import annotations

from pathlib import Path

import torch

from empirical.train.checkpoint import CHECKPOINT, CheckpointError, load
from empirical.config import TrainConfig
from empirical.model.presets import ModelConfig, sized_for

# Fields that decide what the weights compute; the init fields and max_seq_len (rotary tables are
# computed, not learned) may differ.
ARCHITECTURE = ("vocab_size", "n_layer", "d_model", "n_head", "d_ff", "rotary_pct", "rotary_base", "layer_norm_eps",
                "parallel_residual")


def source_path(spec: str, run_dir: str | Path | None = None) -> tuple[str, Path]:
    """(kind, path) of an ``init_from`` spec; a relative "run:" path that does not exist from here is
    looked up beside ``run_dir`` (the new run's folder). ValueError when nothing is there."""
    kind, _, where = spec.partition(":")
    if kind not in ("run", "hf") or not where.strip():
        raise ValueError(f"init_from {spec!r}: must be 'run:DIR' or 'hf:DIR'")
    path = Path(where).expanduser()
    if kind == "run" and not path.is_absolute() and not path.exists() and run_dir is not None:
        path = Path(run_dir).parent / where
    if not path.exists():
        beside = f" (nor beside {Path(run_dir).parent})" if kind == "run" and run_dir is not None else ""
        raise ValueError(f"init_from {spec!r}: {path} does not exist{beside}; train or download the source first")
    return kind, path


def _hf_state(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    from transformers import GPTNeoXForCausalLM

    from empirical.model.hf import from_hf

    if not (path / "config.json").is_file():
        raise ValueError(f"init_from: {path} is not a Hugging Face model folder (no config.json)")
    try:
        hf = GPTNeoXForCausalLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        text = str(error).strip().splitlines()
        raise ValueError(f"init_from: cannot load {path} as a GPT-NeoX model: {text[0] if text else error}") from None
    model = from_hf(hf)
    return model.config, {name: p.detach()[0] for name, p in model.named_parameters()}


def _checkpoint_state(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    try:
        state = load(path)
        source = TrainConfig.from_dict(state["config"])
    except (CheckpointError, ValueError, TypeError) as error:
        raise ValueError(f"init_from: {path} is not a run's checkpoint: {str(error).splitlines()[0]}") from None
    if state["step"] != source.steps:
        raise ValueError(f"init_from: the run of {path} has not finished (step {state['step']} of {source.steps}); "
                         "continue from a finished run")
    weights = state["model"]
    if "embed_in" not in weights:
        raise ValueError(f"init_from: {path} holds no model weights (no embed_in)")
    cfg = sized_for(source.model, int(weights["embed_in"].shape[0]), source.data.seq_len)
    return cfg, weights


def load_source(spec: str, run_dir: str | Path | None = None) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The source's architecture and weights (one model, our parameter names, on the CPU)."""
    kind, path = source_path(spec, run_dir)
    if kind == "hf":
        return _hf_state(path)
    for folder in (path / "model", path):
        if folder.is_dir() and (folder / "config.json").is_file():
            return _hf_state(folder)  # a saved model (save_pretrained writes Hugging Face folders)
    if path.is_dir():
        if not (path / CHECKPOINT).is_file():
            raise ValueError(f"init_from {spec!r}: {path} holds neither a saved model nor a {CHECKPOINT}")
        path = path / CHECKPOINT
    return _checkpoint_state(path)


def check_architecture(spec: str, source: ModelConfig, target: ModelConfig, model_name: str) -> None:
    """ValueError naming the first field in which the source differs from the run's model."""
    for field in ARCHITECTURE:
        have, want = getattr(source, field), getattr(target, field)
        if have != want:
            what = "vocabulary" if field == "vocab_size" else field
            raise ValueError(f"init_from {spec!r}: the source's {what} is {have!r}, the run's model "
                             f"({model_name} with its tokenizer) has {want!r}")


@torch.no_grad()
def initialise_from(model, k: int, config: TrainConfig, run_dir: str | Path | None = None) -> None:
    """Overwrite model k of the K-stack with the weights ``config.init_from`` names."""
    if not config.init_from:
        raise ValueError("initialise_from needs a config with init_from set")
    source, weights = load_source(config.init_from, run_dir)
    check_architecture(config.init_from, source, model.config, config.model)
    params = dict(model.named_parameters())
    missing, extra = sorted(set(params) - set(weights)), sorted(set(weights) - set(params))
    if missing or extra:
        raise ValueError(f"init_from {config.init_from!r}: parameters differ (missing {missing[:3]}, "
                         f"unexpected {extra[:3]})")
    for name, p in params.items():
        w = weights[name]
        if tuple(w.shape) != tuple(p.shape[1:]):
            raise ValueError(f"init_from {config.init_from!r}: {name} has shape {tuple(w.shape)}, "
                             f"the run's model needs {tuple(p.shape[1:])}")
        p[k].copy_(w.to(device=p.device, dtype=p.dtype))


def dependency_stages(runs) -> list[list]:
    """The runs (``empirical.sweeps.spec.Run``) in stages: a run whose ``init_from`` is "run:<run_id>" of
    another run in the list comes in a stage after it, so a sweep trains a source before the runs
    that continue it. One stage when nothing depends on anything."""
    runs = list(runs)
    ids = {run.run_id for run in runs}
    depth: dict[str, int] = {}

    def stage_of(run, seen=()) -> int:
        if run.run_id in depth:
            return depth[run.run_id]
        spec = run.config.init_from
        source = spec[4:] if spec.startswith("run:") else None
        if source == run.run_id or source in seen:
            raise ValueError(f"init_from of run {run.run_id} forms a cycle through {source}")
        parent = next((r for r in runs if r.run_id == source), None) if source in ids else None
        depth[run.run_id] = 0 if parent is None else stage_of(parent, (*seen, run.run_id)) + 1
        return depth[run.run_id]

    levels = [stage_of(run) for run in runs]
    return [[run for run, level in zip(runs, levels) if level == s] for s in range(max(levels) + 1)]
