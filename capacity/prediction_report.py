"""The prediction report: measured r_c with intervals, every predictor on every held-out case, the
paper's external points, and the predictor the rule picks (no torch, no plotting here).

    python -m capacity.prediction_report RESULTS.jsonl OUT_DIR [--accuracy 0.1] [--bootstrap 200] [--no-figures]

writes OUT_DIR/report.json and OUT_DIR/report.md, and the figures (``figures.prediction``) when
matplotlib is installed. report.json holds ``critical_ratios`` ({model, params_nonembedding, tokens,
accuracy_level, measured, interval, seeds}), ``predictions`` ({predictor, mode, held_out, fitted_on,
tokens, predicted, interval, measured, ratio, ...}) and ``picked_predictor``, plus the bound checks,
the paper checks, the web-loss law and the slopes.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from capacity.calibration import (RunRecord, fit_web_law, load_runs, local_odds_slopes, measure_critical_sizes,
                                  odds_bend)
from capacity.cli_common import Parser, input_file, integer, number, output_dir, parse_args, report
from capacity.predictors import PREDICTORS
from capacity.preregister import SCHEMA as PREREG_SCHEMA, score
from capacity.protocol import AUTO_FALLBACK, bound_checks, evaluate, paper_checks, pick_predictor

TARGET = 1.25  # the picked predictor's extrapolation must be within this factor of the measurement
PREREGISTERED = "preregistered.json"  # in the output folder: scored when present (``capacity.preregister``)


def _log_ratio_summary(rows: Sequence[dict]) -> dict:
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    if not ratios:
        return {"cases": 0}
    logs = np.abs(np.log(ratios))
    return {"cases": len(ratios), "geometric_mean_error": float(np.exp(logs.mean())), "worst": float(np.exp(logs.max())),
            "covered": int(sum(bool(r["covered"]) for r in rows if r["ratio"] is not None))}


def build(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0, source: str = "") -> dict:
    measured, predictions = evaluate(runs, level=level, n_boot=n_boot, seed=seed)
    picked, scores = pick_predictor(runs, level=level, seed=seed)
    full = {}
    for name in PREDICTORS:
        try:
            full[name] = PREDICTORS[name].fit(runs, level=level, n_boot=n_boot, seed=seed)
        except ValueError as exc:
            full[name] = str(exc)
    rows = [p.as_dict() for p in predictions]
    summary = {}
    for name in [*PREDICTORS, "auto"]:
        mine = [r for r in rows if r["predictor"] == name]
        summary[name] = {mode: _log_ratio_summary([r for r in mine if (r["mode"], r["axis"]) == key])
                         for mode, key in (("leave-one-out", ("leave-one-out", "size")),
                                           ("extrapolate-size", ("extrapolate", "size")),
                                           ("extrapolate-budget", ("extrapolate", "budget")))}
    try:
        law = fit_web_law(runs)
        web = {"C": law.C, "A": law.A, "alpha": law.alpha, "B": law.B, "tokens": law.tokens, "sizes": list(law.sizes),
               "residual_sd": law.residual_sd, "theory_odds_slope": -(law.alpha + 1.0)}
    except ValueError as exc:
        web = {"error": str(exc)}
    slopes = {}
    if not isinstance(full.get("odds-power-law"), str):
        fitted = full["odds-power-law"]
        a1 = np.array([d["a1"] for d in fitted.draws])
        a2 = np.array([d["a2"] for d in fitted.draws])
        slopes = {"odds_vs_size": -fitted.constants["a1"],
                  "odds_vs_size_interval": sorted((-np.quantile(a1, [0.025, 0.975])).tolist()),
                  "odds_vs_budget": -fitted.constants["a2"],
                  "odds_vs_budget_interval": sorted((-np.quantile(a2, [0.025, 0.975])).tolist())}
    return {
        "source": source, "runs": len(runs), "accuracy_level": level, "bootstrap": n_boot,
        "critical_ratios": [m.as_dict() for m in measured],
        "critical_sizes": measure_critical_sizes(runs, level, seed=seed),
        "predictions": rows,
        "summary": summary,
        "picked_predictor": picked, "selection_scores": {k: (None if math.isinf(v) else v) for k, v in scores.items()},
        "bound_checks": bound_checks(runs, measured, level=level),
        "paper_checks": {name: (paper_checks(f, runs) if not isinstance(f, str) else f) for name, f in full.items()},
        "fitted_on_all": {name: (f.constants if not isinstance(f, str) else f) for name, f in full.items()},
        "web_law": web, "slopes": slopes, "local_slopes": local_odds_slopes(measured, seed=seed),
        "equations": {name: p.equation for name, p in PREDICTORS.items()},
        "post_hoc": [name for name in PREDICTORS if name not in AUTO_FALLBACK],
    }


def _f(x, fmt="{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _off(ratio) -> float:
    """How many times off a predicted/measured ratio is (infinite for none or zero)."""
    return max(ratio, 1 / ratio) if ratio else math.inf


def _judge(report: dict, r: dict) -> str:
    """One size extrapolation of the rule's pick against the target, and which predictors reach it."""
    if r["ratio"] is None:
        return (f"For {r['held_out']} at {r['tokens']:,.0f} tokens the rule's predictor could not be scored "
                f"({r.get('error') or 'no prediction'}).")
    factor, ok = r["extrapolation_factor"], _off(r["ratio"]) <= TARGET and r["covered"]
    text = (f"The rule picks **{r['picked']}** from the calibration sizes alone. Fitted on {', '.join(r['fitted_on'])}, it "
            f"predicts {r['held_out']} at {r['tokens']:,.0f} tokens ({factor:.2f}x beyond the largest calibrated size) "
            f"at r_c = {r['predicted']:.3f} [{r['interval'][0]:.3f}, {r['interval'][1]:.3f}] against {r['measured']:.3f} "
            f"measured: ratio {r['ratio']:.3f}, {'within' if _off(r['ratio']) <= TARGET else 'outside'} the {TARGET}x "
            f"target, interval {'covers' if r['covered'] else 'misses'} the measurement.")
    good = [x for x in report["predictions"] if x["predictor"] not in ("auto", *report.get("post_hoc", ()))
            and (x["mode"], x["axis"]) == ("extrapolate", "size")
            and (x["held_out"], x["tokens"]) == (r["held_out"], r["tokens"]) and _off(x["ratio"]) <= TARGET and x["covered"]]
    if good and not ok:
        text += (" Within the target with an interval that covers, on the same case: " + ", ".join(
            f"{x['predictor']} ({x['predicted']:.3f}, ratio {x['ratio']:.3f})" for x in good) + "; the rule, which sees "
            f"the calibration sizes alone, did not pick {'it' if len(good) == 1 else 'them'}.")
        if any(x["predictor"].startswith("theory") for x in good) and len(r["fitted_on"]) < 4:
            text += (" With fewer than four calibration sizes each inner fold has fewer than three, too few for the "
                     "theory family's web-loss law, so the rule cannot score that family.")
    elif not good and not ok:
        text += f" No predictor is within the {TARGET}x target with a covering interval on this case."
    late = [x for x in report["predictions"] if x["predictor"] in report.get("post_hoc", ()) and x["ratio"] is not None
            and (x["mode"], x["axis"], x["held_out"], x["tokens"]) == ("extrapolate", "size", r["held_out"], r["tokens"])]
    if late:
        text += " Written after these runs were seen, so a description and not a test: " + ", ".join(
            f"{x['predictor']} ({x['predicted']:.3f}, ratio {x['ratio']:.3f}, interval "
            f"{'covers' if x['covered'] else 'misses'})" for x in late) + "."
    if factor < 2.0:
        text += (f" This extrapolation is only {factor:.2f}x, short of the 2x the target asks for: the runs do not yet "
                 f"test the predictor over the range a user would need.")
    return text


