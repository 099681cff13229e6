"""Boundary checks that raise ValueError naming the bad value and the allowed range.

Two families, one vocabulary. The ``check_*`` functions on arrays (``check_positive``, ``check_open_unit``,
...) serve the theory's formulas: ``"<name> must be > 0, got <value>"``. The field checks (``require``,
``check_range``, ``check_choice``) serve configurations and commands (``empirical.config``, the command
lines) in the command-line convention's form ``"<name> <value>: <what is allowed>"``, with the range
worded by ``capacity.cli_common.allowed_range`` ("must be an integer in [0, 4294967295]"), so a
config error reads the same in a Python traceback, in a ``--config`` file and after a flag.
"""
from __future__ import annotations

import json
import math
import numbers

import numpy as np

from capacity.cli_common import allowed_range


def shown(value) -> str:
    """A value as JSON would write it (``"ten"``, ``0.5``, ``true``), the form a config file holds."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def require(condition: bool, name: str, value, allowed: str) -> None:
    """Raise ``ValueError("<name> <value>: <allowed>")`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{name} {shown(value)}: {allowed}")


def in_range(value, low=None, high=None, *, low_open: bool = False, high_open: bool = False,
             integer: bool = False) -> bool:
    """A finite real (bool excluded; numpy scalars included) in the interval, whole if ``integer``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return False
    if integer and not float(value).is_integer():
        return False
    if low is not None and (value < low or (low_open and value == low)):
        return False
    return high is None or not (value > high or (high_open and value == high))


def check_range(name: str, value, low=None, high=None, *, low_open: bool = False, high_open: bool = False,
                integer: bool = False, why: str = "") -> None:
    """``value`` in the interval (open or closed at each end; None: unbounded), else a ValueError in the
    convention's form; ``why`` adds the reason in brackets."""
    allowed = allowed_range(low, high, low_open=low_open, high_open=high_open, integer=integer)
    require(in_range(value, low, high, low_open=low_open, high_open=high_open, integer=integer), name, value,
            allowed + (f" ({why})" if why else ""))


def check_choice(name: str, value, options) -> None:
    """``value`` one of ``options``, else a ValueError listing them."""
    require(value in tuple(options), name, value, f"must be one of {', '.join(map(str, options))}")


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
