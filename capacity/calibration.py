"""The runs a prediction is calibrated on, and what is measured from them (no torch, no pandas).

A results table (docs/RESULTS.md) has one row per (run, evaluation point). Only a run's *final*
row is a measurement of its budget: earlier rows are taken during the stable phase of a
warmup-stable-decay schedule, before the cooldown in which much of the knowledge is consolidated,
so they are not comparable with the final rows of shorter runs. ``load_runs`` keeps the final row
of each uniform-SynBio run without subsampling or compact mixing (rho = 1, tau = 0).

From those runs:

* ``measure_critical_ratios``: r_c per (model, budget) at an accuracy level, with its bootstrap
  interval over people and seeds (``capacity.critical``), or the bound the sweep gives when its
  accuracies do not bracket the level;
* ``fit_web_law``: the web loss L(M, r) = C + A M^-alpha + B (-log(1 - r)) in nats per token at one
  budget, over non-embedding parameters M, each size weighted equally however many runs it has. The term in r absorbs the rise of the web loss with the
  knowledge share (fewer web tokens), so every ratio's run informs the law instead of only one, and
  alpha is only required to be > 0 (the thresholds of arXiv 2505.18091, Theorem 4.3, need nothing
  more; alpha < 1 is the paper's range, not a condition of the thresholds).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from capacity.critical import CriticalEstimate, critical_ratio


@dataclass(frozen=True)
class RunRecord:
    """One training run's final evaluation, as a prediction uses it."""

    run_id: str
    model: str
    params: float  # non-embedding parameters
    tokens: float  # training budget
    ratio: float  # mixing ratio r
    correct: float  # exact-match items right
    total: float  # items evaluated
    seed: int
    people: int
    tokens_per_exposure: float
    web_loss: float  # nats per token
    items_per_person: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.total

    def as_dict(self) -> dict:
        return asdict(self)


def _final_rows(lines: Iterable[str], source: str) -> list[dict]:
    last: dict[str, dict] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(f"{source}: line {number} is not JSON") from None
        if not isinstance(row, dict) or "run_id" not in row:
            raise ValueError(f"{source}: line {number} has no run_id: not a results table row")
        step = row.get("step") or 0
        kept = last.get(row["run_id"])
        # The first row of a repeated step wins (a resumed run may append its last steps again).
        if kept is None or step > (kept.get("step") or 0):
            last[row["run_id"]] = row
    return [row for row in last.values() if _finished(row)]


def final_step(row: dict) -> int | None:
    """The step of a run's final row, from the config the row carries (its token budget over the
    tokens per optimiser step, as the trainer counts them), or None for a row without one."""
    config = row.get("config")
    try:
        return int(config["tokens"]) // (int(config["batch_size"]) * int(config["data"]["seq_len"]))
    except (TypeError, KeyError, ValueError, ZeroDivisionError):
        return None


def is_final_row(row: dict) -> bool:
    """Whether a row is its run's final evaluation: it carries its config and reached the config's
    final step. A run still training (or killed) has rows from its stable phase only, which are not
    comparable with final rows (a WSD cooldown can move accuracy from 21% to 99%)."""
    steps = final_step(row)
    return steps is not None and int(row.get("step") or 0) >= steps


def _finished(row: dict) -> bool:
    """``is_final_row``, except that rows without their config (tables from elsewhere) are taken as final."""
    return final_step(row) is None or is_final_row(row)


def runs_from_rows(rows: Iterable[dict]) -> list[RunRecord]:
    """RunRecords of the uniform-SynBio final rows (rho = 1, tau = 0, role not "reference")."""
    out = []
    for row in rows:
        if row.get("knowledge") != "synbio" or float(row.get("rho") or 1.0) != 1.0 or float(row.get("tau") or 0.0):
            continue
        if row.get("role") == "reference" or row.get("accuracy") is None or not row.get("items_evaluated"):
            continue
        total = float(row["items_evaluated"])
        people_evaluated = float(row.get("people_evaluated") or total)
        web = row.get("web_loss")
        out.append(RunRecord(
            str(row["run_id"]), str(row["model"]), float(row["params_nonembedding"]), float(row["tokens"]),
            float(row["mixing_ratio"]), round(float(row["accuracy"]) * total, 6), total, int(row.get("seed") or 0),
            int(row["people"]), float(row.get("tokens_per_exposure") or 0.0),
            float(web) if web is not None else math.nan, total / max(people_evaluated, 1.0)))
    return sorted(out, key=lambda r: (r.params, r.tokens, r.ratio, r.seed, r.run_id))


