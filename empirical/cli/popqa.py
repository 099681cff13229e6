"""``python -m empirical popqa-eval``: answer a PopQA-style question file with a local Hugging Face causal
LM and write model,params,popularity,correct rows for ``capacity popularity-threshold``
(arXiv 2505.18091, Section 5). The question file's schema is in ``empirical.model.popqa``.

    python -m empirical popqa-eval --model-dir pythia-160m/ --questions popqa.jsonl --out family.csv
    python -m empirical popqa-eval --model-dir pythia-410m/ --questions popqa.jsonl --out family.csv --append
    capacity popularity-threshold family.csv
"""
from __future__ import annotations

import argparse
import sys

from capacity.cli_common import dumps, input_file, integer, number, output_file

DTYPES = ("float32", "bfloat16", "float16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, help="a local Hugging Face causal-LM folder (config.json, weights)")
    parser.add_argument("--questions", type=input_file, required=True, help="question file (JSON Lines)")
    parser.add_argument("--out", type=output_file, required=True, help="CSV to write (model,params,popularity,correct,id)")
    parser.add_argument("--append", action="store_true", help="add this model's rows to an existing --out")
    parser.add_argument("--model-name", help="the model column (default: the folder's name)")
    parser.add_argument("--params", type=number(1, 1e15), help="model size for the params column "
                        "(default: the loaded model's total parameter count)")
    parser.add_argument("--tokenizer", help="pythia, bpe-<vocab> or a tokenizer.json, when the folder has no tokenizer")
    parser.add_argument("--prefix-file", type=input_file, help="text put before every prompt (e.g. few-shot examples)")
    parser.add_argument("--max-new-tokens", type=integer(1, 4096), default=24,
                        help="tokens generated for 'contains' questions (default 24)")
    parser.add_argument("--batch-size", type=integer(1, 4096), default=16, help="prompts per generation batch (default 16)")
    parser.add_argument("--device", type=_device, default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help=f"weights' precision while answering: {', '.join(DTYPES)} (default float32)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as strict JSON (the default and only format: accepted for the "
                             "shared convention)")


def _device(text: str) -> str:
    from empirical.cli.train import device_arg

    return device_arg(text)


def run(args) -> int:
    from pathlib import Path

    import torch

    from empirical.model.popqa import check_out, count_parameters, evaluate_questions, load_model, load_questions, write_rows

    # Refuse a bad question file or output before paying for the model.
    questions = load_questions(args.questions)
    name = args.model_name or Path(args.model_dir).resolve().name
    check_out(args.out, name, append=args.append)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    prefix = Path(args.prefix_file).read_text(encoding="utf-8") if args.prefix_file else ""
    model, tokenizer = load_model(args.model_dir, args.tokenizer, device, args.dtype)
    params = args.params if args.params is not None else count_parameters(model)
    scored = evaluate_questions(model, tokenizer, questions, prefix=prefix, max_new_tokens=args.max_new_tokens,
                                batch_size=args.batch_size)
    written = write_rows(args.out, name, params, scored, append=args.append)
    correct = sum(ok for _, _, ok in scored)
    print(dumps({"model": name, "params": params, "questions": written, "correct": correct,
                      "accuracy": correct / written, "out": str(args.out)}), file=sys.stdout)
    return 0
