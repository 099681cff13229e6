"""``python -m empirical train``: train one model on a mixture and print its result rows as JSON lines.

    python -m empirical train --model tiny-50k --people 50 --mixing-ratio 1.0 --tokens 1000000
    python -m empirical train --config run.json --run-dir runs/a     # resumes if runs/a has a checkpoint
    python -m empirical train --set data.powerlaw_groups=20 --set optim.beta2=0.99 --dry-run

The output is data: one strict JSON object per line (``--json`` is the default and only format).
``--seed`` is the model seed (initialisation and data order); ``--population-seed`` picks the people.
"""
from __future__ import annotations

import argparse
import json
import sys

from capacity.cli_common import UsageError, assignment, dumps, input_file, integer, number, output_dir, seed, show

# Limits that catch a typo before it becomes an allocation this machine cannot make.
MAX_PEOPLE = 400 * 400 * 1000  # SynBio's name space
MAX_SEQ_LEN = 65_536
MAX_BATCH = 65_536
MAX_TOKENS = 10**15


def device_arg(text: str) -> str:
    """A torch device this machine has: cpu, cuda, cuda:N (N below the GPU count) or mps."""
    import re

    match = re.fullmatch(r"(cpu|mps|cuda)(?::(\d+))?", text)
    if not match or (match[1] != "cuda" and match[2] is not None):
        raise argparse.ArgumentTypeError(f"{show(text)}: must be cpu, cuda, cuda:N or mps")
    import torch

    if match[1] == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"{show(text)}: no CUDA device on this machine; use --device cpu")
        if match[2] is not None and int(match[2]) >= count:
            raise argparse.ArgumentTypeError(f"{show(text)}: this machine has {count} CUDA device(s), cuda:0 to "
                                             f"cuda:{count - 1}")
    if match[1] == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{show(text)}: no MPS device on this machine; use --device cpu")
    return text


def _tokenizer_spec(text: str) -> str:
    if text == "pythia" or (text.startswith("bpe-") and text[4:].isdigit() and int(text[4:]) >= 256):
        return text
    raise argparse.ArgumentTypeError(f"{show(text)}: must be pythia or bpe-<vocab size>, vocab size >= 256")


def _knowledge_kind(text: str) -> str:
    """A built-in knowledge kind, or facts:PATH naming an existing facts file (validated when the run starts)."""
    from empirical.config import KNOWLEDGE_KINDS, task_parameter

    if text in KNOWLEDGE_KINDS or task_parameter(text) is not None:  # "slope:9", "max:10": smaller tasks
        return text
    if text.startswith("facts:"):
        input_file(text[len("facts:"):])  # the file must exist: the one-line message names it
        return text
    raise argparse.ArgumentTypeError(f"{show(text)}: must be one of {', '.join(KNOWLEDGE_KINDS)}, or facts:PATH")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from empirical.config import KNOWLEDGE_KINDS, PRECISIONS, SCHEDULES
    from empirical.model.presets import PRESETS

    parser.add_argument("--config", type=input_file, help="a TrainConfig as JSON (the flags below override it)")
    parser.add_argument("--model", choices=tuple(PRESETS), metavar="PRESET", help=f"model preset: {', '.join(PRESETS)}")
    parser.add_argument("--knowledge", type=_knowledge_kind, metavar="KIND",
                        help=f"knowledge set: {', '.join(KNOWLEDGE_KINDS)}, or facts:PATH (a facts file, docs/FACTS.md)")
    parser.add_argument("--people", type=integer(1, MAX_PEOPLE), help="people in the knowledge set")
    parser.add_argument("--mixing-ratio", type=number(0, 1), help="share r of knowledge tokens, in [0, 1]")
    parser.add_argument("--rho", type=number(0, 1, low_open=True), help="subsampling ratio in (0, 1]")
    parser.add_argument("--tau", type=number(0, 10), help="compact knowledge mixing fraction, in [0, 10]")
    parser.add_argument("--tokenizer", type=_tokenizer_spec, help="pythia or bpe-<vocab>")
    parser.add_argument("--seq-len", type=integer(16, MAX_SEQ_LEN), help="tokens per training sequence")
    parser.add_argument("--batch-size", type=integer(1, MAX_BATCH), help="sequences per optimiser step (global)")
    parser.add_argument("--tokens", type=integer(1, MAX_TOKENS), help="training budget in tokens")
    parser.add_argument("--lr", type=number(0, 1, low_open=True, high_open=True), help="peak learning rate, in (0, 1)")
    parser.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    parser.add_argument("--warmup-steps", type=integer(0, MAX_TOKENS), help="linear warmup steps")
    parser.add_argument("--eval-points", type=integer(1, 1000), help="log-spaced evaluation points")
    parser.add_argument("--eval-people", type=integer(0, MAX_PEOPLE), help="people sampled for recall (0: all)")
    parser.add_argument("--seed", type=seed, help="model seed: initialisation and data order")
    parser.add_argument("--population-seed", type=seed,
                        help="population seed: which people (names and attributes) the knowledge set holds")
    parser.add_argument("--precision", choices=PRECISIONS, help="fp32, or bf16 autocast where supported")
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the training step (on CPU it needs a C++ compiler)")
    parser.add_argument("--device", type=device_arg, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--init-from", metavar="SOURCE",
                        help="start from trained weights: run:DIR (one of our runs or saved models) or hf:DIR "
                             "(a local Hugging Face GPT-NeoX folder, e.g. a Pythia checkpoint)")
    parser.add_argument("--run-dir", type=output_dir, help="checkpoint folder; an existing checkpoint is resumed")
    parser.add_argument("--save-model", action="store_true", help="save the final model in Hugging Face format")
    parser.add_argument("--dry-run", action="store_true", help="print the config and its run id, train nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true",
                        help="print JSON lines (the default and only format: accepted for the shared convention)")
    parser.add_argument("--set", type=assignment, action="append", default=[], metavar="KEY=VALUE",
                        help="override any TrainConfig field by its dotted name, e.g. --set data.powerlaw_groups=20 "
                             "(repeatable; VALUE is JSON, or a plain string)")


