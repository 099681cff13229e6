"""Facts files (docs/FACTS.md): loading and refusing, token-level exposures, CKM and subsampling in the
mixture, exact-match items, and real tiny training on the shipped sample."""
from __future__ import annotations

import json

import numpy as np
import pytest

from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.knowledge.facts import SAMPLE_PATH, FactsKnowledge, load_facts
from empirical.knowledge.registry import make_knowledge
from empirical.text.mixing import MixedStream
from empirical.text.tokenizer import load_tokenizer

EOT = "<|endoftext|>"
KIND = f"facts:{SAMPLE_PATH}"


@pytest.fixture(scope="module")
def loaded():
    return load_tokenizer("bpe-2048")


@pytest.fixture(scope="module")
def entities():
    return load_facts(SAMPLE_PATH)


def decode(loaded, ids) -> str:
    return loaded.tokenizer.decode([int(x) for x in ids], skip_special_tokens=False)


def entity_line(**changes) -> dict:
    base = {"id": "x1", "name": "Ada Quill", "texts": ["Ada Quill was born in 1901 in Fennick.", "Born in Fennick, Ada Quill arrived in 1901."],
            "probes": [{"attribute": "birth_year", "prompt": "Ada Quill was born in", "value": "1901"},
                       {"attribute": "hometown", "prompt": "Ada Quill's hometown is", "value": "Fennick"}]}
    base.update(changes)
    return base


# --- the sample and the schema ------------------------------------------------------------------

def test_the_sample_has_forty_entities_with_three_or_four_paraphrases_and_attributes(entities):
    assert len(entities) == 40 and len({e.id for e in entities}) == 40
    assert all(len(e.texts) in (3, 4) and len(e.values) in (3, 4) for e in entities)
    assert all(any(p.value in t for t in e.texts) for e in entities for p in e.probes)


