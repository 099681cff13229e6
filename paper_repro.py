"""Reproduce the paper's figures: measurement on real models, with the theory on the same axes.

    python paper_repro.py                          # the quick preset: CPU, offline, minutes
    python paper_repro.py --preset full --workers 2 --work-dir results/full/runs
    python paper_repro.py --preset gpu --device cuda
    python paper_repro.py --only accuracy_vs_ratio --results results/quick/results.jsonl

Presets:
  quick   (default) CPU, about 7 minutes on 2 cores (15 at most): an r-sweep of a tiny model with exposure-matched
          controls and a horizon run, two larger models for the web-loss law; the theory fitted on the
          same runs; the verdict on capacity against exposure counts.
  full    CPU, about 1.5 hours on 2 cores with --workers 2: the capacity regime (128 people, three seeds,
          exposure-matched controls, 4x horizons), three sizes, power-law SynBio, subsampling and CKM, and the
          held-out critical-ratio prediction; then (about 25 minutes more) the slope task against r and size
          with exposure-matched controls (Fig. 5) and continual pre-training from a web-only model.
  gpu     The Pythia sizes with the Pythia tokenizer, SynBio and budgets scaled to one GPU.
  theory  The theory alone for the paper's own settings (Pythia, SynBio-320k, FineWeb-Edu law). Seconds.
  smoke   Every step on tiny budgets (a minute): to check an installation; its numbers mean nothing.
  predict CPU, about 8 hours on 2 cores with --workers 2 at fp32 (--dry-run prints the plan and its cost):
          the critical ratio at 10% accuracy, found adaptively with two seeds and a 95% interval within
          +-5%, at five sizes (50k-1M non-embedding parameters) and budgets of 1, 4 and 16 x 2.76M tokens
          (empirical.sweeps.predict). Writes OUT/searches.json after every wave.

Every run is appended to a results table (``--results``, default OUT/results.jsonl); running again
reuses finished runs and resumes interrupted ones, so a killed reproduction loses nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from capacity.cli_common import (Parser, checked, conflict, fail, input_file, integer, number, output_dir, output_file,
                                 parse_args, report)
from capacity.thresholds import critical_mixing_ratio, threshold_frequency_slope
from capacity.units import PAPER_FINEWEB_EDU_LAW, KnowledgeSet, capacity_bits, synbio_bits_per_person
from figures.style import save
from figures.theory import fraction_vs_ratio_figure, phase_diagram_figure, threshold_frequency_figure

# Non-embedding parameters of the Pythia models the paper trained (GPT-NeoX configs).
PYTHIA_NONEMBEDDING = {"14M": 1_189_888, "31M": 4_739_072, "70M": 18_915_328, "160M": 85_056_000, "410M": 302_311_424}
# arXiv 2505.18091, Table 1 (70M, SynBio-320k): the transition the theory should place.
PAPER_TABLE1 = {0.10: 0.4, 0.15: 0.4, 0.20: 0.4, 0.25: 0.8, 0.30: 7.3, 0.35: 27.5, 0.40: 40.4, 0.45: 58.1}


def theory_preset(out: Path, tokens_per_person: float, bits_per_parameter: float) -> dict:
    law = PAPER_FINEWEB_EDU_LAW.capacity_curve(bits_per_parameter)
    bits = synbio_bits_per_person()
    synbio_320k = KnowledgeSet.from_token_statistics(320_000, tokens_per_person, bits)
    p = synbio_320k.groups[0].exposure_frequency
    figures = {}
    figures["phase_diagram"] = save(
        phase_diagram_figure(law, synbio_320k, np.linspace(0.01, 0.99, 200), np.geomspace(1e5, 1e9, 200),
                             bits_per_parameter, title="Theory: SynBio-320k in FineWeb-Edu"),
        out / "theory_phase_diagram",
    )
    figures["accuracy_vs_ratio"] = save(
        fraction_vs_ratio_figure(law, synbio_320k, list(PYTHIA_NONEMBEDDING.values())[1:], bits_per_parameter),
        out / "theory_fraction_vs_ratio",
    )
    figures["threshold_frequency"] = save(
        threshold_frequency_figure(law, np.geomspace(1e7, 5e8, 50), bits_per_parameter, 0.01),
        out / "theory_threshold_frequency",
    )
    predicted = {
        name: float(critical_mixing_ratio(law, p, capacity_bits(n, bits_per_parameter)))
        for name, n in PYTHIA_NONEMBEDDING.items()
    }
    return {
        "preset": "theory",
        "assumptions": {
            "web_loss_law_nats": [PAPER_FINEWEB_EDU_LAW.irreducible, PAPER_FINEWEB_EDU_LAW.amplitude, PAPER_FINEWEB_EDU_LAW.exponent],
            "law_size_unit": PAPER_FINEWEB_EDU_LAW.size_unit,
            "params_kind": "nonembedding",
            "bits_per_parameter": bits_per_parameter,
            "synbio_people": 320_000,
            "tokens_per_person": tokens_per_person,
            "bits_per_person": bits,
        },
        "predicted_critical_mixing_ratio_synbio_320k": predicted,
        "paper_table1_70m_accuracy_percent": PAPER_TABLE1,
        "predicted_threshold_frequency_slope": threshold_frequency_slope(law),
        "paper_measured_threshold_frequency_slope": -1.152,
        "figures": figures,
    }


def write_report(out: Path, result: dict) -> None:
    (out / "report.json").write_text(json.dumps(result, indent=2, default=float))
    a = result["assumptions"]
    lines = [
        "# Theory preset: the paper's settings, predicted",
        "",
        f"Web loss: the paper's FineWeb-Edu fit L(N) = {a['web_loss_law_nats'][0]} + {a['web_loss_law_nats'][1]} "
        f"N^-{a['web_loss_law_nats'][2]} nats/token (N in millions of {a['params_kind']} parameters); "
        f"{a['bits_per_parameter']} bits per parameter; SynBio-320k at {a['tokens_per_person']} tokens and "
        f"{a['bits_per_person']:.2f} bits per person.",
        "",
        "| Pythia model | non-embedding params | predicted critical r |",
        "|---|---|---|",
    ]
    for name, r in result["predicted_critical_mixing_ratio_synbio_320k"].items():
        lines.append(f"| {name} | {PYTHIA_NONEMBEDDING[name]:,} | {r:.3f} |")
    lines += [
        "",
        "Measured by the paper for 70M (Table 1): accuracy rises from under 1% at r <= 0.25 to 7.3% at 0.30 and "
        "58.1% at 0.45.",
        "",
        f"Threshold frequency slope: predicted {result['predicted_threshold_frequency_slope']:.3f}, "
        f"paper measured {result['paper_measured_threshold_frequency_slope']}.",
        "",
    ]
    for name, paths in result["figures"].items():
        png = Path(paths[0]).name
        lines.append(f"![{name}]({png})")
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _figure(figures: dict, notes: dict, name: str, out: Path, make) -> None:
    """Draw one figure; a figure whose runs are missing is noted in the report, not fatal."""
    try:
        fig = make()
    except ValueError as exc:
        notes[name] = str(exc)
        return
    figures[name] = save(fig, out / name)


# The ratio of each preset's size sweep: the web-loss law is fitted at one ratio and one budget.
LAW_MIXING_RATIO = {"quick": 0.3, "smoke": 0.3, "full": 0.2, "gpu": 0.2}
FIGURES = ("accuracy_vs_ratio", "accuracy_vs_size", "accuracy_vs_tokens", "accuracy_vs_exposures", "steps_to_target",
           "web_loss_scaling", "phase_diagram", "stored_bits", "subsampling_ckm", "threshold_frequency")


def experiment_preset(preset: str, out: Path, results: Path, *, workers: int, only: str | None, work_dir: Path,
                      bits_per_parameter: float, device: str | None, progress: bool, train: bool = True) -> dict:
    from empirical.results import load_results
    from empirical.runner import run_sweep
    from empirical.sweeps import REPRODUCTIONS
    from figures import empirical as fe
    from figures.report import (critical_ratio_slope, exposure_verdict, held_out_critical_ratio, horizon_gains,
                                measured_critical_ratios, theory_on_runs)
    from figures.reasoning_report import paper_sections, split_runs
    from figures.report_measure import accuracy_vs_exposures, threshold_frequency_slope_fitted

    sweeps = REPRODUCTIONS[preset]()
    reports = {}
    if train:
        for sweep in sweeps:
            report = run_sweep(sweep, results, work_dir, workers=workers, device=device, progress=progress)
            reports[sweep.name] = report.summary()
            print(f"{sweep.name}: {report.summary()}", flush=True)
    if not results.exists():
        raise ValueError(f"results table {results} does not exist: run without --no-train first")
    steps = {run.run_id: run.config.steps for sweep in sweeps for run in sweep.runs}  # the preset's runs
    df = load_results(results)
    df = df[df["run_id"].isin(steps)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{results} holds no runs of the {preset!r} preset")
    # Only finished runs: an interrupted run's last row is not its result.
    last = df.groupby("run_id")["step"].max()
    unfinished = sorted(rid for rid, step in last.items() if step < steps[rid])
    df = df[~df["run_id"].isin(unfinished)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{results} holds no finished runs of the {preset!r} preset yet ({len(unfinished)} in progress)")

    notes: dict[str, str] = {}
    if unfinished:
        notes["unfinished"] = f"{len(unfinished)} runs started but not finished are left out: {', '.join(unfinished)}"
    every_run, df = df, split_runs(df)  # the reasoning and continual runs have their own sections
    if df.empty:
        raise ValueError(f"{results} holds no finished SynBio runs of the {preset!r} preset yet")
    theory = None
    try:
        theory = theory_on_runs(df, law_mixing_ratio=LAW_MIXING_RATIO[preset], bits_per_parameter=bits_per_parameter)
    except (ValueError, RuntimeError) as exc:
        notes["theory"] = f"theory not fitted: {exc}"
    # Uniform SynBio for the curves in r, size and tokens; power-law SynBio has its own figure.
    uniform = df[df["knowledge"] == "synbio"]
    final = fe.final_rows(df)
    models = final.drop_duplicates("model").set_index("model")["params_nonembedding"].sort_values()
    uniform_final = fe.final_rows(uniform)
    ratios = sorted(uniform_final["mixing_ratio"].unique())
    critical_ratios = {m: float(theory.critical_ratio(n)) for m, n in models.items()} if theory else None
    critical_sizes = {r: float(theory.critical_size(r)) for r in ratios if 0 < r < 1} if theory else None

    # The r-sweep's model: the one run at the most mixing ratios.
    ratio_model = uniform_final.groupby("model")["mixing_ratio"].nunique().idxmax()
    strategies = ((final["rho"] < 1.0) | (final["tau"] > 0.0)).any()
    wanted = FIGURES if only is None else (only,)
    makers = {
        "accuracy_vs_ratio": lambda: fe.accuracy_vs_mixing_ratio(uniform, critical_ratios),
        "accuracy_vs_size": lambda: fe.accuracy_vs_model_size(uniform, critical_sizes),
        "accuracy_vs_tokens": lambda: fe.accuracy_vs_tokens(uniform),
        "accuracy_vs_exposures": lambda: accuracy_vs_exposures(uniform),
        "steps_to_target": lambda: fe.steps_to_target(uniform, target=0.5, model=ratio_model),
        "web_loss_scaling": lambda: fe.web_loss_scaling(uniform, theory.web if theory else None),
        "phase_diagram": lambda: fe.phase_diagram_with_runs(
            uniform, theory.curve, theory.knowledge, np.linspace(0.01, 0.99, 120),
            np.geomspace(models.min() / 4, models.max() * 4, 120), bits_per_parameter),
        "stored_bits": lambda: fe.stored_bits_vs_allocation(uniform, theory.knowledge_bits),
        "subsampling_ckm": lambda: fe.subsampling_and_ckm(df, _best_rho(theory, final, bits_per_parameter)),
        "threshold_frequency": lambda: fe.threshold_frequency_vs_size(
            df, -(theory.law.exponent + 1.0) if theory else None),
    }
    figures: dict[str, list[str]] = {}
    for name in wanted:
        if theory is None and name in ("phase_diagram", "stored_bits"):
            notes[name] = "needs the theory fitted on the runs (see 'theory')"
            continue
        if name == "threshold_frequency" and not (final["knowledge"] == "synbio-powerlaw").any():
            notes[name] = "no power-law SynBio runs in this preset"
            continue
        if name == "subsampling_ckm" and not strategies:
            notes[name] = "no runs with subsampling (rho < 1) or compact knowledge mixing (tau > 0) in this preset"
            continue
        _figure(figures, notes, name, out, makers[name])

    verdict = exposure_verdict(uniform, critical_ratios)
    sections, more_figures, more_notes = paper_sections(every_run, out, verdict.verdict) if only is None else ({}, {}, {})
    figures.update(more_figures)
    notes.update(more_notes)
    measured = measured_critical_ratios(uniform)
    if critical_ratios:
        measured["predicted_critical_ratio"] = measured["model"].map(critical_ratios)
        measured["predicted_over_measured"] = measured["predicted_critical_ratio"] / measured["measured_critical_ratio"]
    held_out = None
    try:
        p = held_out_critical_ratio(uniform, law_mixing_ratio=LAW_MIXING_RATIO[preset])
        held_out = dict(model=p.held_out, params_nonembedding=p.params_nonembedding, law_models=list(p.law_models),
                        calibration_models=list(p.calibration_models), bits_per_parameter=p.bits_per_parameter,
                        predicted_critical_ratio=p.predicted, measured_critical_ratio=p.measured,
                        predicted_over_measured=p.ratio, calibration=p.calibration.to_dict(orient="records"))
    except (ValueError, RuntimeError) as exc:
        notes["held_out"] = f"no held-out prediction: {exc}"
    run_columns = ["run_id", "model", "params_total", "params_nonembedding", "knowledge", "people", "mixing_ratio", "rho",
                   "tau", "seed", "role", "tokens", "exposures_per_person", "accuracy", "web_loss", "knowledge_loss",
                   "bits_stored"]
    horizons = horizon_gains(uniform)
    summary = fe.seed_summary(fe.baseline(final, roles=("main", "exposure_matched", "horizon")))
    result = {
        "preset": preset,
        "results": str(results),
        "sweeps": {s.name: s.description for s in sweeps},
        "training": reports,
        "run_count": int(df["run_id"].nunique()),
        "rows": int(len(df)),
        "runs": final[[c for c in run_columns if c in final.columns]].to_dict(orient="records"),
        "bits_per_parameter": bits_per_parameter,
        "theory": None if theory is None else {
            "web_loss_law_nats": {"C": theory.web.law.C, "A": theory.web.law.A, "alpha": theory.web.law.alpha,
                                  "C_interval": theory.web.law.C_interval, "A_interval": theory.web.law.A_interval,
                                  "alpha_interval": theory.web.law.alpha_interval,
                                  "points": theory.web.law.n_points, "size": "params_nonembedding"},
            "people": theory.people,
            "tokens_per_person": theory.tokens_per_person,
            "exposure_frequency_per_knowledge_token": theory.exposure_frequency,
            "knowledge_bits": theory.knowledge.entropy_bits,
            "predicted_critical_mixing_ratio": critical_ratios,
            "predicted_critical_size": critical_sizes,
            # Is the theory's premise met? Knowledge competing for capacity, web loss still falling with size.
            "knowledge_share_of_capacity": {m: theory.knowledge.entropy_bits / (bits_per_parameter * n)
                                            for m, n in models.items()},
            "paper_alpha": PAPER_FINEWEB_EDU_LAW.exponent,
        },
        "critical_ratios": measured.to_dict(orient="records"),
        "critical_ratio_slope": {"measured": critical_ratio_slope(measured),
                                 "predicted": None if theory is None else -(theory.web.law.alpha + 1.0)},
        "held_out_prediction": held_out,
        "threshold_frequency_slope": threshold_frequency_slope_fitted(df, -(theory.web.law.alpha + 1.0) if theory
                                                                      else None),
        "verdict": verdict.verdict,
        "verdict_text": verdict.text,
        "exposure_pairs": verdict.pairs.to_dict(orient="records"),
        "horizons": horizons.to_dict(orient="records"),
        "settings": summary[[c for c in ("model", "params_nonembedding", "knowledge", "people", "mixing_ratio", "role",
                                         "tokens", "exposures_per_person", "accuracy_mean", "web_loss", "bits_stored",
                                         "seeds")
                             if c in summary.columns]].to_dict(orient="records"),
        "sections": sections,
        "figures": figures,
        "notes": notes,
    }
    write_experiment_report(out, result)
    return result


def _threshold_frequency_slope(df, predicted: float | None) -> dict | None:
    """Fig. 7a's numbers: the fitted slope of the threshold frequency against size, with its 95% interval
    (None without three located thresholds at one ratio)."""
    from capacity.fit import fit_power_law_slope
    from figures.empirical_powerlaw import threshold_frequencies, threshold_points
    from figures.empirical_tables import baseline

    if not (df["knowledge"] == "synbio-powerlaw").any():
        return None
    points = threshold_points(baseline(threshold_frequencies(df), roles=("main",)))
    for r, pts in points.groupby("mixing_ratio"):
        if len(pts) >= 3:
            fit = fit_power_law_slope(pts["params_nonembedding"].to_numpy(float),
                                      pts["threshold_frequency"].to_numpy(float))
            return {"mixing_ratio": float(r), "sizes": len(pts), "slope": fit.slope,
                    "slope_interval": list(fit.slope_interval), "predicted": predicted,
                    "paper_measured": -1.152, "paper_predicted": -1.283}
    return None


def _best_rho(theory, final, bits_per_parameter: float) -> float | None:
    """The theory's best subsampling ratio for the model and r of the subsampling runs (None without them
    or without a fitted theory)."""
    from capacity.strategies import best_subsampling_ratio

    sub = final[final["rho"] < 1.0]
    if theory is None or sub.empty:
        return None
    run = sub.iloc[0]
    return best_subsampling_ratio(theory.curve, theory.people, theory.tokens_per_person, synbio_bits_per_person(),
                                  float(run["mixing_ratio"]),
                                  float(capacity_bits(run["params_nonembedding"], bits_per_parameter))).rho


def write_experiment_report(out: Path, result: dict) -> None:
    (out / "report.json").write_text(json.dumps(result, indent=2, default=_json_default))
    lines = [f"# Reproduction, preset {result['preset']!r}", "",
             f"{result['run_count']} runs, {result['rows']} evaluation rows, from `{result['results']}`.", ""]
    t = result["theory"]
    if t:
        law = t["web_loss_law_nats"]
        interval = law["alpha_interval"]
        c_int, a_int = law["C_interval"], law["A_interval"]
        lines += ["## The theory, fitted on these runs", "",
                  f"Web loss L(M) = {law['C']:.3f} + {law['A']:.3g} M^-{law['alpha']:.3f} nats/token over "
                  f"non-embedding parameters M ({law['points']} runs"
                  + (f"; 95% bootstrap intervals: C {c_int[0]:.3f}-{c_int[1]:.3f}, A {a_int[0]:.3g}-{a_int[1]:.3g}, "
                     f"alpha {interval[0]:.3f}-{interval[1]:.3f}" if interval else "") + "). "
                  f"Knowledge: {t['people']} people x {t['tokens_per_person']:.1f} tokens per biography "
                  f"(measured), {t['knowledge_bits']:,.0f} bits in all; each fact's exposure frequency "
                  f"{t['exposure_frequency_per_knowledge_token']:.3g} per knowledge token; "
                  f"{result['bits_per_parameter']} bits per parameter.", "",
                  "| model | knowledge bits / capacity bits | predicted critical r |", "|---|---|---|"]
        lines += [f"| {m} | {t['knowledge_share_of_capacity'][m]:.3f} | {r:.4f} |"
                  for m, r in t["predicted_critical_mixing_ratio"].items()]
        lines.append("")
        if law["points"] <= 3:
            lines += [f"The law has three parameters and {law['points']} sizes: it passes through them exactly and "
                      "its interval means nothing; more sizes (the full preset) pin it down.", ""]
        if law["alpha"] < 0.5 * t["paper_alpha"] or max(t["knowledge_share_of_capacity"].values()) < 0.1:
            lines += [f"Premise check: the fitted exponent is {law['alpha']:.3f} (the paper's FineWeb-Edu law: "
                      f"{t['paper_alpha']}) and the knowledge fills at most "
                      f"{max(t['knowledge_share_of_capacity'].values()):.1%} of a model's capacity. The theory assumes "
                      "models trained to their capacity, with knowledge competing for it; these runs are far from that, "
                      "so its critical ratios here are a lower bound, not a prediction to test.", ""]
    if result["critical_ratios"]:
        lines += ["## Critical ratios: predicted and measured", "",
                  "Measured: where a binomial logistic fit of the main runs' final accuracy against log r reaches "
                  "10% (a bound where it is reached at the lowest ratio or never); predicted: the theory read at "
                  "the same 10% level.", "",
                  "| model | measured critical r | predicted | predicted / measured |", "|---|---|---|---|"]
        for c in result["critical_ratios"]:
            bound = {"below": "<= ", "above": "> "}.get(c["bound"], "")
            predicted = c.get("predicted_critical_ratio")
            ratio = c.get("predicted_over_measured")
            lines.append(f"| {c['model']} | {bound}{c['measured_critical_ratio']:.3g} | "
                         + (f"{predicted:.3g} | {ratio:.3g}{' (bound)' if bound else ''} |" if predicted is not None
                            else "- | - |"))
        lines.append("")
        slope = result.get("critical_ratio_slope") or {}
        if slope.get("measured") is not None:
            lines += [f"Measured critical odds against non-embedding parameters: r_c/(1 - r_c) ~ M^{slope['measured']:.2f}"
                      + (f"; the theory's odds ~ M^-(alpha+1) = M^{slope['predicted']:.2f} with the fitted law."
                         if slope.get("predicted") is not None else "."), ""]
    h = result.get("held_out_prediction")
    if h:
        calibration = ", ".join(f"{c['model']} {c['measured']:.3g} (fitted {c['predicted']:.3g})"
                                for c in h["calibration"])
        lines += ["## A held-out size's critical ratio, predicted", "",
                  f"The web-loss law fitted without {h['model']} (on {', '.join(h['law_models'])}), and the effective "
                  f"bits per parameter fitted to the measured critical ratios of {calibration}: "
                  f"{h['bits_per_parameter']:.3g} bits per parameter. For {h['model']} "
                  f"({h['params_nonembedding']:,} non-embedding parameters) this predicts a critical ratio of "
                  f"{h['predicted_critical_ratio']:.3g}; measured: {h['measured_critical_ratio']:.3g}; "
                  f"predicted / measured = {h['predicted_over_measured']:.3g}: "
                  + ("within" if 1 / 1.5 <= h["predicted_over_measured"] <= 1.5 else "outside")
                  + " the target of a factor of 1.5.", ""]
    tf = result.get("threshold_frequency_slope")
    if tf:
        lines += ["## Threshold frequency against size (power-law SynBio, Fig. 7a)", "",
                  f"At r = {tf['mixing_ratio']:g} over {tf['sizes']} sizes: slope {tf['slope']:.3f} (95% interval "
                  f"{tf['slope_interval'][0]:.3f} to {tf['slope_interval'][1]:.3f})"
                  + (f"; the theory's -(alpha+1) with the fitted law: {tf['predicted']:.3f}" if tf["predicted"]
                     is not None else "")
                  + f". The paper measured {tf['paper_measured']} against its predicted {tf['paper_predicted']}.", ""]
    lines += ["## Capacity or exposure counts?", "", result["verdict_text"], ""]
    if result["horizons"]:
        lines += ["Training longer at the lowest ratios:", ""]
        lines += [f"- {h['model']} r = {h['mixing_ratio']:g}: {h['accuracy']:.1%} after {h['tokens']:,.0f} tokens, "
                  f"{h['horizon_accuracy']:.1%} after {h['horizon_tokens']:,.0f} ({h['token_ratio']:.2g}x)"
                  for h in result["horizons"]]
        lines.append("")
    titles = {"reasoning": "Reasoning task: slope (Fig. 5)", "reasoning_max": "Reasoning task: Max-over-N (App. D.3)",
              "continual": "Continual pre-training (section 6, App. D.1)"}
    for name, section in result.get("sections", {}).items():
        lines += [f"## {titles.get(name, name)}", "", section["text"], ""]
    lines += ["## Final accuracy of every setting", "",
              "| model | knowledge | N | r | role | tokens | exposures/person | accuracy | web loss |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in sorted(result["settings"], key=lambda s: (s["params_nonembedding"], s.get("knowledge", ""), s["role"],
                                                       s["mixing_ratio"])):
        lines.append(f"| {s['model']} | {s.get('knowledge', '-')} | {s['people']} | {s['mixing_ratio']:g} | {s['role']} | "
                     f"{s['tokens']:,.0f} | "
                     f"{s['exposures_per_person']:.1f} | {s['accuracy_mean']:.1%} | {s['web_loss']:.3f} |")
    lines.append("")
    for name, paths in result["figures"].items():
        lines.append(f"![{name}]({Path(paths[0]).name})")
    if result["notes"]:
        lines += ["", "## Not drawn", ""] + [f"- {k}: {v}" for k, v in result["notes"].items()]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _predict(args, out: Path) -> int:
    """The predict preset: adaptive searches for r_c (empirical.sweeps.predict), resumable."""
    from empirical import adaptive_cli
    from empirical.sweeps import predict, predict_knowledge_share

    outcome = adaptive_cli.run(predict(args.precision), out, args.results or out / "results.jsonl",
                               work_dir=args.work_dir or out / "runs", workers=args.workers, device=args.device,
                               progress=not args.no_progress, dry=args.dry_run, name="predict",
                               knowledge_share=predict_knowledge_share())
    print(outcome["text"])
    return 1 if outcome["failed"] else 0


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)


PRESETS = ("quick", "full", "gpu", "theory", "smoke", "predict")
PROG = "paper_repro"


def _device(text: str) -> str:
    from empirical.train_cli import device_arg  # imports torch only when --device is given

    return device_arg(text)


def _check_args(args) -> None:
    """Refuse flags the chosen preset would ignore."""
    if args.preset == "theory":
        given = [(flag, value) for flag, value in (("--only", args.only), ("--no-train", args.no_train or None),
                                                   ("--results", args.results), ("--work-dir", args.work_dir))
                 if value is not None]
        if given:
            flag, value = given[0]
            conflict(flag, None if value is True else str(value), "--preset theory", "the theory preset trains and "
                     "reads no runs")
    elif args.tokens_per_person is not None:
        fail("--tokens-per-person", f"{args.tokens_per_person:g}",
             f"applies to --preset theory only (this preset measures it), not --preset {args.preset}")


def _check_results(results: Path, no_train: bool) -> None:
    """With --no-train the table must exist; an existing table must hold rows a report can use."""
    from empirical.results_cli import checked_rows

    if no_train:
        checked("--results", input_file, str(results))
    if results.is_file():
        checked_rows(results)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--preset", choices=PRESETS, default="quick", help="what to reproduce (see Presets below)")
    parser.add_argument("--out", type=output_dir, default=None, help="output folder (default results/<preset>/)")
    parser.add_argument("--results", type=output_file, default=None, help="results table (default OUT/results.jsonl)")
    parser.add_argument("--work-dir", type=output_dir, default=None,
                        help="checkpoint folders (default OUT/runs; keep them out of a committed OUT)")
    parser.add_argument("--only", choices=FIGURES, help="draw only this figure")
    parser.add_argument("--no-train", action="store_true", help="draw from the results table as it is, train nothing")
    parser.add_argument("--workers", type=integer(1, 1024), default=1, help="groups of runs trained at once")
    parser.add_argument("--device", type=_device, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--tokens-per-person", type=number(0, 1e7, low_open=True), default=None,
                        help="theory preset: mean GPT-NeoX tokens of one SynBio biography (default 70)")
    parser.add_argument("--bits-per-param", type=number(0, 64, low_open=True), default=2.0,
                        help="capacity in bits per parameter, in (0, 64] (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--dry-run", action="store_true", help="predict preset: print the plan and its cost, train nothing")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="predict preset: training precision")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        _check_args(args)
        out = args.out or checked("--out", output_dir, str(Path("results") / args.preset))
        if args.preset not in ("theory", "predict"):
            _check_results(args.results or out / "results.jsonl", args.no_train)
        out.mkdir(parents=True, exist_ok=True)
        if args.preset == "predict":
            return _predict(args, out)
        if args.preset == "theory":
            result = theory_preset(out, args.tokens_per_person or 70.0, args.bits_per_param)
            write_report(out, result)
        else:
            result = experiment_preset(args.preset, out, args.results or out / "results.jsonl", workers=args.workers,
                                       work_dir=args.work_dir or out / "runs",
                                       only=args.only, bits_per_parameter=args.bits_per_param, device=args.device,
                                       progress=not args.no_progress, train=not args.no_train)
    except (ValueError, OSError) as exc:
        return report(PROG, exc)
    print(f"wrote {out / 'report.md'} and {len(result['figures'])} figures (PNG and PDF) to {out}/")
    if args.preset == "theory":
        for name, r in result["predicted_critical_mixing_ratio_synbio_320k"].items():
            print(f"  Pythia-{name}: predicted critical mixing ratio on SynBio-320k {r:.3f}")
    else:
        print(result["verdict_text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
