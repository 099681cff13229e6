"""Adaptive search for the critical mixing ratio r_c (arXiv 2505.18091, Fig. 2 and Table 1): place
ratios around the current estimate, train them through the sweep runner, refit, and stop when r_c's
95% interval lies within +-``tolerance`` of it.

A search is one (model, budget, people) setting. It proceeds in rounds; each round is a list of
(ratio, seed) runs, every ratio with every seed of the search:

* round 0: ``initial`` ratios two grid steps (x1.26) apart around the starting prediction;
* while no ratio's pooled accuracy reaches ``level`` (or every one does): two ratios beyond the
  measured range, as far out as a nominal slope of 0.8 logits per grid step says the crossing is;
* then, with a logistic fit (``capacity.critical.critical_ratio``): the unmeasured grid ratios
  nearest the estimate, ``per_round`` at a time, and once the grid within two steps of it is full,
  one more seed at the two measured ratios nearest it.

Ratios live on a fixed geometric grid, r_k = 0.1 x 2^(k/6) rounded to 3 significant digits, so a
ratio placed once keeps its exact value and its run id. A round depends only on the results of the
rounds before it, and the state is replayed from the results table alone: a search killed at any
moment and started again recomputes the same rounds, finds the same runs finished, and resumes the
same unfinished ones (their checkpoints included).

Several searches run side by side (``run_study``): each wave is one ``runner.run_sweep`` of the
pending runs of every unfinished search of the lowest unfinished ``phase``, plus later phases while
the wave has fewer K-stacks than workers, so that cheap, informative searches finish first and the
workers stay busy; or, with ``schedule="continuous"``, without waves (``empirical.sweeps.continuous``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from capacity.calibration import is_final_row
from empirical.config import TrainConfig
from empirical.results import read_rows
from empirical.sweeps.spec import Run, Sweep

GRID_ANCHOR = 0.1
GRID_STEPS_PER_OCTAVE = 6  # neighbours x1.12 apart
STEP = 2  # a placement step: two grid steps, x1.26
LOGIT_PER_STEP = 0.8  # nominal rise of logit accuracy per grid step (docs/full: 6.7-8.7 per unit of log r)
STATUSES = ("running", "converged", "below_range", "above_range", "max_runs")


def grid_ratio(k: int) -> float:
    """The k-th grid ratio, 0.1 x 2^(k/6) to 3 significant digits (k = 0: 0.1, 6: 0.2, 12: 0.4)."""
    return float(f"{GRID_ANCHOR * 2.0 ** (k / GRID_STEPS_PER_OCTAVE):.3g}")


def grid_position(ratio: float) -> float:
    """The (fractional) grid index of a ratio."""
    return GRID_STEPS_PER_OCTAVE * math.log2(ratio / GRID_ANCHOR)


@dataclass(frozen=True)
class Search:
    """One adaptive search: the base run (everything but mixing ratio and seed) and its rules."""

    name: str
    base: TrainConfig
    start: float  # predicted r_c: where round 0 is placed
    seeds: tuple[int, ...] = (0, 1)
    level: float = 0.1  # accuracy at which r_c is read
    tolerance: float = 0.05  # stop when the 95% interval is within +-tolerance of the estimate
    initial: int = 3  # ratios of round 0
    per_round: int = 2  # ratios added per refinement round
    max_ratios: int = 8
    max_runs: int = 20
    r_min: float = 0.02
    r_max: float = 0.64  # above ~0.6 a 131-token biography no longer fits 192-token sequences often enough
    phase: int = 0  # waves take the lowest unfinished phase first
    n_boot: int = 1000

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"search {self.name!r}: {message}")

        object.__setattr__(self, "seeds", tuple(self.seeds))
        check(isinstance(self.name, str) and bool(self.name), "needs a non-empty name")
        check(len(set(self.seeds)) == len(self.seeds) >= 2 and all(isinstance(s, int) and s >= 0 for s in self.seeds),
              f"seeds must be >= 2 distinct integers >= 0, got {self.seeds!r}")
        check(0 < self.level < 1, f"level must be in (0, 1), got {self.level!r}")
        check(0 < self.tolerance < 1, f"tolerance must be in (0, 1), got {self.tolerance!r}")
        check(0 < self.r_min < self.r_max <= 1, f"need 0 < r_min < r_max <= 1, got {self.r_min!r}, {self.r_max!r}")
        check(self.r_min <= self.start <= self.r_max, f"start {self.start!r} must be in [r_min, r_max] = "
                                                      f"[{self.r_min}, {self.r_max}]")
        most = (self.k_max - self.k_min) // STEP + 1
        check(isinstance(self.initial, int) and 2 <= self.initial <= most,
              f"initial must be an integer in [2, {most}] (ratios {STEP} grid steps apart within [r_min, r_max]), "
              f"got {self.initial!r}")
        check(isinstance(self.per_round, int) and self.per_round >= 1,
              f"per_round must be >= 1, got {self.per_round!r}")
        check(self.max_ratios >= self.initial,
              f"max_ratios must be >= initial ({self.initial}), got {self.max_ratios!r}")
        check(self.max_runs >= self.initial * len(self.seeds),
              f"max_runs must be >= initial x seeds ({self.initial * len(self.seeds)}), got {self.max_runs!r}")
        check(isinstance(self.n_boot, int) and self.n_boot >= 20,
              f"n_boot must be an integer >= 20, got {self.n_boot!r}")

    @property
    def k_min(self) -> int:
        return math.ceil(grid_position(self.r_min) - 1e-9)

    @property
    def k_max(self) -> int:
        return math.floor(grid_position(self.r_max) + 1e-9)

    def run(self, ratio: float, seed: int) -> Run:
        return Run(self.base.replace(**{"data.mixing_ratio": ratio, "seed": seed}), "main")


@dataclass(frozen=True)
class Point:
    """A finished run of a search: items right out of items evaluated at the final step."""

    ratio: float
    seed: int
    correct: int
    total: int
    items_per_person: float


@dataclass(frozen=True)
class Decision:
    status: str
    placements: tuple[tuple[float, int], ...]  # (ratio, seed) of the next round; empty unless running
    estimate: object | None  # a capacity.critical.CriticalEstimate, or None without a fit


def half_width(estimate) -> float:
    """The larger relative distance from the estimate to an end of its interval."""
    lo, hi = estimate.interval
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0:
        return math.inf
    return max(hi / estimate.value - 1.0, 1.0 - lo / estimate.value)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _outward(search: Search, pooled: dict[int, tuple[int, int]], up: bool) -> list[int]:
    """Two ratios beyond the measured range, the first as far out as the nominal slope puts the crossing."""
    edge = max(pooled) if up else min(pooled)
    correct, total = pooled[edge]
    accuracy = min(max(correct / total, 0.5 / total), 1 - 0.5 / total)
    gap = (_logit(search.level) - _logit(accuracy)) * (1 if up else -1)
    first = min(3, max(1, math.ceil(gap / LOGIT_PER_STEP)))
    sign = 1 if up else -1
    ks = [edge + sign * first, edge + sign * (first + STEP)]
    ks = [min(max(k, search.k_min), search.k_max) for k in ks]
    return sorted({k for k in ks if k not in pooled})


def decide(search: Search, points: Sequence[Point], fit: Callable) -> Decision:
    """The next round of a search from its finished runs (or its end)."""
    if not points:
        centre = round(grid_position(search.start))
        offsets = [round(STEP * (i - (search.initial - 1) / 2) + 1e-9) for i in range(search.initial)]
        low = min(max(centre + offsets[0], search.k_min), search.k_max - (offsets[-1] - offsets[0]))
        ks = sorted({min(low + o - offsets[0], search.k_max) for o in offsets})
        return Decision("running", tuple((grid_ratio(k), s) for k in ks for s in search.seeds), None)
    pooled: dict[int, tuple[int, int]] = {}
    for p in points:
        k = round(grid_position(p.ratio))
        c, n = pooled.get(k, (0, 0))
        pooled[k] = (c + p.correct, n + p.total)
    accuracy = {k: c / n for k, (c, n) in pooled.items()}
    estimate = None
    if max(accuracy.values()) < search.level or min(accuracy.values()) >= search.level:
        up = max(accuracy.values()) < search.level
        ks = _outward(search, pooled, up)
        if not ks:
            return Decision("above_range" if up else "below_range", (), None)
        centre = None
    else:
        try:
            estimate = fit([p.ratio for p in points], [p.correct for p in points], [p.total for p in points],
                           level=search.level, seeds=[p.seed for p in points], n_boot=search.n_boot, seed=0,
                           items_per_person=min(p.items_per_person for p in points))
        except ValueError:
            estimate = None  # bracketed by the pooled accuracies, yet no increasing fit: refine at the crossing
        if estimate is not None and half_width(estimate) <= search.tolerance:
            return Decision("converged", (), estimate)
        centre = grid_position(estimate.value) if estimate is not None else _crossing(accuracy, search.level)
        room = search.max_ratios - len(pooled)
        near = sorted((k for k in range(search.k_min, search.k_max + 1)
                       if k not in pooled and abs(k - centre) <= STEP + 0.5), key=lambda k: (abs(k - centre), k))
        ks = near[:min(search.per_round, room)]
    if ks:
        placements = tuple((grid_ratio(k), s) for k in ks for s in search.seeds)
    else:  # the grid around the estimate is full: one more seed where the fit is decided
        extra = max(p.seed for p in points) + 1
        nearest = sorted(pooled, key=lambda k: (abs(k - centre), k))[:2]
        placements = tuple((grid_ratio(k), extra) for k in sorted(nearest))
    if len(points) + len(placements) > search.max_runs:
        return Decision("max_runs", (), estimate)
    return Decision("running", placements, estimate)


def _crossing(accuracy: dict[int, float], level: float) -> float:
    """Grid position where pooled accuracy first rises through ``level``, interpolated linearly."""
    ks = sorted(accuracy)
    for a, b in zip(ks, ks[1:]):
        if accuracy[a] < level <= accuracy[b]:
            return a + (b - a) * (level - accuracy[a]) / (accuracy[b] - accuracy[a])
    return float(ks[len(ks) // 2])


# --- state from the results table ----------------------------------------------------------------
def final_results(results: str | Path) -> dict[str, tuple]:
    """run_id -> (accuracy, items_evaluated, people_evaluated) of each run's row at its last step."""
    results = Path(results)
    out: dict[str, tuple] = {}
    if not results.exists():
        return out
    for row in read_rows(results):
        if row["run_id"] not in out and is_final_row(row):
            out[row["run_id"]] = (row.get("accuracy"), row.get("items_evaluated"), row.get("people_evaluated"))
    return out