def load_runs(path: str | Path, *, exclude: Sequence[str] = ()) -> list[RunRecord]:
    """Final uniform-SynBio runs of a results table, without the models named in ``exclude``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"results table {str(path)!r} does not exist")
    with path.open() as handle:
        runs = runs_from_rows(_final_rows(handle, str(path)))
    known = {r.model for r in runs}
    unknown = sorted(set(exclude) - known)
    if unknown:
        raise ValueError(f"--exclude names models {unknown} that are not in {str(path)!r}; its models: {sorted(known)}")
    runs = [r for r in runs if r.model not in set(exclude)]
    if not runs:
        raise ValueError(f"{str(path)!r} has no final uniform-SynBio runs (knowledge 'synbio', rho 1, tau 0) to calibrate on")
    return runs


@dataclass(frozen=True)
class MeasuredCritical:
    """r_c of one (model, budget): an estimate with its interval, or a bound ("below"/"above")."""

    model: str
    params: float
    tokens: float
    level: float
    estimate: CriticalEstimate | None
    bound: str  # "" when measured; "below": r_c < bound_value; "above": r_c > bound_value
    bound_value: float
    seeds: tuple[int, ...]
    people: int
    tokens_per_exposure: float
    detail: str = ""

    @property
    def measured(self) -> bool:
        return self.estimate is not None

    def as_dict(self) -> dict:
        out = {"model": self.model, "params_nonembedding": self.params, "tokens": self.tokens,
               "accuracy_level": self.level, "seeds": list(self.seeds), "people": self.people}
        if self.estimate is not None:
            out.update(measured=self.estimate.value, interval=list(self.estimate.interval), runs=self.estimate.points)
        else:
            out.update(measured=None, interval=None, bound=self.bound, bound_value=self.bound_value, detail=self.detail)
        return out


def balanced_seeds(rows: Sequence[RunRecord], key) -> list[int] | None:
    """Seed labels for a bootstrap over seeds, or None when there is one seed or when the seeds do not
    all cover the same values of ``key`` (resampling seeds would then drop parts of the sweep)."""
    covered: dict[int, set] = {}
    for r in rows:
        covered.setdefault(r.seed, set()).add(key(r))
    if len(covered) < 2 or len({frozenset(v) for v in covered.values()}) > 1:
        return None
    return [r.seed for r in rows]


def groups(runs: Sequence[RunRecord]) -> dict[tuple[str, float], list[RunRecord]]:
    """Runs by (model, budget), smallest model first."""
    out: dict[tuple[str, float], list[RunRecord]] = {}
    for run in sorted(runs, key=lambda r: (r.params, r.tokens)):
        out.setdefault((run.model, run.tokens), []).append(run)
    return out


def measure_group(rows: Sequence[RunRecord], level: float, n_boot: int = 1000, seed: int = 0) -> MeasuredCritical:
    """r_c of one (model, budget)'s runs, fitted against log r with a bootstrap over people and seeds."""
    return _measure_group(tuple(rows), float(level), int(n_boot), int(seed))


@lru_cache(maxsize=4096)  # the protocol refits on overlapping subsets: each group is measured once
def _measure_group(rows: tuple[RunRecord, ...], level: float, n_boot: int, seed: int) -> MeasuredCritical:
    first = rows[0]
    seeds = tuple(sorted({r.seed for r in rows}))
    people = Counter(r.people for r in rows).most_common(1)[0][0]
    tpe = float(np.mean([r.tokens_per_exposure for r in rows]))
    base = dict(model=first.model, params=first.params, tokens=first.tokens, level=level, seeds=seeds, people=people,
                tokens_per_exposure=tpe)
    ratios = np.array([r.ratio for r in rows])
    try:
        est = critical_ratio(ratios, [r.correct for r in rows], [r.total for r in rows], level=level,
                             seeds=balanced_seeds(rows, lambda r: r.ratio), n_boot=n_boot, seed=seed,
                             items_per_person=float(np.mean([r.items_per_person for r in rows])))
        return MeasuredCritical(estimate=est, bound="", bound_value=math.nan, **base)
    except ValueError as exc:
        # The bracket is judged as the fit judges it: on each ratio's pooled accuracy, not on single runs.
        pooled = [sum(r.correct for r in rows if r.ratio == x) / sum(r.total for r in rows if r.ratio == x)
                  for x in np.unique(ratios)]
        if min(pooled) >= level:
            return MeasuredCritical(estimate=None, bound="below", bound_value=float(ratios.min()), detail=str(exc),
                                    **base)
        if max(pooled) < level:
            return MeasuredCritical(estimate=None, bound="above", bound_value=float(ratios.max()), detail=str(exc),
                                    **base)
        return MeasuredCritical(estimate=None, bound="unmeasured", bound_value=math.nan, detail=str(exc), **base)


