"""The reproduction's numbers for one preset's runs: which runs count, the theory fitted on them, the
verdict, the critical ratios and the paper's other sections, ready for ``analysis.report``.

``finished_runs`` keeps the preset's finished runs; ``analyse_runs`` fits the theory on them
(``analysis.theory_fit``) and reads the exposure-matched controls (``analysis.verdicts``); the figures
are drawn from the ``RunsAnalysis`` it returns (``figures.registry``); ``report_numbers`` gives the
report's numbers, and ``paper_sections`` the reasoning task's and continual pre-training's paragraphs.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.continual import continual_section
from analysis.critical_ratios import critical_ratio_slope, held_out_critical_ratio, measured_critical_ratios
from analysis.measure import threshold_frequency_slope_fitted
from analysis.reasoning import reasoning_section
from analysis.tables import baseline, final_rows, seed_summary
from analysis.theory_fit import TheoryOnRuns, theory_on_runs
from analysis.verdicts import ExposureVerdict, exposure_verdict, horizon_gains
from capacity.units import PAPER_FINEWEB_EDU_LAW, capacity_bits, synbio_bits_per_person

RUN_COLUMNS = ("run_id", "model", "params_total", "params_nonembedding", "knowledge", "people", "mixing_ratio", "rho",
               "tau", "seed", "role", "tokens", "exposures_per_person", "accuracy", "web_loss", "knowledge_loss",
               "bits_stored")
SETTING_COLUMNS = ("model", "params_nonembedding", "knowledge", "people", "mixing_ratio", "role", "tokens",
                   "exposures_per_person", "accuracy_mean", "web_loss", "bits_stored", "seeds")
# The report's paragraphs beyond SynBio, in report order; max-over-N is in no preset, so it is silent when absent.
SECTIONS = ("reasoning", "reasoning_max", "continual")
QUIET_SECTIONS = ("reasoning_max",)


def finished_runs(df: pd.DataFrame, steps: dict[str, int], preset: str, results) -> tuple[pd.DataFrame, dict]:
    """(rows of the preset's finished runs, notes): ``steps`` maps each of the preset's run ids to its
    final step. An interrupted run's last row is not its result, so unfinished runs are left out and
    named in the notes. ValueError when no finished SynBio run is left."""
    df = df[df["run_id"].isin(steps)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{results} holds no runs of the {preset!r} preset")
    last = df.groupby("run_id")["step"].max()
    unfinished = sorted(rid for rid, step in last.items() if step < steps[rid])
    df = df[~df["run_id"].isin(unfinished)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{results} holds no finished runs of the {preset!r} preset yet "
                         f"({len(unfinished)} in progress)")
    if split_runs(df).empty:
        raise ValueError(f"{results} holds no finished SynBio runs of the {preset!r} preset yet")
    notes = {}
    if unfinished:
        notes["unfinished"] = f"{len(unfinished)} runs started but not finished are left out: {', '.join(unfinished)}"
    return df, notes


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


@dataclass(frozen=True)
class RunsAnalysis:
    """A preset's finished runs and what the report and its figures read from them."""
    runs: pd.DataFrame  # every finished run, the reasoning and continual runs included
    synbio: pd.DataFrame  # the SynBio runs (``split_runs``)
    uniform: pd.DataFrame  # uniform SynBio: the curves in r, size and tokens
    final: pd.DataFrame  # final rows of ``synbio``
    models: pd.Series  # model -> non-embedding parameters, ascending
    theory: TheoryOnRuns | None
    critical_ratios: dict | None  # model -> the theory's critical r
    critical_sizes: dict | None  # r -> the theory's critical size
    ratio_model: str  # the r-sweep's model: the one run at the most mixing ratios
    verdict: ExposureVerdict
    law_mixing_ratio: float
    bits_per_parameter: float
    notes: dict  # name -> why a part of the report is missing

    @property
    def has_strategies(self) -> bool:
        """Any run with subsampling (rho < 1) or compact knowledge mixing (tau > 0)?"""
        return bool(((self.final["rho"] < 1.0) | (self.final["tau"] > 0.0)).any())

    @property
    def has_powerlaw(self) -> bool:
        return bool((self.final["knowledge"] == "synbio-powerlaw").any())

    @property
    def threshold_slope(self) -> float | None:
        """The theory's slope of the threshold frequency against size, -(alpha + 1) (Fig. 7a)."""
        return -(self.theory.law.exponent + 1.0) if self.theory else None

    def best_rho(self) -> float | None:
        """The theory's best subsampling ratio for the model and r of the subsampling runs (None without
        them or without a fitted theory; arXiv 2505.18091, Section 6)."""
        from capacity.strategies import best_subsampling_ratio

        sub = self.final[self.final["rho"] < 1.0]
        if self.theory is None or sub.empty:
            return None
        run = sub.iloc[0]
        bits = float(capacity_bits(run["params_nonembedding"], self.bits_per_parameter))
        return best_subsampling_ratio(self.theory.curve, self.theory.people, self.theory.tokens_per_person,
                                      synbio_bits_per_person(), float(run["mixing_ratio"]), bits).rho


def analyse_runs(runs: pd.DataFrame, *, law_mixing_ratio: float, bits_per_parameter: float,
                 notes: dict | None = None) -> RunsAnalysis:
    """Fit the theory on the SynBio runs (a note, not an error, when it cannot be fitted) and read the
    exposure-matched controls. ValueError when ``runs`` holds no SynBio run."""
    notes = dict(notes or {})
    synbio = split_runs(runs)  # the reasoning and continual runs have their own sections
    if synbio.empty:
        raise ValueError("the results hold no finished SynBio runs of this preset yet")
    theory = None
    try:
        theory = theory_on_runs(synbio, law_mixing_ratio=law_mixing_ratio, bits_per_parameter=bits_per_parameter)
    except (ValueError, RuntimeError) as exc:
        notes["theory"] = f"theory not fitted: {exc}"
    uniform = synbio[synbio["knowledge"] == "synbio"]  # power-law SynBio has its own figure
    final = final_rows(synbio)
    models = final.drop_duplicates("model").set_index("model")["params_nonembedding"].sort_values()
    uniform_final = final_rows(uniform)
    ratios = sorted(uniform_final["mixing_ratio"].unique())
    critical_ratios = {m: float(theory.critical_ratio(n)) for m, n in models.items()} if theory else None
    critical_sizes = {r: float(theory.critical_size(r)) for r in ratios if 0 < r < 1} if theory else None
    ratio_model = uniform_final.groupby("model")["mixing_ratio"].nunique().idxmax()
    return RunsAnalysis(runs, synbio, uniform, final, models, theory, critical_ratios, critical_sizes, ratio_model,
                        exposure_verdict(uniform, critical_ratios), law_mixing_ratio, bits_per_parameter, notes)


def paper_sections(a: RunsAnalysis) -> tuple[dict, dict]:
    """(sections, notes): the reasoning task's (arXiv 2505.18091, Section 3.3, Fig. 5; Appendix D.3) and
    continual pre-training's (Section 6, Appendix D.1) numbers and paragraph, each under its name in
    ``SECTIONS``, and why one is missing."""
    makers = {"reasoning": lambda: reasoning_section(a.runs, "slope", a.verdict.verdict),
              "reasoning_max": lambda: reasoning_section(a.runs, "max", a.verdict.verdict),
              "continual": lambda: continual_section(a.runs)}
    sections, notes = {}, {}
    for name in SECTIONS:
        try:
            sections[name] = makers[name]()
        except ValueError as exc:
            if name not in QUIET_SECTIONS:
                notes[name] = str(exc)
    return sections, notes


def _theory_numbers(a: RunsAnalysis) -> dict | None:
    t = a.theory
    if t is None:
        return None
    law = t.web.law
    return {
        "web_loss_law_nats": {"C": law.C, "A": law.A, "alpha": law.alpha, "C_interval": law.C_interval,
                              "A_interval": law.A_interval, "alpha_interval": law.alpha_interval,
                              "points": law.n_points, "size": "params_nonembedding"},
        "people": t.people,
        "tokens_per_person": t.tokens_per_person,
        "exposure_frequency_per_knowledge_token": t.exposure_frequency,
        "knowledge_bits": t.knowledge.entropy_bits,
        "predicted_critical_mixing_ratio": a.critical_ratios,
        "predicted_critical_size": a.critical_sizes,
        # Is the theory's premise met? Knowledge competing for capacity, web loss still falling with size.
        "knowledge_share_of_capacity": {m: t.knowledge.entropy_bits / (a.bits_per_parameter * n)
                                        for m, n in a.models.items()},
        "paper_alpha": PAPER_FINEWEB_EDU_LAW.exponent,
    }


def _held_out(a: RunsAnalysis) -> tuple[dict | None, dict]:
    """(the held-out size's predicted and measured critical ratio, or None; the note saying why not)."""
    try:
        p = held_out_critical_ratio(a.uniform, law_mixing_ratio=a.law_mixing_ratio)
    except (ValueError, RuntimeError) as exc:
        return None, {"held_out": f"no held-out prediction: {exc}"}
    return dict(model=p.held_out, params_nonembedding=p.params_nonembedding, law_models=list(p.law_models),
                calibration_models=list(p.calibration_models), bits_per_parameter=p.bits_per_parameter,
                predicted_critical_ratio=p.predicted, measured_critical_ratio=p.measured,
                predicted_over_measured=p.ratio, calibration=p.calibration.to_dict(orient="records")), {}


def report_numbers(a: RunsAnalysis) -> tuple[dict, dict]:
    """(the report's numbers, in report.json's order; notes on what could not be measured)."""
    measured = measured_critical_ratios(a.uniform)
    if a.critical_ratios:
        measured["predicted_critical_ratio"] = measured["model"].map(a.critical_ratios)
        measured["predicted_over_measured"] = measured["predicted_critical_ratio"] / measured["measured_critical_ratio"]
    held_out, notes = _held_out(a)
    summary = seed_summary(baseline(a.final, roles=("main", "exposure_matched", "horizon")))
    numbers = {
        "run_count": int(a.synbio["run_id"].nunique()),
        "rows": int(len(a.synbio)),
        "runs": a.final[[c for c in RUN_COLUMNS if c in a.final.columns]].to_dict(orient="records"),
        "bits_per_parameter": a.bits_per_parameter,
        "theory": _theory_numbers(a),
        "critical_ratios": measured.to_dict(orient="records"),
        "critical_ratio_slope": {"measured": critical_ratio_slope(measured), "predicted": a.threshold_slope},
        "held_out_prediction": held_out,
        "threshold_frequency_slope": threshold_frequency_slope_fitted(a.synbio, a.threshold_slope),
        "verdict": a.verdict.verdict,
        "verdict_text": a.verdict.text,
        "exposure_pairs": a.verdict.pairs.to_dict(orient="records"),
        "horizons": horizon_gains(a.uniform).to_dict(orient="records"),
        "settings": summary[[c for c in SETTING_COLUMNS if c in summary.columns]].to_dict(orient="records"),
    }
    return numbers, notes