FLAGS = {
    "model": "model", "knowledge": "data.knowledge", "people": "data.people", "mixing_ratio": "data.mixing_ratio",
    "rho": "data.subsample_rho", "tau": "data.ckm_tau", "tokenizer": "data.tokenizer", "seq_len": "data.seq_len",
    "batch_size": "batch_size", "tokens": "tokens", "lr": "optim.lr", "schedule": "schedule.kind",
    "warmup_steps": "schedule.warmup_steps", "eval_points": "eval.points", "eval_people": "eval.people",
    "seed": "seed", "population_seed": "data.population_seed", "precision": "precision", "compile": "compile", "init_from": "init_from",
}


def config_from_args(args):
    from empirical.config import TrainConfig

    if args.config is not None:
        try:
            data = json.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError("--config", str(args.config), f"not a JSON file: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError("--config", str(args.config), f"must hold a JSON object, found {type(data).__name__}")
        try:
            config = TrainConfig.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise UsageError("--config", str(args.config), str(exc)) from None
    else:
        config = TrainConfig()
    changes = {path: getattr(args, flag) for flag, path in FLAGS.items() if getattr(args, flag) is not None}
    overrides = apply_overrides(args.set, changes)
    try:
        return config.replace(**changes, **overrides) if changes or overrides else config
    except ValueError as exc:
        flags = " ".join([f"--{flag.replace('_', '-')} {show(str(getattr(args, flag)))}" for flag in FLAGS
                          if getattr(args, flag) is not None] + [f"--set {key}={value}" for key, value in args.set])
        raise UsageError(flags, None, str(exc)) from None


def apply_overrides(assignments, flags: dict | None = None) -> dict:
    """The ``--set KEY=VALUE`` pairs as TrainConfig.replace's dotted changes. A key given twice, or also
    by its own flag, is refused: the command line would otherwise say two things about one field."""
    overrides: dict = {}
    flags = flags or {}
    by_path = {path: flag for flag, path in FLAGS.items()}
    for key, value in assignments:
        if key in overrides:
            raise UsageError("--set", f"{key}={value}", f"{key} is already set by --set {key}={overrides[key]}")
        if key in flags:
            raise UsageError("--set", f"{key}={value}", f"cannot be combined with --{by_path[key].replace('_', '-')}, "
                             "which sets the same field")
        overrides[key] = value
    return overrides


def run(args) -> int:
    config = config_from_args(args)
    if args.dry_run:
        print(dumps({"run_id": config.run_id, "steps": config.steps, "eval_steps": config.eval_steps(),
                     "config": config.to_dict()}))
        return 0
    from empirical.results import json_data
    from empirical.train.loop import DivergedError, train

    def emit(_k, rows):
        for row in rows:  # null, not bare NaN, for a value that is not finite
            print(dumps(json_data(row)), flush=True)

    try:
        # replay_rows: a resumed run prints the rows its checkpoint holds first, so the output holds
        # every row of the run even when a killed predecessor never printed some of them.
        train(config, args.run_dir, device=args.device, progress=not args.no_progress and sys.stderr.isatty(),
              on_rows=emit, save_model=args.save_model, replay_rows=True)
    except DivergedError as error:
        print(f"python -m empirical train: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0
