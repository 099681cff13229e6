"""The reproduction's report: ``report.json`` (every number) and ``report.md`` (the same, for a reader).

``write_experiment_report`` writes a preset's report from the dict ``paper_repro`` assembles
(``analysis.reproduction.report_numbers`` plus the figures and notes); ``write_theory_report`` writes
the theory preset's. Each section of report.md has its own function, in report order.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from analysis.paper import PYTHIA_NONEMBEDDING

SECTION_TITLES = {"reasoning": "Reasoning task: slope (Fig. 5)",
                  "reasoning_max": "Reasoning task: Max-over-N (App. D.3)",
                  "continual": "Continual pre-training (section 6, App. D.1)"}


def json_default(value):
    """numpy scalars and arrays as JSON numbers and lists; anything else as its text."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)


def _table(columns, rows) -> list[str]:
    """A markdown table: the header, its rule and one line per row of cells."""
    line = ["| " + " | ".join(map(str, row)) + " |" for row in [columns, *rows]]
    return [line[0], "|" + "---|" * len(columns), *line[1:]]


def _theory(result: dict) -> list[str]:
    t = result["theory"]
    law = t["web_loss_law_nats"]
    interval = law["alpha_interval"]
    c_int, a_int = law["C_interval"], law["A_interval"]
    lines = ["## The theory, fitted on these runs", "",
             f"Web loss L(M) = {law['C']:.3f} + {law['A']:.3g} M^-{law['alpha']:.3f} nats/token over "
             f"non-embedding parameters M ({law['points']} runs"
             + (f"; 95% bootstrap intervals: C {c_int[0]:.3f}-{c_int[1]:.3f}, A {a_int[0]:.3g}-{a_int[1]:.3g}, "
                f"alpha {interval[0]:.3f}-{interval[1]:.3f}" if interval else "") + "). "
             f"Knowledge: {t['people']} people x {t['tokens_per_person']:.1f} tokens per biography "
             f"(measured), {t['knowledge_bits']:,.0f} bits in all; each fact's exposure frequency "
             f"{t['exposure_frequency_per_knowledge_token']:.3g} per knowledge token; "
             f"{result['bits_per_parameter']} bits per parameter.", ""]
    lines += _table(["model", "knowledge bits / capacity bits", "predicted critical r"],
                    [[m, f"{t['knowledge_share_of_capacity'][m]:.3f}", f"{r:.4f}"]
                     for m, r in t["predicted_critical_mixing_ratio"].items()])
    lines.append("")
    if law["points"] <= 3:
        lines += [f"The law has three parameters and {law['points']} sizes: it passes through them exactly and "
                  "its interval means nothing; more sizes (the full preset) pin it down.", ""]
    share = max(t["knowledge_share_of_capacity"].values())
    if law["alpha"] < 0.5 * t["paper_alpha"] or share < 0.1:
        lines += [f"Premise check: the fitted exponent is {law['alpha']:.3f} (the paper's FineWeb-Edu law: "
                  f"{t['paper_alpha']}) and the knowledge fills at most {share:.1%} of a model's capacity. The theory "
                  "assumes models trained to their capacity, with knowledge competing for it; these runs are far from "
                  "that, so its critical ratios here are a lower bound, not a prediction to test.", ""]
    return lines


def _critical_ratios(result: dict) -> list[str]:
    lines = ["## Critical ratios: predicted and measured", "",
             "Measured: where a binomial logistic fit of the main runs' final accuracy against log r reaches "
             "10% (a bound where it is reached at the lowest ratio or never); predicted: the theory read at "
             "the same 10% level.", ""]
    rows = []
    for c in result["critical_ratios"]:
        bound = {"below": "<= ", "above": "> "}.get(c["bound"], "")
        predicted = c.get("predicted_critical_ratio")
        ratio = c.get("predicted_over_measured")
        rows.append([c["model"], f"{bound}{c['measured_critical_ratio']:.3g}"]
                    + ([f"{predicted:.3g}", f"{ratio:.3g}{' (bound)' if bound else ''}"] if predicted is not None
                       else ["-", "-"]))
    lines += _table(["model", "measured critical r", "predicted", "predicted / measured"], rows)
    lines.append("")
    slope = result.get("critical_ratio_slope") or {}
    if slope.get("measured") is not None:
        lines += [f"Measured critical odds against non-embedding parameters: r_c/(1 - r_c) ~ M^{slope['measured']:.2f}"
                  + (f"; the theory's odds ~ M^-(alpha+1) = M^{slope['predicted']:.2f} with the fitted law."
                     if slope.get("predicted") is not None else "."), ""]
    return lines


def _held_out(h: dict) -> list[str]:
    calibration = ", ".join(f"{c['model']} {c['measured']:.3g} (fitted {c['predicted']:.3g})" for c in h["calibration"])
    within = 1 / 1.5 <= h["predicted_over_measured"] <= 1.5
    return ["## A held-out size's critical ratio, predicted", "",
            f"The web-loss law fitted without {h['model']} (on {', '.join(h['law_models'])}), and the effective "
            f"bits per parameter fitted to the measured critical ratios of {calibration}: "
            f"{h['bits_per_parameter']:.3g} bits per parameter. For {h['model']} "
            f"({h['params_nonembedding']:,} non-embedding parameters) this predicts a critical ratio of "
            f"{h['predicted_critical_ratio']:.3g}; measured: {h['measured_critical_ratio']:.3g}; "
            f"predicted / measured = {h['predicted_over_measured']:.3g}: "
            + ("within" if within else "outside") + " the target of a factor of 1.5.", ""]


