"""``capacity calibrate`` and ``capacity predict --calibration``: r_c for a model size nobody trained,
from a predictor fitted on a results table.

    capacity calibrate runs/results.jsonl --out cal.json                 # predictor chosen by the rule
    capacity calibrate runs/results.jsonl --out cal.json --predictor logistic --exclude small-500k
    capacity predict --calibration cal.json --params 2e6 [--tokens 1.1e7] [--json]

The calibration file records the predictor, its fitted constants and their bootstrap replicates, and
the models and runs it was fitted on. The predictors and the rule that picks one are
``capacity.predictors`` and ``capacity.protocol``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from capacity.calibration import load_runs, local_odds_slopes, measure_critical_ratios, odds_bend
from capacity.cli_common import UsageError, conflict, dumps, input_file, integer, number, output_file, seed
from capacity.predictors import PREDICTORS, Fitted
from capacity.protocol import AUTO_FALLBACK, pick_predictor
from capacity.units import DEFAULT_BITS_PER_PARAMETER, PAPER_FINEWEB_EDU_LAW, synbio_bits_per_person

NAME = "calibrate"
SCHEMA = "phasemix.calibration/1"
WARN_EXTRAPOLATION = 2.0  # beyond this factor outside the calibrated sizes, predict warns


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``calibrate`` on ``capacity``'s subparsers."""
    p = sub.add_parser(NAME, help="fit a critical-ratio predictor on a results table",
                       description="Fit a predictor of the critical mixing ratio on the final runs of a results "
                       "table (docs/RESULTS.md) and write it to a calibration file for `capacity predict "
                       "--calibration`.")
    p.add_argument("results", type=input_file, metavar="RESULTS.jsonl", help="a results table (JSON lines)")
    p.add_argument("--out", type=output_file, required=True, metavar="CAL.json", help="calibration file to write")
    p.add_argument("--predictor", type=_predictor_name, default="auto",
                   help=f"one of {', '.join(PREDICTORS)}, or auto (default: the rule of capacity.protocol)")
    p.add_argument("--exclude", nargs="+", default=[], metavar="MODEL", help="models to leave out of the fit")
    p.add_argument("--accuracy", type=number(0, 1, low_open=True, high_open=True), default=0.1,
                   help="accuracy level that defines r_c, in (0, 1) (default 0.1)")
    p.add_argument("--bootstrap", type=integer(20, 10**4), default=200, help="bootstrap replicates (default 200)")
    p.add_argument("--seed", type=seed, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _predictor_name(text: str) -> str:
    if text != "auto" and text not in PREDICTORS:
        raise argparse.ArgumentTypeError(f"{text}: must be one of auto, {', '.join(PREDICTORS)}")
    return text


def run(args) -> dict:
    runs = load_runs(args.results, exclude=args.exclude)
    scores: dict = {}
    name = args.predictor
    if name == "auto":
        name, scores = pick_predictor(runs, level=args.accuracy, seed=args.seed)
    fitted = PREDICTORS[name].fit(runs, level=args.accuracy, n_boot=args.bootstrap, seed=args.seed)
    measured = measure_critical_ratios(runs, args.accuracy, n_boot=1000, seed=args.seed)
    calibration = {
        "schema": SCHEMA, "source": str(args.results), "requested": args.predictor, "predictor": name,
        "selection_scores": {k: (v if v != float("inf") else None) for k, v in scores.items()},
        "accuracy_level": args.accuracy, "excluded_models": list(args.exclude), "fitted": fitted.as_dict(),
        "critical_ratios": [m.as_dict() for m in measured],
        "local_slopes": local_odds_slopes(measured, seed=args.seed),
    }
    Path(args.out).write_text(dumps(calibration, indent=1) + "\n")
    return {"out": str(args.out), "predictor": name, "requested": args.predictor, "fitted_on": list(fitted.fitted_on),
            "runs": len(fitted.run_ids), "sizes": list(fitted.sizes), "constants": fitted.constants,
            "residual_sd": fitted.residual_sd, "selection_scores": calibration["selection_scores"],
            "critical_ratios": calibration["critical_ratios"]}


def show(out: dict) -> None:
    chosen = f" (chosen by the rule from {out['requested']})" if out["requested"] == "auto" else ""
    print(f"Predictor {out['predictor']}{chosen}, fitted on {out['runs']} runs of {', '.join(out['fitted_on'])}")
    if out["predictor"] not in AUTO_FALLBACK:
        print(f"  note: {out['predictor']} was written after the prediction study's runs were seen and is not among "
              "the rule's candidates; its record on held-out sizes is a description, not a test")
    for name, score in out["selection_scores"].items():
        print(f"  inner leave-one-size-out mean |log(pred/measured)| {name}: "
              f"{'not fittable' if score is None else f'{score:.3f}'}")
    for m in out["critical_ratios"]:
        if m["measured"] is not None:
            lo, hi = m["interval"]
            print(f"  measured r_c {m['model']} at {m['tokens']:,.0f} tokens: {m['measured']:.3f} [{lo:.3f}, {hi:.3f}]")
        else:
            print(f"  {m['model']} at {m['tokens']:,.0f} tokens: r_c {m['bound']} {m['bound_value']:g} (not bracketed)")
    print(f"Wrote {out['out']}")


def load_calibration(path) -> tuple[dict, Fitted]:
    try:
        data = json.loads(Path(path).read_text())
    except ValueError:
        raise UsageError("--calibration", str(path), "is not JSON (write it with `capacity calibrate`)") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or "fitted" not in data:
        raise UsageError("--calibration", str(path), f"is not a calibration file (schema {SCHEMA})")
    return data, Fitted.from_dict(data["fitted"])


def add_predict_options(p: argparse.ArgumentParser) -> None:
    """``--calibration`` and ``--tokens`` on ``capacity predict``; the theory's knowledge flags become
    optional there (they are required without --calibration, checked when it runs)."""
    p.add_argument("--calibration", type=input_file, metavar="CAL.json",
                   help="predict r_c with a predictor fitted by `capacity calibrate` instead of the theory's formula")
    p.add_argument("--tokens", type=number(1, 1e16), help="training tokens (with --calibration; default: the "
                   "calibration's most common budget)")
    for action in p._actions:
        if action.dest in ("people", "tokens_per_person"):
            action.required = False


_THEORY_FLAGS = ("people", "tokens_per_person", "mixing_ratio")
_THEORY_DEFAULTS = (
    ("--law-nats", "law_nats", (PAPER_FINEWEB_EDU_LAW.irreducible, PAPER_FINEWEB_EDU_LAW.amplitude,
                                PAPER_FINEWEB_EDU_LAW.exponent)),
    ("--size-unit", "size_unit", 1e6),
    ("--bits-per-param", "bits_per_param", DEFAULT_BITS_PER_PARAMETER),
    ("--bits-per-person", "bits_per_person", synbio_bits_per_person()),
)


def run_calibrated(args) -> dict:
    for dest in _THEORY_FLAGS[:2]:
        if getattr(args, dest) is not None:
            conflict("--" + dest.replace("_", "-"), getattr(args, dest), "--calibration",
                     "the calibration fixes the knowledge set")
    if getattr(args, "params_kind", "nonembedding") != "nonembedding":
        conflict("--params-kind", args.params_kind, "--calibration", "calibrations are in non-embedding parameters")
    for flag, dest, default in _THEORY_DEFAULTS:
        if getattr(args, dest, default) != default:
            conflict(flag, getattr(args, dest), "--calibration", "the calibration replaces the theory's inputs")
    data, fitted = load_calibration(args.calibration)
    value, interval = fitted.predict(args.params, args.tokens)
    tokens = fitted.default_tokens if args.tokens is None else args.tokens
    budgets = fitted.budgets or (tokens,)
    token_factor = fitted.tokens_factor(tokens)
    out = {"critical_mixing_ratio": value, "interval": list(interval), "predictor": fitted.predictor,
           "extrapolation_factor": fitted.extrapolation_factor(args.params), "tokens_extrapolation_factor": token_factor,
           "params": args.params, "tokens": tokens, "accuracy_level": fitted.level,
           "calibrated_sizes": list(fitted.sizes), "calibrated_budgets": list(budgets),
           "fitted_on": list(fitted.fitted_on), "calibration": str(args.calibration)}
    if args.mixing_ratio is not None:
        r = args.mixing_ratio
        out["mixing_ratio"] = r
        out["verdict"] = ("above the critical ratio's interval: accuracy above the level expected" if r > interval[1]
                          else "below the critical ratio's interval: accuracy below the level expected"
                          if r < interval[0] else "within the critical ratio's interval: undecided")
    bend = _bend_above(data.get("local_slopes") or [], args.params, fitted.sizes[1], tokens)
    if bend is not None:
        first, last = bend
        out["odds_bend"] = {"tokens": first["tokens"], "smallest_pair": first, "largest_pair": last}
        print(f"capacity predict: warning: the calibration's critical odds bend with size at {first['tokens']:,.0f} "
              f"tokens (slope {first['slope']:.2f} from {first['from']} to {first['to']}, {last['slope']:.2f} from "
              f"{last['from']} to {last['to']}); above the calibrated sizes r_c may stay near its value at the "
              f"largest of them, not follow any fitted curve", file=sys.stderr)
    worst = max(out["extrapolation_factor"], token_factor)
    if worst > WARN_EXTRAPOLATION:
        print(f"capacity predict: warning: {worst:.3g}x outside the calibrated sizes "
              f"{fitted.sizes[0]:,.0f}-{fitted.sizes[1]:,.0f} params / budgets {min(budgets):,.0f}-{max(budgets):,.0f} "
              f"tokens; beyond {WARN_EXTRAPOLATION:g}x the prediction is not validated", file=sys.stderr)
    return out


def _bend_above(local: list, params: float, largest: float, tokens: float) -> tuple[dict, dict] | None:
    """The calibration's odds bend (``capacity.calibration.odds_bend``) when predicting above the largest
    calibrated size: at the requested budget if it was measured, else at any budget that shows one."""
    if params <= largest or not local:
        return None
    budgets = {s["tokens"] for s in local}
    if tokens in budgets:
        return odds_bend(local, tokens)
    return next((b for b in (odds_bend(local, t) for t in sorted(budgets)) if b is not None), None)


def show_calibrated(out: dict) -> None:
    lo, hi = out["interval"]
    small, large = out["calibrated_sizes"]
    factor = out["extrapolation_factor"]
    where = (f"{factor:.3g}x outside" if factor > 1 else "within") + \
        f" the sizes with a measured r_c ({small:,.0f}-{large:,.0f} parameters)"
    print(f"Predictor {out['predictor']} (fitted on runs of {', '.join(out['fitted_on'])}): at {out['params']:,.0f} "
          f"non-embedding parameters and {out['tokens']:,.0f} tokens, accuracy reaches {out['accuracy_level']:.0%} "
          f"at r_c = {out['critical_mixing_ratio']:.4f} (95% interval {lo:.4f}-{hi:.4f}); {where}.")
    if "verdict" in out:
        print(f"At r = {out['mixing_ratio']:g}: {out['verdict']}")


def wrap_predict(run_theory, show_theory):
    """(compute, show) for ``capacity predict``: the calibrated path with --calibration, else the theory's."""

    def compute(args) -> dict:
        if getattr(args, "calibration", None) is not None:
            return run_calibrated(args)
        if args.tokens is not None:
            conflict("--tokens", args.tokens, "the theory's formula", "it needs --calibration")
        for dest in _THEORY_FLAGS[:2]:
            if getattr(args, dest) is None:
                raise UsageError("--" + dest.replace("_", "-"), None, "required (or give --calibration)")
        return run_theory(args)

    def show(out: dict) -> None:
        (show_calibrated if "extrapolation_factor" in out else show_theory)(out)

    return compute, show
