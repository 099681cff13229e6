"""The results table: real rows round-trip, concurrent writers, SIGKILL mid-write, refused foreign files."""
import csv
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from empirical.__main__ import main
from empirical.results import SCHEMA, ResultsFileError, append_rows, load_results, read_rows, rows_by_run

ROOT = Path(__file__).resolve().parent.parent
SWEEP_KEYS = {"sweep": "test", "role": "main", "group_size": 2}


@pytest.fixture(scope="module")
def real_rows(tiny, one_thread_module):
    """Rows of two real runs trained together for a few steps (the shared tiny run, tests/conftest.py)."""
    from empirical.train.loop import train_group

    runs = train_group([tiny(0.2, seed=1, steps=4), tiny(0.8, seed=2, steps=4)], progress=False)
    return [[{**row, **SWEEP_KEYS} for row in rows] for rows in runs]


def documented_columns() -> set[str]:
    text = (ROOT / "docs" / "RESULTS.md").read_text()
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


def is_documented(column: str, documented: set[str]) -> bool:
    patterns = {"accuracy.": "accuracy.<attribute>", "accuracy_template.": "accuracy_template.<template>",
                "config.": "config.<dotted key>"}
    return column in documented or any(column.startswith(p) and patterns[p] in documented for p in patterns)


def test_every_column_of_a_real_row_and_of_the_dataframe_is_documented(real_rows, tmp_path):
    documented = documented_columns()
    row = real_rows[0][-1]
    assert {"run_id", "accuracy_by_attribute", "web_loss", "git_commit"} <= set(row)
    assert [k for k in [*row, "schema"] if k not in documented] == []
    append_rows(tmp_path / "r.jsonl", real_rows[0])
    frame = load_results(tmp_path / "r.jsonl")
    assert [c for c in frame.columns if not is_documented(c, documented)] == []


def test_real_rows_round_trip_and_load_into_one_flat_dataframe(real_rows, tmp_path):
    path = tmp_path / "sub" / "results.jsonl"  # the folder is created
    append_rows(path, real_rows[0])
    append_rows(path, real_rows[1])
    stored = read_rows(path)
    assert stored == [{**row, "schema": SCHEMA} for rows in real_rows for row in rows]
    assert all(line.startswith('{"schema":"phasemix.results/1",') for line in path.read_text().splitlines())

    frame = load_results(path)
    assert len(frame) == sum(len(rows) for rows in real_rows) == 4
    assert list(frame["run_id"]) == sorted(frame["run_id"])
    for _, group in frame.groupby("run_id"):
        assert list(group["step"]) == sorted(group["step"])
    last = real_rows[1][-1]
    got = frame[(frame.run_id == last["run_id"]) & (frame.step == last["step"])].iloc[0]
    assert got["accuracy.birth_city"] == last["accuracy_by_attribute"]["birth_city"]
    assert got["accuracy_template.0"] == last["accuracy_by_template"]["0"]
    assert got["config.data.mixing_ratio"] == 0.8 and got["config.optim.lr"] == 5e-3
    assert got["config"] == last["config"]  # the raw dict too, to rebuild the TrainConfig
    assert "accuracy_by_attribute" not in frame.columns


def test_duplicate_steps_of_a_resumed_run_keep_the_first(real_rows, tmp_path):
    path = tmp_path / "r.jsonl"
    first, second = real_rows[0]
    append_rows(path, [first, second])
    append_rows(path, [{**second, "wall_time_s": 99.0}])  # the step evaluated again after a resume
    assert len(read_rows(path)) == 3
    runs = rows_by_run(path)
    assert [r["step"] for r in runs[first["run_id"]]] == [first["step"], second["step"]]
    assert runs[first["run_id"]][1]["wall_time_s"] == second["wall_time_s"]
    assert len(load_results(path)) == 2 and len(load_results(path, deduplicate=False)) == 3


def test_non_finite_floats_are_stored_as_null_and_bad_rows_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    append_rows(path, [{"run_id": "a", "step": 1, "web_loss": float("nan"), "train_loss": float("inf")}])
    assert read_rows(path)[0]["web_loss"] is None and read_rows(path)[0]["train_loss"] is None
    before = path.read_bytes()
    with pytest.raises(ValueError, match="non-empty string run_id"):
        append_rows(path, [{"run_id": "b", "step": 1}, {"step": 2}])
    with pytest.raises(ValueError, match=r"row value row.when must be JSON data"):
        append_rows(path, [{"run_id": "b", "when": object()}])
    with pytest.raises(ValueError, match="schema 'other/2'"):
        append_rows(path, [{"run_id": "b", "schema": "other/2"}])
    assert path.read_bytes() == before  # a bad row in a batch writes none of it


