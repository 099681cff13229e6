"""Threshold popularity across a model family (arXiv 2505.18091, Section 5, Fig. 7b).

Input: a PopQA-style table, one row per (model, question): the model's size in parameters, the
question's popularity (e.g. Wikipedia page views, a proxy for how often the fact appears in
pre-training data) and whether the model answered it correctly. For each model the threshold
popularity is the paper's Algorithm 1 (``capacity.fit.threshold_popularity``); across models the
theory predicts a power law in size, so log threshold is fitted against log params.

Intervals are bootstrap percentile intervals over questions: each replicate resamples every
model's questions with replacement and recomputes every threshold, and the slope of that
replicate is fitted to the replicate's thresholds. The slope's interval therefore carries the
per-question noise of every threshold (a t-interval over a handful of models would not).

Thresholds the algorithm cannot locate are censored and left out of the slope: a model that never
met the target (the algorithm's fallback returns the smallest popularity), and a model whose
threshold is its smallest popularity (the threshold lies at or below everything measured).

Only numpy and the standard library: importable without torch.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capacity.fit import threshold_popularity

COLUMNS = ("model", "params", "popularity", "correct")
DEFAULT_TARGET = 0.6  # the paper's target accuracy for PopQA (Section 5)
DEFAULT_N_FAIL = 5  # the paper's N_fail


@dataclass(frozen=True)
class PopularityTable:
    """Per-question results of several models, grouped by model in first-appearance order."""

    models: tuple[str, ...]
    params: dict[str, float]
    popularity: dict[str, np.ndarray]
    correct: dict[str, np.ndarray]

    @property
    def n_questions(self) -> dict[str, int]:
        return {m: int(self.popularity[m].size) for m in self.models}


def _number(path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{path}:{line}: {column} must be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{path}:{line}: {column} must be finite, got {text!r}")
    return value


def read_popularity_csv(path: str | Path) -> PopularityTable:
    """Read and validate a CSV with (at least) the columns model,params,popularity,correct.

    params and popularity must be > 0, correct 0 or 1, and each model has one params value.
    Extra columns are ignored. Any problem raises ValueError naming the file and line.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows: dict[str, tuple[list[float], list[float]]] = {}
    params: dict[str, float] = {}
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}:1: not a readable CSV ({exc})") from None
        if not header:
            raise ValueError(f"{path}: empty file; expected the header {','.join(COLUMNS)}")
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}:1: missing column(s) {', '.join(missing)}; the header must include "
                             f"{','.join(COLUMNS)}, got {','.join(str(h) for h in header)}")
        try:
            for record in reader:
                line = reader.line_num
                if None in record or any(record[c] is None for c in COLUMNS):
                    raise ValueError(f"{path}:{line}: expected {len(header)} fields")
                model = record["model"].strip()
                if not model:
                    raise ValueError(f"{path}:{line}: model must be a non-empty name")
                size = _number(path, line, "params", record["params"])
                pop = _number(path, line, "popularity", record["popularity"])
                ok = _number(path, line, "correct", record["correct"])
                if size <= 0:
                    raise ValueError(f"{path}:{line}: params must be > 0, got {record['params']!r}")
                if pop <= 0:
                    raise ValueError(f"{path}:{line}: popularity must be > 0, got {record['popularity']!r}")
                if ok not in (0.0, 1.0):
                    raise ValueError(f"{path}:{line}: correct must be 0 or 1, got {record['correct']!r}")
                if params.setdefault(model, size) != size:
                    raise ValueError(f"{path}:{line}: model {model!r} has params {size:g} here but "
                                     f"{params[model]:g} on an earlier line")
                pops, oks = rows.setdefault(model, ([], []))
                pops.append(pop)
                oks.append(ok)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}:{reader.line_num}: not a readable CSV ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    return PopularityTable(models=tuple(rows), params=params,
                           popularity={m: np.array(p) for m, (p, _) in rows.items()},
                           correct={m: np.array(c) for m, (_, c) in rows.items()})


@dataclass(frozen=True)
class ModelThreshold:
    model: str
    params: float
    threshold: float
    interval: tuple[float, float]  # bootstrap percentile interval
    target_met: bool
    censored: bool  # not located: left out of the slope
    n_questions: int
    accuracy: float  # over all of the model's questions


@dataclass(frozen=True)
class FamilyThresholds:
    """Per-model thresholds and the slope of log threshold against log params (natural logs).

    ``slope`` and ``slope_interval`` are None when fewer than two located thresholds with distinct
    params exist; ``slope_note`` then says why.
    """

    models: tuple[ModelThreshold, ...]
    slope: float | None
    intercept: float | None
    slope_interval: tuple[float, float] | None
    slope_note: str
    target: float
    n_fail: int
    confidence: float
    n_bootstrap: int

    def to_dict(self) -> dict:
        return {
            "models": [{"model": m.model, "params": m.params, "threshold": m.threshold, "interval": list(m.interval),
                        "target_met": m.target_met, "censored": m.censored, "n_questions": m.n_questions,
                        "accuracy": m.accuracy} for m in self.models],
            "slope": self.slope,
            "slope_interval": None if self.slope_interval is None else list(self.slope_interval),
            "intercept": self.intercept,
            "slope_note": self.slope_note,
            "target": self.target,
            "n_fail": self.n_fail,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
        }


def _threshold(pop: np.ndarray, ok: np.ndarray, target: float, n_fail: int) -> tuple[float, bool, bool]:
    """(threshold, target met, censored) of one model by Algorithm 1."""
    result = threshold_popularity(pop, ok, target=target, max_failures=n_fail)
    censored = bool(not result.target_met or result.threshold_popularity <= pop.min())
    return result.threshold_popularity, result.target_met, censored


