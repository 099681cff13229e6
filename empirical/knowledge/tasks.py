"""The two reasoning tasks of arXiv 2505.18091, Sec. 3.3, as knowledge sources generated at the token level.

* Slope: the slope of the line through two points with integer coordinates 0-99 (distinct x), the
  answer written as a reduced fraction ("-3/4", "2", "0").
* Max-over-N: the maximum of N = 30 integers in 0-99.

Each exposure draws a fresh instance and one of five question/answer templates. A seeded set of
held-out instances is the evaluation set, and training never generates one of them (for the slope
task neither order of the two points). Instances have no identity across exposures, so these
sources have ``num_items = None`` and no stored-bits estimate (``bits_per_item = None``);
``Exposures.items`` holds each instance's code (slope) or a 63-bit hash of it (max).
"""
from __future__ import annotations

import math
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from empirical.config import TASK_KINDS
from empirical.knowledge.base import (EMPTY_PIECE, EvaluationItem, Exposures,
                                 PieceTable, ragged_split, split_template, tokenize_pieces)

SLOPE_TEMPLATES = (
    "What is the slope of the line through ({x1}, {y1}) and ({x2}, {y2})? Answer: {answer}",
    "Find the slope of the line passing through the points ({x1}, {y1}) and ({x2}, {y2}). The slope is {answer}.",
    "A line goes through ({x1}, {y1}) and ({x2}, {y2}). Its slope is {answer}.",
    "Q: What is the slope of the line joining ({x1}, {y1}) and ({x2}, {y2})? A: {answer}",
    "Compute the slope m of the line through the points ({x1}, {y1}) and ({x2}, {y2}). m = {answer}",
)
MAX_TEMPLATES = (
    "What is the largest of the numbers {numbers}? Answer: {answer}",
    "Find the maximum of {numbers}. The maximum is {answer}.",
    "Numbers: {numbers}. Largest: {answer}",
    "Q: Which is the biggest number in the list {numbers}? A: {answer}",
    "Given the list [{numbers}], its maximum is {answer}.",
)
TASKS = TASK_KINDS


def reduced_slope(x1: int, y1: int, x2: int, y2: int) -> str:
    """The slope (y2 - y1) / (x2 - x1) as a reduced fraction, sign on the numerator."""
    if x1 == x2:
        raise ValueError(f"the line through ({x1}, {y1}) and ({x2}, {y2}) is vertical: no slope")
    num, den = y2 - y1, x2 - x1
    if den < 0:
        num, den = -num, -den
    g = math.gcd(num, den)
    num, den = num // g, den // g
    return str(num) if den == 1 else f"{num}/{den}"


