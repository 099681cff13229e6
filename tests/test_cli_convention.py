"""The one command-line convention of ``capacity``, ``python -m empirical`` and ``paper_repro.py``:
a help text on every flag, ``choices=`` fed from the library's constants, ``--json`` that prints
strict JSON wherever the output is data, one name per concept (``--knowledge``; ``--seed`` the model
seed, ``--population-seed`` the people's, the old names kept as aliases), and ``--set KEY=VALUE``
overrides. Every program runs in-process through ``main(argv)``; nothing trains."""
from __future__ import annotations

import argparse
import json
import math
import tomllib
from pathlib import Path

import pytest

from capacity.cli import build_parser as capacity_parser
from capacity.cli import main as capacity_main
from capacity.cli_common import assignment, dumps
from empirical.__main__ import build_parser as empirical_parser
from empirical.__main__ import main as empirical_main

ROOT = Path(__file__).resolve().parents[1]


def strict(line: str):
    """json.loads that refuses the bare NaN / Infinity Python's json would accept."""
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")
    return json.loads(line, parse_constant=refuse)


def walk(parser: argparse.ArgumentParser, path: str):
    """(command path, action) for every option of a parser and of its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def _paper_repro_parser():
    import paper_repro

    return paper_repro.build_parser()


@pytest.mark.parametrize("program", ["capacity", "python -m empirical", "paper_repro"])
def test_every_flag_of_every_program_has_a_help_text(program):
    parser = {"capacity": capacity_parser, "python -m empirical": empirical_parser,
              "paper_repro": _paper_repro_parser}[program]()
    options = list(walk(parser, program))
    assert len(options) > (10 if program == "paper_repro" else 20)  # the walk reached the subcommands (paper_repro has none)
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in options
               if not (a.help or "").strip() or a.help == argparse.SUPPRESS]
    assert missing == []


def _choices(parser, command: str, flag: str):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return tuple(next(a for a in sub._actions if flag in a.option_strings).choices)


def test_choices_come_from_the_library_constants():
    from empirical.config import KNOWLEDGE_KINDS, PRECISIONS, SCHEDULES
    from empirical.text.corpus import SPLITS
    from empirical.model.presets import PRESETS
    from empirical.sweeps.runner import ENGINES
    from empirical.sweeps.named import SCALES

    parser = empirical_parser()
    assert _choices(parser, "train", "--precision") == PRECISIONS
    assert _choices(parser, "train", "--schedule") == SCHEDULES
    assert _choices(parser, "train", "--model") == tuple(PRESETS)
    assert _choices(parser, "sweep", "--scale") == SCALES
    assert _choices(parser, "sweep", "--engine") == ENGINES
    assert _choices(parser, "corpus", "--split") == SPLITS
    assert set(_choices(parser, "synbio", "--knowledge")) == set(KNOWLEDGE_KINDS) - {"synbio-powerlaw"}
    assert _choices(parser, "synbio", "--task") == _choices(parser, "synbio", "--knowledge")


def run(main, argv, capsys):
    status = main(argv)
    out = capsys.readouterr()
    assert status == 0, out.err
    return out.out


@pytest.fixture
def results_table(tmp_path):
    rows = [json.loads(line) for line in (ROOT / "docs" / "quick" / "results.jsonl").read_text().splitlines()[:3]]
    rows[0]["web_loss"] = float("nan")  # a stored null read back as NaN must print as null, not NaN
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("argv", [
    ["thresholds", "--law", "2,40,0.3", "--entropy", "500", "--frequency", "1e-4", "--json"],
    ["predict", "--people", "320000", "--tokens-per-person", "70", "--params", "1e6", "--json"],
])
def test_capacity_json_is_strict(argv, capsys):
    [line] = run(capacity_main, argv, capsys).splitlines()
    assert isinstance(strict(line), dict)


@pytest.mark.parametrize("argv, key", [
    (["synbio", "--people", "5", "--count", "2", "--json"], "person"),
    (["synbio", "--knowledge", "max", "--count", "2", "--json"], "task"),
    (["train", "--dry-run", "--json"], "run_id"),
    (["sweep", "--list", "--json"], "description"),
    (["corpus", "--info", "--json"], "name"),
    (["corpus", "--sample", "2", "--json"], "text"),
    (["results", "{results}", "--json"], "run_id"),
    (["results", "{results}", "--format", "json", "--run", "{run}"], "step"),
])
def test_empirical_data_output_is_strict_json(argv, key, results_table, capsys):
    run_id = json.loads(results_table.read_text().splitlines()[0])["run_id"]
    argv = [a.format(results=results_table, run=run_id[:12]) for a in argv]
    out = run(empirical_main, argv, capsys)
    text = out if argv[0] != "corpus" or "--info" not in argv else out.replace("\n", " ")
    records = [strict(line) for line in (text.splitlines() if "--info" not in argv else [text])]
    assert records and all(key in record for record in records)


def test_results_json_flag_is_format_json_and_refuses_another_format(results_table, capsys):
    assert run(empirical_main, ["results", str(results_table), "--json"], capsys) == \
        run(empirical_main, ["results", str(results_table), "--format", "json"], capsys)
    assert "null" in run(empirical_main, ["results", str(results_table), "--json"], capsys)
    assert empirical_main(["results", str(results_table), "--json", "--format", "csv"]) == 2
    assert "--json: cannot be combined with --format csv" in capsys.readouterr().err


def test_sweep_dry_run_json_holds_the_plan_the_text_prints(tmp_path, capsys):
    argv = ["sweep", "ratio", "--dry-run", "--no-measure", "--results", str(tmp_path / "r.jsonl")]
    text = run(empirical_main, argv, capsys)
    plan = strict(run(empirical_main, argv + ["--json"], capsys))
    assert len(plan["runs"]) == plan["to_train"]["runs"] == 12 and plan["estimated_seconds"] is None
    assert all(row["run_id"] in text for row in plan["runs"])
    assert f"to train: {plan['to_train']['runs']} runs in {plan['to_train']['groups']} groups" in text


def test_synbio_old_flag_names_still_work_and_mean_the_same(capsys):
    new = run(empirical_main, ["synbio", "--people", "50", "--population-seed", "3", "--count", "5", "--json"], capsys)
    old = run(empirical_main, ["synbio", "--people", "50", "--seed", "3", "--count", "5", "--json"], capsys)
    other = run(empirical_main, ["synbio", "--people", "50", "--population-seed", "4", "--count", "5", "--json"], capsys)
    assert new == old != other
    assert run(empirical_main, ["synbio", "--task", "slope", "--count", "3"], capsys) == \
        run(empirical_main, ["synbio", "--knowledge", "slope", "--count", "3"], capsys)


def test_train_population_seed_is_the_datas_and_seed_the_models(capsys):
    config = strict(run(empirical_main, ["train", "--dry-run", "--seed", "5", "--population-seed", "7"], capsys))["config"]
    assert (config["seed"], config["data"]["population_seed"]) == (5, 7)


def test_set_overrides_equal_the_flags_and_refuse_contradictions(capsys):
    by_flags = strict(run(empirical_main, ["train", "--dry-run", "--people", "300", "--lr", "0.002"], capsys))
    by_set = strict(run(empirical_main, ["train", "--dry-run", "--set", "data.people=300", "--set", "optim.lr=0.002"],
                        capsys))
    assert by_set["run_id"] == by_flags["run_id"]
    default = strict(run(empirical_main, ["train", "--dry-run"], capsys))
    groups = strict(run(empirical_main, ["train", "--dry-run", "--set", "data.powerlaw_groups=20"], capsys))
    assert groups["config"]["data"]["powerlaw_groups"] == 20 and groups["run_id"] != default["run_id"]
    for argv, fragment in [
        (["--set", "data.people=3", "--people", "4"], "--set data.people=3: cannot be combined with --people"),
        (["--set", "data.people=3", "--set", "data.people=4"], "data.people is already set"),
        (["--set", "data.nope=1"], 'config field "data.nope": unknown'),
        (["--set", "data.people=0"], "data.people 0: must be an integer >= 1"),
        (["--set", "people"], "--set people: must be KEY=VALUE"),
    ]:
        assert empirical_main(["train", "--dry-run"] + argv) == 2
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("python -m empirical train: error: ") and fragment in line


def test_sweep_set_changes_every_run(tmp_path, capsys):
    argv = ["sweep", "ratio", "--dry-run", "--no-measure", "--json", "--results", str(tmp_path / "r.jsonl")]
    plan = strict(run(empirical_main, argv, capsys))
    changed = strict(run(empirical_main, argv + ["--set", "data.people=500"], capsys))
    assert {row["people"] for row in changed["runs"]} == {500} != {row["people"] for row in plan["runs"]}
    assert len(changed["runs"]) == len(plan["runs"])
    assert empirical_main(["sweep", "--list", "--set", "seed=1"]) == 2
    assert "--set: cannot be combined with --list" in capsys.readouterr().err


def test_dumps_writes_null_for_values_that_are_not_finite_and_assignment_reads_json_values():
    assert dumps({"a": [1.5, math.nan, {"b": math.inf}], "c": "x"}) == '{"a": [1.5, null, {"b": null}], "c": "x"}'
    assert assignment("data.powerlaw_groups=20") == ("data.powerlaw_groups", 20)
    assert assignment("model=tiny-100k") == ("model", "tiny-100k")
    assert assignment("compile=true") == ("compile", True)
    with pytest.raises(argparse.ArgumentTypeError, match="must be finite"):
        assignment("optim.lr=NaN")


def test_console_scripts_point_at_the_mains():
    import importlib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["capacity"] == "capacity.cli:main" and scripts["phasemix"] == "empirical.__main__:main"
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("main, argv, line", [
    (empirical_main, ["train", "--bogus"], "python -m empirical train: error: --bogus: not an argument"),
    (capacity_main, ["phase", "--people", "9", "--tokens-per-person", "7", "--bogus", "3"],
     "capacity phase: error: --bogus 3: not an argument"),
    (empirical_main, ["--bogus"], "python -m empirical: error: --bogus: not an argument"),
])
def test_an_unknown_flag_is_refused_by_the_command_it_was_given_to(main, argv, line, capsys):
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith(line) and out.err.count("\n") == 1
