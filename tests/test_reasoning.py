"""Reasoning-task sweeps, evaluation on fresh questions, Fig. 5 and the continual pre-training comparison."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.continual import continual_pairs, continual_section, crossing_ratio
from analysis.reasoning import reasoning_section, task_exposure_pairs, task_rows
from analysis.reproduction import split_runs
from empirical.config import DataConfig, EvalConfig, TrainConfig
from figures.continual import continued_vs_scratch
from figures.reasoning import accuracy_vs_ratio_and_size


def test_task_sizes_are_validated():
    assert DataConfig(knowledge="slope:9").knowledge == "slope:9"
    assert DataConfig(knowledge="max:10").knowledge == "max:10"
    for bad in ("slope:5", "slope:100", "max:1", "max:31", "slope:09", "slope:x"):
        with pytest.raises(ValueError, match="slope:M"):
            DataConfig(knowledge=bad)


def test_reasoning_eval_counts_1000_fresh_questions():
    from empirical.text.pipeline import build_run_data

    config = TrainConfig(model="tiny-50k", data=DataConfig(knowledge="slope:9", mixing_ratio=0.3, tokenizer="bpe-2048",
                                                           seq_len=192),
                         eval=EvalConfig(people=1000, templates="first"), batch_size=4, tokens=4 * 192)
    data = build_run_data(config)
    items = data.eval_items(config.eval.people, config.eval.templates)
    assert len(items) == 1000 and len({it.person for it in items}) == 1000
    task = data.knowledge
    assert task.max_value == 9
    asked = task.held_out[[it.person for it in items]]
    # Neither order of a question's two points is ever generated for training.
    trained = task.sample_exposures(np.random.default_rng(1), 50_000).items
    assert not np.isin(task._codes(asked), trained).any()
    assert not np.isin(task._codes(asked[:, [2, 3, 0, 1]]), trained).any()
    # Exact match of the final answer: the target ends with what closes the answer (end-of-text here).
    eot = data.tokenizer.info.eos_id
    assert all(it.target[-1] == eot for it in items)
    assert len(data.eval_items(200, "first")) == 200 and len(data.eval_items(10, "all")) == 50


def _task_table() -> pd.DataFrame:
    rows = []

    def add(run_id, model, params, r, tokens, acc, role="main"):
        for step, scale in ((1, 0.0), (2, 1.0)):
            rows.append(dict(run_id=run_id, step=step, knowledge="slope:9", model=model, params_nonembedding=params,
                             mixing_ratio=r, tokens=tokens * step // 2, seed=0, accuracy=acc * scale, role=role,
                             items_evaluated=1000, exposures=int(r * tokens / 30 * step / 2)))
    for i, (r, acc) in enumerate([(0.1, 0.02), (0.2, 0.10), (0.3, 0.40), (0.5, 0.80)]):
        add(f"m{i}", "tiny-100k", 113_184, r, 1000, acc)
    add("c1", "tiny-100k", 113_184, 0.1, 2000, 0.01, "exposure_matched")  # pairs with r = 0.2
    add("c2", "tiny-100k", 113_184, 0.15, 2000, 0.05, "exposure_matched")  # pairs with r = 0.3
    add("c3", "tiny-100k", 113_184, 0.25, 2000, 0.30, "exposure_matched")  # pairs with r = 0.5
    add("s1", "tiny-50k", 50_880, 0.3, 1000, 0.05)
    add("s2", "small-200k", 200_064, 0.3, 1000, 0.70)
    rows.append(dict(run_id="syn", step=2, knowledge="synbio", model="tiny-50k", params_nonembedding=50_880,
                     mixing_ratio=0.3, tokens=1000, seed=0, accuracy=0.5, role="main", items_evaluated=10, exposures=3))
    return pd.DataFrame(rows)


def test_exposure_pairs_and_figure_show_the_table():
    df = _task_table()
    pairs = task_exposure_pairs(task_rows(df, "slope"))
    assert pairs[["mixing_ratio", "control_ratio"]].values.tolist() == [[0.2, 0.1], [0.3, 0.15], [0.5, 0.25]]
    assert pairs["gap"].tolist() == pytest.approx([0.09, 0.35, 0.50])
    fig = accuracy_vs_ratio_and_size(df, "slope")
    left, right = fig.axes
    main = [line for line in left.lines if line.get_gid() == "main"][0]
    assert main.get_xdata().tolist() == [0.1, 0.2, 0.3, 0.5]
    assert main.get_ydata().tolist() == pytest.approx([0.02, 0.10, 0.40, 0.80])
    control = [line for line in left.lines if line.get_gid() == "control"][0]
    assert control.get_ydata().tolist() == pytest.approx([0.01, 0.05, 0.30])
    size = [line for line in right.lines if line.get_gid() == "size"][0]
    assert size.get_xdata().tolist() == [50_880, 113_184, 200_064]
    assert size.get_ydata().tolist() == pytest.approx([0.05, 0.40, 0.70])
    with pytest.raises(ValueError, match="no runs of the max task"):
        accuracy_vs_ratio_and_size(df, "max")


def test_reasoning_section_says_whether_the_control_separates_ratio_from_exposures():
    df = _task_table()
    section = reasoning_section(df, "slope", synbio_verdict="capacity")
    assert section["verdict"] == "ratio"  # informative pairs (main >= 5%): gaps +9%, +35%, +50%, mean above 10%
    assert section["accuracy_by_ratio"] == pytest.approx({0.1: 0.02, 0.2: 0.1, 0.3: 0.4, 0.5: 0.8})
    assert "1,000 fresh held-out questions" in section["text"] and "'capacity'" in section["text"]
    same = df.copy()
    control = same["role"] == "exposure_matched"
    same.loc[control & (same["step"] == 2), "accuracy"] = same.loc[control & (same["step"] == 2), "run_id"].map(
        {"c1": 0.10, "c2": 0.38, "c3": 0.79})
    assert reasoning_section(same, "slope")["verdict"] == "exposure"


def _continual_table() -> pd.DataFrame:
    rows = []

    def add(run_id, r, tokens, acc, init="", rho=1.0):
        rows.append(dict(run_id=run_id, step=10, model="tiny-50k", knowledge="synbio", people=128, mixing_ratio=r,
                         rho=rho, tau=0.0, seed=0, tokens=tokens, accuracy=acc, init_from=init or None,
                         config={"init_from": init} if init else {}))
    add("src", 0.0, 1000, 0.0)
    for r, cont, scratch in ((0.2, 0.01, 0.02), (0.3, 0.05, 0.20), (0.4, 0.30, 0.50)):
        add(f"c{r}", r, 1000, cont, "run:src")
        add(f"s{r}", r, 2000, scratch)
    add("c-rho", 0.3, 1000, 0.25, "run:src", rho=0.5)
    add("s-rho", 0.3, 2000, 0.45, rho=0.5)
    add("s-other-budget", 0.3, 1000, 0.9)  # not of equal total tokens: never a match
    return pd.DataFrame(rows)


def test_continual_pairs_match_equal_total_tokens():
    df = _continual_table()
    pairs = continual_pairs(df)
    full = pairs[pairs["rho"] == 1.0]
    assert full["scratch_accuracy"].tolist() == pytest.approx([0.02, 0.20, 0.50])
    assert set(pairs["scratch_tokens"]) == {2000.0}
    section = continual_section(df)
    # continued: 0.05 at 0.3 -> 0.30 at 0.4 crosses 10% at exp(log .3 + 0.2 log(4/3))
    assert section["critical_ratio"]["accuracy"]["ratio"] == pytest.approx(0.3 * (4 / 3) ** 0.2)
    assert section["critical_ratio"]["scratch_accuracy"]["ratio"] == pytest.approx(0.2 * 1.5 ** (0.08 / 0.18))
    gain = section["subsampling_gains"][0]
    assert gain["continued_gain"] == pytest.approx(0.20) and gain["scratch_gain"] == pytest.approx(0.25)
    fig = continued_vs_scratch(df)
    lines = {line.get_gid(): line for line in fig.axes[0].lines}
    assert lines["continued"].get_ydata().tolist() == pytest.approx([0.01, 0.05, 0.30])
    assert lines["scratch"].get_ydata().tolist() == pytest.approx([0.02, 0.20, 0.50])
    assert set(split_runs(df)["run_id"]) == {"s0.2", "s0.3", "s0.4", "s-rho", "s-other-budget"}


def test_crossing_ratio_bounds():
    assert crossing_ratio([0.1, 0.2], [0.0, 0.05]) == (0.2, ">")
    assert crossing_ratio([0.2, 0.1], [0.5, 0.2]) == (0.1, "<=")
    with pytest.raises(ValueError, match="no continued runs"):
        continual_pairs(_continual_table().assign(init_from=None, config=[{}] * 10))


def test_the_sweeps_hold_what_the_figures_need():
    from empirical.sweeps.named import REPRODUCTIONS, SWEEPS

    sweep = SWEEPS["reasoning"]("cpu")
    configs = [r.config for r in sweep.runs]
    assert {c.data.knowledge for c in configs} == {"slope:9"}
    assert all(c.eval.people == 1000 and c.eval.templates == "first" for c in configs)
    controls = [r.config for r in sweep.runs if r.role == "exposure_matched"]
    main = {(c.model, c.data.mixing_ratio): c for c in configs if c not in controls}
    for c in controls:  # r/2 with twice the tokens: the same task examples as a main run
        m = main[(c.model, c.data.mixing_ratio * 2)]
        assert c.tokens == 2 * m.tokens
    assert len({c.model for c in configs}) == 4
    cont = SWEEPS["continual"]("cpu")
    source = [r for r in cont.runs if r.config.data.mixing_ratio == 0.0]
    assert len(source) == 1 and source[0].config.init_from == ""
    continued = [r.config for r in cont.runs if r.config.init_from]
    assert {c.init_from for c in continued} == {f"run:{source[0].run_id}"} and len(continued) == 5
    scratch = [r for r in cont.runs if not r.config.init_from and r.config.data.mixing_ratio > 0]
    assert {r.config.tokens for r in scratch} == {source[0].config.tokens + continued[0].tokens}
    full = {s.name: s for s in REPRODUCTIONS["full"]()}
    assert "reasoning" in full and "continual" in full
    full_ratio = {r.run_id for r in full["full-ratio"].runs} | {r.run_id for r in full["full-subsampling"].runs}
    assert {r.run_id for r in scratch} <= full_ratio  # the from-scratch runs are the full preset's own
