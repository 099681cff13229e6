"""The bf16 mixed-precision policy, the fused rotary and head, the flat optimiser, the FLOP count,
and the GPU check's CPU mode."""
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from empirical.config import OptimConfig
from empirical.model.kernels import _RotaryTables, _SplitHeads, compute_dtype, head_loss
from empirical.model.gptneox import GPTNeoX, per_model_loss, training_flops_per_token
from empirical.train.optim import StackedAdamW
from empirical.model.presets import ModelConfig, get_preset

ROOT = Path(__file__).resolve().parent.parent
TINY = ModelConfig(n_layer=2, d_model=32, n_head=2, vocab_size=97, max_seq_len=64)


# Tiny tensors: one thread avoids OpenMP synchronisation and contention on the shared cores.
pytestmark = pytest.mark.usefixtures("one_thread_module")


def _tokens(K, B, T, V=97, seed=0):
    return torch.randint(0, V, (K, B, T), generator=torch.Generator().manual_seed(seed))


def _bf16(enabled=True):
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def test_compute_dtype_is_autocasts_inside_autocast_and_the_parameters_outside():
    p = torch.zeros(1)
    assert compute_dtype(p, p.device) == torch.float32
    with _bf16():
        assert compute_dtype(p, p.device) == torch.bfloat16


def test_bf16_step_keeps_fp32_parameters_and_gradients_close_to_fp32():
    model = GPTNeoX(TINY, seeds=[3])
    idx, targets = _tokens(1, 4, 48, seed=1), _tokens(1, 4, 48, seed=2)
    grads = {}
    for precision in (False, True):
        model.zero_grad(set_to_none=True)
        with _bf16(precision):
            loss = model(idx, targets)
        loss.sum().backward()
        grads[precision] = torch.cat([p.grad.flatten() for p in model.parameters()])
        assert loss.dtype == torch.float32
        assert all(p.dtype == p.grad.dtype == torch.float32 for p in model.parameters())
    cosine = torch.nn.functional.cosine_similarity(grads[False], grads[True], dim=0)
    assert cosine > 0.999, cosine
    with torch.no_grad():
        fp32_loss = model(idx, targets)
        with _bf16():
            bf16_loss = model(idx, targets)
    torch.testing.assert_close(bf16_loss, fp32_loss, rtol=5e-3, atol=0)


def test_bf16_head_loss_matches_fp32_to_bf16_rounding():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(2, 40, 16, generator=gen)
    w = torch.randn(2, 97, 16, generator=gen) * 0.5
    targets = torch.randint(0, 97, (2, 40), generator=gen)
    exact = per_model_loss(torch.bmm(h, w.transpose(1, 2)), targets)
    h16 = h.bfloat16().requires_grad_()
    loss = head_loss(h16, w, targets, chunk_bytes=4 * 2 * 97 * 7)  # chunks of 7 rows
    torch.testing.assert_close(loss, exact, rtol=2e-2, atol=0)
    loss.sum().backward()
    assert h16.grad.dtype == torch.bfloat16


def test_head_loss_is_exact_when_the_targets_probability_underflows():
    h = torch.ones(1, 2, 1)
    w = torch.tensor([[[100.0], [-100.0], [0.0]]])  # logits 100, -100, 0: p(target 1) ~ e^-200 = 0 in fp32
    targets = torch.tensor([[1, 0]])
    loss = head_loss(h, w, targets)
    expected = per_model_loss(torch.bmm(h, w.transpose(1, 2)).double(), targets).float()
    assert torch.isfinite(loss).all()
    torch.testing.assert_close(loss, expected)


