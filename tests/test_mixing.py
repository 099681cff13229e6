"""Token-level mixing and exposure accounting (empirical.text.mixing), on real tokens: SynBio and English
docstrings tokenized with a byte-level BPE trained here."""
from __future__ import annotations

import json

import numpy as np
import pytest

from empirical.text.mixing import KNOWLEDGE, PAD, WEB, MixedStream, expected_exposure_frequency, window_tolerance
from empirical.knowledge.synbio import SynBio, SynBioConfig
from empirical.knowledge.tasks import SlopeTask
from test_synbio import EOT, english_documents, train_bpe


@pytest.fixture(scope="module")
def tokenizer():
    bios = SynBio(SynBioConfig(people=1000, seed=99)).render(np.random.default_rng(0), np.arange(1000))
    return train_bpe(bios + english_documents(), vocab_size=1024)


@pytest.fixture(scope="module")
def eot(tokenizer):
    return tokenizer.token_to_id(EOT)


@pytest.fixture(scope="module")
def web(tokenizer, eot):
    """English documents as one token array, each document followed by end-of-text."""
    ids = []
    for doc in english_documents():
        ids.extend(tokenizer.encode(doc).ids)
        ids.append(eot)
    return np.asarray(ids, dtype=np.int32)


@pytest.fixture(scope="module")
def synbio(tokenizer):
    return SynBio(SynBioConfig(people=200, seed=5), tokenizer)


def stream_of(knowledge, web, **kw):
    args = dict(mixing_ratio=0.3, seq_len=256, batch_size=16, seed=0, block_exposures=100)
    args.update(kw)
    return MixedStream(knowledge, web, **args)


def collect(stream, batches):
    tokens, kinds = zip(*(stream.next_batch(return_kinds=True) for _ in range(batches)))
    return np.concatenate(tokens), np.concatenate(kinds)


@pytest.mark.parametrize("r", [0.05, 0.3, 0.7])
def test_knowledge_share_is_within_tolerance_over_every_window(r, synbio, web):
    stream = stream_of(synbio, web, mixing_ratio=r)
    _, kinds = collect(stream, 250)  # 1,024,000 tokens
    flat = kinds.ravel()
    assert not (flat == PAD).any()
    window = 100_000
    knowledge = np.concatenate([[0], np.cumsum(flat == KNOWLEDGE)])
    starts = np.arange(0, flat.size - window + 1, 997)
    share = (knowledge[starts + window] - knowledge[starts]) / window
    tolerance = window_tolerance(r, 256, synbio.max_tokens_per_exposure, window)
    assert np.abs(share - r).max() <= tolerance
    assert abs(stream.counter.mixing_ratio - r) <= tolerance / 10  # over a million tokens


