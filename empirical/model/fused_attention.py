"""Causal attention for CPU training at small head dims: a C++ kernel built on first use.

At head_dim 16 and a few hundred tokens PyTorch's fused CPU attention (flash attention) spends most
of its time on blocking overhead; the kernel in ``csrc/causal_attention.cpp`` keeps four query rows'
scores against sixteen keys in vector registers and only the softmax's log-sum-exp for the backward
pass (equations in its header): 2.6-3.0x PyTorch's speed, forward and backward, at the small presets'
training shapes on one thread (``benchmarks/bench_attention.py``). It
computes the same function as ``F.scaled_dot_product_attention(q, k, v, is_causal=True)`` to fp32
rounding (tested against it), so a run's id does not depend on which kernel ran.

``PHASEMIX_CPU_ATTENTION`` picks the kernel: ``auto`` (the default) builds the C++ kernel once per
machine with ``torch.utils.cpp_extension`` (needs a C++ compiler and ninja; about a minute, cached
under ``TORCH_EXTENSIONS_DIR``) and falls back to PyTorch's attention with a warning if that fails;
``fused`` requires it; ``sdpa`` never builds it.
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from pathlib import Path

import torch

ENV = "PHASEMIX_CPU_ATTENTION"
CHOICES = ("auto", "fused", "sdpa")
HEAD_DIMS = (16, 32, 64)  # the kernel's compiled head dims
SOURCE = Path(__file__).with_name("csrc") / "causal_attention.cpp"


def choice() -> str:
    """The kernel asked for by ``PHASEMIX_CPU_ATTENTION`` (``auto`` when unset)."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV}={value!r}; allowed: {', '.join(CHOICES)}")
    return value


def _cpu_tag() -> str:
    """A short hash of this CPU's model and instruction-set flags: the build uses -march=native, so a
    cache shared between machines (a cluster's home folder) must not hand one CPU another's binary."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        text = "\n".join(sorted({ln for ln in lines if ln.startswith(("flags", "model name", "Features", "CPU part"))}))
    except OSError:
        import platform
        text = platform.processor() + platform.machine()
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=None)
def _extension():
    """The built extension module, or None (with one warning) when it cannot be built."""
    from torch.utils import cpp_extension

    # -ffast-math whole (GCC drops glibc's vector expf unless every part of it is on) is safe here:
    # the kernel never forms an infinity, each row's max being taken from its own first score.
    name = f"phasemix_causal_attention_{torch.backends.cpu.get_cpu_capability().lower()}_{_cpu_tag()}"
    flags = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
    path = os.environ.get("PATH")
    try:
        _put_ninja_on_path()
        return cpp_extension.load(name, [str(SOURCE)], extra_cflags=flags, verbose=False)
    except Exception as error:  # a missing compiler or ninja shows up as several exception types
        if choice() == "fused":
            raise RuntimeError(f"{ENV}=fused, but the C++ attention kernel did not build: {error}") from error
        warnings.warn(f"the C++ attention kernel did not build ({type(error).__name__}: {error}); training on "
                      f"CPU uses PyTorch's attention instead (set {ENV}=sdpa to skip the build)", RuntimeWarning)
        return None
    finally:
        if path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = path


def _put_ninja_on_path() -> None:
    """cpp_extension runs ``ninja`` from PATH; the pip package's binary sits beside a venv's python,
    which is not on PATH when the venv is not activated."""
    try:
        import ninja
    except ImportError:
        return
    path = os.environ.get("PATH", "")
    if ninja.BIN_DIR not in path.split(os.pathsep):
        os.environ["PATH"] = ninja.BIN_DIR + (os.pathsep + path if path else "")


def usable(q: torch.Tensor) -> bool:
    """Whether ``causal_attention`` takes over for these queries: fp32 on CPU, a compiled head dim,
    eager mode (torch.compile traces PyTorch's own attention), the kernel asked for and built."""
    asked = choice()
    if (q.device.type != "cpu" or q.dtype != torch.float32 or q.shape[-1] not in HEAD_DIMS
            or torch.compiler.is_compiling() or asked == "sdpa"):
        return False
    if _extension() is None:
        if asked == "fused":  # an earlier failed build under "auto" was cached
            raise RuntimeError(f"{ENV}=fused, but the C++ attention kernel did not build in this process")
        return False
    return True


def kernel_name(device: torch.device | str, head_dim: int) -> str:
    """Which attention a model of this head_dim computes with in fp32 on ``device``: "fused-cpu" (the
    C++ kernel) or "sdpa" (PyTorch's); recorded in each results row."""
    if torch.device(device).type != "cpu":
        return "sdpa"
    return "fused-cpu" if usable(torch.empty(0, 1, head_dim)) else "sdpa"


class _CausalAttention(torch.autograd.Function):
    """First derivatives only: ``backward`` is not itself differentiable (double backward raises)."""

    @staticmethod
    def forward(ctx, q, k, v):
        scale = q.shape[-1] ** -0.5
        out, lse = _extension().forward(q, k, v, scale)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        q, k, v, out, lse = ctx.saved_tensors
        return tuple(_extension().backward(q, k, v, out, grad, lse, ctx.scale))


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(hs) + causal mask) v`` for (..., T, hs) fp32 CPU tensors, with the
    C++ kernel (``usable(q)`` must hold); the same as ``scaled_dot_product_attention(..., is_causal=True)``."""
    if q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"q, k, v must have one shape; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    lead, (T, hs) = q.shape[:-2], q.shape[-2:]
    flat = [t.reshape(math.prod(lead), T, hs).contiguous() for t in (q, k, v)]
    return _CausalAttention.apply(*flat).view(*lead, T, hs)