def _largest_fitted(report: dict, case: dict) -> float:
    """The largest size (non-embedding parameters) a case's fit saw."""
    sizes = {m["model"]: m["params_nonembedding"] for m in report["critical_ratios"]}
    return max((sizes[m] for m in case["fitted_on"] if m in sizes), default=0.0)


def verdict(report: dict) -> str:
    """A plain verdict from the numbers: the picked predictor's extrapolation to the largest size (at
    each budget where that size is measured) against the target, then the other cases."""
    picked = report["picked_predictor"]
    cases = sorted((r for r in report["predictions"] if r["predictor"] == "auto" and r["mode"] == "extrapolate"
                    and r["axis"] == "size"), key=lambda r: (r["params"], r["tokens"]))
    if not cases:
        return f"The rule picks {picked}, but no size extrapolation could be made on these runs."
    largest = cases[-1]["params"]
    text = " ".join(_judge(report, r) + ("" if r["ratio"] is not None and _off(r["ratio"]) <= TARGET and r["covered"]
                                         else _bend(report, r["tokens"], _largest_fitted(report, r)))
                    for r in cases if r["params"] == largest)
    others = [x for x in cases if x["params"] < largest and x["ratio"] is not None]
    if others:
        text += " The other size extrapolations: " + "; ".join(
            f"{x['held_out']} at {x['tokens']:,.0f} tokens ({x['extrapolation_factor']:.2f}x, {x['picked']}) "
            f"{x['predicted']:.3f} against {x['measured']:.3f}, ratio {x['ratio']:.3f}" for x in others) + "."
    budget = [x for x in report["predictions"] if x["predictor"] == "auto" and x["axis"] == "budget"
              and x["ratio"] is not None]
    if budget:
        calibration = sorted({m["tokens"] for m in report["critical_ratios"] if m["tokens"] < budget[0]["tokens"]})
        text += " Predicting a larger budget from the smaller ones: " + "; ".join(
            f"{b['held_out']} at {b['tokens']:,.0f} tokens ({b['extrapolation_factor']:.2g}x) {b['predicted']:.3f} "
            f"against {b['measured']:.3f} (ratio {b['ratio']:.3f})" for b in budget) + "."
        if len(calibration) == 1:
            text += " With a single calibration budget no predictor can see r_c move with training."
    return text + _preregistered_verdict(report.get("preregistered"))


