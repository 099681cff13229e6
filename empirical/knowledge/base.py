"""What every knowledge source shares: exposures as token ids, evaluation items, and the piece table
that makes generation a gather instead of tokenization.

A knowledge source (SynBio and its variants in ``empirical.knowledge.synbio``, the reasoning tasks in
``empirical.knowledge.tasks``) implements :class:`KnowledgeSource`. The mixer (``empirical.text.mixing``) asks it
for blocks of exposures and places them, whole, into training sequences.

Token-level generation: every fragment of text an exposure can contain (a name
part, an attribute value, the words of a template between its slots) is tokenized once; an exposure
is then a row of piece ids, and a batch of exposures is one vectorised gather from a flat pool of
token ids. Byte-level BPE decodes concatenatively, so decoding the gathered ids gives exactly the
concatenated text. Spaces before a slot belong to the slot's piece (" Howell", " August"), as the
GPT-2 pre-tokenizer splits words with their leading space; with such tokenizers the gathered ids
also equal the tokenization of the whole text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

EMPTY_PIECE = 0  # piece id of the empty string: pads rows of piece ids to a common width


@dataclass(frozen=True)
class Exposures:
    """A batch of exposures: ``tokens`` is their concatenation (each one ends with end-of-text).

    ``lengths[i]`` tokens belong to exposure i, which shows item ``items[i]`` (a person; for the
    reasoning tasks an instance code) in compact form if ``compact[i]`` (CKM, arXiv 2505.18091, Sec. 6).
    """

    tokens: np.ndarray  # (sum(lengths),) int32
    lengths: np.ndarray  # (count,) int64
    items: np.ndarray  # (count,) int64
    compact: np.ndarray  # (count,) bool

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def offsets(self) -> np.ndarray:
        """Start of each exposure in ``tokens``, shape (count + 1,)."""
        out = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=out[1:])
        return out

    def exposure(self, i: int) -> np.ndarray:
        start = int(self.lengths[:i].sum())
        return self.tokens[start:start + int(self.lengths[i])]


@dataclass(frozen=True)
class EvaluationItem:
    """One exact-match question (arXiv 2505.18091, setup: evaluation): greedy-decode ``len(target)``
    tokens after ``prompt``; correct iff they equal ``target``. Same fields as ``empirical.train.evaluate.EvalItem``."""

    prompt: list[int]
    target: list[int]
    attribute: str
    template: int
    person: int  # the item (person) index; for the reasoning tasks the held-out item's index
    prompt_text: str = ""
    target_text: str = ""  # the value as written, without its leading space


@runtime_checkable
class KnowledgeSource(Protocol):
    """The interface the mixer and the evaluator rely on.

    ``num_items`` is None for sources that generate fresh instances at every exposure (the reasoning
    tasks): they have no per-item exposure counts. ``item_probabilities`` (length ``num_items``) is
    the sampling distribution over items; sources with uniform probabilities over their support can
    be walked in shuffled passes (each item once per pass, the paper's replication of the set).
    """

    name: str
    eot_id: int
    attributes: tuple[str, ...]
    num_items: int | None

    @property
    def item_probabilities(self) -> np.ndarray | None: ...

    @property
    def bits_per_item(self) -> float | None: ...

    @property
    def expected_tokens_per_exposure(self) -> float: ...

    @property
    def max_tokens_per_exposure(self) -> int: ...

    def exposures(self, rng: np.random.Generator, items: np.ndarray) -> Exposures: ...

    def sample_exposures(self, rng: np.random.Generator, count: int) -> Exposures: ...

    def evaluation_items(self, items: Sequence[int] | None = None) -> list[EvaluationItem]: ...


# --- templates -------------------------------------------------------------------------------

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class TemplatePart:
    """A literal fragment, or a slot (``slot`` set) whose piece carries a leading space if ``spaced``."""

    text: str = ""
    slot: str | None = None
    spaced: bool = False


def split_template(template: str) -> list[TemplatePart]:
    """Split "{name}'s birth date is {value}." into literals and slots, moving each single space
    that precedes a slot into the slot (so " August" is one piece, as the GPT-2 pre-tokenizer splits)."""
    parts: list[TemplatePart] = []
    pos = 0
    for m in _SLOT.finditer(template):
        literal = template[pos:m.start()]
        spaced = literal.endswith(" ")
        if spaced:
            literal = literal[:-1]
        if literal:
            parts.append(TemplatePart(text=literal))
        parts.append(TemplatePart(slot=m.group(1), spaced=spaced))
        pos = m.end()
    if pos < len(template):
        parts.append(TemplatePart(text=template[pos:]))
    return parts


# --- the piece table -------------------------------------------------------------------------

@dataclass
class PieceTable:
    """Text fragments, each tokenized once, stored in one flat pool of token ids.

    Pieces are added as strings (``add``); ``add_special`` adds a piece that renders as "" in text
    and as one special token id (end-of-text) once tokenized. ``tokenize`` builds the pool; then
    ``gather`` turns a (B, K) array of piece ids into B concatenated token sequences, and
    ``render`` turns it into B strings without any tokenizer.
    """

    texts: list[str] = field(default_factory=lambda: [""])
    special: dict[int, str] = field(default_factory=dict)  # piece id -> name of the special token
    _index: dict[str, int] = field(default_factory=lambda: {"": EMPTY_PIECE})
    pool: np.ndarray | None = None
    start: np.ndarray | None = None
    length: np.ndarray | None = None
    text_length: np.ndarray | None = None

    def add(self, texts: Sequence[str]) -> np.ndarray:
        """Piece ids of ``texts`` (added if new), shape (len(texts),)."""
        if self.pool is not None:
            raise RuntimeError("add pieces before tokenize()")
        ids = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            j = self._index.get(text)
            if j is None:
                j = self._index[text] = len(self.texts)
                self.texts.append(text)
            ids[i] = j
        return ids

    def add_special(self, name: str) -> int:
        j = len(self.texts)
        self.texts.append("")
        self.special[j] = name
        return j

    def finish_text(self) -> None:
        """Freeze for text rendering (character lengths), with no tokenizer."""
        self.text_length = np.array([len(t) for t in self.texts], dtype=np.int64)

    def tokenize(self, tokenizer: Any, special_ids: dict[str, int]) -> None:
        """Tokenize every piece once with a ``tokenizers.Tokenizer``; check each decodes to itself.

        Raises ValueError if a piece does not round-trip (e.g. a normalizing or non-byte-level
        tokenizer), because generation at the token level would then not match the text.
        """
        self.finish_text()
        encodings = tokenizer.encode_batch(self.texts, add_special_tokens=False)
        ids = [list(e.ids) for e in encodings]
        for j, name in self.special.items():
            if name not in special_ids:
                raise ValueError(f"no token id given for the special piece {name!r}")
            ids[j] = [int(special_ids[name])]
        bad = [t for t, x in zip(self.texts, ids) if t and tokenizer.decode(x, skip_special_tokens=False) != t]
        if bad:
            raise ValueError(f"the tokenizer does not round-trip {len(bad)} text pieces (e.g. {bad[0]!r}); "
                             "token-level generation needs a byte-level BPE tokenizer without normalization")
        self.length = np.array([len(x) for x in ids], dtype=np.int64)
        self.start = np.zeros(len(ids), dtype=np.int64)
        np.cumsum(self.length[:-1], out=self.start[1:])
        self.pool = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(self.length.sum()))

    @property
    def tokenized(self) -> bool:
        return self.pool is not None

    def gather(self, piece_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated token ids of each row of ``piece_ids`` (B, K): (flat tokens, lengths (B,))."""
        lengths = self.length[piece_ids]  # (B, K)
        row_lengths = lengths.sum(axis=1)
        flat_lengths = lengths.ravel()
        total = int(row_lengths.sum())
        # token t of the output sits in piece k at offset t - out_start[k]: one repeat, one gather.
        out_start = np.cumsum(flat_lengths) - flat_lengths
        index = np.repeat(self.start[piece_ids].ravel() - out_start, flat_lengths)
        index += np.arange(total, dtype=np.int64)
        return self.pool[index], row_lengths

    def ids(self, piece_ids: Sequence[int]) -> list[int]:
        """Token ids of one row of pieces."""
        return [int(t) for p in piece_ids for t in self.pool[self.start[p]:self.start[p] + self.length[p]]]

    def render(self, piece_ids: np.ndarray) -> list[str]:
        """Text of each row of ``piece_ids`` (B, K); special pieces render as ""."""
        texts = self.texts
        return ["".join([texts[p] for p in row]) for row in piece_ids.tolist()]

    def token_lengths(self, piece_ids: np.ndarray) -> np.ndarray:
        return self.length[piece_ids].sum(axis=-1)


def eot_id_of(tokenizer: Any) -> int:
    """The end-of-text id of a ``tokenizers.Tokenizer`` ("<|endoftext|>", as GPT-2 and Pythia)."""
    for name in ("<|endoftext|>", "</s>", "<eos>"):
        token_id = tokenizer.token_to_id(name)
        if token_id is not None:
            return int(token_id)
    raise ValueError("the tokenizer has no end-of-text token (<|endoftext|>); pass eot_id explicitly")


def ragged_split(flat: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    """Split a flat array into lists of the given lengths."""
    bounds = np.cumsum(lengths)[:-1]
    return [x.tolist() for x in np.split(flat, bounds)]


def tokenize_pieces(pieces: PieceTable, tokenizer: Any | None, eot_id: int | None) -> int:
    """Tokenize a knowledge source's pieces once (``pieces.tokenize``), or keep them as text for
    ``render`` when there is no tokenizer; returns the end-of-text id (-1 without a tokenizer)."""
    if tokenizer is None:
        pieces.finish_text()
        return -1
    eot = eot_id_of(tokenizer) if eot_id is None else int(eot_id)
    pieces.tokenize(tokenizer, {"eot": eot})
    return eot


class LaidOutExposures:
    """Exposures of a source that lays each one out as a row of pieces: a subclass provides
    ``pieces`` (a PieceTable), ``layout(rng, items) -> (rows, compact)`` and ``sample_items(rng, count)``."""

    def exposures(self, rng: np.random.Generator, items: np.ndarray) -> Exposures:
        """One exposure of each of ``items`` as token ids (needs a tokenizer)."""
        if not self.pieces.tokenized:
            raise ValueError(f"token-level generation needs a tokenizer: construct {type(self).__name__} with one")
        rows, compact = self.layout(rng, items)
        tokens, lengths = self.pieces.gather(rows)
        return Exposures(tokens=tokens, lengths=lengths, items=np.asarray(items, dtype=np.int64), compact=compact)

    def sample_exposures(self, rng: np.random.Generator, count: int) -> Exposures:
        return self.exposures(rng, self.sample_items(rng, count))

    def render(self, rng: np.random.Generator, items: np.ndarray) -> list[str]:
        """Text of one exposure of each of ``items`` (the same draws as ``exposures`` with the same rng)."""
        rows, _ = self.layout(rng, items)
        return self.pieces.render(rows)
