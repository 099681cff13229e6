"""``python -m empirical popqa-eval`` on a tiny GPT-NeoX written here by transformers, with the project's
own BPE tokenizer saved beside it: no network. Expected correctness comes from an independent greedy
decode, one prompt at a time without padding, so batching, padding and scoring are all checked."""
from __future__ import annotations

import csv
import json
import re

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from empirical.__main__ import main  # noqa: E402
from empirical.model.popqa import is_correct, load_questions, wrap_tokenizer  # noqa: E402
from empirical.text.tokenizer import load_tokenizer  # noqa: E402

PROMPTS = [
    "Q: In what town was Maren Tessaly born? A:", "Q: Who was the captain of the Grey Heron? A:",
    "The river that flows through Vellmoor is the", "Q: What does the marsh wimble eat? A:",
    "Q: When was Dunhallow founded? A:", "Odvin Parrish worked as a", "The home port of the Amber Gull was",
    "Q: What colour is the fur of the copper vole? A:", "Casimir Vane was employed by", "Sarnby is a town in the province of",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    loaded = load_tokenizer("bpe-2048")
    torch.manual_seed(0)
    config = transformers.GPTNeoXConfig(vocab_size=loaded.info.vocab_size, hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=256,
                                        eos_token_id=loaded.info.eos_id, bos_token_id=loaded.info.eos_id)
    model = transformers.GPTNeoXForCausalLM(config).eval()
    folder = tmp_path_factory.mktemp("hf") / "tiny-neox"
    model.save_pretrained(folder)
    tokenizer = wrap_tokenizer(loaded)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def greedy(model, tokenizer, prompt: str, n: int) -> str:
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    start = len(ids)
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            if nxt == tokenizer.eos_token_id:
                break
            ids.append(nxt)
    return tokenizer.decode(ids[start:], skip_special_tokens=True)


def test_scoring_rules():
    assert is_correct(" Paris.", ["Paris"], "exact") and is_correct("Paris", ["Lyon", "Paris"], "exact")
    assert not is_correct(" Parisian", ["Paris"], "exact") and not is_correct(" paris", ["Paris"], "exact")
    assert not is_correct(" It is Paris", ["Paris"], "exact")
    assert is_correct(" It is PARIS, I think", ["Paris"], "contains") and not is_correct(" Lyon", ["Paris"], "contains")


def build_questions(model, tokenizer, path):
    """Questions whose right answers are the model's own greedy words, plus wrong ones: (file, expected)."""
    lines, expected = [], {}
    for k, prompt in enumerate(PROMPTS):
        text = greedy(model, tokenizer, prompt, 24)
        word = re.match(r"\s*([A-Za-z0-9]+)(?=[^A-Za-z0-9]|$)", text)
        if word and text.isascii():
            first = word.group(1)
            lines.append({"id": f"e{k}", "prompt": prompt, "answers": ["qqqzzz", first], "popularity": 10.0 + k,
                          "match": "exact"})
            expected[f"e{k}"] = 1
            lines.append({"id": f"c{k}", "prompt": prompt, "answers": [text.strip()[-6:].upper()],
                          "popularity": 100.0 + k, "match": "contains"})
            expected[f"c{k}"] = 1 if text.strip()[-6:] else 0
        lines.append({"id": f"w{k}", "prompt": prompt, "answers": ["Xqzvy"], "popularity": 1000.0 + k, "match": "exact"})
        expected[f"w{k}"] = 0
        lines.append({"id": f"n{k}", "prompt": prompt, "answers": ["zzqqxx"], "popularity": 5000.0 + k,
                      "match": "contains", "meta": {"note": "never generated"}})
        expected[f"n{k}"] = int("zzqqxx" in text.lower())
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return expected


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_popqa_eval_writes_the_rows_an_unbatched_greedy_decode_predicts(tiny_model, tmp_path, capsys):
    folder, model, tokenizer = tiny_model
    expected = build_questions(model, tokenizer, tmp_path / "q.jsonl")
    assert sum(expected.values()) >= 4  # the model's own words: some questions must be answered right
    out = tmp_path / "family.csv"
    assert main(["popqa-eval", "--model-dir", str(folder), "--questions", str(tmp_path / "q.jsonl"), "--out", str(out),
                 "--batch-size", "3", "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = read_csv(out)
    assert list(rows[0]) == ["model", "params", "popularity", "correct", "id"]
    assert {r["id"]: int(r["correct"]) for r in rows} == expected
    params = sum(p.numel() for p in model.parameters())
    assert all(r["model"] == "tiny-neox" and float(r["params"]) == params for r in rows)
    assert summary["correct"] == sum(expected.values()) and summary["questions"] == len(expected)

    # A second model appended under its own name; the same name again is refused.
    assert main(["popqa-eval", "--model-dir", str(folder), "--questions", str(tmp_path / "q.jsonl"), "--out", str(out),
                 "--append", "--model-name", "again", "--params", "5e8", "--device", "cpu"]) == 0
    rows = read_csv(out)
    assert len(rows) == 2 * len(expected) and {r["params"] for r in rows if r["model"] == "again"} == {"500000000"}
    capsys.readouterr()
    assert main(["popqa-eval", "--model-dir", str(folder), "--questions", str(tmp_path / "q.jsonl"), "--out", str(out),
                 "--append", "--model-name", "again", "--device", "cpu"]) == 2
    assert "already has rows of model 'again'" in capsys.readouterr().err

    # The written CSV is what capacity popularity-threshold reads.
    from capacity.popularity import read_popularity_csv
    table = read_popularity_csv(out)
    assert table.models == ("tiny-neox", "again") and table.n_questions["again"] == len(expected)


def test_a_model_folder_without_tokenizer_takes_a_project_tokenizer(tiny_model, tmp_path, capsys):
    folder, model, tokenizer = tiny_model
    bare = tmp_path / "bare"
    model.save_pretrained(bare)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "a", "prompt": PROMPTS[0], "answers": ["x"], "popularity": 3,
                                     "match": "contains"}) + "\n", encoding="utf-8")
    args = ["popqa-eval", "--model-dir", str(bare), "--questions", str(questions), "--device", "cpu"]
    assert main(args + ["--out", str(tmp_path / "a.csv")]) == 2
    assert "pass --tokenizer" in capsys.readouterr().err
    assert main(args + ["--out", str(tmp_path / "b.csv"), "--tokenizer", "bpe-2048"]) == 0
    assert read_csv(tmp_path / "b.csv")[0]["id"] == "a"


@pytest.mark.parametrize("line, fragment", [
    ('{"id": "a", "prompt": "Q", "answers": [], "popularity": 3, "match": "exact"}', "answers must be a non-empty list"),
    ('{"id": "a", "prompt": "Q", "answers": ["x"], "popularity": 0, "match": "exact"}', "popularity must be a finite number > 0"),
    ('{"id": "a", "prompt": "Q", "answers": ["x"], "popularity": 3, "match": "fuzzy"}', "match must be one of"),
    ('{"id": "a", "prompt": "Q", "answers": ["x"], "popularity": 3}', "missing key(s) ['match']"),
    ("nope", "not valid JSON"),
])
def test_bad_question_files_are_refused_with_file_and_line(tiny_model, tmp_path, capsys, line, fragment):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "z", "prompt": "Q", "answers": ["x"], "popularity": 3, "match": "exact"}\n' + line + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: ")):
        load_questions(path)
    assert main(["popqa-eval", "--model-dir", str(tiny_model[0]), "--questions", str(path),
                 "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fragment in err and not (tmp_path / "o.csv").exists()
