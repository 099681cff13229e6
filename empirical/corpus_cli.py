"""``python -m empirical corpus``: the default web corpus's size, sources and licences (``--info``),
sample documents (``--sample K``), or a corpus split tokenized into the cached token array the
training runs read (``--tokenize``), with its token counts."""
from __future__ import annotations

import argparse
import json
import time

from empirical.corpus import SPLITS, EmbeddedCorpus, load_corpus, token_stats, tokenize_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--info", action="store_true",
                        help="print the default corpus's size in GPT-NeoX tokens, sources, licences and splits")
    parser.add_argument("--json", action="store_true", help="with --info: print the manifest as JSON")
    parser.add_argument("--corpus", default="default",
                        help="default, default:SOURCE[,SOURCE], folder:PATH, hf:NAME[:CONFIG], fineweb-edu, pile")
    parser.add_argument("--split", default="train", help=f"one of {', '.join(SPLITS)} (default train)")
    parser.add_argument("--sample", type=int, default=0, metavar="K", help="print the first K documents of the split")
    parser.add_argument("--tokenize", action="store_true",
                        help="tokenize the split (cached under $PHASEMIX_CACHE) and print its token counts")
    parser.add_argument("--tokenizer", default="pythia",
                        help="pythia, bpe-<vocab size>, hf:REPO or a tokenizer.json path (default pythia)")
    parser.add_argument("--max-documents", type=int, default=None,
                        help="hub corpora: read this many records of the stream (default 100000)")


def _print_info(corpus: EmbeddedCorpus) -> None:
    manifest = corpus.manifest
    total_bytes = sum(s["compressed_bytes"] for s in corpus.sources)
    print(f"default web corpus {manifest['name']}: {len(corpus.sources)} sources, "
          f"{total_bytes / 1e6:.1f} MB compressed ({corpus.directory})")
    print(f"tokens: {manifest['token_counts']}")
    header = f"{'source':<12} {'documents':>9} {'characters':>11} {'train tokens':>13} {'val tokens':>11}  licence"
    print(header)
    totals = {"documents": 0, "characters": 0, "train": 0, "validation": 0}
    for s in corpus.sources:
        documents, characters = sum(s["documents"].values()), sum(s["characters"].values())
        print(f"{s['name']:<12} {documents:>9,} {characters:>11,} {s['tokens']['train']:>13,} "
              f"{s['tokens']['validation']:>11,}  {s['licence']}")
        totals["documents"] += documents
        totals["characters"] += characters
        totals["train"] += s["tokens"]["train"]
        totals["validation"] += s["tokens"]["validation"]
    print(f"{'total':<12} {totals['documents']:>9,} {totals['characters']:>11,} {totals['train']:>13,} "
          f"{totals['validation']:>11,}  ({totals['train'] + totals['validation']:,} tokens)")
    val_docs = sum(s["documents"]["validation"] for s in corpus.sources)
    print(f"validation split: {val_docs} documents; {manifest['split_rule']} "
          f"(fraction {manifest['validation_fraction']})")
    for s in corpus.sources:
        print(f"  {s['name']}: {s['title']}; from {s['origin']}")
    print("provenance, licences and processing: SOURCES.md in the same folder")


def run(args: argparse.Namespace) -> int:
    if args.split not in SPLITS:
        raise ValueError(f"--split must be one of {SPLITS}, got {args.split!r}")
    if args.sample < 0:
        raise ValueError(f"--sample must be >= 0, got {args.sample}")
    if args.max_documents is not None and args.max_documents < 1:
        raise ValueError(f"--max-documents must be >= 1, got {args.max_documents}")
    hub = args.corpus.startswith("hf:") or args.corpus in ("fineweb-edu", "pile")
    kwargs = {"max_documents": args.max_documents} if hub and args.max_documents else {}
    corpus = load_corpus(args.corpus, **kwargs)
    did_something = False
    if args.info:
        if not isinstance(corpus, EmbeddedCorpus):
            raise ValueError(f"--info describes the embedded corpus, not {args.corpus!r}; use --tokenize for counts")
        if args.json:
            print(json.dumps(corpus.manifest, indent=1, ensure_ascii=False))
        else:
            _print_info(corpus)
        did_something = True
    if args.sample:
        for k, document in enumerate(corpus.documents(args.split)):
            if k >= args.sample:
                break
            print(f"=== {document.id} ({len(document.text):,} characters)")
            print(document.text)
        did_something = True
    if args.tokenize:
        from empirical.tokenizer import load_tokenizer

        loaded = load_tokenizer(args.tokenizer)
        start = time.perf_counter()
        tokens = tokenize_corpus(corpus, args.split, loaded)
        stats = token_stats(tokens, loaded.info.eos_id)
        print(f"{corpus.name} [{args.split}] with {loaded.info.name} (vocab {loaded.info.vocab_size}): "
              f"{stats['documents']:,} documents, {stats['text_tokens']:,} text tokens, "
              f"{stats['array_tokens']:,} with end-of-text, dtype {tokens.dtype} "
              f"({time.perf_counter() - start:.1f} s, cached)")
        did_something = True
    if not did_something:
        raise ValueError("nothing to do: pass --info, --sample K or --tokenize")
    return 0
