"""Tokenizers: Pythia's (GPT-NeoX-20B) for the paper-scale presets, and a small byte-level BPE trained on
the default corpus for CPU models, whose embeddings would otherwise dwarf the rest of the model
(a 50k-row embedding against tens of thousands of non-embedding parameters).

Every loader returns a ``LoadedTokenizer``: the ``tokenizers.Tokenizer`` and a ``TokenizerInfo``
(name, vocab_size = largest id + 1, eos_id, pad_id, identity = sha256 of the tokenizer's JSON).

Both tokenizers are byte-level BPEs without a prefix space, so the ids of text fragments concatenate:
decode(ids(a) + ids(b)) == a + b. That is what lets the knowledge sets build sequences from
pre-tokenized pieces (arXiv 2505.18091, setup). Pythia's tokenizer also NFC-normalizes its input.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from empirical.text.corpus import Corpus, EmbeddedCorpus, cache_root, load_corpus, tokenizer_identity

TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "data" / "tokenizers"
PYTHIA_TOKENIZER_PATH = TOKENIZER_DIR / "gpt-neox-20b.json"
EOT_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|padding|>"
DEFAULT_BPE_VOCAB = 2048
BPE_MIN_VOCAB = 258  # 256 byte tokens + end-of-text + padding
BPE_MAX_VOCAB = 2**20
BPE_TRAINER_VERSION = 1  # bump when the training recipe changes, so cached tokenizers are not reused


@dataclass(frozen=True)
class TokenizerInfo:
    name: str
    vocab_size: int  # embedding rows needed: the largest token id + 1
    eos_id: int
    pad_id: int
    identity: str  # sha256 of the tokenizer's JSON

    def to_dict(self) -> dict:
        return {"name": self.name, "vocab_size": self.vocab_size, "eos_id": self.eos_id, "pad_id": self.pad_id,
                "identity": self.identity}


class LoadedTokenizer(NamedTuple):
    tokenizer: Any  # tokenizers.Tokenizer
    info: TokenizerInfo


def describe(tokenizer: Any, name: str) -> LoadedTokenizer:
    """Wrap a ``tokenizers.Tokenizer`` with its info; it must have end-of-text (and uses it as padding
    if it has no ``<|padding|>`` token)."""
    eos_id = tokenizer.token_to_id(EOT_TOKEN)
    if eos_id is None:
        raise ValueError(f"tokenizer {name!r} has no end-of-text token {EOT_TOKEN!r}")
    pad_id = tokenizer.token_to_id(PAD_TOKEN)
    vocab_size = max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1
    info = TokenizerInfo(name, vocab_size, int(eos_id), int(eos_id if pad_id is None else pad_id),
                         tokenizer_identity(tokenizer))
    return LoadedTokenizer(tokenizer, info)


def tokenizer_from_file(path: str | Path, name: str | None = None) -> LoadedTokenizer:
    """Any Hugging Face ``tokenizer.json`` on disk."""
    from tokenizers import Tokenizer

    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"tokenizer file {str(path)!r} does not exist")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises its own exception types
        raise ValueError(f"cannot read tokenizer {str(path)!r}: {exc}") from None
    return describe(tokenizer, name or path.name)


def pythia_tokenizer() -> LoadedTokenizer:
    """Pythia's tokenizer (GPT-NeoX-20B's: 50,277 ids, end-of-text 0, padding 1), shipped with the
    package (Apache-2.0; TOKENIZER_DIR/README.md). Pythia pads its embedding to 50,304 rows."""
    return tokenizer_from_file(PYTHIA_TOKENIZER_PATH, "pythia")


def tokenizer_from_hub(repo: str, revision: str | None = None) -> LoadedTokenizer:
    """A tokenizer.json from the Hugging Face hub (needs internet), e.g. "EleutherAI/pythia-160m"."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_pretrained(repo, revision=revision or "main")
    except Exception as exc:
        raise ValueError(f"cannot load tokenizer {repo!r} from the Hugging Face hub ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); this needs internet access "
                         "(offline: 'pythia' is shipped, or pass a tokenizer.json path)") from None
    return describe(tokenizer, f"hf:{repo}")


