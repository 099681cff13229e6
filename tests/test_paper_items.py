"""The README's table of paper items names only functions, commands and tests that exist."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _table_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Where each item of the paper lives", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| paper item")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


ROWS = _table_rows()


def test_the_table_covers_every_part_of_the_paper_the_package_reproduces():
    items = " ".join(row[0] for row in ROWS)
    for part in ("Theorems 4.2-4.3", "Fig. 1", "Table 1", "Fig. 5", "Fig. 7a", "Algorithm 1", "Fig. 8",
                 "WikiBio", "Appendix D.1"):
        assert part in items, part


@pytest.mark.parametrize("row", ROWS, ids=[row[0][:40] for row in ROWS])
def test_every_function_in_the_table_imports(row):
    names = re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", row[1])
    assert names, f"no function named in {row[1]!r}"
    for dotted in names:
        module, _, attr = dotted.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), dotted


@pytest.mark.parametrize("row", ROWS, ids=[row[0][:40] for row in ROWS])
def test_every_test_file_in_the_table_exists(row):
    files = re.findall(r"`(tests/[a-z_]+\.py)`", row[3])
    assert files, f"no test file named in {row[3]!r}"
    for name in files:
        assert (ROOT / name).is_file(), name


def test_every_named_sweep_in_the_table_is_registered():
    from empirical.sweeps.named import SWEEPS

    for row in ROWS:
        for name in re.findall(r"sweep ([a-z-]+)`", row[2]):
            assert name in SWEEPS, name
