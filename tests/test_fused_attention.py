"""The C++ causal attention kernel for CPU training against PyTorch's attention, and its fallbacks.
The first test builds the kernel (about a minute on a fresh machine, cached afterwards)."""
import pytest
import torch
import torch.nn.functional as F

from empirical.model import fused_attention
from empirical.model.gptneox import GPTNeoX
from empirical.model.presets import get_preset


def _qkv(shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, requires_grad=True) for _ in range(3)]


@pytest.fixture
def kernel(monkeypatch):
    monkeypatch.setenv(fused_attention.ENV, "fused")  # a failed build fails the test, never falls back
    if not fused_attention.usable(torch.zeros(1, 1, 16)):
        pytest.fail("the kernel should be usable for fp32 CPU tensors at head_dim 16")


@pytest.mark.parametrize("head_dim", fused_attention.HEAD_DIMS)
@pytest.mark.parametrize("tokens", [1, 7, 16, 40, 64, 191])
def test_kernel_matches_pytorch_attention_forward_and_backward(kernel, head_dim, tokens):
    q, k, v = _qkv((3, 2, tokens, head_dim))
    grad = torch.randn(3, 2, tokens, head_dim, generator=torch.Generator().manual_seed(1))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ref_grads = torch.autograd.grad(ref, (q, k, v), grad)
    out = fused_attention.causal_attention(q, k, v)
    grads = torch.autograd.grad(out, (q, k, v), grad)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(grads, ref_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_kernel_handles_large_scores_without_overflow(kernel):
    q, k, v = _qkv((1, 1, 64, 16))
    with torch.no_grad():
        q.mul_(40), k.mul_(40)  # scores of several thousand: exp overflows without the max subtracted
    out = fused_attention.causal_attention(q, k, v)
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ref_grads = torch.autograd.grad(ref.sum(), (q, k, v))
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    for mine, theirs in zip(grads, ref_grads):  # both are fp32 roundings of large-score gradients
        torch.testing.assert_close(mine, theirs, rtol=1e-2, atol=1e-2)


def test_kernel_splits_sequences_over_threads(kernel):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        q, k, v = _qkv((7, 33, 16))  # an odd number of sequences over two threads
        out = fused_attention.causal_attention(q, k, v)
        grads = torch.autograd.grad(out.sum(), (q, k, v))
    finally:
        torch.set_num_threads(threads)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(grads, torch.autograd.grad(ref.sum(), (q, k, v))):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_double_backward_is_refused_not_silently_zero(kernel):
    q, k, v = _qkv((1, 5, 16))
    (gq,) = torch.autograd.grad(fused_attention.causal_attention(q, k, v).sum(), (q,), create_graph=True)
    with pytest.raises(RuntimeError):
        gq.sum().backward()


def test_the_model_trains_the_same_with_either_kernel(monkeypatch, kernel):
    cfg = get_preset("tiny-50k").replace(max_seq_len=64)
    idx = torch.randint(0, cfg.vocab_size, (2, 3, 40), generator=torch.Generator().manual_seed(2))
    targets = torch.randint(0, cfg.vocab_size, (2, 3, 40), generator=torch.Generator().manual_seed(3))
    results, calls = {}, []
    apply = fused_attention._CausalAttention.apply
    monkeypatch.setattr(fused_attention._CausalAttention, "apply", lambda *a: calls.append(1) or apply(*a))
    for name in ("fused", "sdpa"):
        monkeypatch.setenv(fused_attention.ENV, name)
        model = GPTNeoX(cfg, seeds=[0, 1])
        losses = model(idx, targets)
        losses.sum().backward()
        results[name] = (losses.detach(), [p.grad.clone() for p in model.parameters()])
    assert len(calls) == cfg.n_layer  # the fused pass went through the kernel, once per layer
    torch.testing.assert_close(results["fused"][0], results["sdpa"][0], rtol=1e-6, atol=1e-6)
    for a, b in zip(results["fused"][1], results["sdpa"][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_kernel_is_only_used_where_it_applies(monkeypatch, kernel):
    assert not fused_attention.usable(torch.zeros(1, 4, 16, dtype=torch.bfloat16))
    assert not fused_attention.usable(torch.zeros(1, 4, 24))  # head_dim not compiled
    assert not fused_attention.usable(torch.zeros(1, 4, 8))
    assert fused_attention.kernel_name("cpu", 16) == "fused-cpu"
    assert fused_attention.kernel_name("cpu", 24) == "sdpa"
    monkeypatch.setenv(fused_attention.ENV, "sdpa")
    assert not fused_attention.usable(torch.zeros(1, 4, 16))
    assert fused_attention.kernel_name("cpu", 16) == "sdpa"


def test_bad_inputs_are_named(monkeypatch):
    monkeypatch.setenv(fused_attention.ENV, "fast")
    with pytest.raises(ValueError, match=r"PHASEMIX_CPU_ATTENTION='fast'; allowed: auto, fused, sdpa"):
        fused_attention.choice()
    with pytest.raises(ValueError, match="one shape"):
        fused_attention.causal_attention(torch.zeros(1, 4, 16), torch.zeros(1, 5, 16), torch.zeros(1, 4, 16))


def test_a_kernel_that_does_not_build_falls_back_with_a_warning(monkeypatch, tmp_path):
    broken = tmp_path / "causal_attention.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.setattr(fused_attention, "SOURCE", broken)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "build"))  # keep the real build's cache apart
    fused_attention._extension.cache_clear()
    try:
        monkeypatch.setenv(fused_attention.ENV, "auto")
        with pytest.warns(RuntimeWarning, match="did not build"):
            assert not fused_attention.usable(torch.zeros(1, 4, 16))
        fused_attention._extension.cache_clear()
        monkeypatch.setenv(fused_attention.ENV, "fused")
        with pytest.raises(RuntimeError, match="PHASEMIX_CPU_ATTENTION=fused, but the C.. attention kernel did not build"):
            fused_attention.usable(torch.zeros(1, 4, 16))
    finally:
        fused_attention._extension.cache_clear()
