"""GPT-NeoX (Pythia architecture) model configurations, presets and parameter counts.

Parameter counts follow Pythia's convention: *non-embedding* parameters are everything except the
input embedding ``embed_in`` (V x d) and the untied output head ``embed_out`` (V x d). With
d_ff the MLP width, one GPT-NeoX layer holds

    qkv (3d x d + 3d) + dense (d x d + d) + h_to_4h (d_ff x d + d_ff) + 4h_to_h (d x d_ff + d)
    + two layer norms (4d)                                  = 4d^2 + 2 d d_ff + 9d + d_ff,

so params_nonembedding = L (4d^2 + 2 d d_ff + 9d + d_ff) + 2d (final layer norm) and
params_total = params_nonembedding + 2 V d. Pythia-70M: 18,915,328 and 70,426,624.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

INIT_METHODS = ("small_init", "normal")
OUTPUT_LAYER_INIT_METHODS = ("wang_init", "scaled_normal", "normal")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one GPT-NeoX model (a K-stack holds K models of one config).

    Initialisation follows GPT-NeoX's names (the Pythia runs used small_init + wang_init):
    ``init_method`` for embeddings, QKV, MLP input and output head: "small_init" draws
    N(0, sqrt(2 / (5 d))) (Nguyen & Salazar 2019), "normal" draws N(0, init_std);
    ``output_layer_init_method`` for the two projections that write into the residual stream
    (attention ``dense``, MLP ``dense_4h_to_h``): "wang_init" N(0, 2 / (L sqrt(d))),
    "scaled_normal" N(0, init_std / sqrt(2 L)) (GPT-2), "normal" N(0, init_std).
    Biases start at zero, layer-norm gains at one.
    """

    n_layer: int
    d_model: int
    n_head: int
    d_ff: int | None = None  # None: 4 * d_model, as every Pythia model
    vocab_size: int = 2048
    max_seq_len: int = 256
    rotary_pct: float = 0.25
    rotary_base: float = 10000.0
    layer_norm_eps: float = 1e-5
    parallel_residual: bool = True
    init_method: str = "small_init"
    output_layer_init_method: str = "wang_init"
    init_std: float = 0.02

    def __post_init__(self):
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        for name in ("n_layer", "d_model", "n_head", "d_ff", "vocab_size", "max_seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if not 0.0 <= self.rotary_pct <= 1.0:
            raise ValueError(f"rotary_pct must be in [0, 1], got {self.rotary_pct!r}")
        if self.rotary_dims % 2:
            raise ValueError(
                f"rotary dims int(head_dim={self.head_dim} * rotary_pct={self.rotary_pct}) = "
                f"{self.rotary_dims} must be even (rotate_half splits them in two)")
        for name in ("rotary_base", "layer_norm_eps", "init_std"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not isinstance(self.parallel_residual, bool):
            raise ValueError(f"parallel_residual must be a bool, got {self.parallel_residual!r}")
        if self.init_method not in INIT_METHODS:
            raise ValueError(f"init_method must be one of {INIT_METHODS}, got {self.init_method!r}")
        if self.output_layer_init_method not in OUTPUT_LAYER_INIT_METHODS:
            raise ValueError(f"output_layer_init_method must be one of {OUTPUT_LAYER_INIT_METHODS}, "
                             f"got {self.output_layer_init_method!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def rotary_dims(self) -> int:
        # int() truncation, as GPT-NeoX and Hugging Face compute it.
        return int(self.head_dim * self.rotary_pct)

    @property
    def input_init_std(self) -> float:
        if self.init_method == "small_init":
            return math.sqrt(2.0 / (5.0 * self.d_model))
        return self.init_std

    @property
    def output_init_std(self) -> float:
        if self.output_layer_init_method == "wang_init":
            return 2.0 / (self.n_layer * math.sqrt(self.d_model))
        if self.output_layer_init_method == "scaled_normal":
            return self.init_std / math.sqrt(2.0 * self.n_layer)
        return self.init_std

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


def params_nonembedding(cfg: ModelConfig) -> int:
    """Parameters other than embed_in and embed_out: L (4d^2 + 2 d d_ff + 9d + d_ff) + 2d."""
    d, f = cfg.d_model, cfg.d_ff
    return cfg.n_layer * (4 * d * d + 2 * d * f + 9 * d + f) + 2 * d


def params_total(cfg: ModelConfig) -> int:
    """All parameters: non-embedding plus the untied input embedding and output head (2 V d)."""
    return params_nonembedding(cfg) + 2 * cfg.vocab_size * cfg.d_model


_PYTHIA = dict(vocab_size=50304, max_seq_len=2048)
_SMALL = dict(vocab_size=2048, max_seq_len=256)

# Pythia: EleutherAI's configs (pythia/models/*.yml); vocab padded to 50304, 2048 positions.
# Small ladder (our BPE vocabulary): non-embedding sizes 0.05M .. 19M, roughly x2-x4 apart;
# head_dim 16 below d=128, 32 up to d=256, 64 above (so rotary covers 4, 8, 16 dims).
PRESETS: dict[str, ModelConfig] = {
    "pythia-14m": ModelConfig(n_layer=6, d_model=128, n_head=4, **_PYTHIA),
    "pythia-31m": ModelConfig(n_layer=6, d_model=256, n_head=8, **_PYTHIA),
    "pythia-70m": ModelConfig(n_layer=6, d_model=512, n_head=8, **_PYTHIA),
    "pythia-160m": ModelConfig(n_layer=12, d_model=768, n_head=12, **_PYTHIA),
    "pythia-410m": ModelConfig(n_layer=24, d_model=1024, n_head=16, **_PYTHIA),
    "pythia-1b": ModelConfig(n_layer=16, d_model=2048, n_head=8, **_PYTHIA),
    "tiny-50k": ModelConfig(n_layer=4, d_model=32, n_head=2, **_SMALL),       # 50,880
    "tiny-100k": ModelConfig(n_layer=4, d_model=48, n_head=3, **_SMALL),      # 113,184
    "small-200k": ModelConfig(n_layer=4, d_model=64, n_head=4, **_SMALL),     # 200,064
    "small-500k": ModelConfig(n_layer=5, d_model=96, n_head=6, **_SMALL),     # 559,392
    "small-1m": ModelConfig(n_layer=5, d_model=128, n_head=4, **_SMALL),      # 991,616
    "medium-3m": ModelConfig(n_layer=6, d_model=192, n_head=6, **_SMALL),     # 2,669,568
    "medium-10m": ModelConfig(n_layer=6, d_model=384, n_head=6, **_SMALL),    # 10,647,552
    "medium-20m": ModelConfig(n_layer=6, d_model=512, n_head=8, **_SMALL),    # 18,915,328
}


def sized_for(name: str, vocab_size: int | None, seq_len: int) -> ModelConfig:
    """The preset as trained with a tokenizer of ``vocab_size`` tokens (None: the preset's own) and
    sequences of ``seq_len``. Pythia keeps its padded 50,304-row embedding (its published parameter
    counts); the small presets take the tokenizer's vocabulary exactly, since for them the embedding
    is most of the model."""
    preset = get_preset(name)
    if vocab_size is not None and not (name.startswith("pythia-") and vocab_size <= preset.vocab_size):
        preset = preset.replace(vocab_size=vocab_size)
    return preset.replace(max_seq_len=max(seq_len, preset.max_seq_len))


def get_preset(name: str) -> ModelConfig:
    """The named preset; ValueError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}") from None
