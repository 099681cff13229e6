"""`python -m capacity.prediction_report`: the report's contract and its >= 2x size extrapolations,
on tables built from a known odds power law (so the right predictor must land within the target)."""
import json
import math

from capacity.prediction_report import TARGET, main
from predict_tables import from_odds, results_rows, table

SIZES = (50_880, 113_184, 200_064, 559_392, 991_616)  # the study's sizes


def _critical(M, T):
    return from_odds(0.6 * (M / 1e5) ** -0.5)


def _write(tmp_path, runs):
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in results_rows(runs)))
    return path


def test_report_contract_and_every_size_extrapolation_reaches_at_least_2x(tmp_path):
    path = _write(tmp_path, table(_critical, sizes=SIZES))
    assert main([str(path), str(tmp_path / "out"), "--bootstrap", "20", "--no-figures"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {m["model"] for m in report["critical_ratios"]} == {f"m{M:g}" for M in SIZES}
    for m in report["critical_ratios"]:
        assert {"model", "params_nonembedding", "tokens", "accuracy_level", "measured", "interval", "seeds"} <= set(m)
        assert abs(m["measured"] / _critical(m["params_nonembedding"], m["tokens"]) - 1) < 0.01
    for p in report["predictions"]:
        assert {"predictor", "mode", "held_out", "fitted_on", "tokens", "predicted", "interval", "measured",
                "ratio"} <= set(p)
    auto = [p for p in report["predictions"] if p["predictor"] == "auto" and p["mode"] == "extrapolate"
            and p["axis"] == "size"]
    # small-500k and small-1m, each from the sizes at or below half of it (50k to 200k): 2.8x and 4.96x.
    assert sorted((p["held_out"], tuple(p["fitted_on"])) for p in auto) == [
        ("m559392", ("m113184", "m200064", "m50880")), ("m991616", ("m113184", "m200064", "m50880"))]
    assert all(p["extrapolation_factor"] >= 2.0 and max(p["ratio"], 1 / p["ratio"]) < 1.01 for p in auto)
    assert report["picked_predictor"] == "odds-power-law"
    text = (tmp_path / "out" / "report.md").read_text()
    assert "predicts m991616 at 5,000,000 tokens (4.96x beyond the largest calibrated size)" in text
    assert f"within the {TARGET}x target, interval covers the measurement" in text


def test_without_two_sizes_below_half_the_largest_is_predicted_from_every_smaller_size(tmp_path):
    path = _write(tmp_path, table(_critical, sizes=(1e5, 1.5e5, 2e5)))
    assert main([str(path), str(tmp_path / "out"), "--bootstrap", "20", "--no-figures"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    auto = [p for p in report["predictions"] if p["predictor"] == "auto" and p["mode"] == "extrapolate"]
    assert [(p["held_out"], sorted(p["fitted_on"])) for p in auto] == [("m200000", ["m100000", "m150000"])]
    assert "only 1.33x, short of the 2x" in (tmp_path / "out" / "report.md").read_text()


def _case(predictor, held_out, params, ratio, covered=True, tokens=1e6, picked=None, error=""):
    measured = 0.3
    return {"predictor": predictor, "mode": "extrapolate", "axis": "size", "held_out": held_out, "params": params,
            "tokens": tokens, "fitted_on": ["a", "b", "c"], "measured": measured, "extrapolation_factor": 2.5,
            "predicted": None if ratio is None else measured * ratio, "interval": None if ratio is None else [0.1, 0.5],
            "ratio": ratio, "covered": None if ratio is None else covered, "picked": picked, "error": error}


def test_verdict_judges_the_largest_size_even_when_it_could_not_be_scored():
    from capacity.prediction_report import verdict

    report = {"picked_predictor": "logistic", "critical_ratios": [], "predictions": [
        _case("auto", "big", 1e6, None, error="the fit failed"), _case("auto", "mid", 5e5, 1.1, picked="logistic")]}
    text = verdict(report)
    assert text.startswith("For big at 1,000,000 tokens the rule's predictor could not be scored (the fit failed).")
    assert "The other size extrapolations: mid" in text


def test_verdict_names_the_predictors_that_reach_the_target_and_survives_a_zero_prediction():
    from capacity.prediction_report import verdict

    cases = [_case("auto", "big", 1e6, 0.7, covered=False, picked="logistic"), _case("logistic", "big", 1e6, 0.7, False),
             _case("theory", "big", 1e6, 0.0, False), _case("theory-budget", "big", 1e6, 1.2),
             _case("odds-power-law", "big", 1e6, 1.1)]
    text = verdict({"picked_predictor": "logistic", "critical_ratios": [], "predictions": cases})
    assert "outside the 1.25x target, interval misses" in text
    assert "on the same case: theory-budget (0.360, ratio 1.200), odds-power-law (0.330, ratio 1.100); the rule" in text
    assert "did not pick them. With fewer than four calibration sizes" in text
    good = verdict({"picked_predictor": "x", "critical_ratios": [], "predictions": [
        _case("auto", "big", 1e6, 1.1, picked="odds-power-law"), _case("theory", "big", 1e6, 0.0, False)]})
    assert "within the 1.25x target, interval covers" in good and "No predictor" not in good


def test_budget_lines_place_r_c_between_the_capacity_and_the_exposure_limits():
    from capacity.prediction_report import _budget_lines

    critical = [{"model": "m", "params_nonembedding": 1e5, "tokens": t, "measured": 0.4 * (t / 1e6) ** -0.5}
                for t in (1e6, 4e6)] + [{"model": "one", "params_nonembedding": 2e5, "tokens": 1e6, "measured": 0.3}]
    lines = _budget_lines(critical)
    assert lines == ["", "m: r_c 0.400 at 1,000,000 tokens, 0.200 at 4,000,000 (4x): r_c ~ T^-0.50; exposures at the "
                     "threshold (r_c x T) x2.00. A capacity-limited learner: T^0 (exposures x4); a fixed exposure "
                     "count: T^-1 (x1)."]


def test_budget_lines_give_the_slope_of_each_budget_step_when_there_are_three_budgets():
    from capacity.prediction_report import _budget_lines

    r = {1e6: 0.5, 4e6: 0.25, 1.6e7: 0.25 * 4 ** -0.2}  # the fall slows: T^-0.5, then T^-0.2
    (line,) = _budget_lines([{"model": "m", "params_nonembedding": 1e5, "tokens": t, "measured": v}
                             for t, v in r.items()])[1:]
    assert line.endswith("Step by step: T^-0.50 from 1,000,000 to 4,000,000 tokens, "
                         "T^-0.20 from 4,000,000 to 16,000,000 tokens.")
    assert "r_c ~ T^-0.35" in line


def test_the_report_draws_both_figures(tmp_path):
    path = _write(tmp_path, table(lambda M, T: from_odds(0.6 * (M / 1e5) ** -0.5 * (T / 5e6) ** -0.6),
                                  sizes=SIZES[:3], budgets=(5e6, 2e7)))
    assert main([str(path), str(tmp_path / "out"), "--bootstrap", "20"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["figures"] == ["critical_ratio_vs_size.png", "critical_ratio_vs_budget.png"]
    for name in report["figures"]:
        assert (tmp_path / "out" / name).stat().st_size > 10_000
        assert (tmp_path / "out" / name).with_suffix(".pdf").is_file()


def test_local_slopes_recover_a_power_law_and_a_bend_onto_a_floor():
    from capacity.calibration import local_odds_slopes, measure_critical_ratios
    from predict_tables import odds

    def slopes(critical):
        return local_odds_slopes(measure_critical_ratios(table(critical, sizes=SIZES), n_boot=40))

    for s in slopes(_critical):  # one power law: the same slope, -0.5, between every pair
        assert abs(s["slope"] + 0.5) < 0.01 and s["interval"][0] <= s["slope"] <= s["interval"][1]
    bent = lambda M, T: from_odds(0.35 + 0.6 * (M / 1e5) ** -1.5)  # noqa: E731 - a floor under a power law
    got = slopes(bent)
    assert [(s["from"], s["to"]) for s in got] == [(f"m{a:g}", f"m{b:g}") for a, b in zip(SIZES, SIZES[1:])]
    for s in got:
        a, b = s["params_from"], s["params_to"]
        exact = math.log(odds(bent(b, 0)) / odds(bent(a, 0))) / math.log(b / a)
        assert abs(s["slope"] - exact) < 0.01
    assert got[0]["slope"] < -1.0 < -0.2 < got[-1]["slope"]


def test_a_missed_extrapolation_names_the_bend_and_a_floor(tmp_path):
    floor = dict(zip(SIZES, (2.0, 1.0, 0.6, 0.4, 0.4)))  # odds stop falling beyond the fourth size
    path = _write(tmp_path, table(lambda M, T: from_odds(floor[M]), sizes=SIZES))
    assert main([str(path), str(tmp_path / "out"), "--bootstrap", "40", "--no-figures"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["local_slopes"]) == 4 and abs(report["local_slopes"][-1]["slope"]) < 0.01
    text = (tmp_path / "out" / "report.md").read_text()
    assert "outside the 1.25x target" in text
    assert ("What the data suggest: at 5,000,000 tokens the odds' slope against size climbs from -0.87" in text
            and "beyond m559392 r_c stops falling within the noise at this budget." in text)
    assert "Local odds slopes between adjacent sizes at 5,000,000 tokens: m50880 to m113184 -0.87" in text


def test_a_missed_extrapolation_without_a_floor_names_no_bend(tmp_path):
    steeper = dict(zip(SIZES, (2.0, 1.2, 0.8, 0.25, 0.08)))  # the odds fall faster with size: no floor
    path = _write(tmp_path, table(lambda M, T: from_odds(steeper[M]), sizes=SIZES))
    assert main([str(path), str(tmp_path / "out"), "--bootstrap", "40", "--no-figures"]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "outside the 1.25x target" in text and "What the data suggest" not in text


def test_local_slopes_cover_the_true_slope_and_skip_what_they_cannot_bound():
    from capacity.calibration import MeasuredCritical, local_odds_slopes, measure_critical_ratios
    from capacity.critical import CriticalEstimate
    from predict_tables import rng_table

    covered = 0
    for seed in range(20):
        runs = rng_table(_critical, seed, sizes=(5e4, 2e5))
        (s,) = local_odds_slopes(measure_critical_ratios(runs, n_boot=200, seed=seed), seed=seed)
        covered += s["interval"][0] <= -0.5 <= s["interval"][1]
    assert covered >= 16  # 95% nominal, 20 tables

    def group(model, params, value, interval, draws):
        return MeasuredCritical(model, params, 1e6, 0.1, CriticalEstimate(value, interval, 0.1, 5, draws=draws),
                                "", math.nan, (0,), 128, 131.0)

    draws = tuple(0.3 + 0.001 * i for i in range(40))
    unbounded = [group("a", 1e5, 0.4, (0.0, math.inf), draws), group("b", 2e5, 0.3, (0.29, 0.31), draws)]
    assert [s["interval"] for s in local_odds_slopes(unbounded)] == [None]
    few = [group("a", 1e5, 0.4, (0.39, 0.41), draws[:10]), group("b", 2e5, 0.3, (0.29, 0.31), draws)]
    assert [s["interval"] for s in local_odds_slopes(few)] == [None]
    same_size = [group("a", 1e5, 0.4, (0.39, 0.41), draws), group("a2", 1e5, 0.3, (0.29, 0.31), draws)]
    assert local_odds_slopes(same_size) == []
