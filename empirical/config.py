"""Typed run configuration: one nested, frozen dataclass per training run, validated at construction
and round-tripped through JSON. A run's id is a hash of its canonical JSON, so the same config
always names the same run (and its rows in the results table).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from capacity._validate import check_choice, check_range, require, shown

TASK_KINDS = ("slope", "max")  # the reasoning tasks (arXiv 2505.18091, Sec. 3.3)
KNOWLEDGE_KINDS = ("synbio", "synbio-powerlaw", *TASK_KINDS)
SCHEDULES = ("wsd", "cosine")
PRECISIONS = ("fp32", "bf16")
MAX_WEIGHT_DECAY = 10.0  # Pythia uses 0.1; beyond 10 the decay, not the data, decides the weights


def task_parameter(knowledge: str) -> int | None:
    """M of "slope:M" (coordinates 0..M) or N of "max:N" (N numbers); None for any other spelling.
    The bare "slope" and "max" are the paper's tasks (arXiv 2505.18091, section 3.3: coordinates 0-99,
    the maximum of 30 numbers); the smaller ones fit models of CPU size."""
    kind, _, value = knowledge.partition(":")
    limits = {"slope": (9, 99), "max": (2, 30)}  # 9: 1,000 held-out questions and their twins leave 7,000
    if kind not in limits or not value.isdigit() or value != str(int(value)):
        return None
    low, high = limits[kind]
    return int(value) if low <= int(value) <= high else None


MAX_SEED = 2**32 - 1  # what numpy's and torch's generators accept alike


# JSON type each annotation accepts. bool is not an int here ("batch_size": true is a mistake, not 1),
# and an int is a number (lr 1 is 1.0); numpy scalars pass as the numbers they are.
_TYPES = {
    "int": ("an integer", lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "bool": ("true or false", lambda v: isinstance(v, bool) or type(v).__name__ in ("bool_", "bool")),
}


def _check_types(config, prefix: str) -> None:
    """Each field holds its declared type; the error names the dotted key, the value and the type."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        expected = _TYPES.get(f.type)
        if expected is None:  # a nested config section
            require(type(value).__name__ == f.type, prefix + f.name, value,
                    f"expected a JSON object ({f.type} fields), got {type(value).__name__}")
        elif not expected[1](value):
            raise ValueError(f"{prefix}{f.name} {repr(value) if isinstance(value, float) else shown(value)}: expected "
                             f"{expected[0]}, got {type(value).__name__}"
                             + (" (not finite)" if isinstance(value, float) else ""))


@dataclass(frozen=True)
class DataConfig:
    """What the model is trained on: a knowledge set mixed into web text at ratio r (arXiv 2505.18091, setup)."""

    knowledge: str = "synbio"
    people: int = 1000  # N: items of the knowledge set (people for SynBio)
    mixing_ratio: float = 0.3  # r: share of training tokens from the knowledge set
    subsample_rho: float = 1.0  # keep this fraction of the people (arXiv 2505.18091, Sec. 6)
    ckm_tau: float = 0.0  # compact knowledge mixing: extra compact forms, share of knowledge tokens
    powerlaw_groups: int = 100  # power-law SynBio: groups of people_per_group people
    powerlaw_exponent: float = 1.5
    population_seed: int = 0  # which people (names and attributes) the knowledge set holds
    web: str = "default"  # "default" (embedded corpus), "folder:PATH", or "hf:NAME[:CONFIG]"
    tokenizer: str = "bpe-2048"  # "bpe-<vocab>" trained on the default corpus, or "pythia"
    seq_len: int = 256

    def __post_init__(self) -> None:
        _check_types(self, "data.")
        require(self.knowledge in KNOWLEDGE_KINDS or (self.knowledge.startswith("facts:") and len(self.knowledge) > 6)
                or task_parameter(self.knowledge) is not None, "data.knowledge", self.knowledge,
                f"must be one of {', '.join(KNOWLEDGE_KINDS)}, slope:M (coordinates 0..M, M in [9, 99]), max:N "
                f"(N in [2, 30] numbers) or facts:PATH (docs/FACTS.md)")
        check_range("data.people", self.people, 1, integer=True)
        check_range("data.mixing_ratio", self.mixing_ratio, 0, 1)
        check_range("data.subsample_rho", self.subsample_rho, 0, 1, low_open=True)
        check_range("data.ckm_tau", self.ckm_tau, 0, 10)
        check_range("data.powerlaw_groups", self.powerlaw_groups, 1, integer=True)
        check_range("data.powerlaw_exponent", self.powerlaw_exponent, 0, low_open=True)
        check_range("data.seq_len", self.seq_len, 16, integer=True)
        check_range("data.population_seed", self.population_seed, 0, MAX_SEED, integer=True)
        require(self.tokenizer == "pythia" or (self.tokenizer.startswith("bpe-") and self.tokenizer[4:].isdigit()),
                "data.tokenizer", self.tokenizer, "must be pythia or bpe-<vocab size>")
        require(self.web == "default" or self.web.startswith(("folder:", "hf:")), "data.web", self.web,
                "must be default, folder:PATH or hf:NAME")


    @property
    def bpe_vocab_size(self) -> int | None:
        """The vocabulary of a "bpe-<vocab>" tokenizer; None for the Pythia tokenizer."""
        return int(self.tokenizer[4:]) if self.tokenizer.startswith("bpe-") else None


