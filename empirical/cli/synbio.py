"""``python -m empirical synbio``: print knowledge exposures (SynBio biographies or reasoning-task
examples) as text or JSON lines, or the knowledge set's statistics (``--info``). Needs no tokenizer;
``--tokenizer tokenizer.json`` adds token counts and the exposure frequency per token.

Flags share their names with ``python -m empirical train``: ``--knowledge`` (``--task`` is its deprecated
alias) and ``--population-seed`` (the people; ``--seed``, its old name here, still works)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from capacity.cli_common import UsageError, conflict, deprecated_alias, dumps, fail, input_file, integer, number, seed
from empirical.config import KNOWLEDGE_KINDS
from empirical.knowledge.synbio import SynBio, SynBioConfig

# Power-law SynBio is --knowledge synbio with --powerlaw-groups here, so it is not a choice of its own.
TASK_CHOICES = tuple(kind for kind in KNOWLEDGE_KINDS if kind != "synbio-powerlaw")
# Exposures are rendered in memory before printing (a few hundred bytes each): a million is the most
# one call prints; more is a typo, or a job for the training pipeline, which streams.
MAX_COUNT = 1_000_000
NAME_SPACE = 400 * 400 * 1000  # first x middle x last names: the most people SynBio can hold


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--people", type=integer(1, NAME_SPACE), default=1000,
                        help="N, people in the knowledge set (default 1000)")
    parser.add_argument("--population-seed", type=seed, default=None,
                        help="population seed: names, attributes, subsample (default 0)")
    parser.add_argument("--seed", type=seed, dest="legacy_seed", default=None,
                        help=deprecated_alias("--population-seed") + " (here the seed of the people, not of a model)")
    parser.add_argument("--count", type=integer(0, MAX_COUNT), default=5,
                        help=f"exposures to print (default 5, at most {MAX_COUNT:,})")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--knowledge", choices=TASK_CHOICES, default="synbio",
                        help=f"knowledge set: one of {', '.join(TASK_CHOICES)} (default synbio)")
    parser.add_argument("--task", choices=TASK_CHOICES, dest="knowledge", default="synbio",
                        help=deprecated_alias("--knowledge"))
    parser.add_argument("--rho", type=number(0, 1, low_open=True), default=1.0,
                        help="subsample: train on this fraction of the people, in (0, 1]")
    parser.add_argument("--tau", type=number(0, 10), default=0.0,
                        help="CKM: compact forms, fraction of biography tokens, in [0, 10]")
    parser.add_argument("--powerlaw-groups", type=integer(0, NAME_SPACE), default=0,
                        help="power-law SynBio: this many groups, a divisor of --people (0: uniform)")
    parser.add_argument("--exponent", type=number(0, 100, low_open=True), default=1.5,
                        help="power-law exponent, in (0, 100] (default 1.5)")
    parser.add_argument("--info", action="store_true", help="print domain sizes, bits per person and token counts")
    parser.add_argument("--tokenizer", type=input_file, default=None,
                        help="a tokenizer.json (Hugging Face tokenizers) for token counts")
    parser.add_argument("--mixing-ratio", type=number(0, 1), default=None,
                        help="r, for the exposure frequency in --info (needs --tokenizer), in [0, 1]")


def _load_tokenizer(path: Path | None):
    if path is None:
        return None
    from tokenizers import Tokenizer
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises its own exception types
        raise UsageError("--tokenizer", str(path), f"not a tokenizer.json: {' '.join(str(exc).split())[:200]}") from None


def _check_combinations(args: argparse.Namespace) -> None:
    """Refuse flags this call would ignore."""
    if args.mixing_ratio is not None and not (args.info and args.tokenizer is not None):
        fail("--mixing-ratio", args.mixing_ratio,
             "needs --info and --tokenizer (only they print the exposure frequency it is for)")
    if args.powerlaw_groups and args.people % args.powerlaw_groups:
        fail("--powerlaw-groups", args.powerlaw_groups, f"must be 0 or a divisor of --people {args.people}")
    if args.json and args.info:
        conflict("--json", None, "--info", "--info prints text; --json formats exposures")
    if args.legacy_seed is not None and args.population_seed is not None:
        conflict("--seed", args.legacy_seed, "--population-seed", "--seed is its old name: give one")
    if args.population_seed is None:
        args.population_seed = 0 if args.legacy_seed is None else args.legacy_seed


def run(args: argparse.Namespace) -> int:
    _check_combinations(args)
    tokenizer = _load_tokenizer(args.tokenizer)
    rng = np.random.default_rng(np.random.SeedSequence([args.population_seed, 100]))
    if args.knowledge != "synbio":
        from empirical.knowledge.tasks import make_task
        task = make_task(args.knowledge, tokenizer, seed=args.population_seed)
        if args.info:
            print(f"task: {args.knowledge}; held-out evaluation instances: {task.held_out.shape[0]}; "
                  f"templates: {len(task.templates)}")
            if tokenizer is not None:
                print(f"tokens per exposure: mean {task.expected_tokens_per_exposure:.2f}, "
                      f"max {task.max_tokens_per_exposure}")
            return 0
        for text in task.render_samples(rng, args.count):
            print(dumps({"task": args.knowledge, "text": text}) if args.json else text)
        return 0
    config = SynBioConfig(people=args.people, seed=args.population_seed, subsample_rho=args.rho, ckm_tau=args.tau,
                          powerlaw_groups=args.powerlaw_groups, powerlaw_exponent=args.exponent)
    synbio = SynBio(config, tokenizer)
    if args.info:
        _print_info(synbio, tokenizer is not None, args.mixing_ratio)
        return 0
    items = synbio.sample_items(rng, args.count)
    texts = synbio.render(rng, items)
    out = sys.stdout
    for person, text in zip(items.tolist(), texts):
        if args.json:
            out.write(dumps({"person": synbio.person_name(person), "attributes": synbio.attribute_values(person),
                                  "text": text}) + "\n")
        else:
            out.write(text + "\n")
    return 0


def _print_info(synbio: SynBio, tokenized: bool, mixing_ratio: float | None) -> None:
    d = synbio.domains
    print(f"people: {synbio.num_items} (trained: {synbio.trained.size}) of {d.name_space} possible names "
          f"({len(d.first)} first x {len(d.middle)} middle x {len(d.last)} last)")
    for attribute, bits in synbio.attribute_entropy_bits.items():
        print(f"  {attribute:<11} {d.sizes[attribute]:>6} values  {bits:6.2f} bits")
    print(f"bits per person: {synbio.bits_per_item:.2f}; knowledge set: {synbio.bits_per_item * synbio.num_items:.4g} bits")
    unit = "tokens" if tokenized else "characters (pass --tokenizer for tokens)"
    print(f"mean {unit} per exposure: {synbio.expected_tokens_per_exposure:.2f}; "
          f"longest: {synbio.max_tokens_per_exposure}")
    if synbio.compact_probability:
        print(f"CKM: an exposure is a compact form with probability {synbio.compact_probability:.4f}")
    if tokenized and mixing_ratio is not None:
        from empirical.text.mixing import expected_exposure_frequency
        f = expected_exposure_frequency(synbio, mixing_ratio)
        f = f[f > 0]
        print(f"exposure frequency per token at r = {mixing_ratio}: {f.min():.4g} to {f.max():.4g} "
              f"(mean over trained people {f.mean():.4g})")
