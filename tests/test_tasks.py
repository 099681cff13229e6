"""The reasoning tasks of arXiv 2505.18091, Sec. 3.3 (slope, Max-over-N): answers, held-out items, tokens."""
from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from empirical.knowledge.tasks import MAX_TEMPLATES, SLOPE_TEMPLATES, MaxTask, SlopeTask, make_task, reduced_slope

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    texts = SlopeTask().render_samples(np.random.default_rng(0), 3000) + MaxTask().render_samples(np.random.default_rng(0), 1500)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=700, special_tokens=[EOT], show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tokenizer


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([int(x) for x in ids], skip_special_tokens=False)


@pytest.mark.parametrize("points, answer", [
    ((0, 0, 4, 2), "1/2"), ((1, 5, 3, 1), "-2"), ((0, 3, 5, 3), "0"), ((3, 0, 1, 6), "-3"),
    ((10, 20, 30, 35), "3/4"), ((99, 0, 0, 99), "-1"), ((2, 7, 9, 1), "-6/7")])
def test_reduced_slope_examples(points, answer):
    assert reduced_slope(*points) == answer


def test_vertical_line_has_no_slope():
    with pytest.raises(ValueError, match="vertical"):
        reduced_slope(4, 1, 4, 9)


NUMBER = re.compile(r"-?\d+")


def test_slope_answers_are_reduced_fractions_of_the_question():
    texts = SlopeTask().render_samples(np.random.default_rng(1), 3000)
    for text in texts:
        x1, y1, x2, y2, *rest = (int(v) for v in NUMBER.findall(text.split("(", 1)[1]))
        answer = re.search(r"(-?\d+(?:/\d+)?)\.?$", text).group(1)
        assert answer == str(Fraction(y2 - y1, x2 - x1))  # Fraction prints reduced, sign on the numerator
        assert all(0 <= v <= 99 for v in (x1, y1, x2, y2)) and x1 != x2


def test_max_answers_are_the_maximum_of_thirty_numbers():
    texts = MaxTask().render_samples(np.random.default_rng(2), 2000)
    for text in texts:
        numbers = [int(v) for v in NUMBER.findall(text)]
        *values, answer = numbers
        assert len(values) == 30 and answer == max(values) and all(0 <= v <= 99 for v in values)


@pytest.mark.parametrize("task, templates", [(SlopeTask(), SLOPE_TEMPLATES), (MaxTask(), MAX_TEMPLATES)])
def test_every_template_is_used(task, templates):
    texts = task.render_samples(np.random.default_rng(3), 1000)
    starts = Counter(next(i for i, t in enumerate(templates) if text.startswith(t.split("{")[0])) for text in texts)
    assert len(starts) == len(templates) and min(starts.values()) > 150


def test_slope_held_out_items_are_never_generated_in_training():
    # A small coordinate range (5^3 x 4 = 500 instances) so that training draws would hit the 2 x 60
    # held-out instances thousands of times if they were not excluded.
    task = SlopeTask(seed=1, eval_items=60, max_value=4)
    assert task.held_out_codes.size == 120
    rows, instances = task.sample_layout(np.random.default_rng(0), 50_000)
    codes = task._codes(instances)
    assert not np.isin(codes, task.held_out_codes).any()
    assert np.unique(codes).size == 500 - 120  # every other instance is generated
    swapped = task._codes(task.held_out[:, [2, 3, 0, 1]])
    assert np.isin(swapped, task.held_out_codes).all()


def test_max_held_out_items_are_never_generated_in_training():
    task = MaxTask(seed=2, eval_items=5, count=2, max_value=4)  # 25 instances, 5 held out
    _, instances = task.sample_layout(np.random.default_rng(0), 20_000)
    held = {tuple(row) for row in task.held_out.tolist()}
    seen = {tuple(row) for row in instances.tolist()}
    assert not held & seen and len(seen) == 20


def test_held_out_sets_are_seeded():
    assert np.array_equal(SlopeTask(seed=3, eval_items=50).held_out, SlopeTask(seed=3, eval_items=50).held_out)
    assert not np.array_equal(SlopeTask(seed=3, eval_items=50).held_out, SlopeTask(seed=4, eval_items=50).held_out)


@pytest.mark.parametrize("name", ["slope", "max"])
def test_task_tokens_decode_to_text_and_prompts_are_prefixes(name, tokenizer):
    task = make_task(name, tokenizer, eval_items=20)
    exposures = task.sample_exposures(np.random.default_rng(5), 200)
    texts = task.render_samples(np.random.default_rng(5), 200)
    for i, text in enumerate(texts):
        ids = exposures.exposure(i)
        assert decode(tokenizer, ids) == text + EOT
        assert tokenizer.encode(text).ids == ids[:-1].tolist()
    assert exposures.lengths.max() <= task.max_tokens_per_exposure
    items = task.evaluation_items()
    assert len(items) == 20 * 5
    for item in items:
        instance = task.held_out[item.person]
        assert item.target_text == task.answer_text(instance)
        assert decode(tokenizer, item.prompt) == item.prompt_text
        # the answer and what ends it (end-of-text, or the "." of "The slope is {answer}.")
        assert decode(tokenizer, item.target) in (" " + item.target_text + EOT, " " + item.target_text + ".")
        full = task.layout(instance[None, :], np.array([item.template]))
        assert task.pieces.ids(full[0])[:len(item.prompt) + len(item.target)] == item.prompt + item.target


def test_unknown_task_raises_value_error():
    with pytest.raises(ValueError, match="unknown task 'sort'"):
        make_task("sort")


def test_task_mean_tokens_is_close_to_the_sampled_mean(tokenizer):
    task = SlopeTask(tokenizer)
    lengths = task.sample_exposures(np.random.default_rng(8), 20_000).lengths
    assert lengths.mean() == pytest.approx(task.expected_tokens_per_exposure, rel=0.01)
