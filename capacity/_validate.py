"""Boundary checks that raise ValueError naming the bad value and the allowed range."""
from __future__ import annotations

import numpy as np


def _bad(values: np.ndarray, mask: np.ndarray):
    return float(values[mask].flat[0]) if values.ndim else float(values.item())


def check_finite(name: str, value) -> None:
    values = np.asarray(value, dtype=float)
    mask = ~np.isfinite(values)
    if np.any(mask):
        raise ValueError(f"{name} must be a finite number, got {_bad(values, mask)!r}")


def check_positive(name: str, value) -> None:
    check_finite(name, value)
    values = np.asarray(value, dtype=float)
    mask = values <= 0
    if np.any(mask):
        raise ValueError(f"{name} must be > 0, got {_bad(values, mask)!r}")


def check_nonnegative(name: str, value) -> None:
    check_finite(name, value)
    values = np.asarray(value, dtype=float)
    mask = values < 0
    if np.any(mask):
        raise ValueError(f"{name} must be >= 0, got {_bad(values, mask)!r}")


def check_open_unit(name: str, value) -> None:
    """Value(s) in the open interval (0, 1), e.g. a mixing ratio in Theorem 4.3."""
    check_finite(name, value)
    values = np.asarray(value, dtype=float)
    mask = (values <= 0) | (values >= 1)
    if np.any(mask):
        raise ValueError(f"{name} must be in (0, 1), got {_bad(values, mask)!r}")


def check_unit_interval(name: str, value, *, include_zero: bool = False) -> None:
    """Value(s) in (0, 1] (or [0, 1] with include_zero)."""
    check_finite(name, value)
    values = np.asarray(value, dtype=float)
    mask = (values < 0 if include_zero else values <= 0) | (values > 1)
    if np.any(mask):
        low = "[0" if include_zero else "(0"
        raise ValueError(f"{name} must be in {low}, 1], got {_bad(values, mask)!r}")
