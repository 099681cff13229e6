"""`python -m capacity.preregister`: predictions written before their runs finish, never rewritten,
refused for a case already measured, and scored by the report once the case is measured."""
import json

import pytest

from capacity.prediction_report import main as report_main
from capacity.preregister import main
from capacity.predictors import PREDICTORS
from predict_tables import from_odds, results_rows, table

SIZES = (5e4, 1e5, 2e5, 4e5)


def _critical(M, T):
    return from_odds(0.6 * (M / 1e5) ** -0.5 * (T / 5e6) ** -0.5)


def _write(path, runs):
    path.write_text("".join(json.dumps(row) + "\n" for row in results_rows(runs)))
    return path


def test_every_predictor_is_written_down_once_and_a_case_already_run_is_refused(tmp_path, capsys):
    results = _write(tmp_path / "results.jsonl", table(_critical, sizes=SIZES, budgets=(5e6, 2e7)))
    out = tmp_path / "pre.json"
    argv = [str(results), str(out), "--case", "m400000", "4e5", "8e7", "--case", "m800000", "8e5", "2e7",
            "--bootstrap", "20"]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == "phasemix.preregistration/1" and len(data["fitted_on_runs"]) == 40
    assert {(p["predictor"], p["model"]) for p in data["predictions"]} == {
        (name, m) for name in [*PREDICTORS, "auto"] for m in ("m400000", "m800000")}
    power = next(p for p in data["predictions"] if (p["predictor"], p["model"]) == ("odds-power-law", "m400000"))
    assert power["predicted"] == pytest.approx(_critical(4e5, 8e7), rel=1e-2) and power["tokens_factor"] == 4.0
    first = out.read_text()
    capsys.readouterr()
    assert main(argv) == 2 and out.read_text() == first  # never overwritten
    assert "exists, and a pre-registration is written once" in capsys.readouterr().err
    assert main([str(results), str(tmp_path / "b.json"), "--case", "m200000", "2e5", "2e7"]) == 2
    assert "already has finished runs of m200000 at 20,000,000 tokens" in capsys.readouterr().err
    assert main([str(results), str(tmp_path / "c.json"), "--case", "m1", "1e5", "-3"]) == 2
    assert capsys.readouterr().err == ("preregister: error: --case 'm1 1e5 -3': TOKENS must be a number >= 1, "
                                       "got '-3'\n")
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "c.json").exists()


def test_the_report_scores_a_preregistration_once_its_case_is_measured(tmp_path):
    before = _write(tmp_path / "before.jsonl", table(_critical, sizes=SIZES, budgets=(5e6,)))
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    assert main([str(before), str(report_dir / "preregistered.json"), "--case", "m200000", "2e5", "2e7",
                 "--bootstrap", "20"]) == 0
    assert report_main([str(before), str(report_dir), "--bootstrap", "20", "--no-figures"]) == 0
    text = (report_dir / "report.md").read_text()
    assert "Pre-registered on" in text and "not yet measured: m200000 at 20,000,000 tokens." in text
    after = _write(tmp_path / "after.jsonl", table(_critical, sizes=SIZES, budgets=(5e6,))
                   + table(_critical, sizes=(2e5,), budgets=(2e7,)))
    assert report_main([str(after), str(report_dir), "--bootstrap", "20", "--no-figures"]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    scored = {p["predictor"]: p for p in report["preregistered"]["predictions"]}
    assert scored["odds-power-law"]["measured"] == pytest.approx(_critical(2e5, 2e7), rel=1e-2)
    # One budget when written: no predictor could see r_c fall with the tokens, so the rule's pick misses.
    assert scored["auto"]["ratio"] == pytest.approx(_critical(2e5, 5e6) / _critical(2e5, 2e7), rel=2e-2)
    text = (report_dir / "report.md").read_text()
    sentence = text[text.index("Pre-registered on"):].split("\n")[0]
    assert sentence.startswith(f"Pre-registered on {report['preregistered']['created'][:10]}, m200000 at 20,000,000 "
                               f"tokens measured {_critical(2e5, 2e7):.3f}: the rule's pick (odds-power-law) predicted "
                               f"{_critical(2e5, 5e6):.3f}, ratio 1.70")
    assert "odds-power-law (" not in sentence.split("within the target")[-1]


def test_a_case_with_a_finished_run_or_another_size_is_refused(tmp_path, capsys):
    runs = table(_critical, sizes=SIZES, budgets=(5e6,))
    one = [r for r in table(_critical, sizes=(2e5,), budgets=(2e7,)) if r.ratio < 0.1]  # below the level: no r_c yet
    results = _write(tmp_path / "results.jsonl", runs + one)
    assert main([str(results), str(tmp_path / "a.json"), "--case", "m200000", "2e5", "2e7"]) == 2
    assert "already has finished runs of m200000 at 20,000,000 tokens" in capsys.readouterr().err
    assert main([str(results), str(tmp_path / "b.json"), "--case", "m200000", "3e5", "8e7"]) == 2
    assert "m200000 has 200,000 non-embedding parameters in the table, not 300,000" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_the_report_refuses_a_missing_or_foreign_preregistration(tmp_path, capsys):
    results = _write(tmp_path / "results.jsonl", table(_critical, sizes=SIZES, budgets=(5e6,)))
    argv = [str(results), str(tmp_path / "out"), "--bootstrap", "20", "--no-figures", "--preregistered"]
    assert report_main(argv + [str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"schema": "something/1"}))
    assert report_main(argv + [str(foreign)]) == 2
    assert "foreign.json: not a pre-registration" in capsys.readouterr().err


def test_a_case_the_table_only_bounds_so_far_is_scored_against_the_bound(tmp_path):
    from capacity.preregister import score

    prereg = {"predictions": [
        {"predictor": "a", "model": "m", "tokens": 1e7, "predicted": 0.12, "interval": [0.107, 0.137]},
        {"predictor": "b", "model": "m", "tokens": 1e7, "predicted": 0.13, "interval": [0.12, 0.14]},
        {"predictor": "c", "model": "n", "tokens": 1e7, "predicted": 0.2, "interval": [0.1, 0.3]}]}
    measured = [{"model": "m", "tokens": 1e7, "measured": None, "bound": "below", "bound_value": 0.112},
                {"model": "n", "tokens": 1e7, "measured": 0.25, "interval": [0.24, 0.26]}]
    a, b, c = score(prereg, measured)
    assert (a["bound"], a["bound_value"], a["consistent"], a["ratio"]) == ("below", 0.112, True, None)
    assert b["consistent"] is False and "bound" not in c and c["ratio"] == pytest.approx(0.8) and c["covered"]
