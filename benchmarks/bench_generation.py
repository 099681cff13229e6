"""Knowledge tokens generated per second on one core: token-level SynBio generation against
rendering the text and tokenizing it (target: >= 2M tokens/s and >= 20x), and the
throughput of the mixed training stream.

    python benchmarks/bench_generation.py [--people 10000] [--seconds 3] [--tokenizer tokenizer.json]

Without --tokenizer, a 4096-token byte-level BPE is trained on SynBio text and English docstrings.
"""
from __future__ import annotations

import os

# One core: set before numpy and tokenizers start their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from empirical.knowledge.base import eot_id_of  # noqa: E402
from empirical.text.mixing import MixedStream  # noqa: E402
from empirical.knowledge.synbio import SynBio, SynBioConfig  # noqa: E402


def english_documents() -> list[str]:
    docs = []
    for name in ("argparse", "collections", "json", "pathlib", "subprocess", "dataclasses", "functools", "logging",
                 "random", "statistics", "unittest", "email", "tarfile", "datetime", "decimal", "threading", "asyncio"):
        module = importlib.import_module(name)
        for obj in [module] + [v for _, v in sorted(vars(module).items()) if inspect.isclass(v) or inspect.isfunction(v)]:
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 200:
                docs.append(doc)
    return list(dict.fromkeys(docs))


def make_tokenizer(path: str | None, people: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    if path:
        return Tokenizer.from_file(path)
    bios = SynBio(SynBioConfig(people=2000, seed=1)).render(np.random.default_rng(0), np.arange(2000))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(bios + english_documents(), trainer=trainers.BpeTrainer(
        vocab_size=4096, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tokenizer


def rate(step, seconds: float) -> float:
    """Tokens per second of ``step()`` (returns tokens made), run for about ``seconds``."""
    step()  # warm up
    tokens, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        tokens += step()
    return tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=1024, help="exposures generated per call")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--tokenizer", default=None, help="tokenizer.json (default: train a 4096-token BPE)")
    args = parser.parse_args()
    tokenizer = make_tokenizer(args.tokenizer, args.people)
    eot = eot_id_of(tokenizer)
    synbio = SynBio(SynBioConfig(people=args.people, seed=0), tokenizer)
    rng = np.random.default_rng(0)

    def token_level() -> int:
        return int(synbio.sample_exposures(rng, args.block).tokens.size)

    def text_then_tokenize() -> int:
        texts = synbio.render(rng, synbio.sample_items(rng, args.block))
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        return sum(len(e.ids) + 1 for e in encodings)  # + end-of-text

    fast = rate(token_level, args.seconds)
    slow = rate(text_then_tokenize, args.seconds)
    web = np.asarray([t for doc in english_documents() for t in tokenizer.encode(doc).ids + [eot]], dtype=np.int32)
    stream = MixedStream(synbio, web, mixing_ratio=0.3, seq_len=2048, batch_size=64, seed=0)
    mixed = rate(lambda: int(stream.next_batch().size), args.seconds)
    print(f"tokenizer: {args.tokenizer or 'BPE 4096 trained here'}; SynBio-{args.people}; one core; "
          f"{synbio.expected_tokens_per_exposure:.1f} tokens per biography")
    print(f"token-level generation:   {fast / 1e6:8.2f} M knowledge tokens/s")
    print(f"render text + tokenize:   {slow / 1e6:8.2f} M knowledge tokens/s")
    print(f"speed-up:                 {fast / slow:8.1f}x   (targets: >= 2 M tokens/s, >= 20x)")
    print(f"mixed stream (r=0.3, 64 x 2048 batches): {mixed / 1e6:.2f} M tokens/s")


if __name__ == "__main__":
    main()