class _TemplateTask:
    """Shared machinery: instances as integer arrays, templates compiled to piece columns.

    Subclasses define ``slots(values) -> {slot: piece ids (B,) or (B, k)}``, ``_draw(rng, count)``
    (instances, shape (count, width)), ``_codes(instances)`` and ``answer_text(instance)``.
    """

    name = ""
    templates: tuple[str, ...] = ()
    num_items = None
    item_probabilities = None
    bits_per_item = None

    def __init__(self, tokenizer: Any | None, eot_id: int | None, seed: int, eval_items: int):
        if eval_items < 1:
            raise ValueError(f"eval_items must be >= 1, got {eval_items!r}")
        self.attributes = (self.name,)
        self.seed = seed
        self.pieces = PieceTable()
        self._build_pieces()
        self.eot_piece = self.pieces.add_special("eot")
        self._compile()
        self.eot_id = tokenize_pieces(self.pieces, tokenizer, eot_id)
        self.held_out = self._draw_held_out(eval_items)  # (E, width)
        self.held_out_codes = np.unique(np.concatenate([self._codes(self.held_out), self._equivalent_codes(self.held_out)]))

    # --- compiled templates -------------------------------------------------------------------

    def _compile(self) -> None:
        """Each template as a list of columns: ("lit", piece) or ("slot", name, spaced)."""
        self.compiled = []
        for template in self.templates:
            parts = split_template(template)
            if parts[-1].slot != "answer" and not (parts[-2].slot == "answer" and parts[-1].slot is None):
                raise ValueError(f"the answer must be the template's last slot: {template!r}")
            cols = [("lit", self.pieces.add([p.text])[0]) if p.slot is None else ("slot", p.slot, p.spaced)
                    for p in parts]
            self.compiled.append(cols)

    def _slot_width(self, slot: str) -> int:
        return 1

    @cached_property
    def width(self) -> int:
        return max(sum(1 if c[0] == "lit" else self._slot_width(c[1]) for c in cols) for cols in self.compiled) + 1

    def layout(self, instances: np.ndarray, template: np.ndarray, *, upto_answer: bool = False) -> np.ndarray:
        """Piece ids (B, width) of the given instances and templates, end-of-text last; with
        ``upto_answer``, only the prompt (everything before the answer)."""
        B = instances.shape[0]
        out = np.full((B, self.width), EMPTY_PIECE, dtype=np.int64)
        for t, cols in enumerate(self.compiled):
            rows = np.flatnonzero(template == t)
            if rows.size == 0:
                continue
            values = instances[rows]
            j = 0
            for col in cols:
                if col[0] == "slot" and col[1] == "answer" and upto_answer:
                    break
                if col[0] == "lit":
                    out[rows, j] = col[1]
                    j += 1
                else:
                    pieces = self._slot_pieces(col[1], col[2], values)
                    pieces = pieces.reshape(rows.size, -1)
                    out[rows, j:j + pieces.shape[1]] = pieces
                    j += pieces.shape[1]
            if not upto_answer:
                out[rows, j] = self.eot_piece
        return out

    def _after_answer(self, cols: list) -> int:
        """The piece that follows a template's answer: its literal, or end-of-text."""
        end = [i for i, c in enumerate(cols) if c[0] == "slot" and c[1] == "answer"][0] + 1
        return cols[end][1] if end < len(cols) else self.eot_piece

    def _answer_pieces(self, instances: np.ndarray) -> np.ndarray:
        return self._slot_pieces("answer", True, instances)

    # --- sampling -----------------------------------------------------------------------------

    def _draw_training(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` fresh instances, none of them held out (rejected rows are redrawn)."""
        out = self._draw(rng, count)
        bad = np.isin(self._codes(out), self.held_out_codes)
        while bad.any():
            out[bad] = self._draw(rng, int(bad.sum()))
            bad[bad] = np.isin(self._codes(out[bad]), self.held_out_codes)
        return out

    def _draw_held_out(self, count: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7]))
        chosen, codes = [], set()
        while len(chosen) < count:
            batch = self._draw(rng, 2 * count)
            for row, code, twin in zip(batch, self._codes(batch), self._equivalent_codes(batch)):
                if int(code) not in codes and int(twin) not in codes and len(chosen) < count:
                    chosen.append(row)
                    codes.update((int(code), int(twin)))
            if len(codes) >= self.instance_space:
                raise ValueError(f"eval_items={count} exceeds the task's instances ({self.instance_space})")
        return np.stack(chosen)

    def _equivalent_codes(self, instances: np.ndarray) -> np.ndarray:
        return self._codes(instances)

    def sample_layout(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        instances = self._draw_training(rng, count)
        template = rng.integers(0, len(self.templates), size=count)
        return self.layout(instances, template), instances

    def sample_exposures(self, rng: np.random.Generator, count: int) -> Exposures:
        if not self.pieces.tokenized:
            raise ValueError(f"token-level generation needs a tokenizer: construct the {self.name} task with one")
        rows, instances = self.sample_layout(rng, count)
        tokens, lengths = self.pieces.gather(rows)
        return Exposures(tokens=tokens, lengths=lengths, items=self._codes(instances), compact=np.zeros(count, bool))

    def exposures(self, rng: np.random.Generator, items: np.ndarray) -> Exposures:
        return self.sample_exposures(rng, int(np.asarray(items).shape[0]))

    def render_samples(self, rng: np.random.Generator, count: int) -> list[str]:
        """Text of ``count`` fresh exposures (the same draws as ``sample_exposures`` with that rng)."""
        rows, _ = self.sample_layout(rng, count)
        return self.pieces.render(rows)

    # --- statistics ---------------------------------------------------------------------------

    def _lengths(self) -> np.ndarray:
        return self.pieces.length if self.pieces.tokenized else self.pieces.text_length

    @cached_property
    def expected_tokens_per_exposure(self) -> float:
        """Mean tokens per exposure, estimated from 20,000 exposures at a fixed seed (an estimate,
        unlike SynBio's exact value: the answer's length depends on the instance)."""
        rows, _ = self.sample_layout(np.random.default_rng(12345), 20_000)
        return float(self._lengths()[rows].sum(axis=1).mean())

    @cached_property
    def max_tokens_per_exposure(self) -> int:
        """Upper bound: every slot at its longest piece, for the longest template."""
        n = self._lengths()
        best = 0
        for cols in self.compiled:
            total = n[self.eot_piece]
            for col in cols:
                total += n[col[1]] if col[0] == "lit" else self._slot_width(col[1]) * n[self._slot_table(col[1], col[2])].max()
            best = max(best, int(total))
        return best

    # --- evaluation ---------------------------------------------------------------------------

    def evaluation_items(self, items: Sequence[int] | None = None) -> list[EvaluationItem]:
        """Each held-out instance (``items``: their indices, default all) with every template."""
        if not self.pieces.tokenized:
            raise ValueError(f"evaluation items need a tokenizer: construct the {self.name} task with one")
        index = np.arange(self.held_out.shape[0]) if items is None else np.asarray(items, dtype=np.int64)
        T = len(self.templates)
        which = np.repeat(index, T)
        template = np.tile(np.arange(T), index.shape[0])
        instances = self.held_out[which]
        prompt_rows = self.layout(instances, template, upto_answer=True)
        answer_rows = self._answer_pieces(instances).reshape(-1, 1)
        # The target ends with what follows the answer (end-of-text or the template's "."): the final
        # answer must match exactly, and " 2" alone is a prefix of " 2/3" (digits are tokens).
        after = np.array([self._after_answer(cols) for cols in self.compiled], dtype=np.int64)[template]
        target_rows = np.concatenate([answer_rows, after[:, None]], axis=1)
        prompts = ragged_split(*self.pieces.gather(prompt_rows))
        targets = ragged_split(*self.pieces.gather(target_rows))
        prompt_texts = self.pieces.render(prompt_rows)
        target_texts = self.pieces.render(answer_rows)
        return [EvaluationItem(prompt=prompts[k], target=targets[k], attribute=self.name, template=int(template[k]),
                               person=int(which[k]), prompt_text=prompt_texts[k], target_text=target_texts[k][1:])
                for k in range(which.shape[0])]


class SlopeTask(_TemplateTask):
    """Slope of the line through (x1, y1) and (x2, y2), coordinates 0..max_value, x1 != x2."""

    name = "slope"
    templates = SLOPE_TEMPLATES

    def __init__(self, tokenizer: Any | None = None, eot_id: int | None = None, *, seed: int = 0,
                 eval_items: int = 1000, max_value: int = 99):
        if not 1 <= max_value <= 9999:
            raise ValueError(f"max_value must be in [1, 9999], got {max_value!r}")
        self.max_value = max_value
        C = max_value + 1
        self.instance_space = C * C * C * (C - 1)
        super().__init__(tokenizer, eot_id, seed, eval_items)

    def _build_pieces(self) -> None:
        C, pt = self.max_value + 1, self.pieces
        self.number_bare = pt.add([str(v) for v in range(C)])
        self.number_spaced = pt.add([f" {v}" for v in range(C)])
        # Answers indexed by (dy + max_value, dx) for dx in 1..max_value (dx > 0 after orienting).
        self.answer_table = np.zeros((2 * C - 1, C), dtype=np.int64)
        for dy in range(-self.max_value, C):
            row = [" " + reduced_slope(0, 0, dx, dy) for dx in range(1, C)]
            self.answer_table[dy + self.max_value, 1:] = pt.add(row)

    def _slot_table(self, slot: str, spaced: bool) -> np.ndarray:
        if slot == "answer":
            return self.answer_table[:, 1:].ravel()
        return self.number_spaced if spaced else self.number_bare

    def _slot_pieces(self, slot: str, spaced: bool, values: np.ndarray) -> np.ndarray:
        if slot == "answer":
            dx, dy = values[:, 2] - values[:, 0], values[:, 3] - values[:, 1]
            sign = np.sign(dx)
            return self.answer_table[dy * sign + self.max_value, dx * sign]
        column = ("x1", "y1", "x2", "y2").index(slot)
        return (self.number_spaced if spaced else self.number_bare)[values[:, column]]

    def _draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        out = rng.integers(0, self.max_value + 1, size=(count, 4))
        vertical = out[:, 0] == out[:, 2]
        while vertical.any():
            out[vertical, 2] = rng.integers(0, self.max_value + 1, size=int(vertical.sum()))
            vertical = out[:, 0] == out[:, 2]
        return out

    def _codes(self, instances: np.ndarray) -> np.ndarray:
        C = self.max_value + 1
        x1, y1, x2, y2 = instances.T.astype(np.int64)
        return ((x1 * C + y1) * C + x2) * C + y2

    def _equivalent_codes(self, instances: np.ndarray) -> np.ndarray:
        """The same two points in the other order: the same question, held out with it."""
        return self._codes(instances[:, [2, 3, 0, 1]])

    def answer_text(self, instance: Sequence[int]) -> str:
        return reduced_slope(*(int(v) for v in instance))


class MaxTask(_TemplateTask):
    """Maximum of ``count`` integers in 0..max_value (the paper: 30 integers in 0-99)."""

    name = "max"
    templates = MAX_TEMPLATES

    def __init__(self, tokenizer: Any | None = None, eot_id: int | None = None, *, seed: int = 0,
                 eval_items: int = 1000, count: int = 30, max_value: int = 99):
        if not 1 <= count <= 1000:
            raise ValueError(f"count must be in [1, 1000], got {count!r}")
        if not 1 <= max_value <= 9999:
            raise ValueError(f"max_value must be in [1, 9999], got {max_value!r}")
        self.count, self.max_value = count, max_value
        self.instance_space = (max_value + 1) ** count
        rng = np.random.default_rng(np.random.SeedSequence([seed, 8]))
        self._hash_weights = rng.integers(1, 2**62, size=count, dtype=np.int64).astype(np.uint64) | np.uint64(1)
        super().__init__(tokenizer, eot_id, seed, eval_items)

    def _build_pieces(self) -> None:
        C, pt = self.max_value + 1, self.pieces
        self.number_bare = pt.add([str(v) for v in range(C)])
        self.number_spaced = pt.add([f" {v}" for v in range(C)])
        self.number_comma = pt.add([f", {v}" for v in range(C)])

    def _slot_width(self, slot: str) -> int:
        return self.count if slot == "numbers" else 1

    def _slot_table(self, slot: str, spaced: bool) -> np.ndarray:
        return np.concatenate([self.number_spaced, self.number_bare, self.number_comma])

    def _slot_pieces(self, slot: str, spaced: bool, values: np.ndarray) -> np.ndarray:
        if slot == "answer":
            return self.number_spaced[values.max(axis=1)]
        out = self.number_comma[values]  # (B, count): ", 5" after the first number
        out[:, 0] = (self.number_spaced if spaced else self.number_bare)[values[:, 0]]
        return out

    def _draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return rng.integers(0, self.max_value + 1, size=(count, self.count))

    def _codes(self, instances: np.ndarray) -> np.ndarray:
        """A 63-bit hash (exact code when the instances fit in 62 bits): equal lists, equal codes."""
        if self.instance_space < 2**62:
            C = self.max_value + 1
            weights = C ** np.arange(self.count - 1, -1, -1, dtype=np.int64)
            return instances.astype(np.int64) @ weights
        with np.errstate(over="ignore"):
            h = (instances.astype(np.uint64) + np.uint64(1)) * self._hash_weights
            h = np.bitwise_xor.reduce(h * np.uint64(0x9E3779B97F4A7C15) >> np.uint64(7), axis=1) + h.sum(axis=1)
        return (h >> np.uint64(1)).astype(np.int64)

    def answer_text(self, instance: Sequence[int]) -> str:
        return str(max(int(v) for v in instance))


def make_task(name: str, tokenizer: Any | None = None, eot_id: int | None = None, **kwargs) -> _TemplateTask:
    """The reasoning task called ``name`` ("slope" or "max")."""
    if name == "slope":
        return SlopeTask(tokenizer, eot_id, **kwargs)
    if name == "max":
        return MaxTask(tokenizer, eot_id, **kwargs)
    raise ValueError(f"unknown task {name!r}: choose one of {TASKS}")
