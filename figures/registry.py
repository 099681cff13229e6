"""Every figure of the reproduction report, by name, with the item of arXiv 2505.18091 it reproduces.

A ``Figure`` names the figure (its key in report.json and its file stem), the paper item, how to draw it
from its context and, where it may not apply, why not. Three groups, each drawn from one context:

- ``RUN_FIGURES``: a preset's SynBio runs (an ``analysis.reproduction.RunsAnalysis``);
- ``SECTION_FIGURES``: the reasoning and continual pre-training runs (the results table itself), drawn
  for the report's sections that were measured;
- ``THEORY_FIGURES``: the theory alone at the paper's settings (an ``analysis.paper_theory.PaperSettings``).

Figures the ``capacity`` commands draw: threshold popularity (Fig. 7b, ``figures.popularity``) and r_c
against size and budget with each predictor (ours, ``figures.prediction``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from analysis.paper import PYTHIA_NONEMBEDDING
from figures import empirical as fe
from figures.continual import continued_vs_scratch
from figures.empirical_powerlaw import threshold_frequency_vs_size
from figures.empirical_theory import (phase_diagram_with_runs, stored_bits_vs_allocation, subsampling_and_ckm,
                                      web_loss_scaling)
from figures.reasoning import accuracy_vs_ratio_and_size
from figures.style import save
from figures.theory import fraction_vs_ratio_figure, phase_diagram_figure, threshold_frequency_figure


def _always(context) -> None:
    return None


@dataclass(frozen=True)
class Figure:
    """One registered figure (not a matplotlib Figure: ``draw`` returns that)."""
    name: str  # the key in report.json's "figures" and, unless ``stem`` says otherwise, the file stem
    paper: str  # the item of arXiv 2505.18091 it reproduces ("ours" for our own checks)
    draw: Callable[[Any], Any]  # context -> matplotlib Figure
    missing: Callable[[Any], str | None] = _always  # context -> why it cannot be drawn, or None
    stem: str | None = None
    quiet: bool = False  # when it cannot be drawn, say nothing (what no preset trains)


def _needs_theory(a) -> str | None:
    return None if a.theory else "needs the theory fitted on the runs (see 'theory')"


def _phase_diagram(a):
    return phase_diagram_with_runs(a.uniform, a.theory.curve, a.theory.knowledge, np.linspace(0.01, 0.99, 120),
                                   np.geomspace(a.models.min() / 4, a.models.max() * 4, 120), a.bits_per_parameter)


RUN_FIGURES = (
    Figure("accuracy_vs_ratio", "Fig. 2, Table 1", lambda a: fe.accuracy_vs_mixing_ratio(a.uniform, a.critical_ratios)),
    Figure("accuracy_vs_size", "Fig. 1", lambda a: fe.accuracy_vs_model_size(a.uniform, a.critical_sizes)),
    Figure("accuracy_vs_tokens", "Fig. 3", lambda a: fe.accuracy_vs_tokens(a.uniform)),
    Figure("accuracy_vs_exposures", "ours: Fig. 3 against exposures per person",
           lambda a: fe.accuracy_vs_exposures(a.uniform)),
    Figure("steps_to_target", "Figs. 3-4, Appendix E.5",
           lambda a: fe.steps_to_target(a.uniform, target=0.5, model=a.ratio_model)),
    Figure("web_loss_scaling", "Fig. 7 (the web-loss law)",
           lambda a: web_loss_scaling(a.uniform, a.theory.web if a.theory else None)),
    Figure("phase_diagram", "Section 4, Theorem 4.3", _phase_diagram, _needs_theory),
    Figure("stored_bits", "Section 4, Theorem 4.3 (the allocation m1*)",
           lambda a: stored_bits_vs_allocation(a.uniform, a.theory.knowledge_bits), _needs_theory),
    Figure("subsampling_ckm", "Section 6, Fig. 8", lambda a: subsampling_and_ckm(a.synbio, a.best_rho()),
           lambda a: None if a.has_strategies else
           "no runs with subsampling (rho < 1) or compact knowledge mixing (tau > 0) in this preset"),
    Figure("threshold_frequency", "Section 5, Fig. 7a",
           lambda a: threshold_frequency_vs_size(a.synbio, a.threshold_slope),
           lambda a: None if a.has_powerlaw else "no power-law SynBio runs in this preset"),
)
SECTION_FIGURES = (
    Figure("reasoning", "Section 3.3, Fig. 5", lambda df: accuracy_vs_ratio_and_size(df, "slope")),
    Figure("reasoning_max", "Section 3.3, Appendix D.3", lambda df: accuracy_vs_ratio_and_size(df, "max"), quiet=True),
    Figure("continual", "Section 6, Appendix D.1", continued_vs_scratch),
)
THEORY_FIGURES = (
    Figure("phase_diagram", "Section 4, Theorem 4.3", stem="theory_phase_diagram",
           draw=lambda s: phase_diagram_figure(s.curve, s.knowledge, np.linspace(0.01, 0.99, 200),
                                               np.geomspace(1e5, 1e9, 200), s.bits_per_parameter,
                                               title="Theory: SynBio-320k in FineWeb-Edu")),
    Figure("accuracy_vs_ratio", "Fig. 2 (theory)", stem="theory_fraction_vs_ratio",
           draw=lambda s: fraction_vs_ratio_figure(s.curve, s.knowledge, list(PYTHIA_NONEMBEDDING.values())[1:],
                                                   s.bits_per_parameter)),
    Figure("threshold_frequency", "Fig. 7a (theory)", stem="theory_threshold_frequency",
           draw=lambda s: threshold_frequency_figure(s.curve, np.geomspace(1e7, 5e8, 50), s.bits_per_parameter, 0.01)),
)
RUN_FIGURE_NAMES = tuple(f.name for f in RUN_FIGURES)


def draw_one(figure: Figure, context, out: Path) -> list[str]:
    """Draw ``figure`` and write it as PNG and PDF in ``out``; returns the paths."""
    return save(figure.draw(context), Path(out) / (figure.stem or figure.name))


def draw(figures, context, out: Path, names=None) -> tuple[dict, dict]:
    """(paths by figure name, notes by figure name) for each of ``figures`` (those in ``names`` when
    given): a figure that does not apply, or whose runs are missing, is noted, not fatal."""
    paths, notes = {}, {}
    for figure in figures:
        if names is not None and figure.name not in names:
            continue
        try:
            why = figure.missing(context)
            if why is None:
                paths[figure.name] = draw_one(figure, context, out)
        except ValueError as exc:
            why = str(exc)
        if why is not None and not figure.quiet:
            notes[figure.name] = why
    return paths, notes
