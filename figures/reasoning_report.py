"""The report's paragraphs on the reasoning task (arXiv 2505.18091 section 3.3, Fig. 5) and on continual
pre-training (section 6, Appendix D.1), and the numbers behind them for report.json.

Both read the results table only; ``paper_repro`` calls ``reasoning_section`` and ``continual_section``
and puts their figures and text in the full preset's report.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from figures.continual import continual_pairs, crossing_ratio
from figures.reasoning import sweep_axes, task_exposure_pairs, task_rows
from figures.report import CAPACITY_GAP

MIN_ACCURACY = 0.05  # a pair whose main run is below this learned nothing to compare (as for SynBio)


def reasoning_verdict(pairs: pd.DataFrame, min_accuracy: float = MIN_ACCURACY) -> tuple[str, str]:
    """(label, sentence): does the exposure-matched control separate the ratio from exposure counts?
    Judged as SynBio's (``figures.report.exposure_verdict``): on the mean gap of the pairs whose main
    run reaches ``min_accuracy``."""
    informative = pairs[pairs["accuracy"] >= min_accuracy]
    if pairs.empty:
        return "no pairs", "No exposure-matched pairs: the runs cannot separate the ratio from exposure counts."
    if informative.empty:
        return "nothing learned", (f"Every main run paired with a control is below {min_accuracy:.0%} accuracy: the "
                                   "task was not learned at the compared ratios, so the controls cannot separate the "
                                   "ratio from exposure counts here.")
    mean = float(informative["gap"].mean())
    spread = (f"mean gap {mean:+.1%} over {len(informative)} pairs, from {informative['gap'].min():+.1%} to "
              f"{informative['gap'].max():+.1%}")
    if mean <= CAPACITY_GAP:
        return "exposure", (f"At equal task examples the controls match their main runs within {CAPACITY_GAP:.0%} on "
                            f"average ({spread}): exposure counts explain the curve in r for this task.")
    if (informative["gap"] > 0).all():
        return "ratio", (f"At equal task examples every lower-ratio control is less accurate than its main run "
                         f"({spread}): the ratio matters beyond exposure counts, as the paper's capacity account says.")
    return "mixed", (f"The controls are less accurate on average at equal task examples ({spread}), but not in "
                     "every pair.")


def reasoning_section(df: pd.DataFrame, task: str = "slope", synbio_verdict: str | None = None) -> dict:
    """The reasoning runs' numbers and the report paragraph (``text``). ValueError without task runs."""
    final = task_rows(df, task)
    model, size_ratio = sweep_axes(final)
    main = final[final["role"] == "main"]
    by_ratio = main[main["model"] == model].groupby("mixing_ratio")["accuracy"].mean()
    by_size = (main[np.isclose(main["mixing_ratio"], size_ratio)].groupby(["params_nonembedding", "model"])["accuracy"]
               .mean().reset_index() if size_ratio is not None else pd.DataFrame())
    pairs = task_exposure_pairs(final)
    label, verdict = reasoning_verdict(pairs[pairs["model"] == model] if not pairs.empty else pairs)
    knowledge = final["knowledge"].iloc[0]
    questions = int(final["items_evaluated"].max()) if "items_evaluated" in final.columns else None
    ratios = ", ".join(f"{a:.1%} at r = {r:g}" for r, a in by_ratio.items())
    text = [f"Task {knowledge} mixed into web text, exact match of the final answer on "
            + (f"{questions:,} fresh held-out questions" if questions else "fresh held-out questions")
            + f". {model}: {ratios}."]
    if not by_size.empty:
        text.append("At r = " + f"{size_ratio:g}: " + ", ".join(
            f"{row.model} ({row.params_nonembedding:,.0f} parameters) {row.accuracy:.1%}"
            for row in by_size.itertuples())
            + ".")
    text.append(verdict)
    if synbio_verdict:
        same = label.split()[0] == synbio_verdict.split()[0]
        text.append(f"For SynBio the control's verdict was '{synbio_verdict}'; here it is '{label}'"
                    + (" (the same)." if same else "."))
    return {"task": knowledge, "model": model, "accuracy_by_ratio": {float(r): float(a) for r, a in by_ratio.items()},
            "size_ratio": size_ratio, "accuracy_by_size": by_size.to_dict(orient="records"),
            "pairs": pairs.to_dict(orient="records"), "verdict": label, "text": " ".join(text)}