@dataclass(frozen=True)
class OptimConfig:
    """AdamW as Pythia: betas (0.9, 0.95), weight decay 0.1 on matrices, gradient clipping 1.0."""

    lr: float = 1e-3  # peak learning rate (the paper's 1e-3)
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        _check_types(self, "optim.")
        check_range("optim.lr", self.lr, 0, 1, low_open=True, high_open=True)
        check_range("optim.beta1", self.beta1, 0, 1, high_open=True)
        check_range("optim.beta2", self.beta2, 0, 1, high_open=True)
        check_range("optim.eps", self.eps, 0, 1, low_open=True, high_open=True, why="Adam divides by it")
        check_range("optim.weight_decay", self.weight_decay, 0, MAX_WEIGHT_DECAY)
        # Decoupled decay multiplies each weight by (1 - lr * weight_decay) per step: at 1 or more it
        # zeroes or flips every matrix at once, and the run diverges.
        check_range("optim.lr x optim.weight_decay", self.lr * self.weight_decay, high=1, high_open=True,
                    why=f"lr {self.lr!r} x weight_decay {self.weight_decay!r}")
        check_range("optim.grad_clip", self.grad_clip, 0, low_open=True)


@dataclass(frozen=True)
class ScheduleConfig:
    """Warmup-Stable-Decay (the paper's: warmup, constant, linear cooldown over the last 10%) or cosine."""

    kind: str = "wsd"
    warmup_steps: int = 160
    cooldown_fraction: float = 0.1
    final_lr_ratio: float = 0.0  # lr at the end, as a fraction of the peak (cosine: 0.1 is Pythia's)

    def __post_init__(self) -> None:
        _check_types(self, "schedule.")
        check_choice("schedule.kind", self.kind, SCHEDULES)
        check_range("schedule.warmup_steps", self.warmup_steps, 0, integer=True)
        check_range("schedule.cooldown_fraction", self.cooldown_fraction, 0, 1)
        check_range("schedule.final_lr_ratio", self.final_lr_ratio, 0, 1)


