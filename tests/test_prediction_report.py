"""`python -m capacity.prediction_report`: the report's contract and its >= 2x size extrapolations,
on tables built from a known odds power law (so the right predictor must land within the target)."""
import json

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
    assert f"predicts m991616 at 5,000,000 tokens (4.96x beyond the largest calibrated size)" in text
    assert f"within the {TARGET}x target, interval covers the measurement" in text


def test_without_two_sizes_below_half_the_largest_is_predicted_from_every_smaller_size(tmp_path):
    path = _write(tmp_path, table(_critical, sizes=(1e5, 1.5e5, 2e5)))
    assert main([str(path), str(tmp_path / "out"), "--bootstrap", "20", "--no-figures"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    auto = [p for p in report["predictions"] if p["predictor"] == "auto" and p["mode"] == "extrapolate"]
    assert [(p["held_out"], sorted(p["fitted_on"])) for p in auto] == [("m200000", ["m100000", "m150000"])]
    assert "only 1.33x, short of the 2x" in (tmp_path / "out" / "report.md").read_text()
