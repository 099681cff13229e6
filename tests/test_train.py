"""Real training on tiny configs: rows, resume, and K-stack equivalence (seconds each)."""
import shutil

import pytest
import torch

from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.__main__ import main
from empirical.train.loop import CHECKPOINT, train, train_group

TIMING = {"wall_time_s"}


pytestmark = pytest.mark.usefixtures("one_thread")


def strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


@pytest.mark.slow
def test_training_writes_documented_rows_and_learns(tiny):
    config = tiny()
    rows = train(config, progress=False)
    assert [r["step"] for r in rows] == config.eval_steps()
    last = rows[-1]
    assert last["run_id"] == config.run_id and last["tokens"] == config.steps * config.tokens_per_step
    assert last["params_nonembedding"] == 50_880
    assert abs(last["mixing_ratio_measured"] - 0.5) < 0.05
    assert last["exposures_per_person"] > 0
    assert set(last["accuracy_by_attribute"]) == {"birth_date", "birth_city", "university", "major", "employer"}
    assert rows[-1]["knowledge_loss"] < rows[0]["knowledge_loss"]
    assert 0.0 <= last["accuracy"] <= 1.0 and last["bits_stored"] >= 0.0


@pytest.mark.slow
def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(tmp_path, tiny):
    config = tiny()
    whole = train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "split", progress=False, stop_after_steps=9)  # killed mid-run, after its checkpoint
    assert torch.load(tmp_path / "split" / CHECKPOINT, weights_only=False)["step"] == 9
    resumed = train(config, tmp_path / "split", progress=False)
    assert strip(resumed) == strip(whole)
    a = torch.load(tmp_path / "whole" / CHECKPOINT, weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / CHECKPOINT, weights_only=False)["model"]
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_checkpoints_between_evaluations_leave_the_run_unchanged(tmp_path, tiny, monkeypatch):
    """checkpoint_seconds=0: a checkpoint after every step (rows unchanged, the last one resumable);
    the default writes them only at the evaluation points of a run this short."""
    import empirical.train.loop as loop

    saved, real = [], loop._save_checkpoint
    monkeypatch.setattr(loop, "_save_checkpoint", lambda g, k: (saved.append(g.step), real(g, k)))
    config = tiny(steps=12)
    plain = train(config, tmp_path / "plain", progress=False)
    assert saved == config.eval_steps()
    saved.clear()
    often = train(config, tmp_path / "often", progress=False, checkpoint_seconds=0.0)
    assert saved == list(range(1, config.steps + 1)) and strip(often) == strip(plain)


@pytest.mark.slow
def test_group_of_three_ratios_matches_training_each_alone(tiny):
    configs = [tiny(0.2, seed=1), tiny(0.5, seed=2), tiny(0.8, seed=3)]
    together = train_group(configs, progress=False)
    for config, rows in zip(configs, together):
        alone = train(config, progress=False)
        for a, b in zip(alone, rows):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
            assert b["knowledge_loss"] == pytest.approx(a["knowledge_loss"], rel=1e-4)
            assert b["accuracy"] == a["accuracy"]


@pytest.mark.slow
def test_a_group_checkpoints_and_resumes_each_model(tmp_path, tiny):
    import shutil

    configs = [tiny(0.2, seed=1), tiny(0.5, seed=2), tiny(0.8, seed=3)]
    whole = train_group(configs, [tmp_path / "whole" / str(k) for k in range(3)], progress=False)
    split = [tmp_path / "split" / str(k) for k in range(3)]
    train_group(configs, split, progress=False, stop_after_steps=9)  # killed after its checkpoints
    assert [torch.load(d / CHECKPOINT, weights_only=False)["step"] for d in split] == [9, 9, 9]
    shutil.copytree(split[1], tmp_path / "alone")
    # The group resumes exactly where each model stopped ...
    assert [strip(rows) for rows in train_group(configs, split, progress=False)] == [strip(rows) for rows in whole]
    # ... and each model's checkpoint is its own: one member resumes alone and ends as in the group.
    alone = train(configs[1], tmp_path / "alone", progress=False)
    for a, b in zip(alone, whole[1]):
        assert a["step"] == b["step"] and a["accuracy"] == b["accuracy"]
        assert a["knowledge_loss"] == pytest.approx(b["knowledge_loss"], rel=1e-4)


def test_group_members_must_share_the_architecture(tiny):
    with pytest.raises(ValueError, match="must share model"):
        train_group([tiny(), tiny().replace(model="tiny-100k")], progress=False)


