"""Checkpoint files: written atomically and durably, read without running any code, set aside when damaged.

A checkpoint is a dict of plain data (tensors, lists, dicts, ints, floats, strings, None) saved with
``torch.save``. It is read with ``torch.load(weights_only=True)``: the unpickler then builds only
tensors and plain containers, so a crafted file cannot execute code; it is refused like any other
unreadable file (``CheckpointError``).

A checkpoint that cannot be read or does not belong (empty, truncated, random bytes, not a dict,
a directory, a step outside its run's budget) is never deleted: ``set_aside`` renames it to
``checkpoint.pt.damaged-<UTC time>`` next to where it was, and its run starts again from scratch.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from empirical.results import fsync_dir

CHECKPOINT = "checkpoint.pt"
KEYS = {"config": dict, "step": int, "model": dict, "optimizer": dict, "data": dict, "rows": list}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or holds something other than a run's checkpoint."""


def save_atomic(obj: dict, path: Path) -> None:
    """Write obj to path so that a kill or power cut leaves either the old file or the new one whole:
    the data is fsynced before the rename, and the folder after it (the rename itself is durable)."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def one_line(error: BaseException) -> str:
    """An exception as 'Type: first line of its message' (torch's messages run to many lines)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def load(path: Path, *, mmap: bool = False) -> dict:
    """The checkpoint at path (on the CPU), checked for the keys a run writes; CheckpointError otherwise.

    mmap: map the tensors' storage instead of reading it (the header alone is read; for a quick look
    at the step)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # noqa: BLE001 - whatever a damaged file raises (the kinds vary with the damage)
        raise CheckpointError(f"{path}: not a readable checkpoint ({one_line(error)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: a checkpoint must hold a dict, found {type(state).__name__}")
    for key, kind in KEYS.items():
        if not isinstance(state.get(key), kind) or (kind is int and isinstance(state[key], bool)):
            raise CheckpointError(f"{path}: checkpoint key {key!r} must be a {kind.__name__}, "
                                  f"found {type(state.get(key)).__name__}")
    return state


def check_step(path: Path, state: dict, steps: int) -> None:
    """A checkpoint's step must lie in [0, steps] (steps: its run's budget); a later one is foreign."""
    if not 0 <= state["step"] <= steps:
        raise CheckpointError(f"{path}: checkpoint step {state['step']} lies outside the run's budget "
                              f"of {steps} steps")


def set_aside(path: Path, reason: str) -> Path:
    """Rename a damaged checkpoint (file or folder) out of the way, keeping it; warn in one line."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, target)
    fsync_dir(path.parent)
    # One line on stderr, not warnings.warn: its two-line format and once-per-place filter would
    # hide the second damaged file of a sweep.
    print(f"warning: {reason}; set aside as {target.name}, the run starts from scratch", file=sys.stderr, flush=True)
    return target


def load_or_set_aside(path: Path, steps: int, *, may_rename: bool = True) -> dict | None:
    """The run's checkpoint at path, or None when there is none or it was damaged (then set aside,
    or, when ``may_rename`` is False, e.g. on a rank other than 0, left for the rank that may)."""
    if not os.path.lexists(path):
        return None
    try:
        state = load(path)
        check_step(path, state, steps)
        return state
    except CheckpointError as error:
        if may_rename:
            try:
                set_aside(path, str(error))
            except FileNotFoundError:  # another process set it aside first
                pass
        return None