def test_split_heads_rotates_as_rotate_half_and_has_the_right_gradient():
    cfg = ModelConfig(n_layer=1, d_model=24, n_head=2, vocab_size=11, max_seq_len=16, rotary_pct=0.5)
    H, hs, r, T = cfg.n_head, cfg.head_dim, cfg.rotary_dims, 5
    model = GPTNeoX(cfg, seeds=[0]).double()
    cos, sin = model.rotary_cos[:T], model.rotary_sin[:T]  # the buffers hold (cos, cos), (-sin, sin)
    rope = _RotaryTables(cfg, cos, sin, torch.float64)
    qkv = torch.randn(1, 2, T, 3 * cfg.d_model, dtype=torch.float64, requires_grad=True)
    q, k, v = _SplitHeads.apply(qkv, rope)
    x = qkv.detach().view(1, 2, T, H, 3, hs).transpose(2, 3)  # (K, B, H, T, 3, hs)
    plain_sin = torch.cat((sin[:, r // 2:], sin[:, r // 2:]), -1)
    for got, part in ((q, 0), (k, 1)):
        rot = x[..., part, :r]
        half = torch.cat((-rot[..., r // 2:], rot[..., :r // 2]), -1)  # rotate_half
        expected = x[..., part, :].clone()
        expected[..., :r] = rot * cos + half * plain_sin
        torch.testing.assert_close(got, expected.reshape(2, H, T, hs))
    torch.testing.assert_close(v, x[..., 2, :].reshape(2, H, T, hs))
    torch.autograd.gradcheck(lambda t: _SplitHeads.apply(t, rope), (qkv,))


def _model_and_grads(seed_tokens):
    model = GPTNeoX(TINY, seeds=[5, 6])
    idx, targets = _tokens(2, 2, 20, seed=seed_tokens), _tokens(2, 2, 20, seed=seed_tokens + 1)
    return model, idx, targets


def test_flat_optimiser_equals_its_per_tensor_fallback_on_a_stack():
    flat_model, idx, targets = _model_and_grads(7)
    loose_model, _, _ = _model_and_grads(7)
    cfg = OptimConfig(lr=1e-2, weight_decay=0.1, grad_clip=0.5)
    flat, loose = StackedAdamW(flat_model.parameters(), 2, cfg), StackedAdamW(loose_model.parameters(), 2, cfg)
    assert flat_model.embed_in.data_ptr() == flat.flat_param.data_ptr()  # the first column block
    lrs = torch.tensor([1e-2, 3e-3])
    for _ in range(4):
        # Start each step from the same state: Adam turns last-bit differences in gradients that
        # should be zero (the key bias's) into +-lr steps, which would hide what is compared here.
        with torch.no_grad():
            for p, q in zip(flat_model.parameters(), loose_model.parameters()):
                q.copy_(p)
            for mine, theirs in zip(flat.exp_avg + flat.exp_avg_sq, loose.exp_avg + loose.exp_avg_sq):
                theirs.copy_(mine)
        flat_model(idx, targets).sum().backward()
        loose_model(idx, targets).sum().backward()
        for p in loose_model.parameters():  # a gradient replaced by hand: the optimiser must notice
            p.grad = p.grad.clone()
        assert flat._flat() and not loose._flat()
        torch.testing.assert_close(flat.step(lrs), loose.step(lrs), rtol=1e-5, atol=0)
        flat.zero_grad()
        loose.zero_grad()
        for (name, p), q in zip(flat_model.named_parameters(), loose_model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=name)


def test_optimiser_state_lists_keep_the_parameters_order():
    model = GPTNeoX(TINY, seeds=[1])
    opt = StackedAdamW(model.parameters(), 1, OptimConfig())
    assert [p.shape for p in opt.params] == [p.shape for p in model.parameters()]
    assert [m.shape for m in opt.exp_avg] == [p.shape for p in model.parameters()]
    with pytest.raises(ValueError, match=r"lrs must have shape \(1,\)"):
        opt.step(torch.tensor([1e-3, 1e-3]))


def test_training_flops_per_token_equals_a_hand_count():
    # tiny-50k (d 32, d_ff 128, 4 layers, V 2048) on 191 positions, forward per token:
    # per layer 2 (4 * 32^2 + 2 * 32 * 128) = 24,576 and attention 2 * 32 * 192 = 12,288, so 4 x 36,864
    # = 147,456; head 2 * 2048 * 32 = 131,072; forward 278,528; training 3x = 835,584.
    assert training_flops_per_token(get_preset("tiny-50k"), 191) == 835_584
    # pythia-70m (d 512, d_ff 2048, 6 layers, V 50,304) on 2048 positions: per layer
    # 2 (4 * 512^2 + 2 * 512 * 2048) = 6,291,456 + 2 * 512 * 2049 = 2,098,176 -> 6 x 8,389,632 =
    # 50,337,792; head 2 * 50,304 * 512 = 51,511,296; forward 101,849,088; training 305,547,264.
    assert training_flops_per_token(get_preset("pythia-70m"), 2048) == 305_547_264
    with pytest.raises(ValueError, match="seq_len must be >= 1"):
        training_flops_per_token(get_preset("tiny-50k"), 0)


@pytest.mark.slow
def test_gpu_check_cpu_mode_runs_every_step(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable)
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "cpu_smoke.json").read_text())
    assert {name: r["status"] for name, r in report["results"].items()} == {
        "smoke": "ok", "matmul_peak": "ok", "throughput": "ok", "stacking": "ok", "sweep": "ok"}
    swept = report["results"]["sweep"]
    added = [json.loads(line) for line in (tmp_path / "sweep_new_rows.jsonl").read_text().splitlines()]
    assert swept["outcome"] == "exit 0" and swept["rows_added"] == len(added) > 0
    assert len(swept["runs_finished"]) == 3 and {r["run_id"] for r in added} == set(swept["runs_finished"])
    # Resumed from a table that has them, the sweep trains and adds nothing.
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    again = gpu_check.sweep(gpu_check.Check(torch.device("cpu"), cpu_smoke=True, budget_s=300),
                            tmp_path / "again", tmp_path / "sweep_new_rows.jsonl", 1)
    assert again["outcome"] == "exit 0" and again["rows_added"] == 0 and again["runs_finished"] == []
    assert report["results"]["smoke"]["rows"] >= 1 and report["results"]["smoke"]["precision"] == "bf16"
    assert {(r["preset"], r["compiled"]) for r in report["results"]["throughput"]["rows"]} == {
        ("tiny-50k", False), ("tiny-50k", True)}
    text = (tmp_path / "cpu_smoke.md").read_text()
    assert "bf16 training throughput" in text and "stacked models against one" in text


@pytest.mark.slow
def test_gpu_check_sweep_step_stops_its_sweep_when_the_budget_is_spent(tmp_path):
    """The sweep step kills its subprocess group at the budget and still writes what was added (nothing here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    check = gpu_check.Check(torch.device("cpu"), cpu_smoke=True, budget_s=0.5)  # less than python + torch start
    started = time.perf_counter()
    out = gpu_check.sweep(check, tmp_path, None, 1)
    assert out["outcome"] == "stopped when the budget was spent" and out["rows_added"] == 0
    assert time.perf_counter() - started < 30
    assert (tmp_path / "sweep_new_rows.jsonl").read_text() == ""
