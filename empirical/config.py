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

KNOWLEDGE_KINDS = ("synbio", "synbio-powerlaw", "slope", "max")
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


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


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
            _check(type(value).__name__ == f.type,
                   f"{prefix}{f.name} {json.dumps(value, default=repr)}: expected a JSON object ({f.type} fields), "
                   f"got {type(value).__name__}")
        elif not expected[1](value):
            shown = json.dumps(value, default=repr) if not isinstance(value, float) else repr(value)
            _check(False, f"{prefix}{f.name} {shown}: expected {expected[0]}, got {type(value).__name__}"
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
        _check(self.knowledge in KNOWLEDGE_KINDS or (self.knowledge.startswith("facts:") and len(self.knowledge) > 6)
               or task_parameter(self.knowledge) is not None,
               f"knowledge must be one of {KNOWLEDGE_KINDS}, 'slope:M' (coordinates 0..M, M in [9, 99]), 'max:N' "
               f"(N in [2, 30] numbers) or 'facts:PATH' (docs/FACTS.md), got {self.knowledge!r}")
        _check(isinstance(self.people, int) and self.people >= 1, f"people must be an integer >= 1, got {self.people!r}")
        _check(0.0 <= self.mixing_ratio <= 1.0, f"mixing_ratio must be in [0, 1], got {self.mixing_ratio!r}")
        _check(0.0 < self.subsample_rho <= 1.0, f"subsample_rho must be in (0, 1], got {self.subsample_rho!r}")
        _check(0.0 <= self.ckm_tau <= 10.0, f"ckm_tau must be in [0, 10], got {self.ckm_tau!r}")
        _check(self.powerlaw_groups >= 1, f"powerlaw_groups must be >= 1, got {self.powerlaw_groups!r}")
        _check(self.powerlaw_exponent > 0, f"powerlaw_exponent must be > 0, got {self.powerlaw_exponent!r}")
        _check(self.seq_len >= 16, f"seq_len must be >= 16, got {self.seq_len!r}")
        _check(0 <= self.population_seed < 2**32,
               f"data.population_seed {self.population_seed!r}: must be an integer in [0, 4294967295]")
        _check(self.tokenizer == "pythia" or (self.tokenizer.startswith("bpe-") and self.tokenizer[4:].isdigit()),
               f"tokenizer must be 'pythia' or 'bpe-<vocab size>', got {self.tokenizer!r}")
        _check(self.web == "default" or self.web.startswith(("folder:", "hf:")),
               f"web must be 'default', 'folder:PATH' or 'hf:NAME', got {self.web!r}")


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
        _check(0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr!r}")
        _check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, f"betas must be in [0, 1), got {(self.beta1, self.beta2)!r}")
        _check(0 < self.eps < 1, f"optim.eps {self.eps!r}: must be in (0, 1) (Adam divides by it)")
        _check(0 <= self.weight_decay <= MAX_WEIGHT_DECAY,
               f"optim.weight_decay {self.weight_decay!r}: must be in [0, {MAX_WEIGHT_DECAY:g}]")
        # Decoupled decay multiplies each weight by (1 - lr * weight_decay) per step: at 1 or more it
        # zeroes or flips every matrix at once, and the run diverges.
        _check(self.lr * self.weight_decay < 1,
               f"optim.lr x optim.weight_decay {self.lr!r} x {self.weight_decay!r}: must be < 1")
        _check(self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip!r}")