def _preregistered_verdict(prereg: dict | None) -> str:
    """One sentence per pre-registered case measured since: the rule's pick and who reached the target."""
    if not prereg:
        return ""
    text = ""
    rows = [p for p in prereg["predictions"] if p["measured"] is not None and p.get("predicted") is not None]
    for model, tokens in sorted({(p["model"], p["tokens"]) for p in rows}, key=lambda c: (c[1], c[0])):
        case = [p for p in rows if (p["model"], p["tokens"]) == (model, tokens)]
        auto = next((p for p in case if p["predictor"] == "auto"), None)
        good = [p for p in case if p["predictor"] != "auto" and _off(p["ratio"]) <= TARGET and p["covered"]]
        text += (f" Pre-registered on {(prereg.get('created') or 'an unknown date')[:10]}, {model} at {tokens:,.0f} tokens measured "
                 f"{case[0]['measured']:.3f}: " + (f"the rule's pick ({auto['picked']}) predicted {auto['predicted']:.3f}, "
                                                 f"ratio {auto['ratio']:.3f}; " if auto else "")
                 + ("within the target with a covering interval: " + ", ".join(
                     f"{p['predictor']} ({p['ratio']:.3f})" for p in good) if good else "no predictor within the "
                    "target with a covering interval") + ".")
    pending = sorted({(p["model"], p["tokens"]) for p in prereg["predictions"] if p["measured"] is None})
    if pending:
        def status(model, tokens):
            b = next((p for p in prereg["predictions"] if (p["model"], p["tokens"]) == (model, tokens) and p.get("bound")),
                     None)
            return "" if b is None else f" (r_c {'<' if b['bound'] == 'below' else '>'} {b['bound_value']:g} so far)"

        text += (f" Pre-registered on {(prereg.get('created') or 'an unknown date')[:10]} and not yet measured: " + ", ".join(
            f"{m} at {t:,.0f} tokens{status(m, t)}" for m, t in pending) + ".")
    return text