def test_exposures_are_whole_and_in_order(synbio, web, eot):
    stream = stream_of(synbio, web, mixing_ratio=0.4, block_exposures=37)
    tokens, kinds = collect(stream, 40)
    placed = stream.exposure_index
    expected = np.concatenate([stream._load_block(b).exposures.tokens for b in range(placed // 37 + 1)])
    knowledge = tokens[kinds == KNOWLEDGE]
    assert np.array_equal(knowledge, expected[:knowledge.size])
    assert (knowledge == eot).sum() == placed == stream.counter.exposures
    for row_tokens, row_kinds in zip(tokens, kinds):
        # A knowledge run that reaches the end of a sequence ends with end-of-text: nothing is cut.
        is_k = row_kinds == KNOWLEDGE
        ends = np.flatnonzero(is_k & ~np.append(is_k[1:], False))
        assert (row_tokens[ends] == eot).all()


def test_web_text_is_read_in_order_and_wraps(synbio, web):
    stream = stream_of(synbio, web[:20_000], mixing_ratio=0.3)
    tokens, kinds = collect(stream, 20)
    read = tokens[kinds == WEB]
    assert read.size > 20_000 and stream.web_epochs >= 1
    assert np.array_equal(read, np.resize(web[:20_000], read.size))


def test_ratio_zero_is_pure_web(web):
    stream = MixedStream(None, web, mixing_ratio=0.0, seq_len=128, batch_size=4, seed=0, eot_id=int(web[-1]))
    batch = stream.next_batch()
    assert np.array_equal(batch.ravel(), web[:512])
    assert stream.counter.knowledge_tokens == 0 and stream.counter.web_tokens == 512


def test_ratio_one_is_pure_knowledge_padded_at_sequence_tails(synbio, eot):
    stream = MixedStream(synbio, np.zeros(0, np.int32), mixing_ratio=1.0, seq_len=256, batch_size=8, seed=0)
    tokens, kinds = collect(stream, 10)
    assert not (kinds == WEB).any() and stream.counter.web_tokens == 0
    assert (tokens[kinds == PAD] == eot).all()
    pads_per_row = (kinds == PAD).sum(axis=1)
    assert pads_per_row.max() < synbio.max_tokens_per_exposure  # only a tail no exposure fits in
    assert stream.counter.mixing_ratio == 1.0


def test_high_ratio_stays_exact_by_padding_tails_when_needed(synbio, web):
    stream = stream_of(synbio, web, mixing_ratio=0.95)
    _, kinds = collect(stream, 100)
    assert stream.counter.pad_tokens > 0
    content = kinds[kinds != PAD]
    assert abs((content == KNOWLEDGE).mean() - 0.95) <= window_tolerance(0.95, 256, synbio.max_tokens_per_exposure, content.size)


def test_streams_are_deterministic_and_seeded(synbio, web):
    a, _ = collect(stream_of(synbio, web, seed=3), 5)
    b, _ = collect(stream_of(synbio, web, seed=3), 5)
    c, _ = collect(stream_of(synbio, web, seed=4), 5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("variant", ["passes", "powerlaw", "task", "ckm"])
def test_resume_yields_the_batches_of_an_uninterrupted_stream(variant, synbio, tokenizer, web):
    knowledge = {"passes": synbio,
                 "powerlaw": SynBio(SynBioConfig(people=200, seed=5, powerlaw_groups=20), tokenizer),
                 "task": SlopeTask(tokenizer, eval_items=50),
                 "ckm": SynBio(SynBioConfig(people=200, seed=5, ckm_tau=0.3), tokenizer)}[variant]
    make = lambda: stream_of(knowledge, web[:10_000], mixing_ratio=0.4, block_exposures=23)  # wraps the web text
    whole = make()
    expected = [whole.next_batch() for _ in range(12)]
    first = make()
    for _ in range(7):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))
    resumed = make()
    resumed.load_state_dict(state)
    for k in range(7, 12):
        assert np.array_equal(resumed.next_batch(), expected[k])
    assert resumed.state_dict() == whole.state_dict() and whole.web_epochs >= 1


def test_loading_another_streams_state_is_refused(synbio, web):
    state = stream_of(synbio, web, seed=1).state_dict()
    with pytest.raises(ValueError, match="another stream"):
        stream_of(synbio, web, seed=2).load_state_dict(state)


def test_exposure_counts_are_consistent(synbio, web, eot):
    stream = stream_of(synbio, web, mixing_ratio=0.5)
    tokens, kinds = collect(stream, 30)
    c = stream.counter
    assert c.item_exposures.sum() == c.exposures == (tokens[kinds == KNOWLEDGE] == eot).sum()
    assert c.knowledge_tokens == (kinds == KNOWLEDGE).sum() and c.web_tokens == (kinds == WEB).sum()
    # Shuffled passes: every person is seen once per pass, so counts never differ by more than one.
    assert c.item_exposures.max() - c.item_exposures.min() <= 1 and c.item_exposures.min() >= 1
    assert c.fact_exposures().shape == (200, 5) and (c.fact_exposures() == c.item_exposures[:, None]).all()
    assert c.mean_tokens_per_exposure == c.knowledge_tokens / c.exposures


def test_exposure_frequency_matches_its_expectation(synbio, web):
    stream = stream_of(synbio, web, mixing_ratio=0.3)
    collect(stream, 150)
    c = stream.counter
    assert c.mean_tokens_per_exposure == pytest.approx(synbio.expected_tokens_per_exposure, rel=0.01)
    expected = expected_exposure_frequency(synbio, 0.3)
    assert expected.sum() == pytest.approx(0.3 / synbio.expected_tokens_per_exposure)
    assert c.exposure_frequency().mean() == pytest.approx(expected.mean(), rel=0.02)


def test_power_law_exposures_follow_item_probabilities(tokenizer, web):
    source = SynBio(SynBioConfig(people=200, seed=5, powerlaw_groups=10, powerlaw_exponent=1.5), tokenizer)
    stream = stream_of(source, web, mixing_ratio=0.5)
    assert stream.item_order == "iid"
    collect(stream, 100)
    by_group = np.bincount(source.group_of, weights=stream.counter.item_exposures, minlength=10)
    expected = np.arange(1, 11) ** -1.5 / (np.arange(1, 11) ** -1.5).sum()
    assert np.allclose(by_group / by_group.sum(), expected, atol=0.02)


@pytest.mark.parametrize("bad, match", [
    (dict(mixing_ratio=1.2), r"\[0, 1\]"), (dict(mixing_ratio=-0.1), r"\[0, 1\]"),
    (dict(seq_len=64), "longest exposure"), (dict(item_order="random"), "item_order")])
def test_bad_stream_arguments_raise_value_error(bad, match, synbio, web):
    with pytest.raises(ValueError, match=match):
        stream_of(synbio, web, **bad)


def test_missing_web_or_knowledge_is_refused(synbio, web):
    with pytest.raises(ValueError, match="web"):
        stream_of(synbio, np.zeros(0, np.int32), mixing_ratio=0.5)
    with pytest.raises(ValueError, match="knowledge"):
        stream_of(None, web, mixing_ratio=0.5)