def test_the_runner_packs_by_the_rule_the_trainer_enforces(tiny):
    from empirical.sweeps.runner import group_key
    from empirical.train.loop import check_group

    base = tiny()
    together = base.replace(seed=base.seed + 1, **{"optim.lr": base.optim.lr * 2, "data.mixing_ratio": 0.5})
    apart = base.replace(**{"optim.weight_decay": base.optim.weight_decay + 0.05})
    assert group_key(together, 0) == group_key(base, 0) != group_key(base, 3)
    check_group([base, together])  # packed together, so trainable together
    assert group_key(apart, 0) != group_key(base, 0)
    with pytest.raises(ValueError, match="must share optim"):
        check_group([base, apart])


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--model", "gpt-9", "--dry-run"], "--model gpt-9: must be one of"),
        (["--mixing-ratio", "1.5", "--dry-run"], "--mixing-ratio 1.5: must be a number in [0, 1]"),
        (["--tokens", "0", "--dry-run"], "--tokens 0: must be an integer in [1, 1e15]"),
    ],
)
def test_train_cli_rejects_bad_configs_with_one_line(argv, fragment, capsys):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("python -m empirical train: error: ")
    assert fragment in err and "Traceback" not in err


def test_train_cli_dry_run_prints_the_run_id_of_the_config(capsys):
    import json

    assert main(["train", "--people", "50", "--mixing-ratio", "0.25", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == TrainConfig.from_dict(out["config"]).run_id
    assert out["config"]["data"]["people"] == 50


def fifty_biographies(mixing_ratio):
    # 900 steps of 8 x 192 tokens: about 50 s on one core of this machine.
    return TrainConfig(
        model="tiny-50k", data=DataConfig(people=50, mixing_ratio=mixing_ratio, seq_len=192), batch_size=8,
        tokens=8 * 192 * 900, optim=OptimConfig(lr=2e-2), schedule=ScheduleConfig(warmup_steps=20),
        eval=EvalConfig(points=1, people=50, templates="first", web_sequences=8),
    )


@pytest.mark.slow
def test_knowledge_alone_is_learned_to_90_percent_recall():
    (row,) = train(fifty_biographies(1.0), progress=False)
    assert row["exposures_per_person"] == pytest.approx(144, abs=2)
    assert row["accuracy"] >= 0.9  # measured 0.992


@pytest.mark.slow
def test_the_same_knowledge_mixed_at_a_low_ratio_is_not_learned_with_the_same_budget():
    (row,) = train(fifty_biographies(0.1), progress=False)
    assert row["accuracy"] <= 0.1  # measured 0.0 (each person seen about 21 times)


@pytest.mark.slow
def test_compile_on_cpu_follows_the_eager_run(tiny):
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("Inductor's CPU backend needs a C++ compiler")
    config = tiny(steps=8, points=2)
    reference = train(config, progress=False)
    rows = train(config.replace(compile=True), progress=False)
    assert [r["step"] for r in rows] == [r["step"] for r in reference]
    for a, b in zip(reference, rows):  # fused fp32 kernels reorder sums: rounding, not another run
        for key in ("train_loss", "knowledge_loss", "web_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5)


def test_compile_on_cpu_without_a_cpp_compiler_is_refused_before_training(tiny, tmp_path, monkeypatch):
    from torch._inductor import cpp_builder

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no g++ anywhere
    monkeypatch.delenv("CXX", raising=False)
    cpp_builder.cpp_compiler_search.cache_clear()  # its answer for the real PATH is cached
    try:
        with pytest.raises(ValueError, match="compile=true on CPU needs a C.. compiler"):
            train(tiny(steps=2, points=1).replace(compile=True), tmp_path / "run", progress=False)
        assert not (tmp_path / "run" / CHECKPOINT).exists()
    finally:
        cpp_builder.cpp_compiler_search.cache_clear()


# --- the same tiny run on every device (tests/conftest.py GPU_MARKS: CUDA skips where there is none) ------
def test_a_tiny_run_trains_and_evaluates_on_each_device(device, tiny):
    config = tiny(steps=6, points=1)
    (row,) = train(config, device=device, progress=False)
    assert row["step"] == config.steps and row["run_id"] == config.run_id
    assert all(torch.isfinite(torch.tensor(row[key])) for key in ("train_loss", "knowledge_loss", "web_loss"))


@pytest.mark.gpu
@pytest.mark.parametrize("variant", [{"precision": "bf16"}, {"compile": True}], ids=["bf16", "compile"])
def test_bf16_and_compile_follow_the_fp32_run_on_cuda(variant, tiny):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    config = tiny(steps=12, points=2)
    reference = train(config, device="cuda", progress=False)
    rows = train(config.replace(**variant), device="cuda", progress=False)
    assert [r["step"] for r in rows] == [r["step"] for r in reference]
    for a, b in zip(reference, rows):  # bf16 rounding and fused kernels move the loss, not the run
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)
        assert b["knowledge_loss"] == pytest.approx(a["knowledge_loss"], rel=0.05)
