"""Continual pre-training: ``TrainConfig.init_from`` (empirical.train.init), and run ids that do not move."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.train.init import dependency_stages, initialise_from, load_source
from empirical.sweeps.spec import Run

ROOT = Path(__file__).resolve().parents[1]

# Run ids committed in docs/full/results.jsonl, before init_from existed: a config that does not set it
# must keep its id (and so its rows).
PINNED = ("ff62cfeafd7ff9c8", "7ef555d1efe61135", "a0a81f027f596453", "2b8720900b37a756", "4f93b2bdca268e71")


def test_committed_run_ids_are_unchanged():
    rows = {}
    for line in (ROOT / "docs/full/results.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows.setdefault(row["run_id"], row["config"])
    for run_id in PINNED:
        config = TrainConfig.from_dict(rows[run_id])
        assert config.run_id == run_id
        assert "init_from" not in config.to_dict()


def test_init_from_changes_the_run_id_and_round_trips():
    base = TrainConfig()
    continued = base.replace(init_from="run:abc")
    assert continued.run_id != base.run_id
    assert TrainConfig.from_json(continued.to_json()) == continued
    assert continued.replace(init_from="").run_id == base.run_id
    for bad in ("abc", "run:", "hf: ", "s3:x"):
        with pytest.raises(ValueError, match="init_from"):
            base.replace(init_from=bad)


def _config(tmp_path: Path, init_from: str, steps: int = 1) -> TrainConfig:
    return TrainConfig(model="tiny-50k", data=DataConfig(people=8, mixing_ratio=0.3, tokenizer="bpe-2048", seq_len=192),
                       optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(warmup_steps=0),
                       eval=EvalConfig(points=1, people=4, templates="first", web_sequences=2),
                       batch_size=2, tokens=2 * 192 * steps, init_from=init_from)


def _first_batch_loss(model, config: TrainConfig) -> float:
    """The source model's loss on the batch the run draws first (same data pipeline, same seed)."""
    from empirical.text.pipeline import build_run_data

    data = build_run_data(config)
    x = torch.from_numpy(data.next_batch()[None]).long()
    targets = x[..., 1:].masked_fill(x[..., 1:] == data.pad_id, -100)
    with torch.no_grad():
        return float(model(x[..., :-1], targets)[0])


def _hf_folder(tmp_path: Path, vocab: int = 2048, d_model: int = 32) -> Path:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(3)
    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=d_model, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=4 * d_model, max_position_embeddings=256, rotary_pct=0.25,
                        use_parallel_residual=True, tie_word_embeddings=False, hidden_act="gelu",
                        initializer_range=0.3)  # large weights: a loss far from a fresh model's ln(V)
    folder = tmp_path / "neox"
    GPTNeoXForCausalLM(cfg).save_pretrained(folder)
    return folder


def test_hf_folder_weights_are_loaded_not_reinitialised(tmp_path, one_thread):
    from empirical.model.hf import load_pretrained
    from empirical.model.gptneox import GPTNeoX
    from empirical.model.presets import sized_for
    from empirical.train.loop import train

    folder = _hf_folder(tmp_path)
    config = _config(tmp_path, f"hf:{folder}")
    expected = _first_batch_loss(load_pretrained(folder), config)
    fresh = _first_batch_loss(GPTNeoX(sized_for("tiny-50k", 2048, 192), seeds=[config.seed]), config)
    rows = train(config, progress=False)
    assert rows[0]["train_loss"] == pytest.approx(expected, rel=1e-5)
    assert abs(rows[0]["train_loss"] - fresh) > 1e-3  # a fresh initialisation has another loss
    assert rows[0]["init_from"] == f"hf:{folder}"


def test_our_run_folder_continues_from_its_checkpoint_and_saved_model(tmp_path, one_thread):
    from empirical.model.hf import load_pretrained
    from empirical.train.loop import train

    source = _config(tmp_path, "", steps=2)
    train(source, tmp_path / source.run_id, progress=False, save_model=True)
    trained = load_pretrained(tmp_path / source.run_id / "model")
    # "run:<run_id>" is found beside the new run's own folder, and its saved model is used.
    continued = _config(tmp_path, f"run:{source.run_id}")
    rows = train(continued, tmp_path / continued.run_id, progress=False)
    assert rows[0]["train_loss"] == pytest.approx(_first_batch_loss(trained, continued), rel=1e-5)
    # Without the saved model, the checkpoint gives the same weights.
    import shutil
    shutil.rmtree(tmp_path / source.run_id / "model")
    cfg, weights = load_source(f"run:{tmp_path / source.run_id}")
    for name, p in trained.named_parameters():
        assert torch.equal(weights[name], p.detach()[0])


def test_unfinished_source_and_mismatches_are_refused_in_one_line(tmp_path, one_thread):
    from empirical.model.gptneox import GPTNeoX
    from empirical.model.presets import sized_for
    from empirical.train.loop import train

    source = _config(tmp_path, "", steps=3)
    train(source, tmp_path / "src", progress=False, stop_after_steps=1)  # a checkpoint at step 1 of 3
    model = GPTNeoX(sized_for("tiny-50k", 2048, 192), seeds=[0])
    with pytest.raises(ValueError, match=r"has not finished \(step 1 of 3\)"):
        initialise_from(model, 0, _config(tmp_path, f"run:{tmp_path / 'src'}"))
    with pytest.raises(ValueError, match="does not exist"):
        initialise_from(model, 0, _config(tmp_path, "run:no-such-run"), tmp_path / "new")
    wrong_vocab = _hf_folder(tmp_path, vocab=1000)
    with pytest.raises(ValueError, match=r"^init_from 'hf:.*': the source's vocabulary is 1000, the run's model "
                                         r"\(tiny-50k with its tokenizer\) has 2048$"):
        initialise_from(model, 0, _config(tmp_path, f"hf:{wrong_vocab}"))
    (tmp_path / "wide").mkdir()
    wide = _hf_folder(tmp_path / "wide", d_model=48)
    with pytest.raises(ValueError, match="d_model is 48"):
        initialise_from(model, 0, _config(tmp_path, f"hf:{wide}"))


def test_dependency_stages_train_sources_first():
    base = TrainConfig()
    source = Run(base.replace(**{"data.mixing_ratio": 0.0}))
    child = Run(base.replace(init_from=f"run:{source.run_id}"))
    grandchild = Run(base.replace(init_from=f"run:{child.run_id}"))
    other = Run(base.replace(init_from="hf:/somewhere"))
    stages = dependency_stages([grandchild, other, child, source])
    assert [[r.run_id for r in s] for s in stages] == [[other.run_id, source.run_id], [child.run_id],
                                                       [grandchild.run_id]]
    assert len(dependency_stages([source, other])) == 1
