"""``python -m empirical train``: train one model on a mixture and print its result rows as JSON lines.

    python -m empirical train --model tiny-50k --people 50 --mixing-ratio 1.0 --tokens 1000000
    python -m empirical train --config run.json --run-dir runs/a     # resumes if runs/a has a checkpoint
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from empirical.presets import PRESETS

    parser.add_argument("--config", type=Path, help="a TrainConfig as JSON (the flags below override it)")
    parser.add_argument("--model", help=f"model preset: {', '.join(PRESETS)}")
    parser.add_argument("--knowledge", help="synbio, synbio-powerlaw, slope or max")
    parser.add_argument("--people", type=int, help="people in the knowledge set")
    parser.add_argument("--mixing-ratio", type=float, help="share r of knowledge tokens, in [0, 1]")
    parser.add_argument("--rho", type=float, help="subsampling ratio in (0, 1]")
    parser.add_argument("--tau", type=float, help="compact knowledge mixing fraction")
    parser.add_argument("--tokenizer", help="pythia or bpe-<vocab>")
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--tokens", type=int, help="training budget in tokens")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--schedule", choices=["wsd", "cosine"])
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--eval-points", type=int, help="log-spaced evaluation points")
    parser.add_argument("--eval-people", type=int, help="people sampled for recall (0: all)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--precision", choices=["fp32", "bf16"])
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (GPU)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--run-dir", type=Path, help="checkpoint folder; an existing checkpoint is resumed")
    parser.add_argument("--save-model", action="store_true", help="save the final model in Hugging Face format")
    parser.add_argument("--dry-run", action="store_true", help="print the config and its run id, train nothing")
    parser.add_argument("--no-progress", action="store_true")


FLAGS = {
    "model": "model", "knowledge": "data.knowledge", "people": "data.people", "mixing_ratio": "data.mixing_ratio",
    "rho": "data.subsample_rho", "tau": "data.ckm_tau", "tokenizer": "data.tokenizer", "seq_len": "data.seq_len",
    "batch_size": "batch_size", "tokens": "tokens", "lr": "optim.lr", "schedule": "schedule.kind",
    "warmup_steps": "schedule.warmup_steps", "eval_points": "eval.points", "eval_people": "eval.people",
    "seed": "seed", "precision": "precision", "compile": "compile",
}


def config_from_args(args):
    from empirical.config import TrainConfig

    if args.config is not None:
        try:
            config = TrainConfig.from_json(args.config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read config {args.config}: {exc}") from None
    else:
        config = TrainConfig()
    changes = {path: getattr(args, flag) for flag, path in FLAGS.items() if getattr(args, flag) is not None}
    return config.replace(**changes) if changes else config


def run(args) -> int:
    config = config_from_args(args)
    if args.dry_run:
        print(json.dumps({"run_id": config.run_id, "steps": config.steps, "eval_steps": config.eval_steps(),
                          "config": config.to_dict()}))
        return 0
    from empirical.train import train

    def emit(_k, rows):
        for row in rows:
            print(json.dumps(row), flush=True)

    train(config, args.run_dir, device=args.device, progress=not args.no_progress and sys.stderr.isatty(),
          on_rows=emit, save_model=args.save_model)
    return 0