def measure_critical_ratios(runs: Sequence[RunRecord], level: float = 0.1, n_boot: int = 1000,
                            seed: int = 0) -> list[MeasuredCritical]:
    """r_c for every (model, budget) of ``runs`` (see ``measure_group``)."""
    return [measure_group(rows, level, n_boot, seed) for rows in groups(runs).values()]


def _log_odds_draws(estimate: CriticalEstimate) -> np.ndarray | None:
    """An estimate's bootstrap replicates as log odds (those in (0, 1)), or None when its interval is
    unbounded (too many replicates without a crossing) or it has fewer than 20."""
    if not all(math.isfinite(v) for v in estimate.interval):
        return None
    r = np.asarray(estimate.draws, dtype=float)
    r = r[(r > 0) & (r < 1)]
    return np.log(r / (1.0 - r)) if r.size >= 20 else None


def local_odds_slopes(measured: Sequence[MeasuredCritical], seed: int = 0) -> list[dict]:
    """The slope of log odds(r_c) against log M between each pair of adjacent measured sizes at one
    budget, smallest size first, with a 95% interval from the two sizes' bootstrap replicates (None
    when either has an unbounded interval or fewer than 20 replicates). The sizes are independent
    runs, so their replicates are paired at random: every group is measured with the same bootstrap
    seed, and pairing by index would share random numbers and narrow the interval. A single power law
    in the odds has one slope at every pair; a slope that climbs towards 0 with size is r_c bending
    onto a floor. Two models of one size at a budget are not a pair (no span)."""
    rng = np.random.default_rng(seed)
    out = []
    for tokens in sorted({m.tokens for m in measured}):
        sizes = sorted((m for m in measured if m.tokens == tokens and m.measured), key=lambda m: m.params)
        for a, b in zip(sizes, sizes[1:]):
            if b.params <= a.params:
                continue
            span = math.log(b.params / a.params)
            slope = float((math.log(b.estimate.value / (1 - b.estimate.value))
                           - math.log(a.estimate.value / (1 - a.estimate.value))) / span)
            ya, yb = _log_odds_draws(a.estimate), _log_odds_draws(b.estimate)
            interval = None
            if ya is not None and yb is not None:
                n = min(ya.size, yb.size)
                draws = (yb[:n] - ya[rng.permutation(ya.size)[:n]]) / span
                interval = [float(v) for v in np.quantile(draws, [0.025, 0.975])]
            out.append({"tokens": tokens, "from": a.model, "to": b.model, "params_from": a.params,
                        "params_to": b.params, "slope": slope, "interval": interval})
    return out


@dataclass(frozen=True)
class WebLaw:
    """L(M, r) = C + A M^-alpha + B (-log(1 - r)), nats per token, M non-embedding parameters, at ``tokens``."""

    C: float
    A: float
    alpha: float
    B: float
    tokens: float
    sizes: tuple[float, ...]
    residual_sd: float  # root mean square of the runs' residuals, nats

    def marginal_value_bits(self, params) -> np.ndarray:
        """-dL/dM converted to the theory's units: bits of web loss saved per parameter."""
        return self.A * self.alpha * np.asarray(params, dtype=float) ** -(self.alpha + 1.0) / math.log(2.0)


