import json
import subprocess
import sys

import pytest

import paper_repro
from capacity import PAPER_FINEWEB_EDU_LAW, KnowledgeSet, capacity_bits, critical_mixing_ratio, synbio_bits_per_person


def test_capacity_imports_no_torch():
    code = "import sys, capacity, capacity.cli, capacity.symbolic; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_theory_preset_writes_figures_and_a_report_whose_numbers_are_the_theorys(tmp_path, capsys):
    argv = ["--preset", "theory", "--out", str(tmp_path), "--tokens-per-person", "70", "--json"]
    assert paper_repro.main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    printed = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert printed == report  # --json prints report.json's numbers, as strict JSON
    for paths in report["figures"].values():
        for path in paths:
            assert (tmp_path / path.split("/")[-1]).stat().st_size > 1000
    law = PAPER_FINEWEB_EDU_LAW.capacity_curve(2.0)
    p = KnowledgeSet.from_token_statistics(320_000, 70, synbio_bits_per_person()).groups[0].exposure_frequency
    expected = critical_mixing_ratio(law, p, capacity_bits(18_915_328, 2.0))
    assert report["predicted_critical_mixing_ratio_synbio_320k"]["70M"] == pytest.approx(float(expected))
    assert report["predicted_threshold_frequency_slope"] == pytest.approx(-1.283)
    assert "![phase_diagram]" in (tmp_path / "report.md").read_text()
