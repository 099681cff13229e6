"""The reasoning task's numbers (arXiv 2505.18091 section 3.3, Fig. 5): exact-match accuracy of the final
answer on fresh held-out questions, against the mixing ratio and model size, and the exposure-matched
controls (r/2 trained twice as long, so each control sees as many task examples as its main run).

At equal examples, a control as accurate as its main run says exposure counts explain the curve in r;
one clearly below it says the ratio itself matters, as for SynBio (``analysis.verdicts``).
``reasoning_section`` gives the report's paragraph.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tables import final_rows, require_columns, with_role
from analysis.verdicts import CAPACITY_GAP
from empirical.config import TASK_KINDS

TASKS = TASK_KINDS
MIN_ACCURACY = 0.05  # a pair whose main run is below this learned nothing to compare (as for SynBio)
COLUMNS = ("run_id", "step", "knowledge", "model", "params_nonembedding", "mixing_ratio", "tokens", "seed", "accuracy")


def task_rows(df: pd.DataFrame, task: str = "slope") -> pd.DataFrame:
    """Final rows of the runs of one reasoning task ("slope" or "max", any size of it: "slope:9")."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    require_columns(df, COLUMNS, "the reasoning figure")
    kind = df["knowledge"].astype(str)
    rows = df[(kind == task) | kind.str.startswith(task + ":")]
    if rows.empty:
        raise ValueError(f"no runs of the {task} task in the results")
    return with_role(final_rows(rows))


def task_exposure_pairs(final: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Each exposure-matched control with the main run of equal task examples: same model, task and seed,
    r x tokens equal within ``tolerance``, the control trained longer. Columns: model, seed, mixing_ratio,
    accuracy, exposures (the main run's), control_ratio, control_accuracy, control_exposures,
    token_ratio, gap (main minus control accuracy)."""
    main = final[final["role"] == "main"]
    out = []
    for _, c in final[final["role"] == "exposure_matched"].iterrows():
        knowledge = float(c["mixing_ratio"]) * float(c["tokens"])
        same = main[(main["model"] == c["model"]) & (main["seed"] == c["seed"]) & (main["knowledge"] == c["knowledge"])
                    & (main["tokens"] < c["tokens"])]
        match = same[(same["mixing_ratio"] * same["tokens"] - knowledge).abs() <= tolerance * knowledge]
        if match.empty:
            continue
        m = match.iloc[0]
        out.append({"model": c["model"], "seed": int(c["seed"]), "mixing_ratio": float(m["mixing_ratio"]),
                    "accuracy": float(m["accuracy"]), "exposures": m.get("exposures"),
                    "control_ratio": float(c["mixing_ratio"]), "control_accuracy": float(c["accuracy"]),
                    "control_exposures": c.get("exposures"), "token_ratio": float(c["tokens"]) / float(m["tokens"]),
                    "gap": float(m["accuracy"]) - float(c["accuracy"])})
    columns = ["model", "seed", "mixing_ratio", "accuracy", "exposures", "control_ratio", "control_accuracy",
               "control_exposures", "token_ratio", "gap"]
    return pd.DataFrame(out, columns=columns).sort_values(["model", "mixing_ratio"]).reset_index(drop=True)


def sweep_axes(final: pd.DataFrame) -> tuple[str, float | None]:
    """The r-sweep's model (the one with main runs at the most ratios) and the size sweep's ratio (the
    ratio with main runs at the most models; None when no ratio has two)."""
    main = final[final["role"] == "main"]
    if main.empty:
        raise ValueError("no main runs of the task in the results")
    model = main.groupby("model")["mixing_ratio"].nunique().idxmax()
    sizes = main.groupby("mixing_ratio")["model"].nunique()
    return model, (float(sizes.idxmax()) if sizes.max() >= 2 else None)


def reasoning_verdict(pairs: pd.DataFrame, min_accuracy: float = MIN_ACCURACY) -> tuple[str, str]:
    """(label, sentence): does the exposure-matched control separate the ratio from exposure counts?
    Judged as SynBio's (``analysis.verdicts.exposure_verdict``): on the mean gap of the pairs whose main
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