def _slope(log_x: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_x, log_y, 1)
    return float(slope), float(intercept)


def family_thresholds(table: PopularityTable, *, target: float = DEFAULT_TARGET, n_fail: int = DEFAULT_N_FAIL,
                      n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> FamilyThresholds:
    """Algorithm 1 per model, bootstrap intervals, and the log-log slope against params."""
    if not 0.0 < float(target) <= 1.0:
        raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
    if isinstance(n_fail, bool) or not isinstance(n_fail, (int, np.integer)) or n_fail < 0:
        raise ValueError(f"n_fail must be an integer >= 0, got {n_fail!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    rng = np.random.default_rng(seed)
    names = table.models
    point = [_threshold(table.popularity[m], table.correct[m], target, n_fail) for m in names]
    boot = np.empty((n_bootstrap, len(names)))
    for b in range(n_bootstrap):
        for j, m in enumerate(names):
            pop, ok = table.popularity[m], table.correct[m]
            idx = rng.integers(0, pop.size, size=pop.size)
            boot[b, j] = threshold_popularity(pop[idx], ok[idx], target=target, max_failures=n_fail).threshold_popularity
    tail = 50.0 * (1.0 - confidence)
    lows, highs = np.percentile(boot, [tail, 100.0 - tail], axis=0)
    models = tuple(ModelThreshold(m, table.params[m], t, (float(lo), float(hi)), met, cens,
                                  int(table.popularity[m].size), float(table.correct[m].mean()))
                   for m, (t, met, cens), lo, hi in zip(names, point, lows, highs))

    located = [j for j, m in enumerate(models) if not m.censored]
    log_params = np.log([table.params[m] for m in names])
    slope = intercept = interval = None
    censored = [m.model for m in models if m.censored]
    note = f"censored (left out of the slope): {', '.join(censored)}" if censored else ""
    if len({log_params[j] for j in located}) < 2:
        note = ("no slope: fewer than two models of distinct size have a located threshold"
                + (f"; {note}" if note else ""))
    else:
        x = log_params[located]
        slope, intercept = _slope(x, np.log([models[j].threshold for j in located]))
        slopes = np.array([_slope(x, np.log(boot[b, located]))[0] for b in range(n_bootstrap)])
        interval = tuple(float(v) for v in np.percentile(slopes, [tail, 100.0 - tail]))
    return FamilyThresholds(models, slope, intercept, interval, note, float(target), int(n_fail), float(confidence),
                            int(n_bootstrap))


def synthetic_family(params, *, slope: float, threshold_at_first: float, questions: int = 4000,
                     popularity_min: float = 10.0, tail_index: float = 0.5, sharpness: float = 4.0,
                     accuracy_low: float = 0.05, accuracy_high: float = 0.95, seed: int = 0) -> dict[str, np.ndarray]:
    """A synthetic PopQA-style table whose Algorithm-1 threshold follows params^slope exactly in expectation.

    Popularity is Pareto(``tail_index``) above ``popularity_min`` (scale-free, like page views); model
    k answers a question of popularity p correctly with probability
    a_lo + (a_hi - a_lo) sigmoid(sharpness log(p / T_k)),  T_k = threshold_at_first (N_k / N_1)^slope.
    With a scale-free popularity law the cumulative accuracy above x depends on x / T_k alone, so the
    population value of Algorithm 1's threshold is a fixed multiple of T_k and log threshold against
    log N has slope ``slope`` exactly (finite samples add noise). Returns columns as arrays.
    """
    sizes = np.asarray(params, dtype=float)
    if sizes.ndim != 1 or sizes.size < 1 or np.any(~np.isfinite(sizes)) or np.any(sizes <= 0):
        raise ValueError(f"params must be a non-empty list of numbers > 0, got {params!r}")
    if questions < 1 or popularity_min <= 0 or tail_index <= 0 or threshold_at_first <= 0:
        raise ValueError("questions, popularity_min, tail_index and threshold_at_first must be > 0, got "
                         f"{questions!r}, {popularity_min!r}, {tail_index!r}, {threshold_at_first!r}")
    if not 0.0 <= accuracy_low < accuracy_high <= 1.0:
        raise ValueError(f"need 0 <= accuracy_low < accuracy_high <= 1, got {accuracy_low!r}, {accuracy_high!r}")
    rng = np.random.default_rng(seed)
    model, size, pop, correct = [], [], [], []
    for k, n in enumerate(sizes):
        p = popularity_min * (1.0 + rng.pareto(tail_index, size=questions))
        threshold = threshold_at_first * (n / sizes[0]) ** slope
        prob = accuracy_low + (accuracy_high - accuracy_low) / (1.0 + (p / threshold) ** -sharpness)
        model += [f"model-{k + 1}"] * questions
        size += [n] * questions
        pop.append(np.round(p, 3))
        correct.append((rng.random(questions) < prob).astype(int))
    return {"model": np.array(model), "params": np.array(size), "popularity": np.concatenate(pop),
            "correct": np.concatenate(correct)}


def write_popularity_csv(columns: dict[str, np.ndarray], path: str | Path) -> None:
    """Write the four columns as a CSV readable by ``read_popularity_csv``."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in zip(*(columns[c] for c in COLUMNS)):
            writer.writerow([row[0], f"{row[1]:.6g}", f"{row[2]:.6g}", int(row[3])])