def _threshold_frequency(tf: dict) -> list[str]:
    return ["## Threshold frequency against size (power-law SynBio, Fig. 7a)", "",
            f"At r = {tf['mixing_ratio']:g} over {tf['sizes']} sizes: slope {tf['slope']:.3f} (95% interval "
            f"{tf['slope_interval'][0]:.3f} to {tf['slope_interval'][1]:.3f})"
            + (f"; the theory's -(alpha+1) with the fitted law: {tf['predicted']:.3f}" if tf["predicted"]
               is not None else "")
            + f". The paper measured {tf['paper_measured']} against its predicted {tf['paper_predicted']}.", ""]


def _verdict(result: dict) -> list[str]:
    lines = ["## Capacity or exposure counts?", "", result["verdict_text"], ""]
    if result["horizons"]:
        lines += ["Training longer at the lowest ratios:", ""]
        lines += [f"- {h['model']} r = {h['mixing_ratio']:g}: {h['accuracy']:.1%} after {h['tokens']:,.0f} tokens, "
                  f"{h['horizon_accuracy']:.1%} after {h['horizon_tokens']:,.0f} ({h['token_ratio']:.2g}x)"
                  for h in result["horizons"]]
        lines.append("")
    return lines


def _settings(result: dict) -> list[str]:
    order = sorted(result["settings"], key=lambda s: (s["params_nonembedding"], s.get("knowledge", ""), s["role"],
                                                      s["mixing_ratio"]))
    rows = [[s["model"], s.get("knowledge", "-"), s["people"], f"{s['mixing_ratio']:g}", s["role"],
             f"{s['tokens']:,.0f}", f"{s['exposures_per_person']:.1f}", f"{s['accuracy_mean']:.1%}",
             f"{s['web_loss']:.3f}"] for s in order]
    return ["## Final accuracy of every setting", ""] + _table(
        ["model", "knowledge", "N", "r", "role", "tokens", "exposures/person", "accuracy", "web loss"], rows) + [""]


def write_experiment_report(out: Path, result: dict) -> None:
    """``out/report.json`` and ``out/report.md`` of a preset that trains (quick, full, gpu, smoke)."""
    (out / "report.json").write_text(json.dumps(result, indent=2, default=json_default))
    lines = [f"# Reproduction, preset {result['preset']!r}", "",
             f"{result['run_count']} runs, {result['rows']} evaluation rows, from `{result['results']}`.", ""]
    if result["theory"]:
        lines += _theory(result)
    if result["critical_ratios"]:
        lines += _critical_ratios(result)
    if result.get("held_out_prediction"):
        lines += _held_out(result["held_out_prediction"])
    if result.get("threshold_frequency_slope"):
        lines += _threshold_frequency(result["threshold_frequency_slope"])
    lines += _verdict(result)
    for name, section in result.get("sections", {}).items():
        lines += [f"## {SECTION_TITLES.get(name, name)}", "", section["text"], ""]
    lines += _settings(result)
    lines += [f"![{name}]({Path(paths[0]).name})" for name, paths in result["figures"].items()]
    if result["notes"]:
        lines += ["", "## Not drawn", ""] + [f"- {k}: {v}" for k, v in result["notes"].items()]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def write_theory_report(out: Path, result: dict) -> None:
    """``out/report.json`` and ``out/report.md`` of the theory preset (the paper's own settings)."""
    (out / "report.json").write_text(json.dumps(result, indent=2, default=float))
    a = result["assumptions"]
    law = a["web_loss_law_nats"]
    predicted = [[name, f"{PYTHIA_NONEMBEDDING[name]:,}", f"{r:.3f}"]
                 for name, r in result["predicted_critical_mixing_ratio_synbio_320k"].items()]
    lines = ["# Theory preset: the paper's settings, predicted", "",
             f"Web loss: the paper's FineWeb-Edu fit L(N) = {law[0]} + {law[1]} N^-{law[2]} nats/token (N in millions "
             f"of {a['params_kind']} parameters); {a['bits_per_parameter']} bits per parameter; SynBio-320k at "
             f"{a['tokens_per_person']} tokens and {a['bits_per_person']:.2f} bits per person.", ""]
    lines += _table(["Pythia model", "non-embedding params", "predicted critical r"], predicted)
    lines += ["", "Measured by the paper for 70M (Table 1): accuracy rises from under 1% at r <= 0.25 to 7.3% at 0.30 "
              "and 58.1% at 0.45.", "",
              f"Threshold frequency slope: predicted {result['predicted_threshold_frequency_slope']:.3f}, "
              f"paper measured {result['paper_measured_threshold_frequency_slope']}.", ""]
    lines += [f"![{name}]({Path(paths[0]).name})" for name, paths in result["figures"].items()]
    (out / "report.md").write_text("\n".join(lines) + "\n")
