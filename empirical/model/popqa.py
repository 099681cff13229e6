"""Evaluate a Hugging Face causal LM on a PopQA-style question file, writing the per-question CSV that
``capacity popularity-threshold`` reads (arXiv 2505.18091, Section 5: threshold popularity on PopQA).

Question file: JSON Lines, one question per line, with the keys

    id          unique string
    prompt      the exact text given to the model (e.g. "Q: In what city was Ada Quill born? A:")
    answers     non-empty list of accepted answers
    popularity  number > 0 (PopQA: monthly Wikipedia page views of the subject)
    match       "exact" or "contains", declared per question
    meta        optional, any JSON value, ignored

The model continues each prompt greedily (a shared ``prefix``, e.g. few-shot examples, goes before
every prompt). With leading whitespace removed, the continuation is scored

* "exact": correct iff it starts with one of the answers, followed by the end of the continuation or
  a character that is not a letter or digit ("Paris." matches "Paris", "Parisian" does not);
  case-sensitive, as the exact-match recall of the training evaluation;
* "contains": correct iff one of the answers occurs anywhere in it, ignoring case (PopQA's own
  scoring of free-form answers).

Generation length: for "exact", the longest answer's tokens plus 2; for "contains", ``max_new_tokens``.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from empirical.knowledge.jsonl import read_records

MATCH_RULES = ("exact", "contains")
QUESTION_KEYS = {"id", "prompt", "answers", "popularity", "match"}
OPTIONAL_KEYS = {"meta"}
CSV_COLUMNS = ("model", "params", "popularity", "correct", "id")


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    answers: tuple[str, ...]
    popularity: float
    match: str


def _question(raw, where: str) -> Question:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    unknown, missing = set(raw) - QUESTION_KEYS - OPTIONAL_KEYS, QUESTION_KEYS - set(raw)
    if unknown or missing:
        raise ValueError(f"{where}: " + (f"unknown key(s) {sorted(unknown)}" if unknown else f"missing key(s) {sorted(missing)}")
                         + f"; a question has {sorted(QUESTION_KEYS)} and optionally 'meta'")
    for key in ("id", "prompt"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ValueError(f"{where}: {key} must be a non-empty string, got {raw[key]!r}")
    answers = raw["answers"]
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        raise ValueError(f"{where}: answers must be a non-empty list of non-empty strings, got {answers!r}")
    pop = raw["popularity"]
    if isinstance(pop, bool) or not isinstance(pop, (int, float)) or not math.isfinite(pop) or pop <= 0:
        raise ValueError(f"{where}: popularity must be a finite number > 0, got {pop!r}")
    if raw["match"] not in MATCH_RULES:
        raise ValueError(f"{where}: match must be one of {MATCH_RULES}, got {raw['match']!r}")
    return Question(raw["id"], raw["prompt"], tuple(a.strip() for a in answers), float(pop), raw["match"])


def load_questions(path: str | Path) -> list[Question]:
    """Every question of a file, validated; errors name the file and line."""
    return read_records(path, "question file", _question, "no questions (one JSON object per line)")


def is_correct(continuation: str, answers: Sequence[str], match: str) -> bool:
    """The scoring rule of the module docstring."""
    text = continuation.lstrip()
    if match == "contains":
        lowered = text.lower()
        return any(a.lower() in lowered for a in answers)
    if match != "exact":
        raise ValueError(f"match must be one of {MATCH_RULES}, got {match!r}")
    return any(text.startswith(a) and (len(text) == len(a) or not text[len(a)].isalnum()) for a in answers)


def wrap_tokenizer(loaded) -> Any:
    """A ``transformers`` fast tokenizer around a project tokenizer (``empirical.text.tokenizer``), so a
    model saved by ``empirical.model.hf.save_pretrained`` (which writes no tokenizer) can be evaluated."""
    from transformers import PreTrainedTokenizerFast

    eos = loaded.tokenizer.id_to_token(loaded.info.eos_id)
    pad = loaded.tokenizer.id_to_token(loaded.info.pad_id)
    return PreTrainedTokenizerFast(tokenizer_object=loaded.tokenizer, eos_token=eos, pad_token=pad)


def load_model(model_dir: str | Path, tokenizer_spec: str | None = None, device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer) from a local folder, never from the network."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # stderr stays for errors
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"--model-dir {model_dir}: not a Hugging Face model folder (no config.json)")
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch_dtype).to(device).eval()
    if tokenizer_spec is not None:
        from empirical.text.tokenizer import load_tokenizer

        tokenizer = wrap_tokenizer(load_tokenizer(tokenizer_spec))
    else:
        # transformers 5 builds an empty tokenizer for a folder without one: look for its files first.
        files = ("tokenizer.json", "vocab.json", "tokenizer.model")
        problem = "" if any((model_dir / f).is_file() for f in files) else f"none of {', '.join(files)}"
        if not problem:
            try:
                tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            except (OSError, ValueError) as exc:
                problem = str(exc).splitlines()[0]
        if problem:
            raise ValueError(f"--model-dir {model_dir}: no usable tokenizer there ({problem}); "
                             "pass --tokenizer (pythia, bpe-<vocab> or a tokenizer.json)")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation continues from the right end of every row
    return model, tokenizer


def count_parameters(model) -> int:
    """Total parameters (tied embeddings once), the size PopQA-style families are named by."""
    return int(sum(p.numel() for p in model.parameters()))


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy continuations of ``prompts`` (left-padded batches), decoded without special tokens."""
    import torch

    out: list[str] = []
    device = next(model.parameters()).device
    for start in range(0, len(prompts), batch_size):
        # The tokenizer's own special tokens (a BOS for Llama-style models; none for GPT-NeoX's).
        batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new = ids[:, batch["input_ids"].shape[1]:]
        out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return out