def _budget_lines(critical: Sequence[dict]) -> list[str]:
    """Per size measured at several budgets: how r_c moves with the budget T, against the two limits.
    A capacity-limited learner keeps r_c fixed (arXiv 2505.18091, section 4); a learner that needs a
    fixed number of exposures per fact has r_c ~ 1/T, so r_c x T (exposures at the threshold) stays fixed."""
    out = []
    for model in sorted({m["model"] for m in critical}, key=lambda n: min(m["params_nonembedding"] for m in critical
                                                                          if m["model"] == n)):
        pts = sorted((m["tokens"], m["measured"]) for m in critical if m["model"] == model and m["measured"])
        if len(pts) < 2:
            continue
        (t0, r0), (t1, r1) = pts[0], pts[-1]
        slope = math.log(r1 / r0) / math.log(t1 / t0)
        out.append(f"{model}: r_c {r0:.3f} at {t0:,.0f} tokens, {r1:.3f} at {t1:,.0f} ({t1 / t0:.3g}x): r_c ~ T^{slope:.2f}; "
                   f"exposures at the threshold (r_c x T) x{r1 * t1 / (r0 * t0):.2f}. A capacity-limited learner: T^0 "
                   f"(exposures x{t1 / t0:.3g}); a fixed exposure count: T^-1 (x1).")
        if len(pts) > 2:  # whether the fall slows as the budget grows: the theory's premise, approached
            steps = [f"T^{math.log(b[1] / a[1]) / math.log(b[0] / a[0]):.2f} from {a[0]:,.0f} to {b[0]:,.0f} tokens"
                     for a, b in zip(pts, pts[1:])]
            out[-1] += " Step by step: " + ", ".join(steps) + "."
    return ["", *out] if out else []


def _interval(iv) -> str:
    return f" [{iv[0]:.2f}, {iv[1]:.2f}]" if iv else ""


def _local_slope_lines(local: Sequence[dict]) -> list[str]:
    """Per budget with three or more measured sizes, the odds slope between adjacent sizes."""
    out = []
    for tokens in sorted({s["tokens"] for s in local}):
        pairs = [s for s in local if s["tokens"] == tokens]
        if len(pairs) >= 2:
            out.append(f"Local odds slopes between adjacent sizes at {tokens:,.0f} tokens: " + "; ".join(
                f"{s['from']} to {s['to']} {s['slope']:.2f}{_interval(s['interval'])}" for s in pairs)
                + ". One power law in the odds would give the same slope for every pair.")
    return ["", *out] if out else []


def _bend(report: dict, tokens: float, calibrated: float) -> str:
    """What the local slopes at one budget say when the size extrapolation missed: whether the odds
    bend, and whether r_c still falls at the largest sizes."""
    bend = odds_bend(report.get("local_slopes", []), tokens)
    if bend is None:
        return ""
    first, last = bend
    text = (f" What the data suggest: at {tokens:,.0f} tokens the odds' slope against size climbs from "
            f"{first['slope']:.2f}{_interval(first['interval'])} ({first['from']} to {first['to']}) to "
            f"{last['slope']:.2f}{_interval(last['interval'])} ({last['from']} to {last['to']}), so r_c is not a power "
            f"law in size over this range and a power law extrapolated from the smaller sizes falls below it")
    if last["interval"][1] >= 0.0:
        text += f"; beyond {last['from']} r_c stops falling within the noise at this budget"
    within = odds_bend([s for s in report.get("local_slopes", []) if s["params_to"] <= calibrated], tokens)
    if within is not None:
        text += (f". The calibration sizes alone already show the bend ({within[0]['slope']:.2f}, then "
                 f"{within[1]['slope']:.2f}; `capacity predict` warns of it), but the rule's inner leave-one-size-out "
                 f"cannot score a curved form on so few sizes")
    return text + "."


