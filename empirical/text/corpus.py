"""Web text: the embedded default corpus, local folders and Hugging Face hub corpora, and their token arrays.

The paper mixes its knowledge set into web text (FineWeb-Edu, the Pile; arXiv 2505.18091, setup). Three
kinds of corpus give the same interface, ``documents(split)`` over ``split in ("train", "validation")``:

* ``default_corpus()``: the embedded corpus shipped in ``empirical/data/corpus/`` (public-domain and
  PSF-licensed English prose, about 6 million GPT-NeoX tokens; ``SOURCES.md`` there). Works offline.
  Its split is stored with each document (per source, the 2% of document ids with the smallest sha256).
* ``folder_corpus(path)``: ``*.txt`` files (one document each) and ``*.jsonl`` files (one document per
  line, field ``"text"``), optionally compressed (``.gz``, ``.xz``, ``.bz2``). Sub-folders named
  ``train`` and ``validation`` give the split; otherwise the same smallest-sha256 rule on document ids.
* ``hub_corpus(name, config)``: a dataset streamed with Hugging Face ``datasets`` (optional extra
  ``phasemix[hub]``; needs internet): FineWeb-Edu (``HuggingFaceFW/fineweb-edu``, configs
  ``sample-10BT`` ...) or a Pile mirror. The first ``max_documents`` records of the stream, split by
  a threshold on the sha256 of each record's id.

``tokenize_corpus`` turns one split into the 1-D token array the mixing stream reads (documents in a
fixed shuffled order, each followed by end-of-text), cached on disk under ``$PHASEMIX_CACHE`` (default ``~/.cache/phasemix``).
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "corpus"
SPLITS = ("train", "validation")
DEFAULT_VALIDATION_FRACTION = 0.02
DEFAULT_HUB_DOCUMENTS = 100_000  # FineWeb-Edu averages about 1,000 tokens a document: ~1e8 tokens
HUB_ALIASES = {  # short names for the paper's web corpora
    "fineweb-edu": ("HuggingFaceFW/fineweb-edu", "sample-10BT"),
    "pile": ("monology/pile-uncopyrighted", None),  # the Pile without its copyrighted subsets
}
EOT_TOKEN = "<|endoftext|>"


def cache_root() -> Path:
    """Where token arrays and trained tokenizers are cached: ``$PHASEMIX_CACHE`` or ``~/.cache/phasemix``."""
    return Path(os.environ.get("PHASEMIX_CACHE") or Path.home() / ".cache" / "phasemix").expanduser()


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction!r}")


def _id_hash(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode("utf-8")).hexdigest()


def validation_ids(doc_ids: Iterable[str], fraction: float = DEFAULT_VALIDATION_FRACTION) -> set[str]:
    """The held-out documents: the round(fraction * n) ids (at least one when n >= 2 and fraction > 0)
    with the smallest sha256. Deterministic, independent of order, and stable for a document whatever
    else is in the corpus, up to the count."""
    _check_fraction(fraction)
    ids = sorted(set(doc_ids), key=_id_hash)
    if fraction == 0 or len(ids) < 2:
        return set()
    return set(ids[:max(1, round(fraction * len(ids)))])


@dataclass(frozen=True)
class Document:
    id: str
    text: str


class Corpus:
    """A named collection of documents with a train and a validation split."""

    name: str

    @property
    def identity(self) -> str:
        """A string that changes whenever the documents could: the key of cached token arrays."""
        raise NotImplementedError

    def documents(self, split: str) -> Iterator[Document]:
        raise NotImplementedError

    def texts(self, split: str) -> Iterator[str]:
        return (document.text for document in self.documents(split))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# --- the embedded default corpus --------------------------------------------------------------

class EmbeddedCorpus(Corpus):
    """The corpus shipped with the package (``empirical/data/corpus``), or one source of it."""

    def __init__(self, sources: Iterable[str] | None = None, directory: Path = CORPUS_DIR):
        self.directory = Path(directory)
        manifest_path = self.directory / "manifest.json"
        if not manifest_path.is_file():
            raise ValueError(f"no corpus manifest at {manifest_path}: is the package installed with its data?")
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        available = [s["name"] for s in self.manifest["sources"]]
        chosen = list(available if sources is None else sources)
        unknown = [s for s in chosen if s not in available]
        if unknown or not chosen:
            raise ValueError(f"unknown corpus source(s) {unknown or chosen!r}: choose from {available}")
        self.sources = [s for s in self.manifest["sources"] if s["name"] in chosen]
        self.name = "default" if sources is None else "default:" + ",".join(s["name"] for s in self.sources)

    @property
    def identity(self) -> str:
        files = [(s["name"], s["sha256"]) for s in self.sources]
        return f"embedded:{self.manifest['name']}:" + hashlib.sha256(json.dumps(files).encode()).hexdigest()

    def documents(self, split: str) -> Iterator[Document]:
        _check_split(split)
        for source in self.sources:
            with lzma.open(self.directory / source["file"], "rt", encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    if record["split"] == split:
                        yield Document(record["id"], record["text"])

    def token_counts(self) -> dict[str, dict[str, int]]:
        """GPT-NeoX token counts from the manifest: {source: {split: tokens}} (without end-of-text)."""
        return {s["name"]: dict(s["tokens"]) for s in self.sources}


def default_corpus(sources: Iterable[str] | None = None) -> EmbeddedCorpus:
    """The embedded offline corpus (all sources, or the named ones: see ``corpus --info``)."""
    return EmbeddedCorpus(sources)


# --- a local folder -----------------------------------------------------------------------------

_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
_KINDS = (".txt", ".jsonl")


def _kind(path: Path) -> tuple[str, Any] | None:
    suffixes = path.suffixes[-2:]
    opener = _OPENERS.get(suffixes[-1]) if suffixes else None
    kind = (suffixes[-2] if opener and len(suffixes) == 2 else suffixes[-1]) if suffixes else ""
    return (kind, opener or open) if kind in _KINDS else None


class FolderCorpus(Corpus):
    """Text files under a folder: ``.txt`` (a document each), ``.jsonl`` (a document per line, "text")."""

    def __init__(self, path: str | Path, *, validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
                 text_field: str = "text"):
        _check_fraction(validation_fraction)
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise ValueError(f"corpus folder {str(path)!r} does not exist or is not a folder")
        self.files = sorted(p for p in self.path.rglob("*") if p.is_file() and _kind(p) is not None)
        if not self.files:
            raise ValueError(f"corpus folder {str(path)!r} holds no .txt or .jsonl files")
        self.validation_fraction = validation_fraction
        self.text_field = text_field
        self.name = f"folder:{self.path}"
        top = {p.relative_to(self.path).parts[0] for p in self.files if len(p.relative_to(self.path).parts) > 1}
        # train/ and validation/ sub-folders, when present, are the split.
        self.split_folders = {"train", "validation"} <= top
        self._validation: set[str] | None = None

    @property
    def identity(self) -> str:
        listing = [(p.relative_to(self.path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in self.files]
        key = json.dumps([listing, self.validation_fraction, self.text_field])
        return f"folder:{self.path}:" + hashlib.sha256(key.encode()).hexdigest()

    def _all_documents(self) -> Iterator[tuple[str, Document]]:
        for path in self.files:
            relative = path.relative_to(self.path).as_posix()
            folder_split = relative.split("/", 1)[0] if self.split_folders else None
            if self.split_folders and folder_split not in SPLITS:
                continue
            kind, opener = _kind(path)
            with opener(path, "rt", encoding="utf-8") as handle:
                if kind == ".txt":
                    yield folder_split, Document(relative, handle.read())
                    continue
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        text = json.loads(line)[self.text_field]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise ValueError(f"{relative}, line {number}: not a JSON object with a "
                                         f"{self.text_field!r} field") from None
                    yield folder_split, Document(f"{relative}:{number}", text)

    def documents(self, split: str) -> Iterator[Document]:
        _check_split(split)
        if self.split_folders:
            return (d for s, d in self._all_documents() if s == split)
        if self._validation is None:
            self._validation = validation_ids((d.id for _, d in self._all_documents()), self.validation_fraction)
        held_out = self._validation
        return (d for _, d in self._all_documents() if (d.id in held_out) == (split == "validation"))


def folder_corpus(path: str | Path, *, validation_fraction: float = DEFAULT_VALIDATION_FRACTION) -> FolderCorpus:
    return FolderCorpus(path, validation_fraction=validation_fraction)


# --- the Hugging Face hub --------------------------------------------------------------------------

def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise ValueError("hub corpora need the Hugging Face 'datasets' package, which is not installed: "
                         "pip install 'phasemix[hub]' (or pip install datasets), and internet access; "
                         "offline, use the default corpus or folder:PATH") from None
    return datasets


class HubCorpus(Corpus):
    """A dataset streamed from the Hugging Face hub: its first ``max_documents`` records, split by hash."""

    def __init__(self, dataset: str, config: str | None = None, *, max_documents: int = DEFAULT_HUB_DOCUMENTS,
                 validation_fraction: float = DEFAULT_VALIDATION_FRACTION, text_field: str = "text",
                 revision: str | None = None, hub_split: str = "train"):
        _check_fraction(validation_fraction)
        if not dataset or dataset.count("/") > 1:
            raise ValueError(f"hub dataset must be 'owner/name' or 'name', got {dataset!r}")
        if max_documents < 1:
            raise ValueError(f"max_documents must be >= 1, got {max_documents!r}")
        self.dataset, self.config, self.revision, self.hub_split = dataset, config, revision, hub_split
        self.max_documents, self.validation_fraction, self.text_field = max_documents, validation_fraction, text_field
        self.name = f"hf:{dataset}" + (f":{config}" if config else "")

    @property
    def identity(self) -> str:
        return json.dumps(["hf", self.dataset, self.config, self.revision, self.hub_split, self.max_documents,
                           self.validation_fraction, self.text_field])

    def _stream(self) -> Iterator[dict]:
        datasets = _import_datasets()
        try:
            stream = datasets.load_dataset(self.dataset, self.config, split=self.hub_split, streaming=True,
                                           revision=self.revision)
            iterator = iter(stream)
            first = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # offline, unknown dataset or config: the hub raises many types
            raise ValueError(f"cannot stream {self.name!r} from the Hugging Face hub "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                             "this needs internet access and an existing dataset and config") from None
        yield first
        yield from iterator

    def documents(self, split: str) -> Iterator[Document]:
        _check_split(split)
        # A threshold on the hash (not a rank) since a stream cannot be ranked before it is read.
        threshold = int(self.validation_fraction * 2**64)
        for number, record in enumerate(self._stream()):
            if number >= self.max_documents:
                break
            text = record.get(self.text_field)
            if not isinstance(text, str):
                raise ValueError(f"{self.name}: record {number} has no string field {self.text_field!r}")
            doc_id = str(record.get("id") or _id_hash(text))
            held_out = int(_id_hash(doc_id)[:16], 16) < threshold
            if held_out == (split == "validation"):
                yield Document(doc_id, text)


def hub_corpus(dataset: str, config: str | None = None, **kwargs) -> HubCorpus:
    """FineWeb-Edu: ``hub_corpus("HuggingFaceFW/fineweb-edu", "sample-10BT")``; the Pile:
    ``hub_corpus("monology/pile-uncopyrighted")``. Streams lazily: nothing is fetched until read."""
    return HubCorpus(dataset, config, **kwargs)


def load_corpus(spec: str, **kwargs) -> Corpus:
    """A corpus from its spec: ``default``, ``default:SOURCE[,SOURCE]``, ``folder:PATH``,
    ``hf:NAME[:CONFIG]``, or an alias ``fineweb-edu`` / ``pile``. Keyword arguments go to the loader."""
    if spec == "default":
        return EmbeddedCorpus()
    if spec.startswith("default:"):
        return EmbeddedCorpus([s for s in spec[len("default:"):].split(",") if s])
    if spec.startswith("folder:"):
        return FolderCorpus(spec[len("folder:"):], **kwargs)
    if spec in HUB_ALIASES:
        return HubCorpus(*HUB_ALIASES[spec], **kwargs)
    if spec.startswith("hf:"):
        name, _, config = spec[len("hf:"):].partition(":")
        return HubCorpus(name, config or None, **kwargs)
    raise ValueError(f"unknown corpus {spec!r}: use 'default', 'default:SOURCE', 'folder:PATH', "
                     f"'hf:NAME[:CONFIG]' or one of {sorted(HUB_ALIASES)}")


# --- token arrays ----------------------------------------------------------------------------------

def tokenizer_identity(tokenizer: Any) -> str:
    """sha256 of a ``tokenizers.Tokenizer``'s JSON: equal for tokenizers that encode identically."""
    return hashlib.sha256(tokenizer.to_str().encode("utf-8")).hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (vocabulary < 65,536), else int32."""
    return np.dtype(np.uint16) if vocab_size < 2**16 else np.dtype(np.int32)


def _vocab_rows(tokenizer: Any) -> int:
    return max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1


def _eot_id(tokenizer: Any) -> int:
    token_id = tokenizer.token_to_id(EOT_TOKEN)
    if token_id is None:
        raise ValueError(f"the tokenizer has no end-of-text token {EOT_TOKEN!r}; pass eot_id explicitly")
    return int(token_id)


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def encode_documents(texts: Iterable[str], tokenizer: Any, *, eot_id: int | None = None,
                     batch_documents: int = 64) -> np.ndarray:
    """Token ids of each text followed by end-of-text, concatenated: [d1..., eot, d2..., eot, ...]."""
    eot = _eot_id(tokenizer) if eot_id is None else int(eot_id)
    dtype = token_dtype(_vocab_rows(tokenizer))
    pieces: list[np.ndarray] = []
    eot_array = np.array([eot], dtype=dtype)
    for batch in _batches(texts, batch_documents):
        for encoding in tokenizer.encode_batch(batch, add_special_tokens=False):
            pieces.append(np.asarray(encoding.ids, dtype=dtype))
            pieces.append(eot_array)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)


# The mixing stream reads web text in order. Corpora are stored source by source (the embedded one: all
# State of the Union addresses, then Moby-Dick, Austen, the Bible, Python's docs), so read in stored order
# a run would train on one source at a time: the training distribution would drift and the held-out web
# loss (all sources) would swing by a nat as runs move between sources. Documents are therefore ordered
# by the sha256 of their ids: a fixed shuffle, the same on every machine and independent of run seeds.
DOCUMENT_ORDER = "sha256-of-id"


def shuffled_texts(documents: Iterable["Document"]) -> list[str]:
    """Texts of the documents ordered by the sha256 of their ids (``DOCUMENT_ORDER``)."""
    keyed = [(hashlib.sha256(str(d.id).encode()).digest(), d.text) for d in documents]
    keyed.sort(key=lambda pair: pair[0])
    return [text for _, text in keyed]


def tokenize_corpus(corpus: Corpus | str, split: str, tokenizer: Any, *, eot_id: int | None = None,
                    cache_dir: str | Path | None = None, use_cache: bool = True) -> np.ndarray:
    """The split as one 1-D token array, each document followed by end-of-text (what the mixing
    stream reads), documents in the fixed shuffled order of ``DOCUMENT_ORDER``. ``tokenizer``: a
    ``tokenizers.Tokenizer`` (or anything with ``.tokenizer``, e.g. ``LoadedTokenizer``). Cached as
    ``tokens/<key>.npy`` with a JSON report beside it, the key a hash of (corpus identity, split,
    tokenizer JSON, eot id, document order)."""
    corpus = load_corpus(corpus) if isinstance(corpus, str) else corpus
    _check_split(split)
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    eot = _eot_id(tokenizer) if eot_id is None else int(eot_id)
    key = hashlib.sha256(json.dumps([corpus.identity, split, tokenizer_identity(tokenizer), eot,
                                     DOCUMENT_ORDER]).encode())
    path = Path(cache_dir or cache_root()) / "tokens" / f"{key.hexdigest()[:32]}.npy"
    if use_cache and path.is_file():
        return np.load(path)
    tokens = encode_documents(shuffled_texts(corpus.documents(split)), tokenizer, eot_id=eot)
    if tokens.size == 0:
        raise ValueError(f"corpus {corpus.name!r} has no documents in its {split!r} split")
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a concurrent reader sees the whole array or none.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as handle:
            np.save(handle, tokens)
        os.chmod(handle.name, 0o644)  # temporary files are private; the cache may be shared
        os.replace(handle.name, path)
        report = {"corpus": corpus.name, "identity": corpus.identity, "split": split, "eot_id": eot,
                  **token_stats(tokens, eot)}
        path.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return tokens


def token_stats(tokens: np.ndarray, eot_id: int) -> dict[str, int]:
    """Documents (end-of-text count) and text tokens (the rest) of a token array."""
    documents = int(np.count_nonzero(tokens == eot_id))
    return {"documents": documents, "text_tokens": int(tokens.size) - documents, "array_tokens": int(tokens.size)}

