"""`capacity calibrate` and `capacity predict --calibration`, in process."""
import json

import pytest

from capacity.cli import main
from capacity.predictors import Fitted
from predict_tables import from_odds, results_rows, table


def _critical(M, T):
    return from_odds(0.6 * (M / 1e5) ** -0.5)


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in results_rows(table(_critical))))
    return path


def test_calibrate_picks_by_the_rule_and_records_what_it_was_fitted_on(results, tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(results), "--out", str(out), "--bootstrap", "50"]) == 0
    cal = json.loads(out.read_text())
    assert cal["schema"] == "phasemix.calibration/1" and cal["requested"] == "auto"
    assert cal["predictor"] == "odds-power-law"  # the table is that model's own: exact in inner leave-one-out
    assert cal["fitted"]["fitted_on"] == ["m50000", "m100000", "m200000", "m400000", "m800000"]
    assert len(cal["fitted"]["run_ids"]) == 25 and cal["selection_scores"]["odds-power-law"] < 1e-3
    assert "Predictor odds-power-law (chosen by the rule from auto)" in capsys.readouterr().out


def test_predict_with_a_calibration_gives_the_fitted_value_and_warns_beyond_2x(results, tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(results), "--out", str(out), "--predictor", "logistic", "--exclude", "m800000",
                 "--bootstrap", "50"]) == 0
    cal = json.loads(out.read_text())
    assert cal["excluded_models"] == ["m800000"] and "m800000" not in cal["fitted"]["fitted_on"]
    capsys.readouterr()
    assert main(["predict", "--calibration", str(out), "--params", "3e5", "--json"]) == 0
    captured = capsys.readouterr()
    got = json.loads(captured.out)
    assert {"critical_mixing_ratio", "interval", "predictor", "extrapolation_factor"} <= set(got)
    value, interval = Fitted.from_dict(cal["fitted"]).predict(3e5)
    assert got["critical_mixing_ratio"] == pytest.approx(value) and got["interval"] == pytest.approx(list(interval))
    assert got["critical_mixing_ratio"] == pytest.approx(_critical(3e5, 0), rel=2e-2)
    assert got["predictor"] == "logistic" and got["extrapolation_factor"] == 1.0 and captured.err == ""
    assert main(["predict", "--calibration", str(out), "--params", "2e6", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["extrapolation_factor"] == pytest.approx(5.0)
    assert captured.err.count("\n") == 1 and "warning: 5x outside the calibrated sizes" in captured.err


@pytest.mark.parametrize("argv, message", [
    (["calibrate", "{results}", "--out", "{out}", "--predictor", "nope"], "--predictor nope: must be one of auto"),
    (["calibrate", "{results}", "--out", "{out}", "--exclude", "m9"], "--exclude names models ['m9']"),
    (["calibrate", "{results}", "--out", "{out}", "--accuracy", "1.5"], "--accuracy 1.5: must be a number in (0, 1)"),
    (["predict", "--params", "1e6"], "--people: required (or give --calibration)"),
    (["predict", "--params", "1e6", "--calibration", "{results}"], "is not JSON"),
    (["predict", "--params", "1e6", "--calibration", "{notcal}"], "is not a calibration file"),
    (["predict", "--params", "1e6", "--people", "10", "--tokens-per-person", "70", "--tokens", "1e7"],
     "--tokens 10000000.0: cannot be combined"),
])
def test_bad_inputs_exit_2_with_one_line(results, tmp_path, capsys, argv, message):
    notcal = tmp_path / "other.json"
    notcal.write_text("{}")
    argv = [a.format(results=results, out=tmp_path / "c.json", notcal=notcal) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_knowledge_flags_conflict_with_a_calibration(results, tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(results), "--out", str(out), "--predictor", "odds-power-law", "--bootstrap", "20"]) == 0
    capsys.readouterr()
    for extra in (["--people", "10"], ["--bits-per-param", "3"], ["--params-kind", "total"]):
        assert main(["predict", "--params", "1e5", "--calibration", str(out), *extra]) == 2
        assert f"{extra[0]} " in (err := capsys.readouterr().err) and "cannot be combined with --calibration" in err


def test_a_run_still_training_is_not_read_as_a_final_run_at_a_smaller_budget(tmp_path):
    """The last row of an unfinished run (its config asks for more steps) stays out of every fit; a
    finished run's final row and rows without a config are kept."""
    from capacity.calibration import load_runs

    config = {"tokens": 3072 * 900, "batch_size": 16, "data": {"seq_len": 192}}
    base = {"knowledge": "synbio", "model": "small-200k", "params_nonembedding": 200064, "mixing_ratio": 0.3,
            "accuracy": 0.2, "items_evaluated": 640, "people_evaluated": 128, "people": 128, "seed": 0}
    rows = [dict(base, run_id="done", step=449, tokens=3072 * 449, config=config),
            dict(base, run_id="done", step=900, tokens=3072 * 900, config=config),
            dict(base, run_id="running", step=449, tokens=3072 * 449, config=config),
            dict(base, run_id="elsewhere", step=7, tokens=1000)]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = {r.run_id: r.tokens for r in load_runs(path)}
    assert runs == {"done": 3072 * 900, "elsewhere": 1000}


def test_predicting_above_a_calibration_whose_odds_bend_warns_and_says_where(tmp_path, capsys):
    floor = dict(zip((5e4, 1e5, 2e5, 4e5, 8e5), (2.0, 1.0, 0.6, 0.45, 0.4)))  # odds flattening onto a floor
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in results_rows(table(lambda M, T: from_odds(floor[M])))))
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(path), "--out", str(out), "--predictor", "odds-power-law", "--bootstrap", "50"]) == 0
    assert len(json.loads(out.read_text())["local_slopes"]) == 4
    capsys.readouterr()
    assert main(["predict", "--calibration", str(out), "--params", "3e5", "--json"]) == 0
    inside = capsys.readouterr()
    assert "odds_bend" not in json.loads(inside.out) and inside.err == ""
    assert main(["predict", "--calibration", str(out), "--params", "1.2e6", "--json"]) == 0
    above = capsys.readouterr()
    bend = json.loads(above.out)["odds_bend"]
    assert (bend["smallest_pair"]["from"], bend["largest_pair"]["to"]) == ("m50000", "m800000")
    assert bend["smallest_pair"]["slope"] == pytest.approx(-1.0, abs=0.01)
    assert bend["largest_pair"]["slope"] == pytest.approx(-0.17, abs=0.01)
    assert above.err.count("\n") == 1 and "the calibration's critical odds bend with size at 5,000,000 tokens" in above.err


def test_the_bend_warning_looks_at_the_requested_budget_when_it_was_measured(tmp_path, capsys):
    floor = dict(zip((5e4, 1e5, 2e5, 4e5, 8e5), (2.0, 1.0, 0.6, 0.45, 0.4)))
    runs = table(lambda M, T: from_odds(floor[M]), budgets=(5e6,)) + table(
        lambda M, T: from_odds(0.5 * (M / 1e5) ** -0.5), budgets=(2e7,))  # bends at 5e6, straight at 2e7
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in results_rows(runs)))
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(path), "--out", str(out), "--predictor", "odds-power-law", "--bootstrap", "50"]) == 0
    capsys.readouterr()
    assert main(["predict", "--calibration", str(out), "--params", "1.2e6", "--tokens", "2e7", "--json"]) == 0
    straight = capsys.readouterr()
    assert "odds_bend" not in json.loads(straight.out) and "bend" not in straight.err
    assert main(["predict", "--calibration", str(out), "--params", "1.2e6", "--tokens", "5e6", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["odds_bend"]["tokens"] == 5e6
    assert main(["predict", "--calibration", str(out), "--params", "1.2e6", "--tokens", "1e7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["odds_bend"]["tokens"] == 5e6  # an unmeasured budget: any that bends
