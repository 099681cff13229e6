"""The committed reproduction reports regenerate unchanged from their committed results tables: the
analysis (``analysis``), the figures (``figures.registry``) and the orchestration (``paper_repro``) may
move, the numbers may not. A change of analysis made on purpose redraws docs/quick and docs/full."""
import json
import math
from pathlib import Path

import pytest

import paper_repro

ROOT = Path(__file__).resolve().parent.parent


def test_every_registered_figure_names_its_paper_item_and_only_chooses_among_them():
    from figures.registry import RUN_FIGURE_NAMES, RUN_FIGURES, SECTION_FIGURES, THEORY_FIGURES

    for group in (RUN_FIGURES, SECTION_FIGURES, THEORY_FIGURES):
        names = [f.name for f in group]
        assert len(set(names)) == len(names)
        assert all(f.paper.startswith(("Fig", "Section", "ours")) for f in group), [f.paper for f in group]
    only = next(a for a in paper_repro.build_parser()._actions if a.dest == "only")
    assert tuple(only.choices) == RUN_FIGURE_NAMES == tuple(f.name for f in RUN_FIGURES)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["quick", "full"])
def test_the_committed_report_regenerates_byte_for_byte(preset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # report.json names the table and the figures by these relative paths
    out = tmp_path / preset
    argv = ["--preset", preset, "--no-train", "--results", f"docs/{preset}/results.jsonl", "--out", str(out), "--json"]
    assert paper_repro.main(argv) == 0
    committed = ROOT / "docs" / preset
    assert (out / "report.md").read_text() == (committed / "report.md").read_text()
    assert (out / "report.json").read_text().replace(f"{out}/", f"docs/{preset}/") == \
        (committed / "report.json").read_text()
    printed = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert printed == _finite(json.loads((out / "report.json").read_text()))  # --json: strict, NaN as null
