"""``capacity popularity-threshold CSV``: threshold popularity per model and its slope against size
(arXiv 2505.18091, Section 5, Algorithm 1 and Fig. 7b).

    capacity popularity-threshold results.csv                    # a table
    capacity popularity-threshold results.csv --json             # one JSON object
    capacity popularity-threshold results.csv --accuracy 0.5 --n-fail 3 --figure fig7b.png

The CSV has a header with the columns model,params,popularity,correct (correct is 0 or 1); other
columns are ignored. ``python -m empirical popqa-eval`` writes such a file for a Hugging Face model.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from capacity.cli_common import dumps, fail, input_file, integer, number, output_file, seed
from capacity.popularity import DEFAULT_N_FAIL, DEFAULT_TARGET, family_thresholds, read_popularity_csv

NAME = "popularity-threshold"


def add_parser(sub) -> argparse.ArgumentParser:
    """Register the subcommand on ``capacity``'s subparsers."""
    p = sub.add_parser(NAME, help="threshold popularity per model (Algorithm 1) and its slope against size",
                       description="Threshold popularity of each model in a PopQA-style CSV (arXiv 2505.18091 "
                       "Algorithm 1) with bootstrap intervals, and the slope of log threshold against log params.")
    p.add_argument("csv", type=input_file, metavar="CSV", help="columns model,params,popularity,correct")
    p.add_argument("--accuracy", type=number(0, 1, low_open=True), default=DEFAULT_TARGET,
                   help=f"target accuracy, in (0, 1] (default {DEFAULT_TARGET}, the paper's)")
    p.add_argument("--n-fail", type=integer(0, 10**6), default=DEFAULT_N_FAIL,
                   help=f"dips below the target tolerated before the walk stops (default {DEFAULT_N_FAIL}, the paper's)")
    p.add_argument("--bootstrap", type=integer(1, 10**5), default=500, help="bootstrap replicates (default 500)")
    p.add_argument("--confidence", type=number(0, 1, low_open=True, high_open=True), default=0.95,
                   help="interval coverage, in (0, 1) (default 0.95)")
    p.add_argument("--seed", type=seed, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--figure", type=output_file, metavar="PATH", help="also draw Fig. 7b into PATH (.png, .pdf or .svg)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args) -> dict:
    if args.figure is not None and Path(args.figure).suffix.lower() not in (".png", ".pdf", ".svg"):
        fail("--figure", str(args.figure), "must end in .png, .pdf or .svg")
    table = read_popularity_csv(args.csv)
    result = family_thresholds(table, target=args.accuracy, n_fail=args.n_fail, n_bootstrap=args.bootstrap,
                               confidence=args.confidence, seed=args.seed)
    out = result.to_dict()
    if args.figure is not None:
        from figures.popularity import popularity_threshold_figure, save_figure  # matplotlib only when asked

        save_figure(popularity_threshold_figure(result), args.figure)
        out["figure"] = str(args.figure)
    return out


def show(out: dict) -> None:
    conf = round(100 * out["confidence"])
    print(f"Threshold popularity (Algorithm 1: target accuracy {out['target']:g}, N_fail {out['n_fail']}; "
          f"{conf}% bootstrap intervals over {out['n_bootstrap']} resamples of the questions)")
    print(f"  {'model':<24} {'params':>10} {'questions':>9} {'accuracy':>8} {'threshold':>11}  interval")
    for m in out["models"]:
        flag = "  (censored: not in the slope)" if m["censored"] else ""
        low, high = m["interval"]
        print(f"  {m['model']:<24} {m['params']:>10.4g} {m['n_questions']:>9d} {m['accuracy']:>8.3f} "
              f"{m['threshold']:>11.4g}  [{low:.4g}, {high:.4g}]{flag}")
    if out["slope"] is None:
        print(f"Slope: {out['slope_note']}")
    else:
        low, high = out["slope_interval"]
        print(f"Slope of log threshold against log params: {out['slope']:.4f}  [{low:.4f}, {high:.4f}]")
        if out["slope_note"]:
            print(f"  {out['slope_note']}")
    if "figure" in out:
        print(f"Figure: {out['figure']}")


def print_result(out: dict, as_json: bool) -> None:
    print(dumps(out)) if as_json else show(out)
