"""SynBio (arXiv 2505.18091, setup) and its variants: statistics, token-level generation, evaluation items, CLI.

The tokenizer is a real byte-level BPE trained here on SynBio text and English docstrings."""
from __future__ import annotations

import importlib
import inspect
import json
import math
import subprocess
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from empirical.knowledge.synbio import ATTRIBUTES, MONTHS, TEMPLATES, Domains, SynBio, SynBioConfig, load_list

EOT = "<|endoftext|>"


def english_documents() -> list[str]:
    """Real English prose available offline everywhere: docstrings of the standard library."""
    docs = []
    for name in ("argparse", "collections", "json", "pathlib", "subprocess", "dataclasses", "functools",
                 "itertools", "logging", "random", "statistics", "textwrap", "unittest", "email", "http.client",
                 "urllib.request", "tarfile", "zipfile", "datetime", "decimal", "fractions", "threading", "asyncio",
                 "os", "re", "shutil", "string", "inspect", "pickle", "csv", "sqlite3", "socket", "difflib"):
        module = importlib.import_module(name)
        for obj in [module] + [v for _, v in sorted(vars(module).items()) if inspect.isclass(v) or inspect.isfunction(v)]:
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 200:
                docs.append(doc)
    return list(dict.fromkeys(docs))


def train_bpe(texts: list[str], vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    text_only = SynBio(SynBioConfig(people=1500, seed=99))
    bios = text_only.render(np.random.default_rng(0), np.arange(1500))
    return train_bpe(bios + english_documents())


@pytest.fixture(scope="module")
def synbio(tokenizer):
    return SynBio(SynBioConfig(people=300, seed=3), tokenizer)


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([int(x) for x in ids], skip_special_tokens=False)


# --- domains and population ---------------------------------------------------------------------

def test_domain_sizes_match_the_paper():
    d = Domains.load()
    assert (len(d.first), len(d.middle), len(d.last)) == (400, 400, 1000)
    assert d.name_space == 160_000_000
    assert d.sizes == {"birth_date": 28 * 12 * 200, "birth_city": 200, "university": 300, "major": 100, "employer": 263}


@pytest.mark.parametrize("name", ["first", "middle", "last", "cities", "universities", "majors", "employers"])
def test_data_lists_are_unique_and_clean(name):
    items = load_list(name)
    assert len(set(items)) == len(items)
    assert all(x == x.strip() and x and "\t" not in x for x in items)


def test_cities_are_city_comma_state():
    assert all(len(c.rsplit(", ", 1)[1]) == 2 and c.rsplit(", ", 1)[1].isupper() for c in load_list("cities"))
    assert "St. Louis, MO" in load_list("cities")


def test_bits_per_person_is_the_sum_of_log_domain_sizes(synbio):
    expected = math.log2(67200) + math.log2(200) + math.log2(300) + math.log2(100) + math.log2(263)
    assert synbio.bits_per_item == pytest.approx(expected)
    assert 46.5 < synbio.bits_per_item < 46.7  # the paper: "about 46.5 bits"


def test_dates_cover_days_1_to_28_all_months_and_200_years():
    dates = Domains.load().values["birth_date"]
    assert dates[0] == "January 01, 1900" and dates[-1] == "December 28, 2099"
    assert "August 09, 1992" in dates and len(set(dates)) == 67200


def test_names_are_unique_and_seeded():
    a = SynBio(SynBioConfig(people=20_000, seed=5))
    names = [a.person_name(i) for i in range(20_000)]
    assert len(set(names)) == 20_000
    b = SynBio(SynBioConfig(people=20_000, seed=5))
    assert np.array_equal(a.name_index, b.name_index) and np.array_equal(a.value_index, b.value_index)
    c = SynBio(SynBioConfig(people=20_000, seed=6))
    assert not np.array_equal(a.name_index, c.name_index)


def test_attribute_values_are_uniform_by_chi_square():
    s = SynBio(SynBioConfig(people=30_000, seed=11))
    date = s.value_index[:, 0]
    columns = {"day": (date % 28, 28), "month": (date // 28 % 12, 12), "year": (date // 336, 200)}
    for k, attr in enumerate(ATTRIBUTES[1:], start=1):
        columns[attr] = (s.value_index[:, k], s.domains.sizes[attr])
    for name, (values, size) in columns.items():
        counts = np.bincount(values, minlength=size)
        assert counts.shape == (size,)
        assert stats.chisquare(counts).pvalue > 1e-3, name
    # Independence of two attributes (city x major would need 20k cells; use coarse bins).
    table = np.histogram2d(s.value_index[:, 1] % 10, s.value_index[:, 3] % 10, bins=10)[0]
    assert stats.chi2_contingency(table).pvalue > 1e-3


@pytest.mark.parametrize("bad", [
    dict(people=0), dict(people=160_000_001), dict(people=10, subsample_rho=0.0), dict(people=10, subsample_rho=1.5),
    dict(people=10, ckm_tau=-0.1), dict(people=10, powerlaw_groups=3), dict(people=10, powerlaw_exponent=0.0)])
def test_bad_configs_raise_value_error_naming_the_value(bad):
    with pytest.raises(ValueError) as err:
        SynBioConfig(**bad)
    assert any(str(v) in str(err.value) for v in bad.values())


# --- exposures ------------------------------------------------------------------------------------

def test_every_template_and_many_sentence_orders_are_used():
    s = SynBio(SynBioConfig(people=50, seed=1))
    rows, _ = s.layout(np.random.default_rng(0), np.arange(3000) % 50)
    words = rows[:, :40].reshape(-1, 5, 8)[:, :, 3]
    which = {int(s.words[a, t]): (a, t) for a in range(5) for t in range(5)}
    used = Counter(which[int(w)] for w in words.ravel())
    assert len(used) == 25 and min(used.values()) > 3000 * 5 / 25 * 0.8
    orders = Counter(tuple(which[int(w)][0] for w in row) for row in words)
    assert all(sorted(o) == [0, 1, 2, 3, 4] for o in orders)  # each attribute exactly once
    assert len(orders) >= 110  # of the 120 orders, with 3000 biographies


def test_text_has_five_sentences_each_starting_with_the_full_name(synbio):
    texts = synbio.render(np.random.default_rng(1), np.arange(40))
    for i, text in enumerate(texts):
        name = synbio.person_name(i)
        values = synbio.attribute_values(i)
        assert text.count(name) == 5 and text.startswith(name) and text.count(". " + name) == 4
        assert all(v in text for v in values.values())


def test_tokens_decode_exactly_to_the_rendered_text(synbio, tokenizer):
    items = np.arange(300)
    exposures = synbio.exposures(np.random.default_rng(7), items)
    texts = synbio.render(np.random.default_rng(7), items)
    for i, text in enumerate(texts):
        ids = exposures.exposure(i)
        assert decode(tokenizer, ids) == text + EOT
        assert ids[-1] == synbio.eot_id
        # Fragments split where the pre-tokenizer splits, so the ids are the text's own tokenization.
        assert tokenizer.encode(text).ids == ids[:-1].tolist()


def test_expected_tokens_per_biography_is_exact(synbio):
    rng = np.random.default_rng(2)
    items = np.repeat(np.arange(20), 2000)
    lengths = synbio.exposures(rng, items).lengths.reshape(20, 2000)
    expected = synbio.expected_biography_tokens(np.arange(20))
    # Only the template draws vary: the mean converges to the exact value.
    assert np.allclose(lengths.mean(axis=1), expected, rtol=0.01)
    assert lengths.max() <= synbio.max_tokens_per_exposure


def test_evaluation_prompts_are_exact_prefixes_of_training_sentences(synbio, tokenizer):
    person = 17
    items = synbio.evaluation_items([person])
    assert len(items) == 25 and {(it.attribute, it.template) for it in items} == {(a, t) for a in ATTRIBUTES for t in range(5)}
    exposures = synbio.exposures(np.random.default_rng(4), np.full(400, person))
    starts = [exposures.exposure(i).tolist() for i in range(400)]
    for it in items:
        sentence = it.prompt + it.target
        assert any(s[:len(sentence)] == sentence for s in starts), (it.attribute, it.template)
        assert decode(tokenizer, it.prompt) == it.prompt_text
        assert decode(tokenizer, it.target) == " " + it.target_text
        assert it.target_text == synbio.attribute_values(person)[it.attribute]
        assert tokenizer.encode(it.prompt_text).ids == it.prompt
    assert items[0].prompt_text == f"{synbio.person_name(person)}'s birth date is"


def test_later_sentences_contain_the_prompt_with_a_leading_space(synbio, tokenizer):
    item = synbio.evaluation_items([3])[7]
    text = synbio.render(np.random.default_rng(0), np.full(200, 3))
    assert sum(" " + item.prompt_text + " " + item.target_text in t for t in text) > 0


def test_render_and_exposures_make_the_same_draws(synbio, tokenizer):
    a = synbio.render(np.random.default_rng(9), np.arange(5))
    b = synbio.exposures(np.random.default_rng(9), np.arange(5))
    assert [decode(tokenizer, b.exposure(i))[:-len(EOT)] for i in range(5)] == a


def test_text_only_synbio_refuses_token_generation():
    with pytest.raises(ValueError, match="tokenizer"):
        SynBio(SynBioConfig(people=5)).exposures(np.random.default_rng(0), np.arange(2))


# --- variants -------------------------------------------------------------------------------------

def test_power_law_group_frequencies_follow_the_exponent(tokenizer):
    s = SynBio(SynBioConfig(people=1000, seed=2, powerlaw_groups=100, powerlaw_exponent=1.5))
    items = s.sample_items(np.random.default_rng(0), 400_000)
    groups = np.bincount(s.group_of[items], minlength=100)
    g = np.arange(1, 101)
    expected = g ** -1.5 / (g ** -1.5).sum() * items.size
    assert stats.chisquare(groups, expected).pvalue > 1e-3
    slope = np.polyfit(np.log(g[:30]), np.log(groups[:30]), 1)[0]
    assert slope == pytest.approx(-1.5, abs=0.05)
    within = np.bincount(items[s.group_of[items] == 0], minlength=10)[:10]  # group 1: uniform over its 10 people
    assert stats.chisquare(within).pvalue > 1e-3
    assert not s.uniform


@pytest.mark.parametrize("rho", [0.25, 0.5625, 1.0])
def test_subsampling_keeps_a_fraction_rho_and_evaluates_everyone(rho, tokenizer):
    s = SynBio(SynBioConfig(people=400, seed=1, subsample_rho=rho), tokenizer)
    assert s.trained.size == round(rho * 400)
    items = s.sample_items(np.random.default_rng(0), 20_000)
    assert set(np.unique(items)) == set(s.trained.tolist())
    assert np.isclose(s.item_probabilities.sum(), 1) and (s.item_probabilities > 0).sum() == s.trained.size
    assert len(s.evaluation_items()) == 400 * 25
    again = SynBio(SynBioConfig(people=400, seed=1, subsample_rho=rho))
    assert np.array_equal(again.trained, s.trained)


@pytest.mark.parametrize("tau", [0.1, 0.3])
def test_compact_forms_add_a_fraction_tau_of_the_biography_tokens(tau, tokenizer):
    s = SynBio(SynBioConfig(people=200, seed=4, ckm_tau=tau), tokenizer)
    exposures = s.sample_exposures(np.random.default_rng(0), 40_000)
    compact_tokens = exposures.lengths[exposures.compact].sum()
    bio_tokens = exposures.lengths[~exposures.compact].sum()
    assert compact_tokens / bio_tokens == pytest.approx(tau, rel=0.03)
    assert exposures.lengths.mean() == pytest.approx(s.expected_tokens_per_exposure, rel=0.01)
    i = int(np.flatnonzero(exposures.compact)[0])
    text = decode(tokenizer, exposures.exposure(i))
    person = int(exposures.items[i])
    assert text.startswith("Bio: N " + s.person_name(person)) and text.endswith(EOT)
    assert all(v in text for v in s.attribute_values(person).values())


# --- CLI ------------------------------------------------------------------------------------------

def run_cli(*args):
    """``python -m empirical synbio ARGS`` in-process: (status, stdout, stderr)."""
    import contextlib
    import io

    from empirical.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["synbio", *args])
    return subprocess.CompletedProcess(["synbio", *args], status, out.getvalue(), err.getvalue())


def test_cli_writes_json_lines_of_exposures():
    result = run_cli("--people", "50", "--seed", "3", "--count", "20", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 20
    reference = SynBio(SynBioConfig(people=50, seed=3))
    names = {reference.person_name(i): i for i in range(50)}
    for line in lines:
        assert set(line) >= {"person", "attributes", "text"}
        assert line["attributes"] == reference.attribute_values(names[line["person"]])
        assert set(line["attributes"]) == set(ATTRIBUTES)
        assert line["text"].startswith(line["person"]) and all(v in line["text"] for v in line["attributes"].values())
    again = run_cli("--people", "50", "--seed", "3", "--count", "20", "--json")
    assert again.stdout == result.stdout


def test_cli_prints_text_and_info():
    text = run_cli("--people", "5", "--count", "2")
    assert text.returncode == 0 and text.stdout.count("\n") >= 2
    info = run_cli("--people", "5", "--info")
    assert info.returncode == 0 and "46.59" in info.stdout


@pytest.mark.parametrize("args, fragment", [
    (("--people", "160000001"), "160000000"), (("--people", "10", "--rho", "0"), "(0, 1]"),
    (("--people", "10", "--mixing-ratio", "1.5"), "[0, 1]"), (("--task", "sort"), "sort")])
def test_cli_errors_are_one_line_and_exit_2(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and fragment in result.stderr and "Traceback" not in result.stderr


def test_months_are_rendered_in_full():
    assert MONTHS[7] == "August" and len(TEMPLATES) == 5 and all(len(v) == 5 for v in TEMPLATES.values())


def test_make_knowledge_builds_each_kind(tokenizer):
    from empirical.knowledge.base import KnowledgeSource
    from empirical.knowledge.registry import make_knowledge
    power = make_knowledge("synbio-powerlaw", tokenizer, people=200, powerlaw_groups=20)
    assert isinstance(power, KnowledgeSource) and power.config.powerlaw_groups == 20
    plain = make_knowledge("synbio", tokenizer, people=200, subsample_rho=0.5, ckm_tau=0.1)
    assert plain.config.powerlaw_groups == 0 and plain.trained.size == 100 and plain.compact_probability > 0
    assert make_knowledge("max", tokenizer, eval_items=10).held_out.shape == (10, 30)
    with pytest.raises(ValueError, match="unknown knowledge kind"):
        make_knowledge("wiki", tokenizer)
