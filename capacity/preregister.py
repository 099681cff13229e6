"""Predictions written down before the runs that test them have finished.

    python -m capacity.preregister RESULTS.jsonl OUT.json --case MODEL PARAMS TOKENS [--case ...]

fits every predictor (and the rule's pick, ``auto``) on all final runs of the table and writes its
r_c, with the 95% interval, for each case: a (model, non-embedding parameters, training tokens)
none of whose runs has finished in the table. Committed before those runs finish, the file is the only
place where a predictor chosen or written after seeing the data (``floor-power-law``) is tested, and
where every other predictor is tested on the budgets still to come. A case with a finished run in the
table is refused, as is a known model given another size, and an existing file is never overwritten:
a pre-registration is written once.
``capacity.prediction_report`` scores the file against the table once the cases are measured.
"""
from __future__ import annotations

import errno
import hashlib
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from capacity.calibration import RunRecord, load_runs
from capacity.cli_common import (Parser, UsageError, dumps, input_file, integer, number, output_file, parse_args,
                                 report)
from capacity.predictors import PREDICTORS
from capacity.protocol import fit_predictor

SCHEMA = "phasemix.preregistration/1"


def preregister(runs: Sequence[RunRecord], cases: Sequence[tuple[str, float, float]], *, level: float = 0.1,
                n_boot: int = 200, seed: int = 0) -> dict:
    """Every predictor's r_c for each (model, params, tokens) case, fitted on all of ``runs``."""
    sizes = {r.model: r.params for r in runs}
    wrong = [f"{model} has {sizes[model]:,.0f} non-embedding parameters in the table, not {params:,.0f}"
             for model, params, _ in cases if model in sizes and sizes[model] != float(params)]
    if wrong:
        raise ValueError("; ".join(wrong))
    done = sorted({f"{r.model} at {r.tokens:,.0f} tokens" for r in runs for model, _, tokens in cases
                   if (r.model, r.tokens) == (model, float(tokens))})
    if done:
        raise ValueError(f"the table already has finished runs of {', '.join(done)}: a pre-registration must come "
                         "before any of its case's runs finish")
    predictions = []
    for name in [*PREDICTORS, "auto"]:
        try:
            fitted, picked = fit_predictor(name, runs, level, n_boot, seed)
        except ValueError as exc:
            predictions += [{"predictor": name, "model": m, "params": p, "tokens": t, "predicted": None,
                             "error": str(exc)} for m, p, t in cases]
            continue
        for model, params, tokens in cases:
            row = {"predictor": name, "picked": picked, "model": model, "params": float(params), "tokens": float(tokens),
                   "size_factor": fitted.extrapolation_factor(params), "tokens_factor": fitted.tokens_factor(tokens)}
            try:
                value, interval = fitted.predict(params, tokens)
                row.update(predicted=value, interval=list(interval))
            except (ValueError, OverflowError) as exc:
                row.update(predicted=None, error=str(exc))
            predictions.append(row)
    return {"schema": SCHEMA, "accuracy_level": level, "bootstrap": n_boot, "seed": seed,
            "fitted_on_runs": sorted(r.run_id for r in runs), "cases": [
                {"model": m, "params": float(p), "tokens": float(t)} for m, p, t in cases],
            "predictions": predictions}


def score(prereg: dict, measured: Sequence[dict]) -> list[dict]:
    """Each pre-registered prediction against the r_c measured since (``critical_ratios`` rows of a
    report), or marked not yet measured."""
    found = {(m["model"], float(m["tokens"])): m for m in measured if m.get("measured") is not None}
    bounds = {(m["model"], float(m["tokens"])): m for m in measured if m.get("bound") in ("below", "above")}
    out = []
    for p in prereg["predictions"]:
        row = dict(p)
        key = (p["model"], float(p["tokens"]))
        m = found.get(key)
        row["measured"] = None if m is None else m["measured"]
        row["measured_interval"] = None if m is None else m["interval"]
        if m is not None and p.get("predicted") is not None:
            row["ratio"] = p["predicted"] / m["measured"]
            row["covered"] = p["interval"][0] <= m["measured"] <= p["interval"][1]
        else:
            row["ratio"] = row["covered"] = None
        b = bounds.get(key)
        if m is None and b is not None:  # the search so far only bounds r_c
            row["bound"], row["bound_value"] = b["bound"], b["bound_value"]
            # consistent: the prediction's interval reaches the bound's side (its point may not)
            row["consistent"] = None if p.get("predicted") is None else bool(
                p["interval"][0] < b["bound_value"] if b["bound"] == "below" else p["interval"][1] > b["bound_value"])
        out.append(row)
    return out


def _git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write(results: str | Path, out: str | Path, cases: Sequence[tuple[str, float, float]], *, level: float = 0.1,
          n_boot: int = 200, seed: int = 0) -> dict:
    """``preregister`` on the final runs of ``results``, written to ``out`` with the time, the table's
    sha256 and the repository's commit; refuses an existing ``out``."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(errno.EEXIST, "exists, and a pre-registration is written once (remove it to start a new "
                              "one)", str(out))
    runs = load_runs(results)
    data = preregister(runs, cases, level=level, n_boot=n_boot, seed=seed)
    data.update(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), source=str(results),
                table_sha256=hashlib.sha256(Path(results).read_bytes()).hexdigest(),
                table_commit=_git_commit(Path(results).resolve()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(data, indent=1) + "\n")
    return data


def _parse_case(triple: Sequence[str]) -> tuple[str, float, float]:
    model, params, tokens = triple
    values = []
    for what, text in (("PARAMS", params), ("TOKENS", tokens)):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 1):
            raise UsageError("--case", " ".join(triple), f"{what} must be a number >= 1, got {text!r}")
        values.append(value)
    return model, values[0], values[1]


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m capacity.preregister", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=input_file, metavar="RESULTS.jsonl", help="a results table (JSON lines)")
    parser.add_argument("out", type=output_file, metavar="OUT.json", help="the pre-registration to write (never "
                        "overwritten)")
    parser.add_argument("--case", nargs=3, action="append", required=True, metavar=("MODEL", "PARAMS", "TOKENS"),
                        help="a model, its non-embedding parameters and a training budget in tokens; repeatable")
    parser.add_argument("--accuracy", type=number(0, 1, low_open=True, high_open=True), default=0.1,
                        help="accuracy level that defines r_c, in (0, 1) (default 0.1)")
    parser.add_argument("--bootstrap", type=integer(20, 10**4), default=200, help="bootstrap replicates (default 200)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        cases = [_parse_case(c) for c in args.case]
        data = write(args.results, args.out, cases, level=args.accuracy, n_boot=args.bootstrap)
    except (ValueError, OSError) as exc:
        return report("preregister", exc)
    print(f"Wrote {args.out}: {len(data['predictions'])} predictions of {len(data['cases'])} cases, fitted on "
          f"{len(data['fitted_on_runs'])} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
