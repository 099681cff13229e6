"""Reading a user's JSON-lines file of records (facts, questions): one object per line, each parsed and
validated by the caller, ids unique; every error names the file and the line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def read_records(path: str | Path, what: str, parse: Callable[[Any, str], T], empty_hint: str) -> list[T]:
    """``parse(raw, "FILE:LINE")`` for every non-blank line; each record needs a unique ``id``.

    what: the file's kind in messages ("facts file"); empty_hint: said when the file holds no record.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    records, ids = [], {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        record = parse(raw, where)
        if record.id in ids:
            raise ValueError(f"{where}: id {record.id!r} already used on line {ids[record.id]}")
        ids[record.id] = number
        records.append(record)
    if not records:
        raise ValueError(f"{path}: {empty_hint}")
    return records
