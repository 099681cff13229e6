"""The results table: one JSON line per (run, evaluation point), append-only (columns: docs/RESULTS.md).

Writing. ``append_rows`` takes an exclusive ``flock`` on the file itself, so concurrent writers
(processes of one sweep, or two sweeps on one file) append one after another and no row is lost or
duplicated. A batch is one byte string written with O_APPEND and fsynced. A writer killed mid-write
leaves at most a *torn tail*, bytes after the last newline. Under the lock no live writer is
mid-write, so those bytes are a strict prefix of a row whose writer died; the next writer truncates
the file back to its last newline before writing, which removes no complete row (every complete row
ends at or before that newline) and keeps the torn bytes from being glued to the next row. The one
exception is a tail that is a whole row lacking only its newline (it parses as a row of ours, which
no strict prefix of one does): it is read as a row, and the next writer adds its newline. Atomicity
is per row: a writer killed during a batch may leave the batch's first rows complete.

Every line is ``{"schema":"phasemix.results/1",...}``: the schema first, then the row's keys
sorted. Keeping the schema first lets a torn tail be recognised as ours, and a file whose first
line or tail is anything else is refused (``ResultsFileError``, the file untouched): appending to
someone's CSV, or to a file of another schema, would damage it.

Reading. ``read_rows`` takes a shared lock (so it never sees a write in progress), skips a torn
tail with a warning, and raises ``ResultsFileError`` naming the file and line for anything else it
cannot read. ``load_results`` gives the pandas DataFrame, nested metrics flattened into columns.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

SCHEMA = "phasemix.results/1"
_PREFIX = b'{"schema":' + json.dumps(SCHEMA).encode() + b","  # every line we write starts so
_CHUNK = 1 << 16
# dict-valued metrics flattened by load_results: column prefix per key (other dicts keep their key)
FLAT_PREFIX = {"accuracy_by_attribute": "accuracy", "accuracy_by_template": "accuracy_template"}


class ResultsFileError(ValueError):
    """A results file that is not (or no longer) a phasemix results table, at a given line."""

    def __init__(self, path: str | Path, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem

    def __reduce__(self):  # picklable, so it crosses process (and Ray) boundaries intact
        return type(self), (self.path, self.line, self.problem)


# --- encoding ------------------------------------------------------------------------------------
def _plain(value: Any, where: str) -> Any:
    """The value as JSON data; non-finite floats become None (a diverged loss has no value to store)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"row key {where}.{key!r} must be a string, got {type(key).__name__}")
        return {key: _plain(v, f"{where}.{key}") for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "shape", None) == ():
        return _plain(value.item(), where)  # a numpy scalar
    raise ValueError(f"row value {where} must be JSON data (number, string, bool, None, list, dict), "
                     f"got {type(value).__name__}")


def json_data(value: Any) -> Any:
    """value as plain JSON data (what ``json.dumps(..., allow_nan=False)`` accepts): non-finite floats
    become None, numpy scalars Python numbers; ValueError for anything that is not data."""
    return _plain(value, "value")


def encode_row(row: dict) -> bytes:
    """One row as its line: schema first, other keys sorted, compact, newline-terminated."""
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a dict, got {type(row).__name__}")
    if row.get("schema", SCHEMA) != SCHEMA:
        raise ValueError(f"row has schema {row['schema']!r}, this table holds {SCHEMA!r}")
    run_id = row.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"a row needs a non-empty string run_id, got {run_id!r}")
    rest = _plain({k: v for k, v in row.items() if k != "schema"}, "row")
    body = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return _PREFIX + body[1:].encode() + b"\n"  # body[1:] drops the "{" (rest is non-empty: run_id)


def _could_be_ours(fragment: bytes) -> bool:
    """Whether bytes after the last newline can be a torn line of ours (a prefix of one)."""
    n = min(len(fragment), len(_PREFIX))
    return fragment[:n] == _PREFIX[:n]


# --- writing -------------------------------------------------------------------------------------
def _first_line(fd: int, size: int) -> bytes | None:
    """The file's first line without its newline, or None if the file has no newline."""
    parts, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
        if not chunk:
            break
        cut = chunk.find(b"\n")
        if cut >= 0:
            parts.append(chunk[:cut])
            return b"".join(parts)
        parts.append(chunk)
        offset += len(chunk)
    return None


