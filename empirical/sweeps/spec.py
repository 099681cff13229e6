"""Sweeps as data: a sweep is a named list of runs, each a TrainConfig with a role tag.

A sweep is written as a function returning a ``Sweep`` (see ``empirical.sweeps.named``): a base config
and axes, expanded with ``grid``, plus derived runs such as exposure-matched controls. Nothing here
trains; ``empirical.sweeps.runner`` executes sweeps.

    base = TrainConfig(model="tiny-50k", data=DataConfig(people=500))
    runs = grid(base, {"data.mixing_ratio": [0.1, 0.2, 0.4], "seed": [0, 1]})
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from empirical.config import TrainConfig

ROLES = ("main", "exposure_matched", "horizon", "reference")


@dataclass(frozen=True)
class Run:
    """One training run of a sweep. ``role`` says why it is there (a results-table column):
    "main" (a grid point), "exposure_matched" (a lower ratio trained proportionally longer, so its
    exposures per person equal a main run's), "horizon" (a low-ratio run trained longer,
    to test that training longer barely helps below the critical ratio), "reference"."""

    config: TrainConfig
    role: str = "main"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"run role must be one of {ROLES}, got {self.role!r}")

    @property
    def run_id(self) -> str:
        return self.config.run_id


@dataclass(frozen=True)
class Sweep:
    name: str
    runs: tuple[Run, ...]
    description: str = ""
    meta: Mapping = field(default_factory=dict)  # what the figures need beyond the rows (e.g. target accuracy)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError(f"sweep {self.name!r} has no runs")
        object.__setattr__(self, "runs", tuple(_deduplicate(self.runs)))

    def __len__(self) -> int:
        return len(self.runs)


def _deduplicate(runs: Iterable[Run]) -> list[Run]:
    """The same config twice is one run (its id is its config's hash); the first role wins."""
    seen: dict[str, Run] = {}
    for run in runs:
        seen.setdefault(run.run_id, run)
    return list(seen.values())


def grid(base: TrainConfig, axes: Mapping[str, Sequence], role: str = "main") -> list[Run]:
    """The product of the axes (dotted config keys -> values) applied to the base config."""
    for key, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"sweep axis {key!r} must be a non-empty list of values, got {values!r}")
    keys = list(axes)
    return [Run(base.replace(**dict(zip(keys, values))), role) for values in itertools.product(*axes.values())]


def round_tokens(config: TrainConfig, tokens: float) -> int:
    """A token budget rounded to whole optimiser steps (at least one)."""
    return max(1, round(tokens / config.tokens_per_step)) * config.tokens_per_step


def exposure_matched(run: Run, factor: float) -> Run:
    """The exposure-matched control: ratio r / factor trained factor times longer, so each person is seen
    as often as in ``run``; at equal exposures, the capacity effect shows as lower accuracy."""
    c = run.config
    if not factor > 1:
        raise ValueError(f"exposure-matching factor must be > 1, got {factor!r}")
    tokens = round_tokens(c, c.tokens * factor)
    return Run(c.replace(**{"data.mixing_ratio": c.data.mixing_ratio / factor, "tokens": tokens,
                            "eval.first_tokens": min(c.eval.first_tokens, tokens)}), "exposure_matched")


def horizon(run: Run, factor: float) -> Run:
    """The same ratio trained ``factor`` times longer (the paper's Fig. 3 and 4)."""
    c = run.config
    if not factor > 1:
        raise ValueError(f"horizon factor must be > 1, got {factor!r}")
    return Run(c.replace(tokens=round_tokens(c, c.tokens * factor)), "horizon")