WRITER = r"""
import random, sys, time
from pathlib import Path
from empirical.results import append_rows
path, writer, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
Path(go.parent / f"ready-{writer}").touch()
while not go.exists():
    time.sleep(0.001)
rng = random.Random(writer)
i = 0
while i < count:
    n = min(rng.randint(1, 40), count - i)
    append_rows(path, [{"run_id": writer, "step": j, "payload": "x" * (j % 997), "value": j * 0.5}
                       for j in range(i, i + n)])
    i += n
"""


def _python(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", *args], env=env, cwd=ROOT, **kwargs)


def test_concurrent_writers_lose_and_duplicate_no_row(tmp_path):
    path, go, count, writers = tmp_path / "r.jsonl", tmp_path / "go", 3000, ["w0", "w1", "w2"]
    procs = [_python(WRITER, str(path), w, str(count), str(go)) for w in writers]
    while not all((tmp_path / f"ready-{w}").exists() for w in writers):
        time.sleep(0.01)
    go.touch()  # all start appending at once
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    rows = read_rows(path)
    assert len(rows) == len(writers) * count
    for w in writers:
        mine = [r for r in rows if r["run_id"] == w]
        assert [r["step"] for r in mine] == list(range(count))  # each exactly once, in its writer's order
        assert all(r["payload"] == "x" * (r["step"] % 997) and r["value"] == r["step"] * 0.5 for r in mine)
    switches = sum(a["run_id"] != b["run_id"] for a, b in zip(rows, rows[1:]))
    assert switches > 10  # the writers really did interleave


KILLED = r"""
import sys
from empirical.results import append_rows
path, i = sys.argv[1], 0
while True:  # 50 MB batches: each is one write() that takes long enough to be killed inside
    append_rows(path, [{"run_id": "k", "step": i + j, "payload": "y" * 200_000} for j in range(250)])
    i += 250
"""


def _kill_mid_write(path: Path) -> bool:
    """SIGKILL a writer while its first batch is being written; True if it left a torn tail."""
    proc = _python(KILLED, str(path))
    deadline = time.time() + 60
    while (not path.exists() or path.stat().st_size < 5_000_000) and time.time() < deadline:
        time.sleep(0.0005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    return not path.read_bytes().endswith(b"\n")


def test_a_writer_killed_mid_write_leaves_only_complete_rows(tmp_path):
    path = tmp_path / "r.jsonl"
    attempts = [_kill_mid_write(path)]
    while not attempts[-1] and len(attempts) < 3:  # the kill landed between writes: try again
        path.unlink()
        attempts.append(_kill_mid_write(path))
    assert attempts[-1], "no kill landed inside a write in 3 attempts"  # Linux cuts the write short
    with pytest.warns(UserWarning, match="skipped an incomplete row"):
        rows = read_rows(path)
    assert len(rows) > 0
    assert [r["step"] for r in rows] == list(range(len(rows)))
    assert all(r["payload"] == "y" * 200_000 for r in rows)
    with pytest.warns(UserWarning, match="removed .* bytes of an incomplete row"):
        append_rows(path, [{"run_id": "after", "step": 0}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn tail left
        again = read_rows(path)
    assert again == rows + [{"run_id": "after", "step": 0, "schema": SCHEMA}]


def test_a_torn_tail_is_skipped_on_read_and_cut_before_the_next_append(tmp_path):
    path = tmp_path / "r.jsonl"
    append_rows(path, [{"run_id": "a", "step": 1}, {"run_id": "a", "step": 2}])
    complete = path.read_bytes()
    line = complete.splitlines(keepends=True)[1]
    for torn in (line[:3], line[:-2]):  # a kill inside the schema prefix, and just before the closing brace
        path.write_bytes(complete + torn)
        n = complete.count(b"\n")
        with pytest.warns(UserWarning, match=f"line {n + 1}: skipped an incomplete row"):
            assert [r["step"] for r in read_rows(path)] == list(range(1, n + 1))
        with pytest.warns(UserWarning, match=f"removed {len(torn)} bytes"):
            append_rows(path, [{"run_id": "a", "step": n + 1}])
        assert path.read_bytes().startswith(complete)
        assert [r["step"] for r in read_rows(path)] == list(range(1, n + 2))
        complete = path.read_bytes()


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.jsonl"):
        read_rows(tmp_path / "nothing.jsonl")
    (tmp_path / "empty.jsonl").touch()
    assert read_rows(tmp_path / "empty.jsonl") == []
    assert len(load_results(tmp_path / "empty.jsonl")) == 0


def _good_lines(n: int) -> bytes:
    return b"".join(b'{"schema":"phasemix.results/1","run_id":"r","step":%d}\n' % i for i in range(n))


@pytest.mark.parametrize("content, line, fragment", [
    (_good_lines(2) + b"\x00\x17garbage\n" + _good_lines(2), 3, "not a JSON line"),
    (_good_lines(2) + b'[1, 2]\n', 3, "must be a JSON object"),
    (_good_lines(1) + b'{"schema":"phasemix.results/1","step":1}\n', 2, "no string run_id"),
    (_good_lines(1) + b"\n" + _good_lines(1), 2, "empty line"),
    (b'{"run_id":"r","step":1}\n{"run_id":"r","step":2}\n', 1, "no 'schema' key"),
    (b'{"schema":"phasemix.results/0","run_id":"r"}\n', 1, "schema 'phasemix.results/0'"),
    (b"run_id,step,accuracy\nabc,1,0.5\n", 1, "not a JSON line"),
    (b"run_id,step,accuracy\nabc,1,0.5", 1, "not a JSON line"),
    (b"run_id,step,accuracy", 1, "is not a phasemix.results/1 row"),
])
def test_corrupt_or_foreign_files_are_refused_by_name_and_line_and_left_untouched(tmp_path, content, line, fragment):
    path = tmp_path / "table.jsonl"
    path.write_bytes(content)
    with pytest.raises(ResultsFileError, match=re.escape(f"{path}, line {line}: ")) as caught:
        read_rows(path)
    assert fragment in str(caught.value)
    assert path.read_bytes() == content
    again = pickle.loads(pickle.dumps(caught.value))  # crosses process boundaries (sweep workers)
    assert str(again) == str(caught.value) and again.line == line


@pytest.mark.parametrize("content, line", [
    (b"\x00\x17garbage\n" + _good_lines(2), 1),  # first line
    (_good_lines(3) + b"garbage\n", 4),  # last line
    (_good_lines(2) + b"garbage without newline", 3),  # unterminated tail that is not ours
    (b'{"run_id":"r","step":1}\n', 1),  # another program's JSON lines
    (b"run_id,step,accuracy\nabc,1,0.5\n", 1),  # a CSV
])
def test_append_refuses_a_corrupt_or_foreign_file_and_leaves_it_untouched(tmp_path, content, line):
    path = tmp_path / "table.jsonl"
    path.write_bytes(content)
    with pytest.raises(ResultsFileError, match=re.escape(f"{path}, line {line}: ")):
        append_rows(path, [{"run_id": "new", "step": 1}])
    assert path.read_bytes() == content


def test_results_cli_summarises_runs_and_prints_one_run(real_rows, tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    for rows in real_rows:
        append_rows(path, rows)
    append_rows(path, real_rows[0][-1:])  # a duplicate: counted, not shown
    assert main(["results", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "model", "params_ne", "knowledge"]
    assert out[-1] == f"2 runs, 4 rows in {path}, 1 duplicate rows ignored"
    by_id = {line.split()[0]: line.split() for line in out[1:3]}
    for rows in real_rows:
        last = rows[-1]
        fields = by_id[last["run_id"][:8]]
        assert fields[1] == "tiny-50k" and fields[2] == str(last["params_nonembedding"])
        assert fields[5] == str(last["mixing_ratio"]) and fields[9] == "main" and fields[11] == str(last["tokens"])

    assert main(["results", str(path), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["run_id"] for r in table) == sorted(rows[0]["run_id"] for rows in real_rows)
    assert {float(r["accuracy"]) for r in table} == {rows[-1]["accuracy"] for rows in real_rows}

    run_id = real_rows[1][0]["run_id"]
    assert main(["results", str(path), "--run", run_id[:6], "--format", "json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == [{**row, "schema": SCHEMA} for row in real_rows[1]]
    assert main(["results", str(path), "--run", run_id[:6]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"run {run_id}: tiny-50k") and out[1].split()[0] == "step" and len(out) == 4


def test_results_cli_bad_input_exits_2_with_one_line(real_rows, tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    append_rows(path, real_rows[0])
    assert main(["results", str(path), "--run", "zzzz"]) == 2
    assert "--run 'zzzz': no run with this id prefix" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    (tmp_path / "foreign.csv").write_text("a,b\n1,2\n")
    assert main(["results", str(tmp_path / "foreign.csv")]) == 2
    assert f"{tmp_path / 'foreign.csv'}, line 1: not a JSON line" in capsys.readouterr().err