def _point(run: Run, finals: dict[str, tuple]) -> Point:
    accuracy, items, people = finals[run.run_id]
    if accuracy is None or not items:
        raise ValueError(f"run {run.run_id} has no accuracy or items_evaluated in its final row: "
                         "an r_c search needs recall on the knowledge set (eval.people must not be 0 items)")
    return Point(run.config.data.mixing_ratio, run.config.seed, round(accuracy * items), int(items),
                 items / people if people else 1.0)


@dataclass
class SearchState:
    """Where a search stands: its finished runs, the runs of its current round still to train, the
    latest estimate, and its status (one of ``STATUSES``)."""

    search: Search
    status: str
    points: list[Point]
    pending: list[Run]
    estimate: object | None
    rounds: int

    def summary(self) -> dict:
        s, e = self.search, self.estimate
        return {"name": s.name, "model": s.base.model, "tokens": s.base.tokens, "people": s.base.data.people,
                "precision": s.base.precision, "level": s.level, "status": self.status, "rounds": self.rounds,
                "runs_done": len(self.points), "runs_pending": len(self.pending),
                "ratios": sorted({p.ratio for p in self.points}),
                "seeds": sorted({p.seed for p in self.points}),
                "critical_ratio": None if e is None else e.value,
                "interval": None if e is None else list(e.interval),
                "half_width": None if e is None else half_width(e),
                "points": [vars(p) for p in self.points]}


