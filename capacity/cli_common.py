"""One command-line convention for ``capacity``, ``python -m empirical`` and ``paper_repro.py``.

Every bad input exits with status 2 and prints one line on stderr::

    <program>[ <command>]: error: <flag or file> <value>: <what is allowed>

e.g. ``capacity predict: error: --params 1e-300: must be a number in [1, 1e15]``. The pieces here:

- :class:`UsageError`, a ``ValueError`` whose text is ``<flag or file> <value>: <what is allowed>``;
- :class:`Parser`, an ``argparse.ArgumentParser`` whose own errors (bad flag, missing value, invalid
  choice) come out in that one-line form instead of a usage dump, and which reads ``-1e-8`` as a
  number rather than as an unknown flag;
- typed argument parsers (:func:`number`, :func:`integer`, :func:`input_file`, :func:`output_file`,
  :func:`output_dir`) that check the range or the path at parse time, so the message names the flag;
- :func:`fail` and :func:`conflict` for checks made after parsing (a flag the call would ignore), and
  :func:`report`, which prints the line for any ``ValueError`` or ``OSError`` a command raises;
- :func:`parse_args`, so that every ``main(argv)`` returns its exit status rather than raising;
- :func:`dumps`, the one JSON writer of every ``--json``: strict JSON (a value that is not finite is
  ``null``, never a bare ``NaN``), and :func:`assignment` for the repeatable ``--set KEY=VALUE``;
- :func:`deprecated_alias`, for an old flag name that keeps working while its help points to the new one.

This module imports nothing beyond the standard library: ``capacity`` stays free of torch.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Callable, NoReturn

# A leading minus followed by a number (exponent, "inf" and "nan" included) is a value, not a flag.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


def show(value) -> str:
    """A value as the user typed it; quoted when empty or holding spaces, so the line stays unambiguous."""
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, str) and (not text or any(c.isspace() for c in text)):
        return repr(text)
    return text


class UsageError(ValueError):
    """A bad input: ``<subject> <value>: <allowed>``. Without a value, ``<subject>: <allowed>``."""

    def __init__(self, subject: str, value=None, allowed: str = "") -> None:
        self.subject, self.value, self.allowed = subject, value, allowed
        head = subject if value is None else f"{subject} {show(value)}"
        super().__init__(f"{head}: {allowed}" if allowed else head)


def error_line(prog: str, exc: BaseException) -> str:
    """The one line for an error raised while a command ran (a ValueError or an OSError)."""
    if isinstance(exc, OSError) and not isinstance(exc, UsageError):
        where = exc.filename if exc.filename is not None else "I/O"
        return f"{prog}: error: {show(str(where))}: {exc.strerror or exc}"
    text = " ".join(str(exc).split())  # a message that spans lines would break the one-line promise
    return f"{prog}: error: {text}"


def report(prog: str, exc: BaseException) -> int:
    """Print the one error line on stderr; returns the exit status 2."""
    print(error_line(prog, exc), file=sys.stderr)
    return 2


def fail(subject: str, value=None, allowed: str = "") -> NoReturn:
    """Refuse an input found bad after parsing (a conflict between flags, a value out of range)."""
    raise UsageError(subject, value, allowed)


def conflict(flag: str, value, other: str, why: str = "") -> NoReturn:
    """Two flags given together where one would be ignored: refuse rather than silently drop one."""
    raise UsageError(flag, value, f"cannot be combined with {other}" + (f" ({why})" if why else ""))


_TYPE_NAMES = {"int": "an integer", "float": "a number"}
# argparse's own messages, reworded into "<flag> <value>: <allowed>".
_REWORDS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"argument (?P<flag>\S+): invalid choice: '?(?P<value>.*?)'? \(choose from (?P<choices>.*)\)$", re.S),
     lambda m: f"{m['flag']} {show(m['value'])}: must be one of {m['choices'].replace(chr(39), '')}"),
    (re.compile(r"argument (?P<flag>\S+): invalid (?P<type>\w+) value: '?(?P<value>.*?)'?$", re.S),
     lambda m: f"{m['flag']} {show(m['value'])}: must be {_TYPE_NAMES.get(m['type'], 'a valid ' + m['type'])}"),
    (re.compile(r"argument (?P<flag>\S+): expected (?P<what>.*) arguments?$"),
     lambda m: f"{m['flag']}: needs {m['what']} value{'s' if m['what'] != 'one' else ''}"),
    (re.compile(r"argument (?P<flag>\S+): not allowed with argument (?P<other>\S+)$"),
     lambda m: f"{m['flag']}: cannot be combined with {m['other']}"),
    (re.compile(r"argument (?P<flag>\S+): ignored explicit argument '?(?P<value>.*?)'?$"),
     lambda m: f"{m['flag']} {show(m['value'])}: this flag takes no value"),
    (re.compile(r"argument (?P<flag>\S+): (?P<rest>.*)$", re.S), lambda m: f"{m['flag']} {m['rest']}"),
    (re.compile(r"the following arguments are required: (?P<flags>.*)$"), lambda m: f"{m['flags']}: required"),
    (re.compile(r"one of the arguments (?P<flags>.*) is required$"), lambda m: f"{m['flags']}: one of them is required"),
    (re.compile(r"unrecognized arguments: (?P<args>.*)$"),
     lambda m: f"{m['args']}: not an argument of this command (see --help)"),
    (re.compile(r"ambiguous option: (?P<flag>\S+) could match (?P<matches>.*)$"),
     lambda m: f"{m['flag']}: ambiguous, could be {m['matches']}"),
]


def _longest_flag(match_text: str) -> str:
    """argparse names an option by all its strings ("-o/--out"); the long one reads best."""
    return max(match_text.split("/"), key=len) if "/" in match_text and match_text.startswith("-") else match_text


def reword(message: str) -> str:
    """argparse's error message in the convention's ``<flag> <value>: <allowed>`` form."""
    message = re.sub(r"^argument (\S+):", lambda m: f"argument {_longest_flag(m[1])}:", message)
    for pattern, build in _REWORDS:
        match = pattern.match(message)
        if match:
            return build(match)
    return message


class Parser(argparse.ArgumentParser):
    """argparse with the convention: a usage error is one line and exit status 2; negative numbers
    (``--frequency -1e-8``) are values, so the message can be about the range. Subcommand parsers
    made with ``add_subparsers`` are of this class too."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:  # noqa: D102 - argparse API
        line = " ".join(reword(message).split())
        self.exit(2, f"{self.prog}: error: {line}\n")

    def parse_args(self, args=None, namespace=None):  # noqa: D102 - argparse API
        # argparse reports a subcommand's unknown flag as the top-level program's; name the command.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            line = " ".join(reword("unrecognized arguments: " + " ".join(extras)).split())
            self.exit(2, f"{prog}: error: {line}\n")
        return parsed


