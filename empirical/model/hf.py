"""Hugging Face interoperability of the K-stacked GPT-NeoX (``empirical.model.gptneox``): one model of a stack
to a ``transformers.GPTNeoXForCausalLM`` and back, and saving or loading it as a Hugging Face folder.
Checkpoint names are Pythia's, so a downloaded Pythia checkpoint loads as it is.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from empirical.model.gptneox import GPTNeoX
from empirical.model.presets import ModelConfig


# --- Hugging Face interoperability -----------------------------------------------------------
# Checkpoint names are Pythia's (``gpt_neox.*`` and ``embed_out.weight``): transformers 4.x loads
# them as they are and 5.x renames embed_out to lm_head on load.

def hf_config(cfg: ModelConfig, **overrides):
    """The ``transformers.GPTNeoXConfig`` of one model of this architecture."""
    from transformers import GPTNeoXConfig

    kwargs = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer,
                  num_attention_heads=cfg.n_head, intermediate_size=cfg.d_ff, hidden_act="gelu",
                  max_position_embeddings=cfg.max_seq_len, rotary_pct=cfg.rotary_pct,
                  rotary_emb_base=cfg.rotary_base, layer_norm_eps=cfg.layer_norm_eps,
                  use_parallel_residual=cfg.parallel_residual, tie_word_embeddings=False,
                  initializer_range=cfg.init_std, bos_token_id=None, eos_token_id=None,
                  attention_dropout=0.0, hidden_dropout=0.0)
    kwargs.update(overrides)
    return GPTNeoXConfig(**kwargs)


def config_from_hf(hf_cfg) -> ModelConfig:
    """Our ModelConfig for a ``GPTNeoXConfig``; ValueError for features we do not implement."""
    rope = getattr(hf_cfg, "rope_parameters", None) or {}
    checks = {"hidden_act": ("gelu", getattr(hf_cfg, "hidden_act", "gelu")),
              "tie_word_embeddings": (False, getattr(hf_cfg, "tie_word_embeddings", False)),
              "attention_bias": (True, getattr(hf_cfg, "attention_bias", True)),
              "rope_type": ("default", rope.get("rope_type", "default"))}
    for name, (wanted, got) in checks.items():
        if got != wanted:
            raise ValueError(f"GPTNeoXConfig.{name}={got!r} is not supported (only {wanted!r})")
    return ModelConfig(
        n_layer=hf_cfg.num_hidden_layers, d_model=hf_cfg.hidden_size, n_head=hf_cfg.num_attention_heads,
        d_ff=hf_cfg.intermediate_size, vocab_size=hf_cfg.vocab_size,
        max_seq_len=hf_cfg.max_position_embeddings,
        rotary_pct=float(rope.get("partial_rotary_factor", getattr(hf_cfg, "rotary_pct", 0.25))),
        rotary_base=float(rope.get("rope_theta", getattr(hf_cfg, "rotary_emb_base", 10000.0))),
        layer_norm_eps=hf_cfg.layer_norm_eps, parallel_residual=hf_cfg.use_parallel_residual,
        init_std=hf_cfg.initializer_range)


def to_hf_state_dict(model: GPTNeoX, k: int) -> dict[str, torch.Tensor]:
    """Model k's weights under Pythia checkpoint names (copies, detached, contiguous)."""
    if not 0 <= k < model.n_models:
        raise ValueError(f"k must be in [0, {model.n_models}), got {k!r}")
    return {_hf_name(name): p.detach()[k].clone().contiguous() for name, p in model.named_parameters()}


def _hf_name(name: str) -> str:
    if name == "embed_in":
        return "gpt_neox.embed_in.weight"
    return name if name.startswith("embed_out") else "gpt_neox." + name


def to_hf(model: GPTNeoX, k: int, **overrides):
    """Model k as an in-memory ``GPTNeoXForCausalLM`` (fp32, eval mode)."""
    from transformers import GPTNeoXForCausalLM

    hf = GPTNeoXForCausalLM(hf_config(model.config, **overrides)).eval()
    state = to_hf_state_dict(model, k)
    head = [n for n, p in hf.named_parameters() if p is hf.get_output_embeddings().weight][0]
    state[head] = state.pop("embed_out.weight")
    hf.load_state_dict({n: t.float() for n, t in state.items()}, strict=True)
    return hf


def from_hf(hf_models) -> GPTNeoX:
    """A K-stack from one ``GPTNeoXForCausalLM`` or a list of K of one architecture."""
    hf_models = list(hf_models) if isinstance(hf_models, (list, tuple)) else [hf_models]
    cfg = config_from_hf(hf_models[0].config)
    for hf in hf_models[1:]:
        if config_from_hf(hf.config) != cfg:
            raise ValueError("from_hf needs models of one architecture; configs differ")
    model = GPTNeoX(cfg, seeds=[0] * len(hf_models))
    head = [n for n, p in hf_models[0].named_parameters() if p is hf_models[0].get_output_embeddings().weight][0]
    states = [hf.state_dict() for hf in hf_models]
    hf_name = {name: head if name == "embed_out.weight" else _hf_name(name) for name, _ in model.named_parameters()}
    stacked = {name: torch.stack([st[hf_name[name]].float() for st in states]) for name in hf_name}
    model.load_state_dict(stacked, strict=True)
    return model


def save_pretrained(model: GPTNeoX, k: int, path, **hf_overrides) -> Path:
    """Write model k as a Hugging Face directory (config.json + model.safetensors).

    ``GPTNeoXForCausalLM.from_pretrained(path)`` loads it, so lm-evaluation-harness can evaluate
    it; ``hf_overrides`` set config fields such as ``bos_token_id`` / ``eos_token_id``. Our own
    ModelConfig goes alongside in ``phasemix_model_config.json``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = hf_config(model.config, **hf_overrides)
    cfg.architectures = ["GPTNeoXForCausalLM"]
    cfg.save_pretrained(path)
    # Also the 4.x names of the rotary settings, so older transformers read them too.
    config_file = path / "config.json"
    data = json.loads(config_file.read_text())
    data.update(rotary_pct=model.config.rotary_pct, rotary_emb_base=model.config.rotary_base)
    config_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    state = {n: t.float() for n, t in to_hf_state_dict(model, k).items()}
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "phasemix_model_config.json").write_text(model.config.to_json() + "\n")
    return path


def load_pretrained(path) -> GPTNeoX:
    """A K = 1 model from a Hugging Face GPT-NeoX directory (ours or a Pythia checkpoint)."""
    from transformers import GPTNeoXForCausalLM

    model = from_hf(GPTNeoXForCausalLM.from_pretrained(str(path)))
    ours = Path(path) / "phasemix_model_config.json"
    if ours.exists():  # ours carries the init settings too, which config.json does not
        saved = ModelConfig.from_json(ours.read_text())
        init = ("init_method", "output_layer_init_method", "init_std")
        if saved.replace(**{f: getattr(model.config, f) for f in init}) != model.config:
            raise ValueError(f"{ours} disagrees with config.json: {saved} vs {model.config}")
        model.config = saved
    return model