def replay(search: Search, finals: dict[str, tuple], fit: Callable) -> SearchState:
    """Recompute the search's rounds from the finished runs in ``finals`` (``final_results``)."""
    points: list[Point] = []
    rounds = 0
    while True:
        decision = decide(search, points, fit)
        if decision.status != "running":
            return SearchState(search, decision.status, points, [], decision.estimate, rounds)
        runs = [search.run(r, s) for r, s in decision.placements]
        pending = [run for run in runs if run.run_id not in finals]
        if pending:
            return SearchState(search, "running", points, pending, decision.estimate, rounds)
        points += [_point(run, finals) for run in runs]
        rounds += 1


def default_fit() -> Callable:
    from capacity.critical import critical_ratio

    return critical_ratio


def check_searches(searches: Sequence[Search]) -> None:
    names = [s.name for s in searches]
    if not searches or len(set(names)) != len(names):
        raise ValueError(f"searches must be a non-empty list with distinct names, got {names}")
    bases = [s.base.replace(**{"data.mixing_ratio": 0.5, "seed": 0}).run_id for s in searches]
    if len(set(bases)) != len(bases):
        raise ValueError("two searches share one base config: they would place runs into each other's rounds")


def plan_wave(searches: Sequence[Search], finals: dict[str, tuple], fit: Callable, workers: int,
              max_group: int) -> tuple[list[SearchState], list[Run]]:
    """Every search's state, and the runs of the next wave: the lowest unfinished phase, plus later
    phases while it has fewer K-stacks (of at most ``max_group`` runs) than ``workers``."""
    states = [replay(s, finals, fit) for s in searches]
    running = [st for st in states if st.pending]
    runs: list[Run] = []
    stacks = 0
    for phase in sorted({st.search.phase for st in running}):
        for st in running:
            if st.search.phase == phase:
                runs += st.pending
                stacks += -(-len(st.pending) // max_group)
        if stacks >= workers:
            break
    return states, runs


# --- running a study -------------------------------------------------------------------------------
SCHEDULES = ("waves", "continuous")

@dataclass
class StudyReport:
    states: list[SearchState]
    waves: int
    trained: int
    failed: list[str]
    errors: list[str]

    @property
    def done(self) -> bool:
        return all(st.status != "running" for st in self.states)


def run_study(searches: Sequence[Search], results: str | Path, work_dir: str | Path | None = None, *,
              name: str = "adaptive", workers: int = 1, max_group: int = 2, device: str | None = None,
              progress: bool = True, max_waves: int | None = None, fit: Callable | None = None,
              on_wave: Callable[[list[SearchState]], None] | None = None, schedule: str = "waves") -> StudyReport:
    """Run the searches to their ends, wave by wave (``plan_wave``), through ``runner.run_sweep``.

    Resumable: every wave is planned from the results table alone. Stops early when a wave has a
    failed run (a search cannot move past a run that does not finish; see ``work_dir/failures.jsonl``)
    or after ``max_waves`` waves. ``on_wave`` sees the states before each wave and at the end.
    ``schedule="continuous"`` (local processes, ``workers`` > 1) gives a freed worker the next K-stack
    at once instead of waiting for the wave (``empirical.sweeps.continuous``; ``max_waves`` does not
    apply, and ``waves`` in the report counts K-stacks).
    """
    from empirical.sweeps.runner import run_sweep

    check_searches(searches)
    if not isinstance(max_group, int) or max_group < 1:
        raise ValueError(f"max_group must be an integer >= 1, got {max_group!r}")
    fit = fit or default_fit()
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "continuous":
        from empirical.sweeps.continuous import run_continuous

        results = Path(results)
        return run_continuous(searches, results, Path(work_dir) if work_dir is not None else results.with_suffix(".runs"),
                              name=name, workers=workers, max_group=max_group, device=device, fit=fit,
                              on_update=on_wave, progress=progress)
    waves = trained = 0
    while True:
        states, runs = plan_wave(searches, final_results(results), fit, workers, max_group)
        if on_wave is not None:
            on_wave(states)
        if not runs or (max_waves is not None and waves >= max_waves):
            return StudyReport(states, waves, trained, [], [])
        report = run_sweep(Sweep(name, tuple(runs), "adaptive search for the critical mixing ratio"), results, work_dir,
                           workers=workers, max_group=max_group, device=device, progress=progress)
        waves += 1
        trained += report.completed
        if report.failed:
            states, _ = plan_wave(searches, final_results(results), fit, workers, max_group)
            return StudyReport(states, waves, trained, report.failed, report.errors)


def remaining_runs(state: SearchState) -> tuple[int, int]:
    """(expected, most) runs a search still trains, the current round included. Expected: round 0,
    one refinement round and one more ratio's worth (searches simulated from logistic curves with the
    seed-to-seed spread of docs/full averaged 12.4 runs with the defaults, against 12 here); most: up
    to ``max_runs``."""
    s = state.search
    if state.status != "running":
        return 0, 0
    typical = min(s.max_runs, (s.initial + s.per_round + 1) * len(s.seeds))
    done = len(state.points)
    return max(len(state.pending), typical - done), s.max_runs - done


def cost_table(states: Sequence[SearchState], seconds_per_run: Callable[[TrainConfig], float]) -> list[dict]:
    """One row per search: where it stands and its expected and largest remaining cost in seconds."""
    from empirical.model.presets import params_nonembedding, sized_for

    rows = []
    for st in states:
        s = st.search
        expected, most = remaining_runs(st)
        per_run = seconds_per_run(s.base) if expected else 0.0
        cfg = sized_for(s.base.model, s.base.data.bpe_vocab_size, s.base.data.seq_len)
        rows.append({**{k: v for k, v in st.summary().items() if k != "points"}, "phase": s.phase,
                     "params_nonembedding": params_nonembedding(cfg), "start": s.start,
                     "steps": s.base.steps, "seconds_per_run": per_run, "expected_runs": expected,
                     "max_runs": most, "expected_seconds": expected * per_run, "max_seconds": most * per_run})
    return rows


def format_cost_table(rows: Sequence[dict], workers: int) -> str:
    lines = [f"{'search':24s} {'ph':>2s} {'M':>9s} {'tokens':>11s} {'start':>6s} {'status':>11s} {'done':>4s} "
             f"{'now':>4s} {'r_c (95%)':>22s} {'s/run':>6s} {'exp.runs':>8s} {'exp.h':>6s} {'max.h':>6s}"]
    for r in rows:
        est = "-" if r["critical_ratio"] is None else (
            f"{r['critical_ratio']:.4f} ({r['interval'][0]:.3f}-{r['interval'][1]:.3f})")
        lines.append(f"{r['name']:24s} {r['phase']:2d} {r['params_nonembedding']:9,d} {r['tokens']:11,d} "
                     f"{r['start']:6.3f} {r['status']:>11s} {r['runs_done']:4d} {r['runs_pending']:4d} {est:>22s} "
                     f"{r['seconds_per_run']:6.0f} {r['expected_runs']:8d} {r['expected_seconds'] / 3600:6.2f} "
                     f"{r['max_seconds'] / 3600:6.2f}")
    expected = sum(r["expected_seconds"] for r in rows) / 3600
    most = sum(r["max_seconds"] for r in rows) / 3600
    lines.append(f"remaining: expected {expected:.1f} worker-hours (about {expected / workers:.1f} h with {workers} "
                 f"workers), at most {most:.1f} worker-hours ({most / workers:.1f} h)")
    return "\n".join(lines)
