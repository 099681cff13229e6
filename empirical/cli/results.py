"""``python -m empirical results PATH``: summarise a results table, one line per run (its last
evaluation point), or one run's rows with ``--run``.

    python -m empirical results runs/results.jsonl
    python -m empirical results runs/results.jsonl --format csv > summary.csv
    python -m empirical results runs/results.jsonl --run 15fdf726       # a unique prefix of a run id
    python -m empirical results runs/results.jsonl --json               # = --format json: strict JSON lines
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from capacity.cli_common import UsageError, conflict, dumps, input_file
from empirical.results import group_rows, read_rows

FORMATS = ("table", "csv", "json")
# (column, header in the table); the summary shows each run's last row
SUMMARY = [("run_id", "run"), ("model", "model"), ("params_nonembedding", "params_ne"), ("knowledge", "knowledge"),
           ("people", "N"), ("mixing_ratio", "r"), ("rho", "rho"), ("tau", "tau"), ("seed", "seed"),
           ("role", "role"), ("step", "step"), ("tokens", "tokens"), ("exposures_per_person", "exp/person"),
           ("accuracy", "accuracy"), ("web_loss", "web_loss")]
RUN_ROWS = [("step", "step"), ("tokens", "tokens"), ("exposures_per_person", "exp/person"), ("accuracy", "accuracy"),
            ("knowledge_loss", "know_loss"), ("web_loss", "web_loss"), ("train_loss", "train_loss"),
            ("bits_stored", "bits_stored"), ("wall_time_s", "wall_s")]
SHORT_ID = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=input_file, metavar="RESULTS", help="a results table (JSON lines)")
    parser.add_argument("--format", default=None, choices=FORMATS,
                        help="table (aligned text, the default), csv, or json (one JSON object per line; with --run "
                             "the rows as stored)")
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument("--run", metavar="RUN_ID", help="print this run's rows (a unique prefix of its id is enough)")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _step(row: dict) -> int:
    return row["step"]  # checked by checked_rows


def checked_rows(path: Path) -> list[dict]:
    """The table's rows, each with a whole-number step >= 0: a row without one cannot be placed on a
    run's curve, so the table is refused with the file, the line and the value, not read half-way."""
    try:
        rows = read_rows(path)
    except IsADirectoryError:
        raise UsageError(str(path), None, "is a directory, expected a results file") from None
    for line, row in enumerate(rows, start=1):  # read_rows refuses blank lines, so rows are lines
        step = row.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            value = "missing" if "step" not in row else json.dumps(step)
            raise UsageError(f"{path}, line {line}: step", value, "must be a whole number >= 0")
    return rows


def _sort_key(row: dict) -> tuple:
    """Sweep and role, then model size and the paper's axes; None sorts first."""
    keys = ("sweep", "role", "params_nonembedding", "model", "knowledge", "people", "mixing_ratio", "rho", "tau", "seed")
    return tuple((row.get(k) is not None, row.get(k) if row.get(k) is not None else 0) for k in keys) + (row["run_id"],)


def _print(records: list[dict], columns: list[tuple[str, str]], fmt: str) -> None:
    if fmt == "json":
        for record in records:
            print(dumps({key: record.get(key) for key, _ in columns}))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([key for key, _ in columns])
        writer.writerows([["" if record.get(key) is None else record.get(key) for key, _ in columns] for record in records])
    else:
        cells = [[(_cell(r.get(key))[:SHORT_ID] if key == "run_id" else _cell(r.get(key))) for key, _ in columns]
                 for r in records]
        widths = [max([len(head)] + [len(row[i]) for row in cells]) for i, (_, head) in enumerate(columns)]
        print("  ".join(head.rjust(w) for (_, head), w in zip(columns, widths)))
        for row in cells:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


def _find_run(runs: dict[str, list[dict]], wanted: str) -> str:
    matches = [run_id for run_id in runs if run_id.startswith(wanted)]
    if len(matches) != 1:
        known = ", ".join(sorted(run_id[:SHORT_ID] for run_id in runs)[:20]) or "none"
        problem = "no run" if not matches else f"{len(matches)} runs"
        raise ValueError(f"--run {wanted!r}: {problem} with this id prefix; runs: {known}")
    return matches[0]


def run(args: argparse.Namespace) -> int:
    if args.json and args.format not in (None, "json"):
        conflict("--json", None, f"--format {args.format}")
    args.format = "json" if args.json else (args.format or "table")
    stored = checked_rows(args.path)
    runs = {run_id: sorted(rows, key=_step) for run_id, rows in group_rows(stored).items()}
    if args.run is not None:
        run_id = _find_run(runs, args.run)
        rows = runs[run_id]
        if args.format == "json":
            for row in rows:
                print(dumps(row, sort_keys=True))
            return 0
        if args.format == "table":
            last = rows[-1]
            print(f"run {run_id}: {last.get('model')}, {last.get('knowledge')} N={last.get('people')}, "
                  f"r={last.get('mixing_ratio')}, rho={last.get('rho')}, tau={last.get('tau')}, seed={last.get('seed')}, "
                  f"role={last.get('role')}; {len(rows)} rows")
        _print(rows, RUN_ROWS, args.format)
        return 0
    summaries = sorted((rows[-1] for rows in runs.values()), key=_sort_key)
    _print(summaries, SUMMARY, args.format)
    if args.format == "table":
        total = sum(len(rows) for rows in runs.values())
        duplicates = f", {len(stored) - total} duplicate rows ignored" if len(stored) > total else ""
        print(f"{len(runs)} runs, {total} rows in {args.path}{duplicates}")
    return 0