def _training_texts(corpus: Corpus, max_characters: int | None) -> list[str]:
    """The training split, or a deterministic sample of its documents (by sha256 of the text) of about
    ``max_characters``, in corpus order."""
    texts = list(corpus.texts("train"))
    total = sum(len(t) for t in texts)
    if max_characters is None or total <= max_characters:
        return texts
    threshold = max_characters / total * 2**64
    return [t for t in texts if int(hashlib.sha256(t.encode("utf-8")).hexdigest()[:16], 16) < threshold]


def train_bpe(vocab_size: int = DEFAULT_BPE_VOCAB, *, corpus: Corpus | str | None = None,
              max_characters: int | None = None, cache_dir: str | Path | None = None,
              use_cache: bool = True) -> LoadedTokenizer:
    """A byte-level BPE with ``vocab_size`` ids (end-of-text 0, padding 1, the 256 bytes, then merges)
    trained with ``tokenizers`` on the corpus's training split (default: the embedded corpus, all of its
    training split: about 4 s on two cores). Cached by (corpus identity, vocab size, max_characters).

    Deterministic: the same corpus gives byte-identical tokenizer JSON in every process and with any
    number of threads (tests/test_tokenizer.py checks across processes): word counts are sums, and
    the trainer breaks ties between equally frequent pairs by the pair itself, never by hash order."""
    if not isinstance(vocab_size, int) or not BPE_MIN_VOCAB <= vocab_size <= BPE_MAX_VOCAB:
        raise ValueError(f"vocab_size must be an integer in [{BPE_MIN_VOCAB}, {BPE_MAX_VOCAB}], got {vocab_size!r}")
    if max_characters is not None and max_characters < 1:
        raise ValueError(f"max_characters must be >= 1 or None, got {max_characters!r}")
    corpus = EmbeddedCorpus() if corpus is None else (load_corpus(corpus) if isinstance(corpus, str) else corpus)
    name = f"bpe-{vocab_size}" + ("" if corpus.name == "default" else f"@{corpus.name}")
    key = hashlib.sha256(json.dumps([corpus.identity, vocab_size, max_characters, BPE_TRAINER_VERSION]).encode())
    path = Path(cache_dir or cache_root()) / "tokenizers" / f"bpe-{vocab_size}-{key.hexdigest()[:24]}.json"
    if use_cache and path.is_file():
        return tokenizer_from_file(path, name)

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    # No normalizer and no prefix space: byte-level ids of fragments concatenate to the fragments' text.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT_TOKEN, PAD_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2,
                                  show_progress=False)
    texts = _training_texts(corpus, max_characters)
    if not texts:
        raise ValueError(f"corpus {corpus.name!r} has no training documents to train a BPE on")
    tokenizer.train_from_iterator(texts, trainer, length=len(texts))
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".json", delete=False,
                                         encoding="utf-8") as handle:
            handle.write(tokenizer.to_str())
        os.chmod(handle.name, 0o644)  # temporary files are private; the cache may be shared
        os.replace(handle.name, path)
    return describe(tokenizer, name)


def load_tokenizer(spec: str, *, cache_dir: str | Path | None = None) -> LoadedTokenizer:
    """A tokenizer from its spec: ``pythia`` (or ``gpt-neox-20b``), ``bpe-<vocab size>`` (trained on the
    default corpus, cached), ``hf:REPO`` (the hub, online), or a path to a tokenizer.json."""
    if spec in ("pythia", "gpt-neox-20b"):
        return pythia_tokenizer()
    if spec.startswith("bpe-"):
        if not spec[4:].isdigit():
            raise ValueError(f"BPE tokenizer spec must be 'bpe-<vocab size>', got {spec!r}")
        return train_bpe(int(spec[4:]), cache_dir=cache_dir)
    if spec.startswith("hf:"):
        return tokenizer_from_hub(spec[3:])
    if spec.endswith(".json") or os.sep in spec:
        return tokenizer_from_file(spec)
    raise ValueError(f"unknown tokenizer {spec!r}: use 'pythia', 'bpe-<vocab size>', 'hf:REPO' "
                     "or a path to a tokenizer.json")