def parse_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace | int:
    """``parser.parse_args(argv)``, or the exit status where argparse would exit (2 after its one-line
    error, 0 after --help), so that ``main(argv)`` returns a status instead of raising SystemExit."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


def checked(flag: str, parse: Callable[[str], object], text: str):
    """Apply a typed argument parser to a value that did not come through argparse (a default path
    built from other flags), with the same one-line refusal."""
    try:
        return parse(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{flag} {exc}") from None


def finite_or_none(value):
    """``value`` with every float that is not finite replaced by None, through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def dumps(value, **kwargs) -> str:
    """Strict JSON for a command's data output: NaN and infinities become null (``json.dumps`` would
    write the bare ``NaN`` that other JSON readers refuse), and anything else unserialisable raises."""
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)


def deprecated_alias(new_flag: str) -> str:
    """Help text of an old flag name kept so that documented commands still run."""
    return f"deprecated alias of {new_flag}"


# --- typed argument parsers (argparse ``type=``) ------------------------------------------------------

def assignment(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--set``: a dotted key and a JSON value (``20``, ``0.5``, ``true``, ``"x"``);
    a value that is not JSON is taken as a string, so ``--set model=tiny-100k`` needs no quotes."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part.isidentifier() for part in key.split(".")):
        raise argparse.ArgumentTypeError(f"{show(text)}: must be KEY=VALUE with a dotted key, e.g. data.people=200")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{show(text)}: the value must be finite")
    return key, value


def fmt_number(x) -> str:
    """A number as a user would type it: 1e9 and 1e15 (not 1e+09), 4294967295 and 160000000 in full,
    0.05 and 1e-8 short."""
    if float(x).is_integer() and abs(x) < 1e12:
        digits = str(int(x))
        zeros = len(digits) - len(digits.rstrip("0"))
        return f"{digits[:-zeros]}e{zeros}" if zeros >= 6 and len(digits) - zeros == 1 else digits
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{x:g}")


def allowed_range(low=None, high=None, *, low_open=False, high_open=False, integer=False) -> str:
    """'must be a number in (0, 1]', 'must be an integer >= 1', ...: the allowed part of the line."""
    what = "an integer" if integer else "a number"
    if low is not None and high is not None:
        return f"must be {what} in {'(' if low_open else '['}{fmt_number(low)}, {fmt_number(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"must be {what} {'>' if low_open else '>='} {fmt_number(low)}"
    if high is not None:
        return f"must be {what} {'<' if high_open else '<='} {fmt_number(high)}"
    return f"must be {what}" if integer else "must be a finite number"


def check_number(value, low=None, high=None, *, low_open=False, high_open=False, integer=False) -> str | None:
    """None if ``value`` is a finite number (bool excluded) in the interval, else what is allowed."""
    allowed = allowed_range(low, high, low_open=low_open, high_open=high_open, integer=integer)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return allowed
    if integer and not float(value).is_integer():
        return allowed
    if low is not None and (value < low or (low_open and value == low)):
        return allowed
    if high is not None and (value > high or (high_open and value == high)):
        return allowed
    return None


def number(low=None, high=None, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A finite float in the interval (open or closed at each end; None: unbounded)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        problem = check_number(value, low, high, low_open=low_open, high_open=high_open)
        if problem:
            raise argparse.ArgumentTypeError(f"{show(text)}: {problem}")
        return value

    parse.__name__ = "number"
    return parse


def integer(low=None, high=None) -> Callable[[str], int]:
    """An integer in [low, high]; ``1e6`` is accepted as 1000000, so big sizes read naturally."""

    def parse(text: str) -> int:
        try:
            value: float = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                value = math.nan
        problem = check_number(value, low, high, integer=True)
        if problem:
            raise argparse.ArgumentTypeError(f"{show(text)}: {problem}")
        return int(value)

    parse.__name__ = "integer"
    return parse


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32 - 1] (what numpy's and torch's generators accept alike)."""
    return integer(0, 2**32 - 1)(text)


def choice(options) -> Callable[[str], str]:
    """One of ``options`` (a ``type=`` for free-text flags whose values come from a constant)."""
    options = tuple(options)

    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(f"{show(text)}: must be one of {', '.join(options)}")
        return text

    parse.__name__ = "choice"
    return parse


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def input_file(text: str) -> Path:
    """An existing, readable regular file."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError(f"{show(text)}: must be a file path, not empty")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{show(text)}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{show(text)}: is {'a directory' if path.is_dir() else 'not a regular file'}, "
                                         "expected a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{show(text)}: not readable (permission denied)")
    return path


