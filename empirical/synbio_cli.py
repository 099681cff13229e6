"""``python -m empirical synbio``: print knowledge exposures (SynBio biographies or reasoning-task
examples) as text or JSON lines, or the knowledge set's statistics (``--info``). Needs no tokenizer;
``--tokenizer tokenizer.json`` adds token counts and the exposure frequency per token."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from empirical.synbio import SynBio, SynBioConfig

TASK_CHOICES = ("synbio", "slope", "max")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--people", type=int, default=1000, help="N, people in the knowledge set (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="population seed: names, attributes, subsample")
    parser.add_argument("--count", type=int, default=5, help="exposures to print (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--task", default="synbio", help=f"knowledge set: one of {', '.join(TASK_CHOICES)}")
    parser.add_argument("--rho", type=float, default=1.0, help="subsample: train on this fraction of the people")
    parser.add_argument("--tau", type=float, default=0.0, help="CKM: compact forms, fraction of biography tokens")
    parser.add_argument("--powerlaw-groups", type=int, default=0, help="power-law SynBio: this many groups (0: uniform)")
    parser.add_argument("--exponent", type=float, default=1.5, help="power-law exponent (default 1.5)")
    parser.add_argument("--info", action="store_true", help="print domain sizes, bits per person and token counts")
    parser.add_argument("--tokenizer", default=None, help="a tokenizer.json (Hugging Face tokenizers) for token counts")
    parser.add_argument("--mixing-ratio", type=float, default=None, help="r, for the exposure frequency in --info")


def _load_tokenizer(path: str | None):
    if path is None:
        return None
    from tokenizers import Tokenizer
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # the library raises its own exception types
        raise ValueError(f"cannot read tokenizer {path!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.task not in TASK_CHOICES:
        raise ValueError(f"unknown task {args.task!r}: choose one of {', '.join(TASK_CHOICES)}")
    if args.count < 0:
        raise ValueError(f"--count must be >= 0, got {args.count}")
    if args.mixing_ratio is not None and not 0.0 <= args.mixing_ratio <= 1.0:
        raise ValueError(f"--mixing-ratio must be in [0, 1], got {args.mixing_ratio}")
    tokenizer = _load_tokenizer(args.tokenizer)
    rng = np.random.default_rng(np.random.SeedSequence([args.seed, 100]))
    if args.task != "synbio":
        from empirical.tasks import make_task
        task = make_task(args.task, tokenizer, seed=args.seed)
        if args.info:
            print(f"task: {args.task}; held-out evaluation instances: {task.held_out.shape[0]}; "
                  f"templates: {len(task.templates)}")
            if tokenizer is not None:
                print(f"tokens per exposure: mean {task.expected_tokens_per_exposure:.2f}, "
                      f"max {task.max_tokens_per_exposure}")
            return 0
        for text in task.render_samples(rng, args.count):
            print(json.dumps({"task": args.task, "text": text}) if args.json else text)
        return 0
    config = SynBioConfig(people=args.people, seed=args.seed, subsample_rho=args.rho, ckm_tau=args.tau,
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
            out.write(json.dumps({"person": synbio.person_name(person), "attributes": synbio.attribute_values(person),
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
        from empirical.mixing import expected_exposure_frequency
        f = expected_exposure_frequency(synbio, mixing_ratio)
        f = f[f > 0]
        print(f"exposure frequency per token at r = {mixing_ratio}: {f.min():.4g} to {f.max():.4g} "
              f"(mean over trained people {f.mean():.4g})")
