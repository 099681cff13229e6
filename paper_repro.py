"""Reproduce the paper's figures: measurement on real models, with the theory on the same axes.

    python paper_repro.py                          # the quick preset: CPU, offline, minutes
    python paper_repro.py --preset full --workers 2 --work-dir results/full/runs
    python paper_repro.py --preset gpu --device cuda
    python paper_repro.py --only accuracy_vs_ratio --results results/quick/results.jsonl
    phasemix-repro --preset theory --json          # the same program, installed as a console script

Presets:
  quick   (default) CPU, about 5 minutes on 2 cores (4 min 44 s measured): an r-sweep of a tiny model with exposure-matched
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
          (empirical.sweeps.named.predict). Writes OUT/searches.json after every wave.

Every run is appended to a results table (``--results``, default OUT/results.jsonl); running again
reuses finished runs and resumes interrupted ones, so a killed reproduction loses nothing. The
numbers come from ``analysis`` (fits, verdicts, report), the figures from ``figures.registry``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from analysis.paper_theory import paper_settings, predict_paper_settings
from analysis.report import json_default, write_experiment_report, write_theory_report
from analysis.reproduction import SECTIONS, analyse_runs, finished_runs, paper_sections, report_numbers
from capacity.cli_common import (Parser, checked, conflict, dumps, fail, input_file, integer, number, output_dir,
                                 output_file, parse_args, report)
from figures.registry import RUN_FIGURE_NAMES, RUN_FIGURES, SECTION_FIGURES, THEORY_FIGURES, draw, draw_one

PRESETS = ("quick", "full", "gpu", "theory", "smoke", "predict")
PROG = "paper_repro"
# The ratio of each preset's size sweep: the web-loss law is fitted at one ratio and one budget.
LAW_MIXING_RATIO = {"quick": 0.3, "smoke": 0.3, "full": 0.2, "gpu": 0.2}


def theory_preset(out: Path, tokens_per_person: float, bits_per_parameter: float) -> dict:
    """The theory alone at the paper's settings: its numbers, figures and report."""
    settings = paper_settings(tokens_per_person, bits_per_parameter)
    result = predict_paper_settings(settings)
    result["figures"] = {f.name: draw_one(f, settings, out) for f in THEORY_FIGURES}
    write_theory_report(out, result)
    return result


def experiment_preset(preset: str, out: Path, results: Path, *, workers: int, only: str | None, work_dir: Path,
                      bits_per_parameter: float, device: str | None, progress: bool, train: bool = True,
                      log: TextIO | None = None) -> dict:
    """Train (or reuse) the preset's sweeps, then analyse the finished runs, draw and report; each sweep's
    summary goes to ``log`` (default stdout)."""
    from empirical.results import load_results
    from empirical.sweeps.runner import run_sweep
    from empirical.sweeps.named import REPRODUCTIONS

    sweeps = REPRODUCTIONS[preset]()
    reports = {}
    for sweep in sweeps if train else ():
        reports[sweep.name] = run_sweep(sweep, results, work_dir, workers=workers, device=device,
                                        progress=progress).summary()
        print(f"{sweep.name}: {reports[sweep.name]}", file=log, flush=True)
    if not results.exists():
        raise ValueError(f"results table {results} does not exist: run without --no-train first")
    steps = {run.run_id: run.config.steps for sweep in sweeps for run in sweep.runs}  # the preset's runs
    runs, notes = finished_runs(load_results(results), steps, preset, results)
    analysed = analyse_runs(runs, law_mixing_ratio=LAW_MIXING_RATIO[preset], bits_per_parameter=bits_per_parameter,
                            notes=notes)
    figures, figure_notes = draw(RUN_FIGURES, analysed, out, names=None if only is None else (only,))
    sections, section_notes = paper_sections(analysed) if only is None else ({}, {})
    more_figures, more_notes = draw(SECTION_FIGURES, runs, out, names=sections)
    section_notes.update(more_notes)
    numbers, number_notes = report_numbers(analysed)
    result = {"preset": preset, "results": str(results), "sweeps": {s.name: s.description for s in sweeps},
              "training": reports, **numbers, "sections": sections, "figures": {**figures, **more_figures},
              "notes": {**analysed.notes, **figure_notes,
                        **{n: section_notes[n] for n in SECTIONS if n in section_notes}, **number_notes}}
    write_experiment_report(out, result)
    return result