def _last_newline_end(fd: int, size: int) -> int:
    """Offset just past the file's last newline (0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def _check_ours(path: Path, fd: int, size: int) -> int:
    """Refuse a file that is not our table, judged by its first and last lines (reading all of it at
    every append would cost time quadratic in the table); returns the length of its complete lines."""
    first = _first_line(fd, size)
    if first is not None:
        _parse_line(path, 1, first)
    keep = _last_newline_end(fd, size)
    if keep > len(first or b"") + 1:  # a last complete line other than the first
        start = _last_newline_end(fd, keep - 1)
        try:
            _parse_line(path, 0, os.pread(fd, keep - 1 - start, start))
        except ResultsFileError as exc:  # count lines only to name the bad one
            raise ResultsFileError(path, _count_lines(fd, start) + 1, exc.problem) from None
    if keep < size:
        tail = os.pread(fd, min(size - keep, len(_PREFIX)), keep)
        if not _could_be_ours(tail):
            raise ResultsFileError(path, _count_lines(fd, keep) + 1,
                                   f"unterminated last line {tail[:40]!r} is not a {SCHEMA} row; not appending")
        if _complete_row(path, os.pread(fd, size - keep, keep)) is not None:
            return size  # a whole row that lacks only its newline: kept (the caller adds the newline)
    return keep


def _complete_row(path: Path, tail: bytes) -> dict | None:
    """The row that bytes after the last newline hold when they are a whole row of ours (only its
    newline missing: a writer killed between the row and its newline, or a file edited by hand), else
    None. No strict prefix of a row parses as a JSON object, so a torn row is never taken for whole."""
    try:
        return _parse_line(path, 0, tail)
    except ResultsFileError:
        return None


def _count_lines(fd: int, end: int) -> int:
    count, offset = 0, 0
    while offset < end:
        chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count


def append_rows(path: str | Path, rows: list[dict]) -> None:
    """Append rows (dicts with a string ``run_id``) to the table at path, creating it and its folder.

    Safe against a kill at any moment and against concurrent writers (module docstring). Raises
    ValueError for a row that is not JSON data, and ResultsFileError, leaving the file untouched,
    if the file is not a results table of this schema.
    """
    data = b"".join(encode_row(row) for row in rows)  # validate every row before touching the file
    if not data:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        keep = _check_ours(path, fd, size) if size else 0
        if size and keep == size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # end the complete last row that lacked its newline
        if keep < size:
            os.ftruncate(fd, keep)  # a dead writer's torn tail (module docstring)
            warnings.warn(f"{path}: removed {size - keep} bytes of an incomplete row left by a killed writer",
                          stacklevel=2)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    if created:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable (a power cut could otherwise lose the whole file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the data itself is synced
    finally:
        os.close(fd)


# --- reading -------------------------------------------------------------------------------------
def _parse_line(path: Path, number: int, line: bytes) -> dict:
    if not line.strip():
        raise ResultsFileError(path, number, "empty line")
    try:
        row = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ResultsFileError(path, number, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(path, number, f"not a JSON line ({exc.msg} at column {exc.colno}): "
                                             f"{line[:60]!r}") from None
    if not isinstance(row, dict):
        raise ResultsFileError(path, number, f"a row must be a JSON object, found {type(row).__name__}")
    if "schema" not in row:
        raise ResultsFileError(path, number, f"row has no 'schema' key: not a {SCHEMA} table")
    if row["schema"] != SCHEMA:
        raise ResultsFileError(path, number, f"row has schema {row['schema']!r}, expected {SCHEMA!r}")
    if not isinstance(row.get("run_id"), str) or not row["run_id"]:
        raise ResultsFileError(path, number, f"row has no string run_id (got {row.get('run_id')!r})")
    return row


def read_rows(path: str | Path) -> list[dict]:
    """Every complete row of the table, in file order. Missing file: FileNotFoundError; empty: []."""
    path = Path(path)
    with open(path, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # wait for a write in progress to finish
        data = f.read()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    rows = [_parse_line(path, i + 1, line) for i, line in enumerate(lines)]
    if tail and (whole := _complete_row(path, tail)) is not None:
        rows.append(whole)
    elif tail:
        if not _could_be_ours(tail):
            raise ResultsFileError(path, len(lines) + 1, f"unterminated last line {tail[:40]!r} is not a {SCHEMA} row")
        warnings.warn(f"{path}, line {len(lines) + 1}: skipped an incomplete row ({len(tail)} bytes without "
                      f"newline), a write that never completed", stacklevel=2)
    return rows


def rows_by_run(path: str | Path) -> dict[str, list[dict]]:
    """Rows grouped by run_id, in file order, keeping the first row of each (run_id, step).

    Duplicates arise when a run resumes from a checkpoint older than its last appended row (the
    steps in between are evaluated and appended again), or when a runner re-appends rows it cannot
    tell were written before it was killed. Resuming is bit-identical on CPU, so the copies agree up
    to timing columns; the first is the one that was there first.
    """
    return group_rows(read_rows(path))


def group_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """``rows_by_run`` of rows already read."""
    runs: dict[str, list[dict]] = {}
    seen: set[tuple[str, Any]] = set()
    for row in rows:
        key = (row["run_id"], row.get("step"))
        if key not in seen:
            seen.add(key)
            runs.setdefault(row["run_id"], []).append(row)
    return runs


def flatten_row(row: dict) -> dict:
    """One row as flat columns: ``accuracy.<attribute>``, ``accuracy_template.<t>``, ``config.<a.b>``;
    the raw ``config`` dict is kept, other dict-valued metrics are replaced by their columns."""
    flat: dict[str, Any] = {}

    def spread(prefix: str, value: dict) -> None:
        for key, v in value.items():
            if isinstance(v, dict):
                spread(f"{prefix}.{key}", v)
            else:
                flat[f"{prefix}.{key}"] = v

    for key, value in row.items():
        if isinstance(value, dict):
            spread(FLAT_PREFIX.get(key, key), value)
            if key == "config":
                flat[key] = value
        else:
            flat[key] = value
    return flat


def load_results(path: str | Path, deduplicate: bool = True):
    """The table as a pandas DataFrame sorted by (run_id, step), one row per (run, step) unless
    ``deduplicate=False``; nested metrics and the config flattened (``flatten_row``)."""
    import pandas as pd

    rows = ([r for run in rows_by_run(path).values() for r in run] if deduplicate else read_rows(path))
    if not rows:
        return pd.DataFrame(columns=["run_id", "step", "schema"])
    frame = pd.DataFrame.from_records([flatten_row(r) for r in rows])
    first = [c for c in ("run_id", "step") if c in frame.columns]
    frame = frame[first + sorted(c for c in frame.columns if c not in first)]
    return frame.sort_values(first, kind="stable", na_position="last").reset_index(drop=True)