@dataclass(frozen=True)
class EvalConfig:
    """When and on what to evaluate. Evaluation points are log-spaced token counts ending at the budget."""

    points: int = 8  # number of log-spaced evaluation points
    first_tokens: int = 0  # first evaluation point (0: budget / 2^(points-1))
    people: int = 200  # people sampled for recall (0: all)
    templates: str = "all"  # "all" or "first"
    web_sequences: int = 64  # held-out web sequences for the web loss

    def __post_init__(self) -> None:
        _check_types(self, "eval.")
        check_range("eval.points", self.points, 1, integer=True)
        check_range("eval.first_tokens", self.first_tokens, 0, integer=True)
        check_range("eval.people", self.people, 0, integer=True)
        check_choice("eval.templates", self.templates, ("all", "first"))
        check_range("eval.web_sequences", self.web_sequences, 1, integer=True)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, data, optimiser, schedule, token budget, evaluation points, seed."""

    model: str = "tiny-50k"  # a preset name from empirical.model.presets
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    batch_size: int = 32  # sequences per optimiser step (global, across processes)
    tokens: int = 1_000_000  # training budget in tokens
    seed: int = 0  # model initialisation and data order
    precision: str = "fp32"  # "bf16" autocast where supported
    compile: bool = False  # torch.compile the training step (CUDA, or CPU with a C++ compiler)
    # Start from trained weights instead of a fresh initialisation (continual pre-training, arXiv
    # 2505.18091 section 6): "run:DIR" (a run folder, its checkpoint or saved model) or "hf:DIR" (a local
    # Hugging Face GPT-NeoX folder); "" starts from scratch. Omitted from to_dict when "", so configs
    # without it keep their run ids (empirical.train.init).
    init_from: str = ""

    def __post_init__(self) -> None:
        from empirical.model.presets import PRESETS

        _check_types(self, "")
        require(self.model in PRESETS, "model", self.model, f"unknown model preset; known presets: {', '.join(PRESETS)}")
        check_range("batch_size", self.batch_size, 1, integer=True)
        check_range("tokens", self.tokens, 1, integer=True, why="the budget")
        require(self.tokens >= self.tokens_per_step, "tokens", self.tokens,
                f"less than one step ({self.batch_size} x {self.data.seq_len} = {self.tokens_per_step})")
        check_range("seed", self.seed, 0, MAX_SEED, integer=True)
        check_choice("precision", self.precision, PRECISIONS)
        require(self.init_from == "" or (self.init_from.startswith(("run:", "hf:"))
                                         and self.init_from.split(":", 1)[1].strip() != ""),
                "init_from", self.init_from, "must be '' (from scratch), run:DIR or hf:DIR")
        require(self.eval.first_tokens <= self.tokens, "eval.first_tokens", self.eval.first_tokens,
                f"beyond the budget of {self.tokens} tokens")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.data.seq_len

    @property
    def steps(self) -> int:
        return self.tokens // self.tokens_per_step

    def eval_steps(self) -> list[int]:
        """Log-spaced steps (ending at the last step) at which the run is evaluated."""
        last = self.steps
        if self.eval.points == 1:
            return [last]
        first = max(1, self.eval.first_tokens // self.tokens_per_step) if self.eval.first_tokens else max(1, last >> (self.eval.points - 1))
        raw = [round(math.exp(math.log(first) + i * (math.log(last) - math.log(first)) / (self.eval.points - 1)))
               for i in range(self.eval.points)]
        return sorted(set(min(max(1, s), last) for s in raw) | {last})

    # --- which runs may train together ------------------------------------------------------------
    GROUP_FIELDS = ("model", "batch_size", "tokens", "precision", "compile", "schedule", "eval", "data.seq_len",
                    "data.tokenizer")

    def group_signature(self) -> dict[str, Any]:
        """What runs trained together as one K-stack (``empirical.train.loop.train_group``) must share: the
        architecture, the batch, the budget and schedule, the evaluation points, the sequence length,
        the tokenizer and every optimiser setting but the peak rate (one optimiser steps the whole
        stack; each model keeps its own peak lr). The sweep runner packs runs by this signature, and
        the trainer refuses a group whose signatures differ: one rule for both."""
        data = self.to_dict()
        signature: dict[str, Any] = {}
        for name in self.GROUP_FIELDS:
            *path, leaf = name.split(".")
            value = data
            for part in path:
                value = value[part]
            signature[name] = value[leaf]
        signature["optim (other than lr)"] = {k: v for k, v in data["optim"].items() if k != "lr"}
        return signature

    # --- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if not data["init_from"]:  # from scratch: the dict (and run id) of a config from before init_from
            del data["init_from"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        require(not unknown, "config keys", sorted(unknown), f"unknown; known: {', '.join(sorted(known))}")
        nested = {"data": DataConfig, "optim": OptimConfig, "schedule": ScheduleConfig, "eval": EvalConfig}
        kwargs = {}
        for key, value in data.items():
            require(key not in nested or isinstance(value, (dict, nested[key])), key, value,
                    f"expected a JSON object (its {key} fields), got {type(value).__name__}")
            if key in nested and isinstance(value, dict):
                sub_known = {f.name for f in dataclasses.fields(nested[key])}
                bad = set(value) - sub_known
                require(not bad, f"{key} config keys", sorted(bad), f"unknown; known: {', '.join(sorted(sub_known))}")
                value = nested[key](**value)
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return cls.from_dict(json.loads(text))

    @property
    def run_id(self) -> str:
        """A short hash of the canonical JSON: the same config always has the same id."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def replace(self, **changes) -> "TrainConfig":
        """Copy with changes; nested fields by dotted name, e.g. replace(**{"data.mixing_ratio": 0.2})."""
        data = dataclasses.asdict(self)  # every field, so that replace(init_from=...) finds it
        for key, value in changes.items():
            target = data
            *path, leaf = key.split(".")
            for part in path:
                require(part in target and isinstance(target[part], dict), "config field", key, "unknown")
                target = target[part]
            require(leaf in target, "config field", key, "unknown")
            target[leaf] = value
        return TrainConfig.from_dict(data)