def _measured_lines(report: dict) -> list[str]:
    """The rows of the measured-r_c table, then the odds slopes and the critical sizes."""
    lines: list[str] = []
    for m in report["critical_ratios"]:
        if m["measured"] is not None:
            value, interval = f"{m['measured']:.3f}", f"{m['interval'][0]:.3f}-{m['interval'][1]:.3f}"
        elif m["bound"] in ("below", "above"):
            value, interval = f"{'<' if m['bound'] == 'below' else '>'} {m['bound_value']:g}", "not bracketed"
        else:
            value, interval = "n/a", f"no fit: {m.get('detail', '')}"
        lines.append(f"| {m['model']} | {m['params_nonembedding']:,.0f} | {m['tokens']:,.0f} | "
                     f"{len(m['seeds'])} | {value} | {interval} |")
    s, w = report["slopes"], report["web_law"]
    if s:
        lines += ["", f"Odds r_c/(1 - r_c) against size: slope {s['odds_vs_size']:.3f} "
                      f"[{s['odds_vs_size_interval'][0]:.3f}, {s['odds_vs_size_interval'][1]:.3f}]"
                      + (f"; the theory's -(alpha + 1) with the web law fitted here: {w['theory_odds_slope']:.3f} "
                         f"(alpha = {w['alpha']:.3f})" if "alpha" in w else "") + ". Both are slopes of the log odds."]
        if s["odds_vs_budget"] != 0.0:
            lines.append(f"Odds against the training budget: slope {s['odds_vs_budget']:.3f} "
                         f"[{s['odds_vs_budget_interval'][0]:.3f}, {s['odds_vs_budget_interval'][1]:.3f}]; the theory's "
                         f"premise (capacity-limited models) needs 0.")
    lines += _local_slope_lines(report.get("local_slopes", []))
    lines += _budget_lines(report["critical_ratios"])
    sized = [c for c in report["critical_sizes"] if c["critical_params"] is not None]
    if sized:
        lines += ["", "Critical size at a fixed ratio (logistic fit of accuracy against log M across sizes): " + "; ".join(
            f"r = {c['mixing_ratio']:g} at {c['tokens']:,.0f} tokens: {c['critical_params']:,.0f} "
            f"[{c['interval'][0]:,.0f}, {c['interval'][1]:,.0f}] non-embedding parameters (from the two sizes "
            f"around the crossing alone: {c['bracketing_pair']:,.0f})" for c in sized) + ". The interval covers "
            "sampling only; the gap to the two-size value is the logistic form's misfit across sizes."]
    return lines


def _preregistered_lines(prereg: dict | None) -> list[str]:
    """The pre-registered predictions, scored where their case has been measured since."""
    if not prereg:
        return []
    lines = ["", "## Pre-registered predictions", "",
             f"Written to `{prereg['file']}` on {prereg['created']} (table at commit {prereg['table_commit'] or 'unknown'}), "
             f"each predictor fitted on the {prereg['fitted_on_runs']} final runs then in the table, before any run of "
             "these cases had finished (`capacity.preregister`). Unlike the held-out cases above, these test every "
             "predictor, `floor-power-law` included, on data no choice was made after.", "",
             "| predictor | case | tokens | predicted | interval | measured | ratio | covers |", "|---|---|---|---|---|---|---|---|"]
    for p in prereg["predictions"]:
        name = p["predictor"] + (f" ({p['picked']})" if p.get("picked") else "")
        if p.get("predicted") is None:
            lines.append(f"| {name} | {p['model']} | {p['tokens']:,.0f} | n/a: {p.get('error', '')} | | | | |")
            continue
        measured = "not yet" if p["measured"] is None else f"{p['measured']:.3f}"
        ratio = "" if p["ratio"] is None else f"{p['ratio']:.3f}"
        if p.get("bound"):  # only bounded so far: the bound, and whether the prediction agrees with it
            measured = f"{'<' if p['bound'] == 'below' else '>'} {p['bound_value']:g} so far"
            ratio = f"interval reaches it: {'yes' if p['consistent'] else 'no'}"
        lines.append(f"| {name} | {p['model']} | {p['tokens']:,.0f} | {p['predicted']:.3f} | {p['interval'][0]:.3f}-"
                     f"{p['interval'][1]:.3f} | {measured} | {ratio} | "
                     f"{'' if p['covered'] is None else 'yes' if p['covered'] else 'no'} |")
    return lines


