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
    "synbio": ("empirical.cli.synbio", "print SynBio exposures (rendered biographies) as text or JSON lines"),
    "corpus": ("empirical.cli.corpus", "inspect the embedded web corpus and other corpora"),
    "train": ("empirical.cli.train", "train one GPT-NeoX model on a mixture and print result rows"),
    "sweep": ("empirical.cli.sweep", "run a named sweep of training runs into a results table"),
    "results": ("empirical.cli.results", "summarise a results table"),
    "popqa-eval": ("empirical.cli.popqa", "answer a PopQA-style question file with a local Hugging Face model, "
                   "writing the CSV of capacity popularity-threshold"),
}


PROG = "python -m empirical"


def build_parser(load=tuple(COMMANDS)) -> Parser:
    """The parser of every command, with the flags of the commands in ``load`` (their modules are
    imported: ``main`` loads only the one asked for, so that ``synbio`` does not pay for torch)."""
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name in load:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    name = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        parser = build_parser(() if name is None else (name,))
    except ModuleNotFoundError as exc:
        if exc.name != COMMANDS[name][0]:
            raise
        return report(PROG, UsageError("COMMAND", name, "is not available in this version"))
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.command is None:
        return report(PROG, UsageError("COMMAND", None, f"required: one of {', '.join(COMMANDS)}"))
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except (ValueError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            return 0
        return report(f"{PROG} {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