def evaluate_questions(model, tokenizer, questions: Sequence[Question], *, prefix: str = "", max_new_tokens: int = 24,
                       batch_size: int = 16) -> list[tuple[Question, str, bool]]:
    """(question, continuation, correct) for every question; exact and contains questions are
    generated separately, each with its own length."""
    results: dict[str, tuple[str, bool]] = {}
    for rule in MATCH_RULES:
        chosen = [q for q in questions if q.match == rule]
        if not chosen:
            continue
        if rule == "exact":
            longest = max(len(tokenizer(" " + a, add_special_tokens=False)["input_ids"]) for q in chosen for a in q.answers)
            length = longest + 2
        else:
            length = max_new_tokens
        texts = generate(model, tokenizer, [prefix + q.prompt for q in chosen], length, batch_size)
        for q, text in zip(chosen, texts):
            results[q.id] = (text, is_correct(text, q.answers, rule))
    return [(q, *results[q.id]) for q in questions]


def check_out(path: str | Path, model_name: str, *, append: bool) -> bool:
    """Refuse an output that would be overwritten or mixed up; True when rows go after a header there."""
    path = Path(path)
    if path.exists() and not append:
        raise ValueError(f"--out {path}: exists; pass --append to add this model's rows to it, or remove it")
    if not (append and path.exists() and path.stat().st_size):
        return False
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        if tuple(header) != CSV_COLUMNS:
            raise ValueError(f"--out {path}: its header is {','.join(header)}, expected {','.join(CSV_COLUMNS)}")
        if any(row and row[0] == model_name for row in rows):
            raise ValueError(f"--out {path}: already has rows of model {model_name!r}; pass another --model-name")
    return True


def write_rows(path: str | Path, model_name: str, params: float, scored, *, append: bool) -> int:
    """Write (or append) one CSV row per question; returns the rows written."""
    after_header = check_out(path, model_name, append=append)
    with Path(path).open("a" if after_header else "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if not after_header:
            writer.writerow(CSV_COLUMNS)
        for q, _, ok in scored:
            writer.writerow([model_name, f"{params:.10g}", f"{q.popularity:.10g}", int(ok), q.id])
    return len(scored)
