"""The embedded web corpus, local folders, the hub path offline, and cached token arrays."""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import subprocess
import sys

import numpy as np
import pytest

from empirical.text.corpus import (
    CORPUS_DIR, EmbeddedCorpus, FolderCorpus, HubCorpus, default_corpus, encode_documents, load_corpus,
    token_dtype, token_stats, tokenize_corpus, validation_ids,
)
from empirical.text.tokenizer import pythia_tokenizer


@pytest.fixture(scope="module")
def pythia():
    return pythia_tokenizer().tokenizer


@pytest.fixture(scope="module")
def moby_dick():
    """Real prose for the folder tests: Moby-Dick's chapters from the embedded corpus."""
    return list(default_corpus(["moby_dick"]).documents("train"))


def test_default_corpus_has_at_least_five_million_gpt_neox_tokens():
    corpus = default_corpus()
    counts = corpus.token_counts()
    total = sum(split for source in counts.values() for split in source.values())
    assert total >= 5_000_000
    assert len(counts) == 5 and all(c["train"] > 0 and c["validation"] > 0 for c in counts.values())


def test_shipped_files_match_manifest_hashes():
    corpus = default_corpus()
    for source in corpus.sources:
        data = (CORPUS_DIR / source["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == source["sha256"], source["name"]
        assert len(data) == source["compressed_bytes"]
    assert sum(s["compressed_bytes"] for s in corpus.sources) < 15_000_000


def test_every_source_has_a_licence_and_the_psf_licence_ships():
    corpus = default_corpus()
    assert all(source["licence"] and source["origin"] for source in corpus.sources)
    assert "PSF LICENSE AGREEMENT" in (CORPUS_DIR / "LICENSE-PSF.txt").read_text(encoding="utf-8")


def test_splits_are_disjoint_by_document_and_follow_the_hash_rule():
    corpus = default_corpus()
    for source in corpus.sources:
        one = EmbeddedCorpus([source["name"]])
        train = [d.id for d in one.documents("train")]
        validation = [d.id for d in one.documents("validation")]
        assert not set(train) & set(validation)
        assert len(set(train)) == len(train) and len(set(validation)) == len(validation)
        assert set(validation) == validation_ids(train + validation, 0.02)
        assert len(train) == source["documents"]["train"] and len(validation) == source["documents"]["validation"]


def test_splits_are_deterministic_across_loads():
    first = [d.id for d in default_corpus(["austen"]).documents("validation")]
    second = [d.id for d in default_corpus(["austen"]).documents("validation")]
    assert first == second and len(first) >= 1


def test_validation_ids_rank_by_hash_whatever_the_order():
    ids = [f"doc{k}" for k in range(200)]
    held_out = validation_ids(ids, 0.05)
    assert len(held_out) == 10
    assert held_out == validation_ids(list(reversed(ids)), 0.05)
    ranked = sorted(ids, key=lambda d: hashlib.sha256(d.encode()).hexdigest())
    assert held_out == set(ranked[:10])
    with pytest.raises(ValueError, match="1.5"):
        validation_ids(ids, 1.5)


def test_manifest_token_counts_match_a_real_count_of_one_source(pythia):
    corpus = default_corpus(["moby_dick"])
    (source,) = corpus.sources
    for split in ("train", "validation"):
        counted = sum(len(e.ids) for e in pythia.encode_batch(list(corpus.texts(split)), add_special_tokens=False))
        assert counted == source["tokens"][split]
    chars = sum(len(t) for t in corpus.texts("train"))
    assert chars == source["characters"]["train"]


@pytest.mark.slow
def test_manifest_token_counts_match_a_real_count_of_the_whole_corpus(pythia):
    corpus = default_corpus()
    for source in corpus.sources:
        one = EmbeddedCorpus([source["name"]])
        for split in ("train", "validation"):
            counted = sum(len(e.ids) for e in pythia.encode_batch(list(one.texts(split)), add_special_tokens=False))
            assert counted == source["tokens"][split], (source["name"], split)


def test_documents_are_clean_prose():
    corpus = default_corpus(["python_docs"])
    text = "\n".join(corpus.texts("validation"))
    assert len(text) > 10_000
    for markup in (":func:`", ":class:`", ".. code-block::", ".. note::", "``"):
        assert markup not in text
    assert not any(ch in text for ch in "\x00\x01\x02\x03")


def _write_folder(root, documents):
    """Half the documents as .txt files, the rest as JSON lines in two files (one xz-compressed)."""
    half = len(documents) // 2
    for k, document in enumerate(documents[:half]):
        (root / f"chapter_{k:03d}.txt").write_text(document.text, encoding="utf-8")
    rest = documents[half:]
    (root / "more").mkdir()
    lines = [json.dumps({"text": d.text, "other": k}) for k, d in enumerate(rest)]
    (root / "more" / "a.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n", encoding="utf-8")
    with lzma.open(root / "more" / "b.jsonl.xz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines[len(lines) // 2:]) + "\n")
    (root / "notes.md").write_text("not a corpus file", encoding="utf-8")


def test_folder_corpus_reads_txt_and_jsonl_and_splits_by_document(tmp_path, moby_dick):
    documents = moby_dick[:60]
    _write_folder(tmp_path, documents)
    corpus = load_corpus(f"folder:{tmp_path}")
    assert isinstance(corpus, FolderCorpus)
    train, validation = list(corpus.documents("train")), list(corpus.documents("validation"))
    assert len(train) + len(validation) == 60 and len(validation) == round(0.02 * 60)
    assert not {d.id for d in train} & {d.id for d in validation}
    assert sorted(d.text for d in train + validation) == sorted(d.text for d in documents)
    assert [d.id for d in FolderCorpus(tmp_path).documents("validation")] == [d.id for d in validation]


def test_folder_corpus_uses_train_and_validation_subfolders(tmp_path, moby_dick):
    for split, docs in (("train", moby_dick[:5]), ("validation", moby_dick[5:7])):
        (tmp_path / split).mkdir()
        for k, document in enumerate(docs):
            (tmp_path / split / f"{k}.txt").write_text(document.text, encoding="utf-8")
    corpus = FolderCorpus(tmp_path)
    assert [d.text for d in corpus.documents("validation")] == [d.text for d in moby_dick[5:7]]
    assert len(list(corpus.documents("train"))) == 5


def test_folder_corpus_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="no-such-folder"):
        load_corpus(f"folder:{tmp_path / 'no-such-folder'}")
    with pytest.raises(ValueError, match="no .txt or .jsonl"):
        FolderCorpus(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"body": "no text field"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl, line 2"):
        list(FolderCorpus(tmp_path).documents("train"))


def test_hub_path_without_datasets_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as on a machine without the optional extra
    corpus = load_corpus("hf:HuggingFaceFW/fineweb-edu:sample-10BT")
    assert isinstance(corpus, HubCorpus)
    assert (corpus.dataset, corpus.config) == ("HuggingFaceFW/fineweb-edu", "sample-10BT")
    with pytest.raises(ValueError, match=r"pip install 'phasemix\[hub\]'"):
        next(corpus.documents("train"))


def test_hub_path_offline_gives_a_clear_error():
    pytest.importorskip("datasets")
    code = ("from empirical.text.corpus import load_corpus\n"
            "try:\n    next(load_corpus('pile', max_documents=10).documents('train'))\n"
            "except ValueError as exc:\n    print(exc)\n")
    # Offline flags are read when the hub libraries are imported: set them in a fresh process.
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "monology/pile-uncopyrighted" in out.stdout and "internet" in out.stdout


def test_aliases_and_bad_specs():
    assert load_corpus("fineweb-edu").name == "hf:HuggingFaceFW/fineweb-edu:sample-10BT"
    assert load_corpus("default:austen,moby_dick").name == "default:moby_dick,austen"
    with pytest.raises(ValueError, match="'webtext'"):
        load_corpus("webtext")
    with pytest.raises(ValueError, match="nosuchsource"):
        load_corpus("default:nosuchsource")
    with pytest.raises(ValueError, match="'test'"):
        next(default_corpus(["austen"]).documents("test"))


def test_token_dtype_fits_the_vocabulary():
    assert token_dtype(50_277) == np.uint16 and token_dtype(65_535) == np.uint16
    assert token_dtype(65_536) == np.int32


def test_token_array_separates_documents_with_end_of_text(pythia, moby_dick):
    texts = [d.text for d in moby_dick[:4]]
    tokens = encode_documents(texts, pythia)
    assert tokens.dtype == np.uint16 and tokens[-1] == 0
    ends = np.flatnonzero(tokens == 0)
    assert ends.size == 4
    starts = np.concatenate([[0], ends[:-1] + 1])
    assert [pythia.decode(tokens[s:e].tolist()) for s, e in zip(starts, ends)] == texts


def test_tokenize_corpus_caches_by_corpus_split_and_tokenizer(tmp_path, pythia, moby_dick):
    folder = tmp_path / "corpus"
    folder.mkdir()
    _write_folder(folder, moby_dick[:20])
    cache = tmp_path / "cache"
    corpus = FolderCorpus(folder)
    train = tokenize_corpus(corpus, "train", pythia, cache_dir=cache)
    files = sorted((cache / "tokens").glob("*.npy"))
    assert len(files) == 1
    report = json.loads(files[0].with_suffix(".json").read_text())
    assert report == {**report, **token_stats(train, 0), "split": "train"} and report["documents"] == 19
    # A cache hit reads the file: change it and the change comes back.
    np.save(files[0], train[:100])
    assert np.array_equal(tokenize_corpus(corpus, "train", pythia, cache_dir=cache), train[:100])
    validation = tokenize_corpus(corpus, "validation", pythia, cache_dir=cache)
    assert len(list((cache / "tokens").glob("*.npy"))) == 2 and token_stats(validation, 0)["documents"] == 1


def test_tokenize_corpus_rejects_an_empty_split(tmp_path, pythia, moby_dick):
    (tmp_path / "one.txt").write_text(moby_dick[0].text, encoding="utf-8")
    with pytest.raises(ValueError, match="'validation'"):
        tokenize_corpus(FolderCorpus(tmp_path), "validation", pythia, cache_dir=tmp_path / "cache")


def test_corpus_cli_info_prints_tokens_sources_and_licences(capsys):
    from empirical.__main__ import main

    assert main(["corpus", "--info"]) == 0
    out = capsys.readouterr().out
    total = sum(sum(s["tokens"].values()) for s in default_corpus().sources)
    assert f"{total:,} tokens" in out
    for name in ("sotu", "moby_dick", "austen", "web_bible", "python_docs"):
        assert name in out
    assert "public domain" in out and "PSF License" in out


def test_corpus_cli_bad_value_exits_2_with_one_line(capsys):
    from empirical.__main__ import main

    assert main(["corpus", "--tokenize", "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--split test" in err


def test_tokenized_corpora_interleave_their_sources_in_a_fixed_shuffled_order(tmp_path, pythia):
    # Two "sources" stored one after the other, as the embedded corpus stores its five.
    folder = tmp_path / "corpus" / "train"
    folder.mkdir(parents=True)
    (tmp_path / "corpus" / "validation").mkdir()
    (tmp_path / "corpus" / "validation" / "v.txt").write_text("held out", encoding="utf-8")
    for k in range(20):
        (folder / f"a_{k:02d}.txt").write_text(f"alpha {k}", encoding="utf-8")
        (folder / f"b_{k:02d}.txt").write_text(f"beta {k}", encoding="utf-8")
    corpus = FolderCorpus(tmp_path / "corpus")
    tokens = tokenize_corpus(corpus, "train", pythia, cache_dir=tmp_path / "cache")
    expected = sorted(corpus.documents("train"), key=lambda d: hashlib.sha256(str(d.id).encode()).digest())
    assert np.array_equal(tokens, encode_documents([d.text for d in expected], pythia))
    text = pythia.decode(tokens.tolist())
    first_half = text[: len(text) // 2]
    assert "alpha" in first_half and "beta" in first_half  # not one source after the other
