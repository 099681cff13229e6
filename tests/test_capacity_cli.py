import json
import subprocess
import sys

import pytest

from capacity.cli import main
from capacity.thresholds import critical_capacity, critical_mixing_ratio
from capacity.curves import PowerLawCurve


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_thresholds_json_has_the_documented_keys_and_values(capsys):
    out = run_json(capsys, "thresholds", "--law", "2,40,0.3", "--frequency", "1e-4", "--entropy", "500",
                   "--mixing-ratio", "0.3", "--capacity", "20000", "--json")
    law = PowerLawCurve(2, 40, 0.3)
    assert out["M0_minus"] == pytest.approx(critical_capacity(law, 1e-4, 0.3))
    assert out["M0_plus"] == out["M0_minus"]
    assert out["learned_fully_above"] == pytest.approx(out["M0_plus"] + 500)
    assert out["critical_capacity"] == out["M0_minus"]
    assert out["critical_mixing_ratio"] == pytest.approx(critical_mixing_ratio(law, 1e-4, 20000))
    assert set(out["allocation"]) == {"facts_bits", "web_bits"}
    assert out["allocation"]["facts_bits"] + out["allocation"]["web_bits"] == pytest.approx(20000)
    assert 0.0 <= out["fraction_learned"] <= 1.0


def test_thresholds_without_ratio_or_capacity_omits_their_keys(capsys):
    out = run_json(capsys, "thresholds", "--law", "2,40,0.3", "--frequency", "1e-4", "--entropy", "500", "--json")
    assert {"M0_minus", "M0_plus", "learned_fully_above"} <= set(out)
    assert "critical_capacity" not in out and "critical_mixing_ratio" not in out and "allocation" not in out


def test_predict_reports_a_verdict_and_assumptions(capsys):
    out = run_json(capsys, "predict", "--params", "18.9e6", "--people", "320000", "--tokens-per-person", "70",
                   "--mixing-ratio", "0.45", "--json")
    assert out["assumptions"]["bits_per_parameter"] == 2.0
    assert 0.0 < out["critical_mixing_ratio"] < 0.45
    assert out["verdict"].startswith(("partly", "learned"))
    assert out["critical_params"] < 18.9e6


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["thresholds", "--law", "2,40,0.3", "--frequency", "1e-4", "--entropy", "5", "--mixing-ratio", "1.5"],
         "--mixing-ratio 1.5: must be a number in (0, 1)"),
        (["thresholds", "--law", "2,40,0.3", "--frequency", "-1", "--entropy", "5"], "--frequency -1: must be a number > 0"),
        (["thresholds", "--law", "2,40,-0.3", "--frequency", "1e-4", "--entropy", "5"], "--law 2,40,-0.3: exponent alpha must be > 0, got -0.3"),
        (["thresholds", "--law", "2,x,0.3", "--frequency", "1e-4", "--entropy", "5"], "--law 2,x,0.3: must be three comma-separated finite numbers"),
        (["thresholds", "--web-points", "1:5,2:4,3:2", "--frequency", "0.1", "--entropy", "5"], "--web-points 1:5,2:4,3:2: "),
        (["predict", "--params", "0", "--people", "10", "--tokens-per-person", "70"], "--params 0: must be a number in [1, 1e15]"),
        (["predict", "--params", "1e6", "--people", "10", "--tokens-per-person", "70", "--bits-per-param", "-2"],
         "--bits-per-param -2: must be a number in (0, 64]"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_python_m_capacity_is_the_same_program():
    """The one run through a real interpreter: ``python -m capacity`` exits with main's status and line."""
    proc = subprocess.run([sys.executable, "-m", "capacity", "predict", "--params", "0", "--people", "10",
                           "--tokens-per-person", "70"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "capacity predict: error: --params 0: must be a number in [1, 1e15]\n"
