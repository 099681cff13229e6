"""Token-level data mixing (arXiv 2505.18091, setup: "data mixing") and exposure accounting (Sec. 4).

``MixedStream`` yields batches of fixed-length sequences, (batch_size, seq_len) int32 arrays, in
which a fraction r (the mixing ratio) of the tokens are knowledge exposures and 1 - r web text.

Packing rule (error feedback, deterministic). Let D = K - r (K + W), with K and W the knowledge and
web tokens emitted so far. At each document boundary of the sequence being filled:

* if D < 0 (or r = 1), the next knowledge exposure goes in whole if it fits; exposures are never
  cut across sequences. If it does not fit in the R tokens left, the tail is filled with web text
  when that keeps D - r R >= -r (T + L_max), and with ``pad_id`` otherwise; the exposure opens the
  next sequence. Padding is needed only when r > 1 - L_max / T, where web tails alone would pull
  the share below r (always at r = 1, which has no web text);
* otherwise (D >= 0) web text runs to the end of its document (end-of-text included) or of the
  sequence, whichever comes first; a web document cut by a sequence end continues later.

So D stays in [-r (T + L_max), (1 - r) L_max) (T = seq_len, L_max the longest exposure), hence
over any window of the stream holding C content (non-pad) tokens, the knowledge share differs from
r by less than (r T + L_max) / C: exact in the long run, and for T = 256, L_max = 140, r = 0.3,
within 0.22% over any 100,000 tokens (``window_tolerance``).

Which exposures: the knowledge source is consumed in blocks of ``block_exposures`` exposures. Block
b is a pure function of (seed, b): sources with uniform item probabilities (SynBio, subsampled or
not) are walked in shuffled passes, each trained item once per pass, pass e a seeded permutation
(the paper replicates the knowledge set and shuffles); other sources (power-law SynBio, the tasks)
sample items independently. The stream's whole state is therefore a few counters and positions
(``state_dict``), and resuming from it yields exactly the batches of an uninterrupted stream.
Web text is read in order from ``web_start``, wrapping around (``web_epochs`` counts the wraps).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from empirical.knowledge.base import Exposures, KnowledgeSource

STATE_VERSION = 1
ITEM_ORDERS = ("auto", "passes", "iid")
WEB, KNOWLEDGE, PAD = 0, 1, 2  # position kinds (next_batch(return_kinds=True))


def window_tolerance(mixing_ratio: float, seq_len: int, max_exposure_tokens: int, window_tokens: int) -> float:
    """Bound on |knowledge share - r| over any window of ``window_tokens`` content tokens."""
    return (mixing_ratio * seq_len + max_exposure_tokens) / window_tokens


def expected_exposure_frequency(knowledge: KnowledgeSource, mixing_ratio: float) -> np.ndarray:
    """Each item's exposures per training token in expectation: r p_i / E[tokens per exposure].

    This is the theory's exposure frequency of each of the item's facts (arXiv 2505.18091, Sec. 4: the
    probability mass, per training token, of the fact's contexts; f = r p there), for uniform
    SynBio r / (N x tokens per biography)."""
    if knowledge.item_probabilities is None:
        raise ValueError(f"{knowledge.name} has no items with identity: no exposure frequency per item")
    return mixing_ratio * knowledge.item_probabilities / knowledge.expected_tokens_per_exposure


@dataclass
class ExposureCounter:
    """How often each item (person) and fact (person, attribute) has been seen, and token totals.

    Every exposure of a person, biography or CKM compact form, shows all its attributes once, so a
    fact's count is its person's count. ``exposure_frequency`` divides by content tokens (knowledge
    plus web, padding excluded): the theory's per-token unit.
    """

    num_items: int | None
    attributes: tuple[str, ...] = ()
    item_exposures: np.ndarray | None = None
    exposures: int = 0
    compact_exposures: int = 0
    knowledge_tokens: int = 0
    web_tokens: int = 0
    pad_tokens: int = 0

    def __post_init__(self) -> None:
        if self.item_exposures is None and self.num_items is not None:
            self.item_exposures = np.zeros(self.num_items, dtype=np.int64)

    def record(self, items: np.ndarray, compact: np.ndarray) -> None:
        self.exposures += int(items.shape[0])
        self.compact_exposures += int(compact.sum())
        if self.item_exposures is not None and items.size:
            self.item_exposures += np.bincount(items, minlength=self.num_items)

    @property
    def content_tokens(self) -> int:
        return self.knowledge_tokens + self.web_tokens

    @property
    def mixing_ratio(self) -> float:
        """Measured knowledge share of the content tokens so far."""
        return self.knowledge_tokens / self.content_tokens if self.content_tokens else 0.0

    @property
    def mean_tokens_per_exposure(self) -> float:
        """Measured exactly: knowledge tokens / exposures emitted so far."""
        return self.knowledge_tokens / self.exposures if self.exposures else 0.0

    def fact_exposures(self) -> np.ndarray:
        """(num_items, attributes) exposures of each fact."""
        if self.item_exposures is None:
            raise ValueError("this knowledge source has no per-item exposure counts")
        return np.repeat(self.item_exposures[:, None], len(self.attributes), axis=1)

    def exposure_frequency(self) -> np.ndarray:
        """Exposures per content token of each item (and of each of its facts)."""
        if self.item_exposures is None:
            raise ValueError("this knowledge source has no per-item exposure counts")
        return self.item_exposures / max(self.content_tokens, 1)

    def fact_exposure_frequency(self) -> np.ndarray:
        return self.fact_exposures() / max(self.content_tokens, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"exposures": self.exposures, "compact_exposures": self.compact_exposures,
                "knowledge_tokens": self.knowledge_tokens, "web_tokens": self.web_tokens,
                "pad_tokens": self.pad_tokens,
                "item_exposures": None if self.item_exposures is None else self.item_exposures.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("exposures", "compact_exposures", "knowledge_tokens", "web_tokens", "pad_tokens"):
            setattr(self, key, int(state[key]))
        counts = state["item_exposures"]
        if (counts is None) != (self.item_exposures is None) or (counts is not None and len(counts) != self.num_items):
            raise ValueError("the saved exposure counts do not match this knowledge source's items")
        if counts is not None:
            self.item_exposures = np.asarray(counts, dtype=np.int64)


@dataclass
class _Block:
    index: int
    exposures: Exposures
    offsets: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.offsets = self.exposures.offsets


class MixedStream:
    """Batches of sequences mixing knowledge exposures (share r of tokens) into web text.

    ``web_tokens``: 1-D int array of web token ids, documents separated by ``eot_id``.
    ``knowledge``: a ``KnowledgeSource`` (may be None when r = 0).
    """

    def __init__(self, knowledge: KnowledgeSource | None, web_tokens: np.ndarray, *, mixing_ratio: float,
                 seq_len: int, batch_size: int, seed: int, eot_id: int | None = None, pad_id: int | None = None,
                 block_exposures: int = 1024, item_order: str = "auto", web_start: int = 0):
        if not 0.0 <= mixing_ratio <= 1.0:
            raise ValueError(f"mixing_ratio must be in [0, 1], got {mixing_ratio!r}")
        if seq_len < 1 or batch_size < 1:
            raise ValueError(f"seq_len and batch_size must be >= 1, got {seq_len!r} and {batch_size!r}")
        if block_exposures < 1:
            raise ValueError(f"block_exposures must be >= 1, got {block_exposures!r}")
        if item_order not in ITEM_ORDERS:
            raise ValueError(f"item_order must be one of {ITEM_ORDERS}, got {item_order!r}")
        web = np.asarray(web_tokens)
        if web.ndim != 1:
            raise ValueError(f"web_tokens must be a 1-D array of token ids, got shape {web.shape}")
        if mixing_ratio < 1 and web.size == 0:
            raise ValueError(f"mixing_ratio={mixing_ratio} < 1 needs web text, got an empty web_tokens array")
        if not 0 <= web_start < max(web.size, 1):
            raise ValueError(f"web_start must be in [0, {web.size}), got {web_start!r}")
        if mixing_ratio > 0:
            if knowledge is None:
                raise ValueError(f"mixing_ratio={mixing_ratio} > 0 needs a knowledge source")
            if knowledge.max_tokens_per_exposure > seq_len:
                raise ValueError(f"seq_len must be >= the longest exposure ({knowledge.max_tokens_per_exposure} "
                                 f"tokens) so that exposures are never cut, got {seq_len}")
        self.knowledge = knowledge
        self.max_exposure_tokens = 0 if knowledge is None else int(knowledge.max_tokens_per_exposure)
        self.mixing_ratio = float(mixing_ratio)
        self.seq_len, self.batch_size, self.seed = int(seq_len), int(batch_size), int(seed)
        self.block_exposures = int(block_exposures)
        self.eot_id = int(eot_id if eot_id is not None else (knowledge.eot_id if knowledge is not None else 0))
        self.pad_id = self.eot_id if pad_id is None else int(pad_id)
        self.web = web.astype(np.int32, copy=False)
        self.web_doc_ends = np.flatnonzero(self.web == self.eot_id)  # documents end after these positions
        self.web_start = int(web_start)
        self.item_order = self._resolve_order(item_order)
        self._support_size = 0 if self.item_order == "iid" else int((knowledge.item_probabilities > 0).sum())
        self.counter = ExposureCounter(knowledge.num_items if knowledge is not None else None,
                                       tuple(knowledge.attributes) if knowledge is not None else ())
        self.exposure_index = 0  # global index of the next exposure to place
        self.web_position = self.web_start
        self.web_epochs = 0
        self.batches = 0
        self._block: _Block | None = None
        self._permutation: tuple[int, np.ndarray] | None = None

    def _resolve_order(self, item_order: str) -> str:
        k = self.knowledge
        probabilities = None if k is None else k.item_probabilities
        if probabilities is None:
            if item_order == "passes":
                raise ValueError("item_order='passes' needs a source with items (not a reasoning task)")
            return "iid"
        support = probabilities[probabilities > 0]
        uniform = np.allclose(support, support[0], rtol=1e-9, atol=0)
        if item_order == "passes" and not uniform:
            raise ValueError("item_order='passes' needs uniform item probabilities (not power-law SynBio)")
        if item_order == "auto":
            return "passes" if uniform else "iid"
        return item_order

    # --- knowledge blocks -----------------------------------------------------------------------

    def _pass_permutation(self, epoch: int) -> np.ndarray:
        if self._permutation is None or self._permutation[0] != epoch:
            support = np.flatnonzero(self.knowledge.item_probabilities > 0)
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2, epoch]))
            self._permutation = (epoch, rng.permutation(support))
        return self._permutation[1]

    def _load_block(self, b: int) -> _Block:
        if self._block is not None and self._block.index == b:
            return self._block
        K = self.block_exposures
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1, b]))
        if self.item_order == "passes":
            support_size = self._support_size
            index = np.arange(b * K, (b + 1) * K, dtype=np.int64)
            epoch, position = index // support_size, index % support_size
            items = np.empty(K, dtype=np.int64)
            for e in np.unique(epoch):
                here = epoch == e
                items[here] = self._pass_permutation(int(e))[position[here]]
            exposures = self.knowledge.exposures(rng, items)
        else:
            exposures = self.knowledge.sample_exposures(rng, K)
        self._block = _Block(b, exposures)
        return self._block

    # --- web text -----------------------------------------------------------------------------

    def _web_to_document_end(self, limit: int) -> np.ndarray:
        """Web tokens from the current position to the end of its document (or ``limit`` tokens)."""
        p = self.web_position
        k = np.searchsorted(self.web_doc_ends, p)
        end = int(self.web_doc_ends[k]) + 1 if k < self.web_doc_ends.size else self.web.size
        n = min(limit, end - p)
        return self._advance_web(n)

    def _advance_web(self, n: int) -> np.ndarray:
        p = self.web_position
        chunk = self.web[p:p + n]
        self.web_position = p + n
        if self.web_position == self.web.size:
            self.web_position, self.web_epochs = 0, self.web_epochs + 1
        return chunk

    def _web_exactly(self, n: int) -> np.ndarray:
        parts = []
        while n > 0:
            part = self._advance_web(min(n, self.web.size - self.web_position))
            parts.append(part)
            n -= part.size
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    # --- batches ------------------------------------------------------------------------------

    def next_batch(self, return_kinds: bool = False):
        """The next (batch_size, seq_len) int32 batch; with ``return_kinds``, also an int8 array of
        the same shape saying what each position is: ``WEB``, ``KNOWLEDGE`` or ``PAD`` (padding
        counts as neither; a trainer may mask it out of the loss, or split the loss by kind)."""
        B, T, r = self.batch_size, self.seq_len, self.mixing_ratio
        c = self.counter
        out = np.empty((B, T), dtype=np.int32)
        kinds = np.full((B, T), WEB, dtype=np.int8) if return_kinds else None
        placed_items, placed_compact = [], []
        know, web = c.knowledge_tokens, c.web_tokens
        for row in range(B):
            pos = 0
            while pos < T:
                room = T - pos
                if r == 1.0 or (r > 0.0 and know < r * (know + web)):
                    block = self._load_block(self.exposure_index // self.block_exposures)
                    i = self.exposure_index - block.index * self.block_exposures
                    start, stop = int(block.offsets[i]), int(block.offsets[i + 1])
                    length = stop - start
                    if length <= room:
                        out[row, pos:pos + length] = block.exposures.tokens[start:stop]
                        if kinds is not None:
                            kinds[row, pos:pos + length] = KNOWLEDGE
                        pos += length
                        know += length
                        placed_items.append(int(block.exposures.items[i]))
                        placed_compact.append(bool(block.exposures.compact[i]))
                        self.exposure_index += 1
                        continue
                    # The exposure does not fit: it opens the next sequence; fill this tail.
                    deficit = know - r * (know + web)
                    if r < 1.0 and deficit - r * room >= -r * (T + self.max_exposure_tokens):
                        out[row, pos:] = self._web_exactly(room)
                        web += room
                    else:
                        out[row, pos:] = self.pad_id
                        c.pad_tokens += room
                        if kinds is not None:
                            kinds[row, pos:] = PAD
                    pos = T
                else:
                    chunk = self._web_to_document_end(room)
                    out[row, pos:pos + chunk.size] = chunk
                    pos += chunk.size
                    web += chunk.size
        c.knowledge_tokens, c.web_tokens = know, web
        c.record(np.asarray(placed_items, dtype=np.int64), np.asarray(placed_compact, dtype=bool))
        self.batches += 1
        return (out, kinds) if return_kinds else out

    def __iter__(self):
        while True:
            yield self.next_batch()

    # --- checkpointing ------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"seed": self.seed, "mixing_ratio": self.mixing_ratio, "seq_len": self.seq_len,
                "batch_size": self.batch_size, "block_exposures": self.block_exposures,
                "item_order": self.item_order, "web_size": int(self.web.size), "web_start": self.web_start,
                "knowledge": None if self.knowledge is None else self.knowledge.name,
                "num_items": self.counter.num_items}

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: the configuration it belongs to, positions and counters (the
        per-item exposure counts make it O(number of items))."""
        return {"version": STATE_VERSION, "identity": self._identity(), "exposure_index": self.exposure_index,
                "web_position": self.web_position, "web_epochs": self.web_epochs, "batches": self.batches,
                "counter": self.counter.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"stream state version must be {STATE_VERSION}, got {state.get('version')!r}")
        if state["identity"] != self._identity():
            raise ValueError(f"the saved stream state belongs to another stream: {state['identity']} "
                             f"!= {self._identity()}")
        self.exposure_index = int(state["exposure_index"])
        self.web_position, self.web_epochs = int(state["web_position"]), int(state["web_epochs"])
        self.batches = int(state["batches"])
        self.counter.load_state_dict(state["counter"])
        self._block = None