def continual_section(df: pd.DataFrame, level: float = 0.1) -> dict:
    """Continued against from-scratch runs: the crossing of ``level`` accuracy in r (the measured critical
    ratio, interpolated) and the subsampling gains; the paragraph in ``text``."""
    pairs = continual_pairs(df)
    full = pairs[np.isclose(pairs["rho"], 1.0)].groupby("mixing_ratio")[["accuracy", "scratch_accuracy"]].mean()
    if full.empty:
        raise ValueError("no continued runs without subsampling (rho = 1) in the results")
    crossings = {}
    for column in ("accuracy", "scratch_accuracy"):
        known = full[column].dropna()
        crossings[column] = crossing_ratio(known.index, known.values, level) if len(known) else None
    gains = []
    for _, sub in pairs[~np.isclose(pairs["rho"], 1.0)].iterrows():
        r = sub["mixing_ratio"]
        if r in full.index:
            gains.append({"rho": float(sub["rho"]), "mixing_ratio": float(r),
                          "continued_gain": float(sub["accuracy"] - full.loc[r, "accuracy"]),
                          "scratch_gain": float(sub["scratch_accuracy"] - full.loc[r, "scratch_accuracy"])})

    def show(c):
        return "not measured" if c is None else f"{c[1]} {c[0]:.3g}".strip()
    first = pairs.iloc[0]
    text = [f"{first['model']} pre-trained on web text alone for {first['source_tokens']:,.0f} tokens, then continued "
            f"for {first['continued_tokens']:,.0f} tokens on mixtures; from-scratch runs of the same data trained "
            f"{first['scratch_tokens']:,.0f} tokens (equal total tokens).",
            "Accuracy, continued against from scratch: " + ", ".join(
                f"r = {r:g}: {a.accuracy:.1%} vs "
                + ("-" if math.isnan(a.scratch_accuracy) else f"{a.scratch_accuracy:.1%}")
                for r, a in full.iterrows()) + ".",
            f"The ratio where accuracy reaches {level:.0%}: continued {show(crossings['accuracy'])}, from scratch "
            f"{show(crossings['scratch_accuracy'])}."]
    for g in gains:
        text.append(f"Subsampling to rho = {g['rho']:g} at r = {g['mixing_ratio']:g} changes accuracy by "
                    f"{g['continued_gain']:+.1%} when continued and by "
                    + ("-" if math.isnan(g["scratch_gain"]) else f"{g['scratch_gain']:+.1%}") + " from scratch.")
    return {"pairs": pairs.to_dict(orient="records"),
            "critical_ratio": {k: (None if v is None else {"ratio": v[0], "bound": v[1]})
                               for k, v in crossings.items()},
            "subsampling_gains": gains, "text": " ".join(text)}


def split_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The table without the reasoning-task runs and the continual pre-training runs (continued runs and
    the runs they continue), which have their own sections: the SynBio figures and fits read the rest."""
    kind = df["knowledge"].astype(str)
    task = kind.isin(["slope", "max"]) | kind.str.startswith(("slope:", "max:"))
    init = (df["init_from"].fillna("").astype(str) if "init_from" in df.columns
            else pd.Series("", index=df.index))
    sources = {s[4:].rstrip("/").rsplit("/", 1)[-1] for s in init if s.startswith("run:")}
    continual = (init != "") | df["run_id"].isin(sources)
    return df[~task & ~continual].reset_index(drop=True)


def paper_sections(df: pd.DataFrame, out, synbio_verdict: str | None = None) -> tuple[dict, dict, dict]:
    """(sections, figures, notes) for the reasoning task and continual pre-training in ``df``: each
    section's numbers and text, the figures written to ``out`` (PNG and PDF), and why a part is missing."""
    from pathlib import Path

    from figures.continual import continued_vs_scratch
    from figures.reasoning import accuracy_vs_ratio_and_size
    from figures.style import save

    sections, figures, notes = {}, {}, {}
    parts = {"reasoning": (lambda: reasoning_section(df, "slope", synbio_verdict),
                           lambda: accuracy_vs_ratio_and_size(df, "slope")),
             "reasoning_max": (lambda: reasoning_section(df, "max", synbio_verdict),
                               lambda: accuracy_vs_ratio_and_size(df, "max")),
             "continual": (lambda: continual_section(df), lambda: continued_vs_scratch(df))}
    for name, (section, figure) in parts.items():
        try:
            sections[name] = section()
            figures[name] = save(figure(), Path(out) / name)
        except ValueError as exc:
            if name != "reasoning_max":  # max-over-N is not in the presets: silent when absent
                notes[name] = str(exc)
    return sections, figures, notes
