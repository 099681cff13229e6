"""Benchmark: a 200 x 200 (r, M) phase diagram by the vectorised closed form against one cvxpy solve
per point (on a subsample, extrapolated per point). Prints figures; asserts nothing.

    python benchmarks/bench_phase_diagram.py [--subsample 100]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the issue asks

import numpy as np  # noqa: E402

from capacity.phase import phase_diagram, phase_diagram_cvxpy  # noqa: E402
from capacity.units import PAPER_FINEWEB_EDU_LAW, KnowledgeSet, capacity_bits, synbio_bits_per_person  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="grid points per axis")
    parser.add_argument("--subsample", type=int, default=100, help="cvxpy solves to time")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    law = PAPER_FINEWEB_EDU_LAW.capacity_curve(2.0)
    knowledge = KnowledgeSet.from_token_statistics(320_000, 70, synbio_bits_per_person())
    ratios = np.linspace(0.01, 0.99, args.size)
    capacities = capacity_bits(np.geomspace(1e6, 1e9, args.size))

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fast = phase_diagram(law, knowledge, ratios, capacities)
        times.append(time.perf_counter() - start)
    closed_form = min(times)

    rng = np.random.default_rng(0)
    idx = rng.choice(args.size * args.size, size=args.subsample, replace=False)
    rows, cols = np.unravel_index(idx, (args.size, args.size))
    start = time.perf_counter()
    worst = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, j in zip(rows, cols):
            value = phase_diagram_cvxpy(law, knowledge, ratios[i : i + 1], capacities[j : j + 1])[0, 0]
            worst = max(worst, abs(value - fast[i, j]))
    per_solve = (time.perf_counter() - start) / args.subsample
    cvxpy_total = per_solve * args.size * args.size

    print(f"grid: {args.size} x {args.size} = {args.size ** 2} points (SynBio-320k, FineWeb-Edu law, 2 bits/param)")
    print(f"closed form (vectorised): {closed_form * 1e3:.2f} ms for the whole grid (best of {args.repeats})")
    print(f"cvxpy (Clarabel), one solve per point: {per_solve * 1e3:.1f} ms per point over {args.subsample} points, "
          f"{cvxpy_total:.0f} s extrapolated to the grid")
    print(f"speed-up of the closed form: {cvxpy_total / closed_form:,.0f}x")
    print(f"largest difference in fraction learned on the subsample: {worst:.2e}")


if __name__ == "__main__":
    main()