def markdown(report: dict) -> str:
    lines = [f"# Predicting the critical mixing ratio of a held-out size", "",
             f"{report['runs']} final runs from `{report['source']}`; r_c is the mixing ratio where exact-match accuracy "
             f"reaches {report['accuracy_level']:.0%}, from a binomial logistic fit of accuracy against log r per "
             f"(model, budget), with a 95% bootstrap interval over people and seeds (`capacity.critical`).", "",
             "## Verdict", "", verdict(report), "", "## Measured critical ratios", "",
             "| model | non-embedding params | tokens | seeds | r_c | 95% interval |", "|---|---|---|---|---|---|"]
    lines += _measured_lines(report)
    lines += ["", "## Every predictor on every held-out case", "",
              "Predicted r_c, 95% interval, measured r_c, predicted/measured; `x` is how far outside the fitted sizes "
              "or budgets the case lies.", "",
              "| predictor | mode | held out | tokens | fitted on | predicted | interval | measured | ratio | covers | x |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["predictions"]:
        name = r["predictor"] + (f" ({r['picked']})" if r["picked"] else "") + (
            " (post hoc)" if r["predictor"] in report.get("post_hoc", ()) else "")
        mode = r["mode"] + ("" if r["mode"] == "leave-one-out" else f" ({r['axis']})")
        if r["predicted"] is None:
            lines.append(f"| {name} | {mode} | {r['held_out']} | {r['tokens']:,.0f} | {', '.join(r['fitted_on'])} | "
                         f"n/a: {r['error']} | | {r['measured']:.3f} | | | |")
            continue
        lines.append(f"| {name} | {mode} | {r['held_out']} | {r['tokens']:,.0f} | {', '.join(r['fitted_on'])} | "
                     f"{r['predicted']:.3f} | {r['interval'][0]:.3f}-{r['interval'][1]:.3f} | {r['measured']:.3f} | "
                     f"{r['ratio']:.3f} | {'yes' if r['covered'] else 'no'} | {r['extrapolation_factor']:.2f} |")
    lines += ["", "Summary (geometric mean and worst factor off, cases covered by the interval):", "",
              "| predictor | leave-one-out | extrapolate size | extrapolate budget |", "|---|---|---|---|"]
    for name, modes in report["summary"].items():
        cells = [(f"{m['geometric_mean_error']:.3f} / {m['worst']:.3f} ({m['covered']}/{m['cases']})" if m["cases"]
                  else "n/a") for m in modes.values()]
        tag = " (post hoc)" if name in report.get("post_hoc", ()) else ""
        lines.append(f"| {name}{tag} | " + " | ".join(cells) + " |")
    lines += _preregistered_lines(report.get("preregistered"))
    lines += ["", "## Sizes and budgets only bounded", "", "Each predictor fitted without the size, against the bound.",
              "", "| predictor | model | tokens | bound | predicted | consistent |", "|---|---|---|---|---|---|"]
    for b in report["bound_checks"]:
        lines.append(f"| {b['predictor']} | {b['held_out']} | {b['tokens']:,.0f} | "
                     f"{'<' if b['bound'] == 'below' else '>'} {b['bound_value']:g} | {_f(b['predicted'])} | "
                     f"{_f(b['consistent'], '{}')} |")
    lines += ["", "## The paper's external points (arXiv 2505.18091, Table 1 and Fig. 2b)", "",
              "Each predictor as fitted on all these runs. Theory family: the paper's FineWeb-Edu law and knowledge set "
              "(70 tokens per biography); empirical ones: their odds shifted by the ratio of exposure frequencies "
              "(the theory's odds ~ 1/p). `from 70M`: the predicted change of the odds from 70M (SynBio-320k) to "
              "410M (SynBio-1.28M) applied to the measured 0.31.", "",
              "| predictor | 70M r_c (paper ~0.31) | 410M r_c (paper 0.3-0.4) | 410M from 70M | odds change 70M->410M | "
              "x beyond our sizes |", "|---|---|---|---|---|---|"]
    for name, checks in report["paper_checks"].items():
        if isinstance(checks, str):
            lines.append(f"| {name} | n/a: {checks} | | | | |")
            continue
        small, large = checks
        lines.append(f"| {name} | {_f(small.get('predicted'))} | {_f(large.get('predicted'))} | "
                     f"{_f(large.get('predicted_from_70m'))} | {_f(large.get('odds_change_70m_to_410m'), '{:.3g}')} | "
                     f"{small['extrapolation_factor']:.0f}-{large['extrapolation_factor']:.0f} |")
    lines += ["", "## Predictors", ""]
    for name, eq in report["equations"].items():
        lines.append(f"- **{name}**: `{' '.join(eq.split())}`" + (
            " (written after these runs were seen: not a candidate of the rule, and its held-out scores above "
            "describe, they do not test)" if name in report.get("post_hoc", ()) else ""))
    lines += ["", f"Selection rule scores (inner leave-one-size-out, mean |log ratio|): " + ", ".join(
        f"{k} {_f(v)}" for k, v in report["selection_scores"].items()), ""]
    for fig in report.get("figures", []):
        lines.append(f"![{Path(fig).stem}]({Path(fig).name})")
    return "\n".join(lines) + "\n"


def write(results: str | Path, out_dir: str | Path, *, level: float = 0.1, n_boot: int = 200, seed: int = 0,
          exclude: Sequence[str] = (), figures: bool = True, preregistered: str | Path | None = None) -> dict:
    """Build the report and write report.json, report.md and the figures into ``out_dir``. The
    pre-registration scored is ``preregistered``, else ``out_dir``/preregistered.json if it exists."""
    out = Path(out_dir)
    prereg_path = Path(preregistered) if preregistered is not None else out / PREREGISTERED
    if preregistered is not None and not prereg_path.is_file():
        raise ValueError(f"{prereg_path}: no such pre-registration")
    prereg = None
    if prereg_path.exists():
        try:
            prereg = json.loads(prereg_path.read_text())
        except ValueError:
            prereg = None
        if not isinstance(prereg, dict) or prereg.get("schema") != PREREG_SCHEMA:
            raise ValueError(f"{prereg_path}: not a pre-registration (schema {PREREG_SCHEMA})")
    runs = load_runs(results, exclude=exclude)
    report = build(runs, level=level, n_boot=n_boot, seed=seed, source=str(results))
    if prereg is not None:
        report["preregistered"] = {"file": prereg_path.name, "created": prereg.get("created"),
                                   "table_commit": prereg.get("table_commit"),
                                   "fitted_on_runs": len(prereg.get("fitted_on_runs", ())),
                                   "predictions": score(prereg, report["critical_ratios"])}
    out.mkdir(parents=True, exist_ok=True)
    if figures:
        try:
            from figures.prediction import draw_all
        except ImportError as exc:  # matplotlib missing: the tables still stand
            report["figures_error"] = str(exc)
        else:
            report["figures"] = [Path(p).name for p in draw_all(report, runs, out)]
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m capacity.prediction_report", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=input_file, metavar="RESULTS.jsonl")
    parser.add_argument("out_dir", type=output_dir, metavar="OUT_DIR")
    parser.add_argument("--accuracy", type=number(0, 1, low_open=True, high_open=True), default=0.1,
                        help="accuracy level that defines r_c (default 0.1)")
    parser.add_argument("--bootstrap", type=integer(20, 10**4), default=200, help="bootstrap replicates (default 200)")
    parser.add_argument("--exclude", nargs="+", default=[], metavar="MODEL", help="models to leave out")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    parser.add_argument("--preregistered", type=input_file, metavar="FILE", help="a pre-registration to score "
                        f"(default: OUT_DIR/{PREREGISTERED} if it exists)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        write(args.results, args.out_dir, level=args.accuracy, n_boot=args.bootstrap, exclude=args.exclude,
              figures=not args.no_figures, preregistered=args.preregistered)
    except ValueError as exc:
        return report("prediction_report", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