@dataclass(frozen=True)
class ScheduleConfig:
    """Warmup-Stable-Decay (the paper's: warmup, constant, linear cooldown over the last 10%) or cosine."""

    kind: str = "wsd"
    warmup_steps: int = 160
    cooldown_fraction: float = 0.1
    final_lr_ratio: float = 0.0  # lr at the end, as a fraction of the peak (cosine: 0.1 is Pythia's)

    def __post_init__(self) -> None:
        _check_types(self, "schedule.")
        _check(self.kind in SCHEDULES, f"schedule kind must be one of {SCHEDULES}, got {self.kind!r}")
        _check(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps!r}")
        _check(0 <= self.cooldown_fraction <= 1, f"cooldown_fraction must be in [0, 1], got {self.cooldown_fraction!r}")
        _check(0 <= self.final_lr_ratio <= 1, f"final_lr_ratio must be in [0, 1], got {self.final_lr_ratio!r}")


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
        _check(self.points >= 1, f"eval points must be >= 1, got {self.points!r}")
        _check(self.first_tokens >= 0, f"eval first_tokens must be >= 0, got {self.first_tokens!r}")
        _check(self.people >= 0, f"eval people must be >= 0, got {self.people!r}")
        _check(self.templates in ("all", "first"), f"eval templates must be 'all' or 'first', got {self.templates!r}")
        _check(self.web_sequences >= 1, f"eval web_sequences must be >= 1, got {self.web_sequences!r}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, data, optimiser, schedule, token budget, evaluation points, seed."""

    model: str = "tiny-50k"  # a preset name from empirical.presets
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    batch_size: int = 32  # sequences per optimiser step (global, across processes)
    tokens: int = 1_000_000  # training budget in tokens
    seed: int = 0  # model initialisation and data order
    precision: str = "fp32"  # "bf16" autocast where supported
    compile: bool = False  # torch.compile the model (GPU)
    # Start from trained weights instead of a fresh initialisation (continual pre-training, arXiv
    # 2505.18091 section 6): "run:DIR" (a run folder, its checkpoint or saved model) or "hf:DIR" (a local
    # Hugging Face GPT-NeoX folder); "" starts from scratch. Omitted from to_dict when "", so configs
    # without it keep their run ids (empirical.init).
    init_from: str = ""

    def __post_init__(self) -> None:
        from empirical.presets import PRESETS

        _check_types(self, "")
        _check(self.model in PRESETS, f"unknown model preset {self.model!r}; known presets: {', '.join(PRESETS)}")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size!r}")
        _check(isinstance(self.tokens, int) and self.tokens > 0, f"tokens (the budget) must be a positive integer, got {self.tokens!r}")
        _check(self.tokens >= self.tokens_per_step,
               f"tokens {self.tokens} is less than one step ({self.batch_size} x {self.data.seq_len} = {self.tokens_per_step})")
        _check(0 <= self.seed < 2**32, f"seed {self.seed!r}: must be an integer in [0, 4294967295]")
        _check(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        _check(self.init_from == "" or (self.init_from.startswith(("run:", "hf:"))
                                         and self.init_from.split(":", 1)[1].strip() != ""),
               f"init_from {self.init_from!r}: must be '' (from scratch), 'run:DIR' or 'hf:DIR'")
        _check(self.eval.first_tokens <= self.tokens,
               f"eval first_tokens {self.eval.first_tokens} is beyond the budget of {self.tokens} tokens")

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
        _check(not unknown, f"unknown config keys {sorted(unknown)}; known: {sorted(known)}")
        nested = {"data": DataConfig, "optim": OptimConfig, "schedule": ScheduleConfig, "eval": EvalConfig}
        kwargs = {}
        for key, value in data.items():
            _check(key not in nested or isinstance(value, (dict, nested[key])),
                   f"{key} {json.dumps(value, default=repr)}: expected a JSON object (its {key} fields), "
                   f"got {type(value).__name__}")
            if key in nested and isinstance(value, dict):
                sub_known = {f.name for f in dataclasses.fields(nested[key])}
                bad = set(value) - sub_known
                _check(not bad, f"unknown {key} config keys {sorted(bad)}; known: {sorted(sub_known)}")
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
                _check(part in target and isinstance(target[part], dict), f"unknown config field {key!r}")
                target = target[part]
            _check(leaf in target, f"unknown config field {key!r}")
            target[leaf] = value
        return TrainConfig.from_dict(data)