def _size_weights(m: np.ndarray) -> np.ndarray:
    """1 / (runs at that size): every size weighs the same in the law, however many runs it has."""
    _, inverse, counts = np.unique(m, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def _profile_fit(m, r, loss, alpha, root):
    design = np.stack([np.ones_like(m), m ** -alpha, -np.log1p(-r)], axis=1)
    coef, *_ = np.linalg.lstsq(design * root[:, None], loss * root, rcond=None)
    return coef, float(np.sum(((design @ coef - loss) * root) ** 2))


def _fit_law_arrays(m, r, loss) -> tuple[float, float, float, float, float]:
    from scipy.optimize import minimize_scalar

    root = np.sqrt(_size_weights(m))
    grid = np.geomspace(0.02, 4.0, 60)
    sse = [_profile_fit(m, r, loss, a, root)[1] for a in grid]
    i = int(np.argmin(sse))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best = minimize_scalar(lambda a: _profile_fit(m, r, loss, a, root)[1], bounds=(lo, hi), method="bounded")
    (C, A, B), _ = _profile_fit(m, r, loss, float(best.x), root)
    rms = float(np.sqrt(np.mean((C + A * m ** -best.x + B * -np.log1p(-r) - loss) ** 2)))
    return float(C), float(A), float(best.x), float(B), rms


def fit_web_law(runs: Sequence[RunRecord], tokens: float | None = None) -> WebLaw:
    """Least squares of ``WebLaw`` on the final web losses of ``runs`` at one budget (default: the budget
    with the most runs). Needs web losses at 3 or more sizes (C, A and alpha are not separable with
    fewer) and a positive amplitude (loss falling with size); ValueError otherwise."""
    usable = [r for r in runs if math.isfinite(r.web_loss) and 0.0 < r.ratio < 1.0]
    if not usable:
        raise ValueError("fitting the web-loss law needs runs with a finite web loss, got none")
    if tokens is None:
        tokens = Counter(r.tokens for r in usable).most_common(1)[0][0]
    usable = [r for r in usable if r.tokens == tokens]
    sizes = tuple(sorted({r.params for r in usable}))
    if len(sizes) < 3:
        raise ValueError(f"the web-loss law needs runs at >= 3 model sizes at one budget; at {tokens:,.0f} tokens "
                         f"there are {len(sizes)} ({', '.join(f'{s:,.0f}' for s in sizes)})")
    m = np.array([r.params for r in usable])
    r = np.array([r.ratio for r in usable])
    loss = np.array([x.web_loss for x in usable])
    C, A, alpha, B, rms = _fit_law_arrays(m, r, loss)
    if A <= 0:
        raise ValueError(f"the web loss does not fall with model size at {tokens:,.0f} tokens (fitted amplitude "
                         f"A = {A:.4g}); the theory needs a falling web-loss curve")
    return WebLaw(C, A, alpha, B, float(tokens), sizes, rms)


def bootstrap_web_laws(runs: Sequence[RunRecord], law: WebLaw, n_boot: int, seed: int = 0) -> list[WebLaw]:
    """Residual-bootstrap replicates of ``law`` (refitted on fitted + resampled residuals); replicates
    with a non-positive amplitude are left out."""
    usable = [r for r in runs if math.isfinite(r.web_loss) and 0.0 < r.ratio < 1.0 and r.tokens == law.tokens]
    m = np.array([r.params for r in usable])
    ratio = np.array([r.ratio for r in usable])
    loss = np.array([r.web_loss for r in usable])
    fitted = law.C + law.A * m ** -law.alpha + law.B * -np.log1p(-ratio)
    residual = loss - fitted
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        C, A, alpha, B, _ = _fit_law_arrays(m, ratio, fitted + rng.choice(residual, residual.size))
        if A > 0:
            out.append(WebLaw(C, A, alpha, B, law.tokens, law.sizes, law.residual_sd))
    return out


def measure_critical_sizes(runs: Sequence[RunRecord], level: float = 0.1, n_boot: int = 1000,
                           seed: int = 0) -> list[dict]:
    """The critical size at each (ratio, budget) swept at two or more sizes: where a logistic fit of
    accuracy against log M crosses ``level`` (``capacity.critical.critical_size``), with a 95% interval
    over people and seeds, or the reason there is none (the sizes do not bracket the level)."""
    from capacity.critical import critical_size

    cells: dict[tuple[float, float], list[RunRecord]] = {}
    for run in runs:
        cells.setdefault((run.ratio, run.tokens), []).append(run)
    out = []
    for (ratio, tokens), rows in sorted(cells.items()):
        if len({r.params for r in rows}) < 2:
            continue
        record = {"mixing_ratio": ratio, "tokens": tokens, "accuracy_level": level,
                  "models": sorted({r.model for r in rows}, key=lambda m: min(r.params for r in rows if r.model == m))}
        try:
            est = critical_size([r.params for r in rows], [r.correct for r in rows], [r.total for r in rows],
                                level=level, seeds=balanced_seeds(rows, lambda r: r.params), n_boot=n_boot, seed=seed,
                                items_per_person=float(np.mean([r.items_per_person for r in rows])))
            record.update(critical_params=est.value, interval=list(est.interval))
            # The same from the two bracketing sizes alone: how much the logistic form's misfit moves it.
            local = critical_size([r.params for r in rows], [r.correct for r in rows], [r.total for r in rows],
                                  level=level, n_boot=20, window=1)
            record["bracketing_pair"] = local.value
        except ValueError as exc:
            record.update(critical_params=None, interval=None, detail=str(exc))
        out.append(record)
    return out


def odds_bend(local: Sequence[dict], tokens: float) -> tuple[dict, dict] | None:
    """(smallest pair, largest pair) of ``local_odds_slopes`` at one budget when the odds bend towards
    a floor: the largest pair's slope interval lies wholly above the smallest pair's, so no single
    power law in size fits both ends. One-sided (a slope that steepens with size is not flagged) and
    conservative (non-overlapping 95% intervals). None when they overlap, or with fewer than two
    pairs or without both intervals."""
    pairs = sorted((s for s in local if s["tokens"] == tokens), key=lambda s: s["params_from"])
    if len(pairs) < 2 or not pairs[0]["interval"] or not pairs[-1]["interval"]:
        return None
    first, last = pairs[0], pairs[-1]
    return (first, last) if last["interval"][0] > first["interval"][1] else None
