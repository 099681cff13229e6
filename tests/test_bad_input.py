"""Every bad input to the three entry points (``capacity``, ``python -m empirical``, ``paper_repro.py``)
exits with status 2 and one line on stderr in the shared form

    <program>[ <command>]: error: <flag or file> <value>: <what is allowed>

and prints nothing on stdout. The programs run in-process (``main(argv)``); every case fails in
validation, before any training or data building, so the whole file takes seconds."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import paper_repro
from capacity.cli import main as capacity_main
from empirical.__main__ import main as empirical_main

ROOT = Path(__file__).resolve().parents[1]
MAINS = {"capacity": capacity_main, "empirical": empirical_main, "paper_repro": paper_repro.main}
PROGS = {"capacity": "capacity", "empirical": "python -m empirical", "paper_repro": "paper_repro"}

PREDICT = ["predict", "--people", "320000", "--tokens-per-person", "70"]
THRESH = ["thresholds", "--law", "2,40,0.3", "--entropy", "500"]
PHASE = ["phase", "--people", "1000", "--tokens-per-person", "70"]
LAW = ["thresholds", "--frequency", "1e-4", "--entropy", "500"]

# (id, program, argv ("{d}" is a folder of prepared files), fragments the one line must hold)
CASES = [
    # --- capacity -----------------------------------------------------------------------------------
    ("params-tiny", "capacity", PREDICT + ["--params", "1e-300"], ["capacity predict:", "--params 1e-300", "[1, 1e15]"]),
    ("params-huge", "capacity", PREDICT + ["--params", "1e308"], ["--params 1e308", "[1, 1e15]"]),
    ("params-zero", "capacity", PREDICT + ["--params", "0"], ["--params 0", "[1, 1e15]"]),
    ("params-nan", "capacity", PREDICT + ["--params", "nan"], ["--params nan", "must be a number"]),
    ("params-word", "capacity", PREDICT + ["--params", "big"], ["--params big", "must be a number"]),
    ("frequency-negative", "capacity", THRESH + ["--frequency", "-1e-8"], ["capacity thresholds:", "--frequency -1e-8", "> 0"]),
    ("entropy-zero", "capacity", LAW[:3] + ["--law", "2,40,0.3", "--entropy", "0"], ["--entropy 0", "> 0"]),
    ("threshold-ratio", "capacity", THRESH + ["--frequency", "1e-4", "--mixing-ratio", "1.5"], ["--mixing-ratio 1.5", "(0, 1)"]),
    ("capacity-negative", "capacity", THRESH + ["--frequency", "1e-4", "--capacity", "-5"], ["--capacity -5", "> 0"]),
    ("law-word", "capacity", LAW + ["--law", "2,x,0.3"], ["--law 2,x,0.3", "three comma-separated"]),
    ("law-exponent", "capacity", LAW + ["--law", "2,40,-0.3"], ["--law 2,40,-0.3", "exponent alpha must be > 0"]),
    ("web-points-concave", "capacity", LAW + ["--web-points", "1:5,2:4,3:2"], ["--web-points 1:5,2:4,3:2", "convex"]),
    ("web-points-format", "capacity", LAW + ["--web-points", "1-5"], ["--web-points 1-5", "capacity:loss pairs"]),
    ("convexify-with-law", "capacity", LAW + ["--law", "2,40,0.3", "--convexify"], ["--convexify", "--law 2,40,0.3"]),
    ("law-and-points", "capacity", LAW + ["--law", "2,40,0.3", "--web-points", "1:5,2:4"], ["--web-points", "--law"]),
    ("bits-per-param", "capacity", PREDICT + ["--params", "1e6", "--bits-per-param", "-2"], ["--bits-per-param -2", "(0, 64]"]),
    ("people-zero", "capacity", ["predict", "--params", "1e6", "--people", "0", "--tokens-per-person", "70"], ["--people 0", "[1, 1e12]"]),
    ("tokens-inf", "capacity", ["predict", "--params", "1e6", "--people", "10", "--tokens-per-person", "inf"], ["--tokens-per-person inf"]),
    ("law-nats-two", "capacity", PREDICT + ["--params", "1e6", "--law-nats", "1,2"], ["--law-nats 1,2", "three"]),
    ("predict-ratio-one", "capacity", PREDICT + ["--params", "1e6", "--mixing-ratio", "1"], ["--mixing-ratio 1", "(0, 1)"]),
    ("params-kind", "capacity", PREDICT + ["--params", "1e6", "--params-kind", "weights"], ["--params-kind weights", "nonembedding, total"]),
    ("phase-rows", "capacity", PHASE + ["--rows", "1e8"], ["capacity phase:", "--rows 1e8", "[2, 1000]"]),
    ("phase-cols", "capacity", PHASE + ["--cols", "1"], ["--cols 1", "[2, 1000]"]),
    ("phase-params-order", "capacity", PHASE + ["--params-min", "1e9", "--params-max", "1e6"], ["--params-min 1e9", "--params-max 1e6"]),
    ("phase-ratio-zero", "capacity", PHASE + ["--ratio-min", "0"], ["--ratio-min 0", "(0, 1)"]),
    ("capacity-command", "capacity", ["nosuch"], ["COMMAND nosuch", "thresholds, predict, phase"]),
    ("capacity-no-command", "capacity", [], ["capacity: error: COMMAND", "thresholds"]),
    ("capacity-unknown-flag", "capacity", PREDICT + ["--params", "1e6", "--bogus", "3"], ["--bogus 3", "not an argument"]),
    ("capacity-missing-flag", "capacity", ["predict", "--params", "1e6"], ["--people", "required"]),
    # --- python -m empirical (dispatcher, synbio, corpus) ------------------------------------------
    ("empirical-no-command", "empirical", [], ["python -m empirical: error: COMMAND", "synbio"]),
    ("empirical-command", "empirical", ["trian"], ["COMMAND trian", "train"]),
    ("synbio-count-huge", "empirical", ["synbio", "--count", "1e11"], ["python -m empirical synbio:", "--count 1e11", "[0, 1e6]"]),
    ("synbio-seed", "empirical", ["synbio", "--seed", "-1"], ["--seed -1", "[0, 4294967295]"]),
    ("synbio-two-seeds", "empirical", ["synbio", "--seed", "3", "--population-seed", "4"], ["--seed 3", "cannot be combined with --population-seed"]),
    ("synbio-people", "empirical", ["synbio", "--people", "160000001"], ["--people 160000001", "160000000"]),
    ("synbio-task", "empirical", ["synbio", "--task", "sort"], ["--task sort", "synbio, slope, max"]),
    ("synbio-rho", "empirical", ["synbio", "--rho", "0"], ["--rho 0", "(0, 1]"]),
    ("synbio-ratio", "empirical", ["synbio", "--mixing-ratio", "1.5"], ["--mixing-ratio 1.5", "[0, 1]"]),
    ("synbio-groups", "empirical", ["synbio", "--people", "10", "--powerlaw-groups", "3"], ["--powerlaw-groups 3", "divisor of --people 10"]),
    ("synbio-tokenizer-missing", "empirical", ["synbio", "--tokenizer", "{d}/missing.json"], ["--tokenizer {d}/missing.json", "no such file"]),
    ("synbio-tokenizer-dir", "empirical", ["synbio", "--tokenizer", "{d}/folder"], ["--tokenizer {d}/folder", "is a directory"]),
    ("synbio-tokenizer-junk", "empirical", ["synbio", "--tokenizer", "{d}/afile"], ["--tokenizer {d}/afile", "not a tokenizer.json"]),
    ("synbio-ratio-ignored", "empirical", ["synbio", "--mixing-ratio", "0.3"], ["--mixing-ratio 0.3", "needs --info and --tokenizer"]),
    ("synbio-exponent", "empirical", ["synbio", "--exponent", "0"], ["--exponent 0", "(0, 100]"]),
    ("corpus-json-alone", "empirical", ["corpus", "--json"], ["python -m empirical corpus:", "--info/--sample/--tokenize", "none given"]),
    ("corpus-split", "empirical", ["corpus", "--tokenize", "--split", "test"], ["--split test", "train, validation"]),
    ("corpus-name", "empirical", ["corpus", "--corpus", "nope", "--info"], ["--corpus nope", "unknown corpus"]),
    ("corpus-folder", "empirical", ["corpus", "--corpus", "folder:{d}/missing", "--sample", "1"], ["--corpus folder:{d}/missing", "does not exist"]),
    ("corpus-max-documents", "empirical", ["corpus", "--max-documents", "5", "--info"], ["--max-documents 5", "hub corpora only"]),
    ("corpus-sample", "empirical", ["corpus", "--sample", "-1"], ["--sample -1", "[0, 1e6]"]),
    ("corpus-nothing", "empirical", ["corpus"], ["--info/--sample/--tokenize", "none given"]),
    # --- python -m empirical results ----------------------------------------------------------------
    ("results-dir", "empirical", ["results", "{d}/folder"], ["python -m empirical results:", "{d}/folder", "is a directory"]),
    ("results-missing", "empirical", ["results", "{d}/missing.jsonl"], ["{d}/missing.jsonl", "no such file"]),
    ("results-empty-path", "empirical", ["results", ""], ["RESULTS ''", "not empty"]),
    ("results-step-word", "empirical", ["results", "{d}/step_word.jsonl"], ["{d}/step_word.jsonl, line 2", 'step "ten"', ">= 0"]),
    ("results-step-nan", "empirical", ["results", "{d}/step_nan.jsonl"], ["{d}/step_nan.jsonl, line 1", "step NaN"]),
    ("results-step-missing", "empirical", ["results", "{d}/step_missing.jsonl"], ["{d}/step_missing.jsonl, line 1", "step missing"]),
    ("results-step-bool", "empirical", ["results", "{d}/step_bool.jsonl"], ["{d}/step_bool.jsonl, line 1", "step true"]),
    ("results-format", "empirical", ["results", "{d}/good.jsonl", "--format", "xml"], ["--format xml", "table, csv, json"]),
    ("results-run", "empirical", ["results", "{d}/good.jsonl", "--run", "zzzz"], ["--run 'zzzz'", "no run with this id prefix"]),
    ("results-foreign", "empirical", ["results", "{d}/foreign.csv"], ["{d}/foreign.csv, line 1", "not a JSON line"]),
    # --- python -m empirical train ------------------------------------------------------------------
    ("config-lr-word", "empirical", ["train", "--config", "{d}/lr_word.json"], ["python -m empirical train:", "--config {d}/lr_word.json", 'optim.lr "fast"', "expected a number"]),
    ("config-data-int", "empirical", ["train", "--config", "{d}/data_int.json"], ["--config {d}/data_int.json", "data 5", "JSON object"]),
    ("config-batch-bool", "empirical", ["train", "--config", "{d}/batch_bool.json"], ["batch_size true", "expected an integer"]),
    ("config-people-word", "empirical", ["train", "--config", "{d}/people_word.json"], ['data.people "ten"', "expected an integer"]),
    ("config-eps-zero", "empirical", ["train", "--config", "{d}/eps_zero.json"], ["optim.eps 0", "(0, 1)"]),
    ("config-weight-decay", "empirical", ["train", "--config", "{d}/wd_huge.json"], ["optim.weight_decay 1000", "[0, 10]"]),
    ("config-seed", "empirical", ["train", "--config", "{d}/seed_negative.json"], ["seed -5", "[0, 4294967295]"]),
    ("config-list", "empirical", ["train", "--config", "{d}/a_list.json"], ["--config {d}/a_list.json", "JSON object"]),
    ("config-broken", "empirical", ["train", "--config", "{d}/broken.json"], ["--config {d}/broken.json", "not a JSON file"]),
    ("config-unknown-key", "empirical", ["train", "--config", "{d}/unknown_key.json"], ["--config {d}/unknown_key.json", "nosuch"]),
    ("config-missing", "empirical", ["train", "--config", "{d}/missing.json"], ["--config {d}/missing.json", "no such file"]),
    ("config-dir", "empirical", ["train", "--config", "{d}/folder"], ["--config {d}/folder", "is a directory"]),
    ("train-device", "empirical", ["train", "--device", "bogus"], ["--device bogus", "cpu, cuda, cuda:N or mps"]),
    ("train-device-index", "empirical", ["train", "--device", "cuda:999"], ["--device cuda:999", "CUDA"]),
    ("train-run-dir-empty", "empirical", ["train", "--run-dir", ""], ["--run-dir ''", "not empty"]),
    ("train-run-dir-file", "empirical", ["train", "--run-dir", "{d}/afile"], ["--run-dir {d}/afile", "is a file"]),
    ("train-seed", "empirical", ["train", "--seed", "-1"], ["--seed -1", "[0, 4294967295]"]),
    ("train-lr", "empirical", ["train", "--lr", "1.5"], ["--lr 1.5", "(0, 1)"]),
    ("train-model", "empirical", ["train", "--model", "nope"], ["--model nope", "tiny-50k"]),
    ("train-tokens-huge", "empirical", ["train", "--tokens", "1e20"], ["--tokens 1e20", "[1, 1e15]"]),
    ("train-ratio-negative", "empirical", ["train", "--mixing-ratio", "-0.1"], ["--mixing-ratio -0.1", "[0, 1]"]),
    ("train-tokens-below-step", "empirical", ["train", "--tokens", "10"], ["--tokens 10", "less than one step"]),
    ("train-batch-zero", "empirical", ["train", "--batch-size", "0"], ["--batch-size 0", "[1, 65536]"]),
    ("train-knowledge", "empirical", ["train", "--knowledge", "wiki"], ["--knowledge wiki", "facts:PATH"]),
    # --- python -m empirical sweep ------------------------------------------------------------------
    ("sweep-no-module", "empirical", ["sweep", "nosuchmodule:f"], ["python -m empirical sweep:", "sweep nosuchmodule:f", "No module named"]),
    ("sweep-no-file", "empirical", ["sweep", "{d}/missing.py:grid"], ["sweep {d}/missing.py:grid", "does not exist"]),
    ("sweep-list-and-name", "empirical", ["sweep", "ratio", "--list"], ["--list", "ratio"]),
    ("sweep-unknown", "empirical", ["sweep", "nope"], ["sweep nope", "unknown sweep"]),
    ("sweep-no-name", "empirical", ["sweep"], ["NAME", "required"]),
    ("sweep-results-empty", "empirical", ["sweep", "ratio", "--results", ""], ["--results ''", "not empty"]),
    ("sweep-results-dir", "empirical", ["sweep", "ratio", "--results", "{d}/folder"], ["--results {d}/folder", "is a directory"]),
    ("sweep-results-under-file", "empirical", ["sweep", "ratio", "--results", "{d}/afile/r.jsonl"], ["--results {d}/afile/r.jsonl", "is a file"]),
    ("sweep-work-dir-empty", "empirical", ["sweep", "ratio", "--work-dir", ""], ["--work-dir ''", "not empty"]),
    ("sweep-work-dir-file", "empirical", ["sweep", "ratio", "--work-dir", "{d}/afile"], ["--work-dir {d}/afile", "is a file"]),
    ("sweep-engine", "empirical", ["sweep", "ratio", "--engine", "spark"], ["--engine spark", "local, ray"]),
    ("sweep-scale", "empirical", ["sweep", "ratio", "--scale", "tpu"], ["--scale tpu", "cpu, gpu"]),
    ("sweep-ray-address", "empirical", ["sweep", "ratio", "--ray-address", "auto"], ["--ray-address auto", "--engine ray only"]),
    ("sweep-no-measure", "empirical", ["sweep", "ratio", "--no-measure"], ["--no-measure", "--dry-run only"]),
    ("sweep-workers", "empirical", ["sweep", "ratio", "--workers", "0"], ["--workers 0", "[1, 1024]"]),
    ("sweep-device", "empirical", ["sweep", "ratio", "--device", "bogus"], ["--device bogus", "cpu, cuda"]),
    # --- paper_repro.py -----------------------------------------------------------------------------
    ("repro-out-empty", "paper_repro", ["--out", ""], ["paper_repro: error:", "--out ''", "not empty"]),
    ("repro-out-file", "paper_repro", ["--out", "{d}/afile"], ["--out {d}/afile", "is a file"]),
    ("repro-theory-only", "paper_repro", ["--preset", "theory", "--only", "phase_diagram"], ["--only phase_diagram", "--preset theory"]),
    ("repro-theory-no-train", "paper_repro", ["--preset", "theory", "--no-train"], ["--no-train", "--preset theory"]),
    ("repro-theory-results", "paper_repro", ["--preset", "theory", "--results", "{d}/good.jsonl"], ["--results {d}/good.jsonl", "--preset theory"]),
    ("repro-preset", "paper_repro", ["--preset", "nope"], ["--preset nope", "quick"]),
    ("repro-step-word", "paper_repro", ["--no-train", "--results", "{d}/step_word.jsonl", "--out", "{d}/out"], ["{d}/step_word.jsonl, line 2", 'step "ten"']),
    ("repro-step-nan", "paper_repro", ["--no-train", "--results", "{d}/step_nan.jsonl", "--out", "{d}/out"], ["{d}/step_nan.jsonl, line 1", "step NaN"]),
    ("repro-no-table", "paper_repro", ["--no-train", "--results", "{d}/missing.jsonl", "--out", "{d}/out"], ["--results {d}/missing.jsonl", "no such file"]),
    ("repro-results-dir", "paper_repro", ["--results", "{d}/folder"], ["--results {d}/folder", "is a directory"]),
    ("repro-results-empty", "paper_repro", ["--results", ""], ["--results ''", "not empty"]),
    ("repro-work-dir-empty", "paper_repro", ["--work-dir", ""], ["--work-dir ''", "not empty"]),
    ("repro-tokens-per-person", "paper_repro", ["--tokens-per-person", "50"], ["--tokens-per-person 50", "--preset theory only"]),
    ("repro-device", "paper_repro", ["--device", "bogus"], ["--device bogus", "cpu, cuda"]),
    ("repro-workers", "paper_repro", ["--workers", "0"], ["--workers 0", "[1, 1024]"]),
    ("repro-searches-preset", "paper_repro", ["--searches", "tiny-50k@1T0"], ["--searches tiny-50k@1T0", "--preset predict only"]),
    ("repro-searches-theory", "paper_repro", ["--preset", "theory", "--searches", "tiny-50k@1T0"], ["--searches tiny-50k@1T0", "not --preset theory"]),
    ("repro-searches-unknown", "paper_repro", ["--preset", "predict", "--dry-run", "--searches", "tiny-50k@1T0", "huge@1T0", "--out", "{d}/out"],
     ["--searches huge@1T0", "one of tiny-50k@1T0, tiny-100k@1T0"]),
    ("repro-bits", "paper_repro", ["--bits-per-param", "-1"], ["--bits-per-param -1", "(0, 64]"]),
    ("repro-only", "paper_repro", ["--only", "nofig"], ["--only nofig", "accuracy_vs_ratio"]),
]
# Permission cases: root reads and writes everything, so they only mean something for other users.
PERMISSION_CASES = [
    ("results-unreadable", "empirical", ["results", "{d}/unreadable.jsonl"], ["{d}/unreadable.jsonl", "not readable"]),
    ("sweep-results-unwritable", "empirical", ["sweep", "ratio", "--results", "{d}/readonly/r.jsonl"],
     ["--results {d}/readonly/r.jsonl", "not writable"]),
    ("repro-out-unwritable", "paper_repro", ["--out", "{d}/readonly/out"], ["--out {d}/readonly/out", "not writable"]),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad_input")
    (d / "folder").mkdir()
    (d / "afile").write_text("not a tokenizer, not a folder\n")
    rows = [json.loads(line) for line in (ROOT / "docs" / "quick" / "results.jsonl").read_text().splitlines()[:2]]
    (d / "good.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, change in {"step_word": "ten", "step_nan": float("nan"), "step_bool": True, "step_missing": None}.items():
        bad = dict(rows[0])
        bad.pop("step") if change is None else bad.update(step=change)
        lines = [bad] if name != "step_word" else [rows[0], bad]
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (d / "foreign.csv").write_text("a,b\n1,2\n")
    configs = {"lr_word": {"optim": {"lr": "fast"}}, "data_int": {"data": 5}, "batch_bool": {"batch_size": True},
               "people_word": {"data": {"people": "ten"}}, "eps_zero": {"optim": {"eps": 0}},
               "wd_huge": {"optim": {"weight_decay": 1000}}, "seed_negative": {"seed": -5}, "a_list": [1, 2],
               "unknown_key": {"nosuch": 1}, "good": {"model": "tiny-50k", "tokens": 100_000}}
    for name, content in configs.items():
        (d / f"{name}.json").write_text(json.dumps(content))
    (d / "broken.json").write_text("{bad")
    (d / "unreadable.jsonl").write_text((d / "good.jsonl").read_text())
    (d / "unreadable.jsonl").chmod(0)
    (d / "readonly").mkdir()
    (d / "readonly").chmod(0o555)
    yield d
    (d / "readonly").chmod(0o755)


def _call(program: str, argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        status = MAINS[program](argv)
    except SystemExit as exc:  # a test must see the status, however the program chose to exit
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _check_refused(program, argv, fragments, files, capsys, monkeypatch):
    monkeypatch.chdir(files)  # a case that wrongly got through writes here, not into the checkout
    argv = [a.replace("{d}", str(files)) for a in argv]
    status, out, err = _call(program, argv, capsys)
    assert status == 2, (status, out, err)
    assert "Traceback" not in err and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    line = lines[0]
    assert line.startswith(PROGS[program] + " ") or line.startswith(PROGS[program] + ":"), line
    assert ": error: " in line
    for fragment in fragments:
        assert fragment.replace("{d}", str(files)) in line, (fragment, line)


def test_there_are_at_least_60_distinct_cases():
    assert len({case[0] for case in CASES}) == len(CASES) >= 60
    assert len({(program, tuple(argv)) for _, program, argv, _ in CASES}) == len(CASES)
    assert {program for _, program, _, _ in CASES} == set(MAINS)


@pytest.mark.parametrize("program, argv, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(program, argv, fragments, files, capsys, monkeypatch):
    _check_refused(program, argv, fragments, files, capsys, monkeypatch)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may read and write any file")
@pytest.mark.parametrize("program, argv, fragments", [c[1:] for c in PERMISSION_CASES],
                         ids=[c[0] for c in PERMISSION_CASES])
def test_unreadable_or_unwritable_paths_exit_2_with_one_line(program, argv, fragments, files, capsys, monkeypatch):
    _check_refused(program, argv, fragments, files, capsys, monkeypatch)


def test_device_cuda_without_cuda_is_refused(files, capsys, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _check_refused("empirical", ["train", "--device", "cuda"], ["--device cuda", "no CUDA device"], files, capsys,
                   monkeypatch)


# --- the validation did not break normal use ---------------------------------------------------------

@pytest.mark.parametrize("program, argv, expected", [
    ("capacity", PREDICT + ["--params", "18.9e6", "--mixing-ratio", "0.45", "--json"], '"verdict"'),
    ("capacity", THRESH + ["--frequency", "1e-4", "--json"], '"M0_minus"'),
    ("capacity", ["thresholds", "--web-points", "1:5,2:4,3:2", "--convexify", "--frequency", "0.1", "--entropy", "5"],
     "Theorem 4.3"),
    ("capacity", PHASE + ["--rows", "2", "--cols", "2", "--json"], '"fraction_learned"'),
    ("empirical", ["synbio", "--people", "5", "--count", "2", "--seed", "4294967295", "--json"], '"person"'),
    ("empirical", ["train", "--config", "{d}/good.json", "--mixing-ratio", "0", "--dry-run"], '"run_id"'),
    ("empirical", ["results", "{d}/good.jsonl", "--format", "json"], '"run_id"'),
    ("empirical", ["sweep", "ratio", "--dry-run", "--no-measure", "--results", "{d}/new/r.jsonl"], "to train: "),
])
def test_good_input_still_succeeds(program, argv, expected, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    status, out, err = _call(program, [a.replace("{d}", str(files)) for a in argv], capsys)
    assert status == 0, err
    assert expected in out
    shutil.rmtree(files / "new", ignore_errors=True)


# --- the shared pieces ---------------------------------------------------------------------------------

def test_typed_parsers_read_what_users_type_and_name_the_interval():
    import argparse

    from capacity.cli_common import Parser, fmt_number, integer, number

    assert integer(1, 10**9)("1e6") == 1_000_000 and number(0, 1)("-0") == 0.0
    assert [fmt_number(x) for x in (1e15, 1e9, 2**32 - 1, 0.05, 1e-8)] == ["1e15", "1e9", "4294967295", "0.05", "1e-8"]
    parser = Parser(prog="p")
    parser.add_argument("--x", type=number(None, 0))
    assert parser.parse_args(["--x", "-1e-8"]).x == -1e-8  # a negative number is a value, not a flag
    with pytest.raises(argparse.ArgumentTypeError, match=r"^2\.5: must be an integer in \[1, 3\]$"):
        integer(1, 3)("2.5")
