"""Which code produced a row: the package version, and the git commit when the package runs from its
own git checkout.

The commit is looked up once per process (rows of one process come from one code version), and only
when the folder holding ``empirical/`` is the top level of a git work tree whose ``pyproject.toml``
names this package: an installed copy that happens to sit inside someone else's repository must not
record that repository's commit. git runs with optional locks off, so reading the status never takes
the work tree's ``.git/index.lock`` (which would make a concurrent ``git commit`` fail).
"""
from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

PACKAGE = "phasemix"
UNKNOWN = "unknown"


@functools.cache
def package_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(PACKAGE)
    except (ImportError, PackageNotFoundError):  # running from a source tree that is not installed
        return UNKNOWN


def _is_our_checkout(root: Path) -> bool:
    """Whether root holds this package's pyproject.toml (project name phasemix)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return f'name = "{PACKAGE}"' in _read(root / "pyproject.toml")
    try:
        return tomllib.loads(_read(root / "pyproject.toml")).get("project", {}).get("name") == PACKAGE
    except tomllib.TOMLDecodeError:
        return False


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(["git", "--no-optional-locks", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=10)


def commit_of(root: Path) -> str | None:
    """The commit of the checkout whose top level is root ('+dirty' with uncommitted changes to tracked
    files), or None when root is not such a checkout of this package."""
    root = root.resolve()
    if not _is_our_checkout(root):
        return None
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root:
            return None
        commit = _git(root, "rev-parse", "HEAD")
        if commit.returncode != 0:
            return None
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty else "")


@functools.cache
def git_commit() -> str:
    """This package's commit when it runs from its own git checkout, else 'unknown' (once per process)."""
    return commit_of(Path(__file__).resolve().parents[2]) or UNKNOWN


def provenance() -> dict[str, str]:
    return {"package_version": package_version(), "git_commit": git_commit()}