def _predict(args, out: Path) -> int:
    """The predict preset: adaptive searches for r_c (empirical.sweeps.named.predict), resumable."""
    from empirical.cli import adaptive as adaptive_cli
    from empirical.sweeps.named import predict, predict_knowledge_share

    searches = [s for s in predict(args.precision) if not args.searches or s.name in args.searches]
    outcome = adaptive_cli.run(searches, out, args.results or out / "results.jsonl",
                               work_dir=args.work_dir or out / "runs", workers=args.workers, device=args.device,
                               progress=not args.no_progress, dry=args.dry_run, name="predict",
                               knowledge_share=predict_knowledge_share())
    print(dumps(outcome, indent=2, default=json_default) if args.json else outcome["text"])
    return 1 if outcome["failed"] else 0


def _device(text: str) -> str:
    from empirical.cli.train import device_arg  # imports torch only when --device is given

    return device_arg(text)


def _check_args(args) -> None:
    """Refuse flags the chosen preset would ignore, and search names the predict preset does not have."""
    if args.searches and args.preset != "predict":
        fail("--searches", args.searches[0], f"applies to --preset predict only, not --preset {args.preset}")
    if args.searches:
        from empirical.sweeps.named import predict

        names = [s.name for s in predict()]
        unknown = [n for n in args.searches if n not in names]
        if unknown:
            fail("--searches", unknown[0], f"one of {', '.join(names)}")
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
    from empirical.cli.results import checked_rows

    if no_train:
        checked("--results", input_file, str(results))
    if results.is_file():
        checked_rows(results)


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    add = parser.add_argument
    add("--preset", choices=PRESETS, default="quick", help="what to reproduce (see Presets below)")
    add("--out", type=output_dir, default=None, help="output folder (default results/<preset>/)")
    add("--results", type=output_file, default=None, help="results table (default OUT/results.jsonl)")
    add("--work-dir", type=output_dir, default=None,
        help="checkpoint folders (default OUT/runs; keep them out of a committed OUT)")
    add("--only", choices=RUN_FIGURE_NAMES, help="draw only this figure")
    add("--no-train", action="store_true", help="draw from the results table as it is, train nothing")
    add("--workers", type=integer(1, 1024), default=1, help="groups of runs trained at once")
    add("--device", type=_device, help="cpu, cuda, ... (default: cuda if available)")
    add("--tokens-per-person", type=number(0, 1e7, low_open=True), default=None,
        help="theory preset: mean GPT-NeoX tokens of one SynBio biography (default 70)")
    add("--bits-per-param", type=number(0, 64, low_open=True), default=2.0,
        help="capacity in bits per parameter, in (0, 64] (default 2)")
    add("--no-progress", action="store_true", help="no progress bars")
    add("--dry-run", action="store_true", help="predict preset: print the plan and its cost, train nothing")
    add("--searches", nargs="+", metavar="NAME", default=None,
        help="predict preset: run only these searches (e.g. tiny-50k@1T0 small-200k@4T0; --dry-run lists them), "
        "so that cheap searches need not wait in waves for costly ones")
    add("--precision", choices=("fp32", "bf16"), default="fp32", help="predict preset: training precision")
    add("--json", action="store_true", help="print the report's numbers (report.json; predict: the study's outcome) "
        "as one strict JSON object instead of a summary")
    return parser


def _run(args) -> int:
    _check_args(args)
    out = args.out or checked("--out", output_dir, str(Path("results") / args.preset))
    if args.preset not in ("theory", "predict"):
        _check_results(args.results or out / "results.jsonl", args.no_train)
    out.mkdir(parents=True, exist_ok=True)
    if args.preset == "predict":
        return _predict(args, out)
    if args.preset == "theory":
        result = theory_preset(out, args.tokens_per_person or 70.0, args.bits_per_param)
    else:
        result = experiment_preset(args.preset, out, args.results or out / "results.jsonl", workers=args.workers,
                                   work_dir=args.work_dir or out / "runs", only=args.only,
                                   bits_per_parameter=args.bits_per_param, device=args.device,
                                   progress=not args.no_progress, train=not args.no_train,
                                   log=sys.stderr if args.json else None)  # stdout holds the JSON alone
    if args.json:
        print(dumps(result, indent=2, default=json_default))
        return 0
    print(f"wrote {out / 'report.md'} and {len(result['figures'])} figures (PNG and PDF) to {out}/")
    if args.preset == "theory":
        for name, r in result["predicted_critical_mixing_ratio_synbio_320k"].items():
            print(f"  Pythia-{name}: predicted critical mixing ratio on SynBio-320k {r:.3f}")
    else:
        print(result["verdict_text"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        return _run(args)
    except (ValueError, OSError) as exc:
        return report(PROG, exc)


if __name__ == "__main__":
    sys.exit(main())
