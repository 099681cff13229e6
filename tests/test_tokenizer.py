"""Pythia's tokenizer (shipped) and the byte-level BPE trained on the default corpus."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from empirical.text.corpus import default_corpus
from empirical.text.tokenizer import (
    PYTHIA_TOKENIZER_PATH, describe, load_tokenizer, pythia_tokenizer, tokenizer_from_file, train_bpe,
)

SMALL = dict(corpus="default:moby_dick", max_characters=300_000)  # a fast slice for unit tests


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    return train_bpe(512, cache_dir=tmp_path_factory.mktemp("cache"), **SMALL)


@pytest.fixture(scope="module")
def prose():
    return [d.text for d in default_corpus(["austen"]).documents("validation")]


def test_pythia_known_encodings():
    loaded = pythia_tokenizer()
    tok = loaded.tokenizer
    assert tok.encode("Hello, I am").ids == [12092, 13, 309, 717]
    assert tok.encode("Hello world").ids == [12092, 1533]
    assert tok.encode(" the").ids == [253]
    assert (loaded.info.eos_id, loaded.info.pad_id, loaded.info.vocab_size) == (0, 1, 50277)
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("<|padding|>") == 1
    assert tok.encode("a<|endoftext|>b").ids[1] == 0
    assert tok.token_to_id("|||EMAIL_ADDRESS|||") is None  # OLMo's PII tokens removed


def test_pythia_round_trips_corpus_text_and_concatenates(prose):
    tok = pythia_tokenizer().tokenizer
    text = prose[0][:5000]
    assert tok.decode(tok.encode(text).ids) == text
    pieces = ["Carlos Jose Rivera", " was born on", " August 3, 1952", "."]
    ids = [i for p in pieces for i in tok.encode(p).ids]
    assert tok.decode(ids) == "".join(pieces)


def test_bpe_has_the_requested_vocabulary_and_special_ids(bpe):
    tok, info = bpe
    assert info.vocab_size == 512 and tok.get_vocab_size() == 512
    assert (info.eos_id, info.pad_id) == (0, 1)
    assert tok.id_to_token(0) == "<|endoftext|>" and tok.id_to_token(1) == "<|padding|>"
    # Every byte has a token, so no text is ever unknown.
    assert tok.decode(tok.encode("naïve café — ☃ 𝔘").ids) == "naïve café — ☃ 𝔘"


def test_bpe_round_trips_held_out_corpus_text(bpe, prose):
    tok = bpe.tokenizer
    for text in prose:
        assert tok.decode(tok.encode(text).ids) == text


def test_bpe_decoding_is_concatenative(bpe, prose):
    tok = bpe.tokenizer
    text = prose[1][:4000]
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, len(text)), size=40, replace=False))
    pieces = [text[a:b] for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(text)]]))]
    ids = [i for piece in pieces for i in tok.encode(piece).ids]
    assert tok.decode(ids) == text


def test_bpe_training_is_deterministic_across_processes(bpe):
    fresh = train_bpe(512, use_cache=False, **SMALL)
    assert fresh.tokenizer.to_str() == bpe.tokenizer.to_str()
    # Another process (another hash seed, threads on) gives the same merges.
    code = ("from empirical.text.tokenizer import train_bpe; "
            "print(train_bpe(512, corpus='default:moby_dick', max_characters=300_000, use_cache=False).info.identity)")
    env = {**os.environ, "PYTHONHASHSEED": "123", "RAYON_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == bpe.info.identity


def test_bpe_cache_hit_reads_the_cache_without_retraining(tmp_path):
    first = train_bpe(300, cache_dir=tmp_path, **SMALL)
    (path,) = (tmp_path / "tokenizers").glob("bpe-300-*.json")
    assert json.loads(path.read_text())["model"]["vocab"] == first.tokenizer.get_vocab()
    # Put another (valid) tokenizer in the cached file: a hit must return it, not a fresh training.
    other = train_bpe(280, use_cache=False, **SMALL)
    path.write_text(other.tokenizer.to_str(), encoding="utf-8")
    again = train_bpe(300, cache_dir=tmp_path, **SMALL)
    assert again.info.vocab_size == 280 and again.info.identity == other.info.identity


def test_bpe_rejects_bad_vocabulary_sizes():
    for bad in (100, 257, 2**21):
        with pytest.raises(ValueError, match=str(bad)):
            train_bpe(bad, **SMALL)


def test_load_tokenizer_specs(tmp_path, bpe):
    assert load_tokenizer("pythia").info.identity == pythia_tokenizer().info.identity
    path = tmp_path / "tok.json"
    path.write_text(bpe.tokenizer.to_str(), encoding="utf-8")
    assert load_tokenizer(str(path)).info.identity == bpe.info.identity
    assert tokenizer_from_file(PYTHIA_TOKENIZER_PATH).info.vocab_size == 50277
    for bad, fragment in (("bpe-large", "bpe-large"), ("gpt5", "gpt5"), (str(tmp_path / "missing.json"), "missing")):
        with pytest.raises(ValueError, match=fragment):
            load_tokenizer(bad)


def test_describe_requires_end_of_text():
    from tokenizers import Tokenizer, models

    with pytest.raises(ValueError, match="end-of-text"):
        describe(Tokenizer(models.BPE()), "empty")


def test_hub_tokenizer_offline_gives_a_clear_error():
    code = ("from empirical.text.tokenizer import tokenizer_from_hub\n"
            "try:\n    tokenizer_from_hub('EleutherAI/pythia-70m')\n"
            "except ValueError as exc:\n    print(exc)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # no network calls, no retries: fails at once
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert "EleutherAI/pythia-70m" in out.stdout and "internet" in out.stdout


@pytest.mark.slow
def test_default_bpe_2048_trains_deterministically_on_the_whole_training_split(tmp_path):
    first = train_bpe(2048, cache_dir=tmp_path)
    second = train_bpe(2048, use_cache=False)
    assert first.tokenizer.to_str() == second.tokenizer.to_str()
    assert load_tokenizer("bpe-2048", cache_dir=tmp_path).info.identity == first.info.identity
