"""Command-line entry point: ``python -m empirical COMMAND ...``.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
modules are imported lazily so that ``python -m empirical synbio`` does not pay for torch.
A ``ValueError`` (or an ``OSError``) from any command is a user error: one line on stderr, exit status 2,
in the form ``python -m empirical COMMAND: error: <flag or file> <value>: <what is allowed>``.
"""
from __future__ import annotations

import importlib
import sys

from capacity.cli_common import Parser, UsageError, parse_args, report

COMMANDS = {
    "synbio": ("empirical.synbio_cli", "print SynBio exposures (rendered biographies) as text or JSON lines"),
    "corpus": ("empirical.corpus_cli", "inspect the embedded web corpus and other corpora"),
    "train": ("empirical.train_cli", "train one GPT-NeoX model on a mixture and print result rows"),
    "sweep": ("empirical.sweep_cli", "run a named sweep of training runs into a results table"),
    "results": ("empirical.results_cli", "summarise a results table"),
    "popqa-eval": ("empirical.popqa_cli", "answer a PopQA-style question file with a local Hugging Face model, "
                   "writing the CSV of capacity popularity-threshold"),
}


PROG = "python -m empirical"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        # Import only the module of the command asked for: the others may pull in torch.
        if argv and argv[0] == name:
            try:
                chosen = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                return report(PROG, UsageError("COMMAND", name, "is not available in this version"))
            chosen.add_arguments(command_parser)
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.command is None:
        return report(PROG, UsageError("COMMAND", None, f"required: one of {', '.join(COMMANDS)}"))
    try:
        return int(chosen.run(args) or 0)
    except (ValueError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            return 0
        return report(f"{PROG} {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