@pytest.mark.parametrize("line, fragment", [
    ("{not json", "not valid JSON"),
    (json.dumps(entity_line(texts=[])), "texts must be a non-empty list"),
    (json.dumps({k: v for k, v in entity_line().items() if k != "probes"}), "missing key(s) ['probes']"),
    (json.dumps(entity_line(colour="red")), "unknown key(s) ['colour']"),
    (json.dumps(entity_line(probes=[{"attribute": "birth_year", "prompt": "Ada Quill was born in", "value": "1902"}])),
     "value '1902' of 'birth_year' appears in none of the entity's texts"),
    (json.dumps(entity_line(probes=[{"attribute": "birth_year", "prompt": "Ada Quill was born in ", "value": "1901"}])),
     "must not start or end with whitespace"),
    (json.dumps(entity_line(probes=[{"attribute": "birth_year", "prompt": "A", "value": "1901", "match": "contains"}])),
     "match must be one of ('exact',)"),
    (json.dumps(entity_line(probes=[{"attribute": "birth_year", "prompt": "A", "value": "1901"},
                                    {"attribute": "birth_year", "prompt": "B", "value": "Fennick"}])), "has two values"),
    (json.dumps(entity_line(id="a0")), "id 'a0' already used on line 1"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_facts_are_refused_naming_file_and_line(tmp_path, line, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(entity_line(id="a0")) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_facts(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: ") and fragment in message and "\n" not in message


def test_an_empty_or_missing_file_is_refused(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no entities"):
        load_facts(tmp_path / "empty.jsonl")
    with pytest.raises(ValueError, match="cannot read facts file"):
        load_facts(tmp_path / "absent.jsonl")


def test_config_accepts_facts_paths_and_refuses_other_kinds():
    assert DataConfig(knowledge=KIND).knowledge == KIND
    for bad in ("facts:", "fact:x.jsonl", "wikibio"):
        with pytest.raises(ValueError, match="facts:PATH"):
            DataConfig(knowledge=bad)


# --- token-level exposures and evaluation -------------------------------------------------------

def test_exposures_are_one_of_the_entitys_texts_and_cover_every_paraphrase(loaded, entities):
    facts = make_knowledge(KIND, loaded.tokenizer, eot_id=loaded.info.eos_id)
    rng = np.random.default_rng(0)
    items = np.repeat(np.arange(facts.num_items), 40)
    ex = facts.exposures(rng, items)
    seen = {i: set() for i in range(facts.num_items)}
    for k, i in enumerate(ex.items.tolist()):
        text = decode(loaded, ex.exposure(k))
        assert text.endswith(EOT) and text[:-len(EOT)] in entities[i].texts
        seen[i].add(text[:-len(EOT)])
    assert all(seen[i] == set(entities[i].texts) for i in seen)
    assert ex.lengths.max() <= facts.max_tokens_per_exposure
    assert abs(ex.lengths.mean() - facts.expected_tokens_per_exposure) < 0.03 * facts.expected_tokens_per_exposure


def test_evaluation_items_are_the_probes_as_prompt_and_spaced_value_tokens(loaded, entities):
    facts = make_knowledge(KIND, loaded.tokenizer, eot_id=loaded.info.eos_id)
    items = facts.evaluation_items()
    assert len(items) == sum(len(e.probes) for e in entities)
    for item in items:
        probe = next(p for p in entities[item.person].probes if p.attribute == item.attribute)
        assert decode(loaded, item.prompt) == probe.prompt and decode(loaded, item.target) == " " + probe.value
        assert item.template == 0  # the sample has one prompt per attribute


def test_ckm_adds_compact_forms_at_the_requested_token_share(loaded, entities):
    facts = FactsKnowledge(entities, loaded.tokenizer, people=None, ckm_tau=0.5)
    ex = facts.sample_exposures(np.random.default_rng(1), 20_000)
    compact_tokens = ex.lengths[ex.compact].sum()
    text_tokens = ex.lengths[~ex.compact].sum()
    assert abs(compact_tokens / text_tokens - 0.5) < 0.03
    k = int(np.flatnonzero(ex.compact)[0])
    e = entities[int(ex.items[k])]
    assert decode(loaded, ex.exposure(k)) == "Bio: N " + e.name + "".join(f" | {a} {v}" for a, v in e.values.items()) + EOT
    # The stream keeps r: compact forms take knowledge tokens from the texts, not from the web.
    stream = MixedStream(facts, np.asarray(load_web(loaded)), mixing_ratio=0.3, seq_len=128, batch_size=16, seed=0,
                         eot_id=loaded.info.eos_id, pad_id=loaded.info.pad_id)
    for _ in range(20):
        stream.next_batch()
    assert abs(stream.counter.mixing_ratio - 0.3) < 0.02 and stream.counter.compact_exposures > 0


def load_web(loaded):
    from empirical.text.corpus import tokenize_corpus
    return tokenize_corpus("default", "train", loaded, eot_id=loaded.info.eos_id)


def test_subsampling_trains_on_a_seeded_fraction_and_evaluates_everyone(loaded, entities):
    facts = FactsKnowledge(entities, loaded.tokenizer, subsample_rho=0.25, seed=3)
    assert facts.trained.size == 10 and facts.num_items == 40
    assert np.array_equal(facts.trained, FactsKnowledge(entities, loaded.tokenizer, subsample_rho=0.25, seed=3).trained)
    assert not np.array_equal(facts.trained, FactsKnowledge(entities, loaded.tokenizer, subsample_rho=0.25, seed=4).trained)
    stream = MixedStream(facts, np.zeros(0, dtype=np.int64), mixing_ratio=1.0, seq_len=128, batch_size=8, seed=0,
                         eot_id=loaded.info.eos_id, pad_id=loaded.info.pad_id)
    for _ in range(10):
        stream.next_batch()
    counts = stream.counter.item_exposures
    assert set(np.flatnonzero(counts)) == set(facts.trained.tolist())
    assert counts[facts.trained].max() - counts[facts.trained].min() <= 1  # shuffled passes: each once per pass
    assert {it.person for it in facts.evaluation_items()} == set(range(40))


def test_people_keeps_the_first_entities(loaded, entities):
    facts = make_knowledge(KIND, loaded.tokenizer, people=7, eot_id=loaded.info.eos_id)
    assert facts.num_items == 7 and facts.entities == entities[:7]


# --- real training --------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_tiny_training_on_the_sample_evaluates_every_probe(entities):
    from empirical.train.loop import train

    config = TrainConfig(model="tiny-50k", data=DataConfig(knowledge=KIND, mixing_ratio=0.5, seq_len=128, ckm_tau=0.2),
                         batch_size=8, tokens=8 * 128 * 24, optim=OptimConfig(lr=5e-3),
                         schedule=ScheduleConfig(warmup_steps=4), eval=EvalConfig(points=2, people=0, web_sequences=4))
    rows = train(config, progress=False)
    assert [r["step"] for r in rows] == config.eval_steps()
    last = rows[-1]
    assert last["knowledge"] == KIND and last["people_trained"] == 40
    assert 0.0 <= last["accuracy"] <= 1.0
    assert last["items_evaluated"] == sum(len(e.probes) for e in entities)
    assert set(last["accuracy_by_attribute"]) == {p.attribute for e in entities for p in e.probes}
    assert abs(last["mixing_ratio_measured"] - 0.5) < 0.05
    assert rows[-1]["knowledge_loss"] < rows[0]["knowledge_loss"]


def test_train_cli_refuses_a_malformed_facts_file_with_one_line(tmp_path, capsys):
    from empirical.__main__ import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(entity_line()) + "\n" + json.dumps(entity_line(id="x2", texts=["nothing here"])) + "\n")
    status = main(["train", "--knowledge", f"facts:{bad}", "--model", "tiny-50k", "--tokens", "8192",
                   "--batch-size", "4", "--seq-len", "128", "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and f"{bad}:2:" in err


def test_the_shipped_sample_is_what_its_documented_script_writes(tmp_path):
    from conftest import run_script_main

    run_script_main("make_facts_sample", tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == SAMPLE_PATH.read_bytes()
