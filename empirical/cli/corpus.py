"""``python -m empirical corpus``: the default web corpus's size, sources and licences (``--info``),
sample documents (``--sample K``), or a corpus split tokenized into the cached token array the
training runs read (``--tokenize``), with its token counts. With ``--json`` each of them is strict JSON:
the manifest, one ``{"id", "text"}`` object per document, and the token counts as one object."""
from __future__ import annotations

import argparse
import time

from capacity.cli_common import UsageError, dumps, fail, integer
from empirical.text.corpus import SPLITS, EmbeddedCorpus, load_corpus, token_stats, tokenize_corpus


MAX_SAMPLE = 1_000_000  # documents printed by --sample


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--info", action="store_true",
                        help="print the default corpus's size in GPT-NeoX tokens, sources, licences and splits")
    parser.add_argument("--json", action="store_true",
                        help="print strict JSON: the manifest (--info), one object per document (--sample), "
                             "the token counts (--tokenize)")
    parser.add_argument("--corpus", default="default",
                        help="default, default:SOURCE[,SOURCE], folder:PATH, hf:NAME[:CONFIG], fineweb-edu, pile")
    parser.add_argument("--split", choices=SPLITS, default="train", help=f"one of {', '.join(SPLITS)} (default train)")
    parser.add_argument("--sample", type=integer(0, MAX_SAMPLE), default=0, metavar="K",
                        help=f"print the first K documents of the split (at most {MAX_SAMPLE:,})")
    parser.add_argument("--tokenize", action="store_true",
                        help="tokenize the split (cached under $PHASEMIX_CACHE) and print its token counts")
    parser.add_argument("--tokenizer", default="pythia",
                        help="pythia, bpe-<vocab size>, hf:REPO or a tokenizer.json path (default pythia)")
    parser.add_argument("--max-documents", type=integer(1, 10**9), default=None,
                        help="hub corpora: read this many records of the stream (default 100000)")


def _check_combinations(args: argparse.Namespace, hub: bool) -> None:
    """Refuse flags this call would ignore."""
    if args.max_documents is not None and not hub:
        fail("--max-documents", args.max_documents, f"applies to hub corpora only, not --corpus {args.corpus}")
    if args.tokenizer != "pythia" and not args.tokenize:
        fail("--tokenizer", args.tokenizer, "applies with --tokenize only")


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
    hub = args.corpus.startswith("hf:") or args.corpus in ("fineweb-edu", "pile")
    _check_combinations(args, hub)
    kwargs = {"max_documents": args.max_documents} if hub and args.max_documents else {}
    try:
        corpus = load_corpus(args.corpus, **kwargs)
    except ValueError as exc:
        raise UsageError("--corpus", args.corpus, str(exc)) from None
    did_something = False
    if args.info:
        if not isinstance(corpus, EmbeddedCorpus):
            fail("--info", None, f"describes the embedded corpus, not --corpus {args.corpus}; use --tokenize for counts")
        if args.json:
            print(dumps(corpus.manifest, indent=1, ensure_ascii=False))
        else:
            _print_info(corpus)
        did_something = True
    if args.sample:
        for k, document in enumerate(corpus.documents(args.split)):
            if k >= args.sample:
                break
            if args.json:
                print(dumps({"id": document.id, "text": document.text}, ensure_ascii=False))
            else:
                print(f"=== {document.id} ({len(document.text):,} characters)")
                print(document.text)
        did_something = True
    if args.tokenize:
        from empirical.text.tokenizer import load_tokenizer

        try:
            loaded = load_tokenizer(args.tokenizer)
        except ValueError as exc:
            raise UsageError("--tokenizer", args.tokenizer, str(exc)) from None
        start = time.perf_counter()
        tokens = tokenize_corpus(corpus, args.split, loaded)
        stats = token_stats(tokens, loaded.info.eos_id)
        if args.json:
            print(dumps({"corpus": corpus.name, "split": args.split, "tokenizer": loaded.info.name,
                         "vocab_size": loaded.info.vocab_size, **stats, "dtype": str(tokens.dtype),
                         "seconds": time.perf_counter() - start}))
        else:
            print(f"{corpus.name} [{args.split}] with {loaded.info.name} (vocab {loaded.info.vocab_size}): "
                  f"{stats['documents']:,} documents, {stats['text_tokens']:,} text tokens, "
                  f"{stats['array_tokens']:,} with end-of-text, dtype {tokens.dtype} "
                  f"({time.perf_counter() - start:.1f} s, cached)")
        did_something = True
    if not did_something:
        fail("--info/--sample/--tokenize", None, "none given: pass one of them")
    return 0