def _creatable(text: str, path: Path, kind: str) -> None:
    """Refuse a path whose nearest existing ancestor is not a writable folder (so it cannot be made)."""
    base = _nearest_existing(path)
    if base != path.absolute():
        if not base.is_dir():
            raise argparse.ArgumentTypeError(f"{show(text)}: cannot create this {kind}: {base} is a file")
        if not os.access(base, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{show(text)}: cannot create this {kind}: {base} is not writable")


def output_file(text: str) -> Path:
    """A file to append to or create: not empty, not a folder, readable and writable if it exists,
    creatable if not."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError(f"{show(text)}: must be a file path, not empty")
    if path.exists():
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{show(text)}: is {'a directory' if path.is_dir() else 'not a regular file'}, "
                                             "expected a file")
        if not os.access(path, os.R_OK | os.W_OK):
            raise argparse.ArgumentTypeError(f"{show(text)}: must be readable and writable (permission denied)")
        return path
    _creatable(text, path, "file")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: not empty (which would mean the current folder), not a file, writable."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError(f"{show(text)}: must be a folder path, not empty "
                                         "(name the current folder '.' explicitly)")
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{show(text)}: is a file, expected a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{show(text)}: folder is not writable (permission denied)")
        return path
    _creatable(text, path, "folder")
    return path
