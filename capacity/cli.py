"""``capacity``: predict knowledge-acquisition thresholds before training.

Subcommands:
  thresholds  Theorem 4.3 in the theory's own units (capacity in bits, loss in bits per token).
  predict     A practical front end: model parameters, a web-loss law in nats, bits per parameter and a
              SynBio-like knowledge set -> critical mixing ratio, critical model size, verdict.
  phase       A text phase diagram over (mixing ratio, model size) for a knowledge set.

Any bad input exits with status 2 and one line naming the value and the allowed range.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from capacity.allocation import optimal_allocation
from capacity.cli_common import (Parser, UsageError, conflict, dumps, fail, fmt_number, integer, number, parse_args,
                                 report, show)
from capacity.curves import FactsCurve, PowerLawCurve, TabulatedCurve
from capacity.phase import facts_capacity_grid
from capacity import calibrate_cli, popularity_cli
from capacity.thresholds import MixingThresholds, critical_mixing_ratio, mixing_thresholds
from capacity.units import (
    DEFAULT_BITS_PER_PARAMETER,
    PAPER_FINEWEB_EDU_LAW,
    KnowledgeSet,
    WebLossLaw,
    capacity_bits,
    synbio_bits_per_person,
)


# Sizes the formulas stay finite and meaningful over; beyond them a number is a typo, not a model.
MAX_PARAMS = 1e15
MAX_BITS_PER_PARAMETER = 64.0
MAX_GRID = 1000  # rows or columns of the phase diagram (a 1000 x 1000 grid is 8 MB)


def _numbers(text: str, count: int, what: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count or not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"{show(text)}: must be {what}")
    return values


def _triple(text: str) -> tuple[float, float, float]:
    return tuple(_numbers(text, 3, "three comma-separated finite numbers C,A,alpha"))  # type: ignore[return-value]


def _points(text: str) -> tuple[list[float], list[float]]:
    capacities, losses = [], []
    for item in text.split(","):
        if item.count(":") != 1:
            raise argparse.ArgumentTypeError(f"{show(text)}: must be comma-separated capacity:loss pairs")
        m, f = _numbers(item.replace(":", ","), 2, "comma-separated capacity:loss pairs of finite numbers")
        capacities.append(m)
        losses.append(f)
    return capacities, losses


def _joined(values) -> str:
    return ",".join(fmt_number(v) for v in values)


def _web_curve(args) -> PowerLawCurve | TabulatedCurve:
    if args.law is not None:
        try:
            return PowerLawCurve(*args.law)
        except ValueError as exc:
            raise UsageError("--law", _joined(args.law), str(exc)) from None
    try:
        return TabulatedCurve(*args.web_points, convexify=args.convexify)
    except ValueError as exc:
        points = ",".join(f"{fmt_number(m)}:{fmt_number(f)}" for m, f in zip(*args.web_points))
        raise UsageError("--web-points", points, str(exc).replace("convexify=True", "--convexify")) from None


def run_thresholds(args) -> dict:
    web = _web_curve(args)
    p, H = args.frequency, args.entropy
    facts = FactsCurve(p, H)  # validates p and H
    out: dict = {"units": {"capacity": "bits", "loss": "bits per token", "frequency": "per token of the knowledge data"}}
    r = args.mixing_ratio
    if r is not None:
        bounds = mixing_thresholds(web, p, H, r)
    else:
        # Without a mixing ratio, P is the facts' marginal value t itself (Theorem 4.3 with r/(1-r) = 1).
        lo, hi = web.demand(p)
        bounds = MixingThresholds(p, float(lo), float(hi), H)
    out.update(
        marginal_value=bounds.marginal_value,
        M0_minus=bounds.M0_minus,
        M0_plus=bounds.M0_plus,
        learned_fully_above=bounds.learned_fully_above,
    )
    if r is not None:
        out["critical_capacity"] = bounds.M0_minus
    if args.capacity is not None:
        out["critical_mixing_ratio"] = float(critical_mixing_ratio(web, p, args.capacity))
    if r is not None and args.capacity is not None:
        allocation = optimal_allocation([facts, web], [r, 1.0 - r], args.capacity)
        out["allocation"] = {"facts_bits": float(allocation.capacity_bits[0]), "web_bits": float(allocation.capacity_bits[1])}
        out["fraction_learned"] = float(allocation.fraction_learned[0])
    return out


def _print_thresholds(out: dict) -> None:
    print("Theorem 4.3 (capacity in bits, loss in bits per token)")
    print(f"  facts' marginal value t = p r/(1-r)       {out['marginal_value']:.6g} bits saved per bit")
    print(f"  M0-(t): nothing learned at or below      {out['M0_minus']:.6g} bits")
    print(f"  M0+(t)                                    {out['M0_plus']:.6g} bits")
    print(f"  everything learned at or above M0+ + H   {out['learned_fully_above']:.6g} bits")
    if "critical_capacity" in out:
        print(f"  critical capacity at this ratio          {out['critical_capacity']:.6g} bits")
    if "critical_mixing_ratio" in out:
        print(f"  critical mixing ratio at this capacity   {out['critical_mixing_ratio']:.6g}")
    if "allocation" in out:
        a = out["allocation"]
        print(f"  optimal allocation: facts {a['facts_bits']:.6g} bits, web {a['web_bits']:.6g} bits")
        print(f"  fraction of the facts learned            {out['fraction_learned']:.4f}")


def _law_from_args(args) -> WebLossLaw:
    C, A, alpha = args.law_nats
    try:
        return WebLossLaw(C, A, alpha, loss_unit="nats", size_unit=args.size_unit, params_kind=args.params_kind)
    except ValueError as exc:
        raise UsageError("--law-nats", _joined(args.law_nats), str(exc)) from None


def _knowledge_from_args(args) -> KnowledgeSet:
    try:
        return KnowledgeSet.from_token_statistics(args.people, args.tokens_per_person, args.bits_per_person)
    except ValueError as exc:
        raise UsageError("--people/--tokens-per-person/--bits-per-person",
                         "/".join(map(fmt_number, (args.people, args.tokens_per_person, args.bits_per_person))),
                         str(exc)) from None


def run_predict(args) -> dict:
    law = _law_from_args(args)
    beta = args.bits_per_param
    curve = law.capacity_curve(beta)
    knowledge = _knowledge_from_args(args)
    p, H = knowledge.groups[0].exposure_frequency, knowledge.entropy_bits
    M = float(capacity_bits(args.params, beta))
    r_crit = float(critical_mixing_ratio(curve, p, M))
    out = {
        "assumptions": {
            "web_loss_law": f"L(N) = {law.irreducible} + {law.amplitude} (N / {law.size_unit:g})^-{law.exponent} nats/token, "
            f"N = {law.params_kind} parameters",
            "bits_per_parameter": beta,
            "capacity_bits": M,
            "knowledge": f"{args.people:g} items x {args.tokens_per_person:g} tokens, {args.bits_per_person:g} bits each",
            "exposure_frequency_per_knowledge_token": p,
            "knowledge_entropy_bits": H,
            "web_loss_in_bits": f"F2(m) = {curve.irreducible:.6g} + {curve.amplitude:.6g} m^-{curve.exponent} (m in bits)",
        },
        "params": args.params,
        "critical_mixing_ratio": r_crit,
    }
    if args.mixing_ratio is not None:
        r = args.mixing_ratio
        bounds = mixing_thresholds(curve, p, H, r)
        stored = float(facts_capacity_grid(curve, knowledge, r, M))
        out.update(
            mixing_ratio=r,
            critical_params=bounds.M0_minus / beta,
            learned_fully_params=bounds.learned_fully_above / beta,
            predicted_fraction_learned=stored / H,
        )
        if stored <= 0:
            verdict = "not learned: the model is below the critical size at this ratio (raise r or the model size)"
        elif stored >= H * (1 - 1e-12):
            verdict = "learned completely: the model is past M0+ + H at this ratio"
        else:
            verdict = f"partly learned: about {100 * stored / H:.1f}% of the knowledge set's bits"
        out["verdict"] = verdict
    return out


def _print_predict(out: dict) -> None:
    print("Assumptions and units:")
    for key, value in out["assumptions"].items():
        print(f"  {key}: {value}")
    print(f"Model: {out['params']:.4g} parameters -> critical mixing ratio r_thres = {out['critical_mixing_ratio']:.4f}")
    if "mixing_ratio" in out:
        print(f"At r = {out['mixing_ratio']}: knowledge starts to be learned above {out['critical_params']:.4g} parameters,")
        print(f"  is learned completely above {out['learned_fully_params']:.4g} parameters.")
        print(f"  Predicted fraction learned: {out['predicted_fraction_learned']:.4f}")
        print(f"Verdict: {out['verdict']}")


def run_phase(args) -> dict:
    law = _law_from_args(args)
    curve = law.capacity_curve(args.bits_per_param)
    knowledge = _knowledge_from_args(args)
    if not args.params_min < args.params_max:
        fail("--params-min", fmt_number(args.params_min), f"must be below --params-max {fmt_number(args.params_max)}")
    if not args.ratio_min < args.ratio_max:
        fail("--ratio-min", fmt_number(args.ratio_min), f"must be below --ratio-max {fmt_number(args.ratio_max)}")
    ratios = np.linspace(args.ratio_min, args.ratio_max, args.rows)
    params = np.geomspace(args.params_min, args.params_max, args.cols)
    stored = facts_capacity_grid(curve, knowledge, ratios[:, None], capacity_bits(params, args.bits_per_param)[None, :])
    return {"mixing_ratios": ratios.tolist(), "params": params.tolist(), "fraction_learned": (stored / knowledge.entropy_bits).tolist()}


def _print_phase(out: dict) -> None:
    shades = " .:-=+*#%@"
    print("fraction learned (' ' = 0 ... '@' = 1); rows: mixing ratio, columns: parameters (log scale)")
    for r, row in zip(out["mixing_ratios"][::-1], out["fraction_learned"][::-1]):
        print(f"r={r:5.3f} |" + "".join(shades[min(int(v * (len(shades) - 1) + 0.5), len(shades) - 1)] for v in row) + "|")
    print(f"         {out['params'][0]:<.3g} ... {out['params'][-1]:.3g} parameters")


POSITIVE = number(0, None, low_open=True)
PARAMS = number(1, MAX_PARAMS)
RATIO = number(0, 1, low_open=True, high_open=True)


def _add_knowledge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--law-nats", type=_triple, default=(PAPER_FINEWEB_EDU_LAW.irreducible, PAPER_FINEWEB_EDU_LAW.amplitude,
                   PAPER_FINEWEB_EDU_LAW.exponent), metavar="C,A,alpha",
                   help="web loss L(N) = C + A (N/size-unit)^-alpha in nats per token (default: the paper's FineWeb-Edu fit 1.769,4.952,0.283)")
    p.add_argument("--size-unit", type=number(0, MAX_PARAMS, low_open=True), default=1e6,
                   help="parameters per unit of N in the law (default 1e6: N in millions)")
    p.add_argument("--params-kind", choices=["nonembedding", "total"], default="nonembedding",
                   help="which parameter count the law and --params use (default nonembedding)")
    p.add_argument("--bits-per-param", type=number(0, MAX_BITS_PER_PARAMETER, low_open=True),
                   default=DEFAULT_BITS_PER_PARAMETER, help="capacity in bits per parameter (default 2.0, Allen-Zhu & Li)")
    p.add_argument("--people", type=number(1, 1e12), required=True, help="number of items (people) in the knowledge set")
    p.add_argument("--tokens-per-person", type=number(0, 1e7, low_open=True), required=True,
                   help="mean tokens of one exposure (one biography)")
    p.add_argument("--bits-per-person", type=number(0, 1e7, low_open=True), default=synbio_bits_per_person(),
                   help=f"entropy of one item in bits (default SynBio: {synbio_bits_per_person():.2f})")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="capacity", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    t = sub.add_parser("thresholds", help="Theorem 4.3 thresholds in bits", description=run_thresholds.__doc__ or
                       "Theorem 4.3 thresholds for facts of frequency P and entropy H against a web curve, in bits.")
    web = t.add_mutually_exclusive_group(required=True)
    web.add_argument("--law", type=_triple, metavar="C,A,alpha", help="web loss F2(M) = C + A M^-alpha, bits per token, M in bits")
    web.add_argument("--web-points", type=_points, metavar="M1:L1,M2:L2,...",
                     help="a tabulated convex web curve: capacity (bits):loss (bits per token) pairs")
    t.add_argument("--convexify", action="store_true", help="use the lower convex hull of --web-points")
    t.add_argument("--frequency", type=POSITIVE, required=True, metavar="P",
                   help="exposure frequency of each fact per token of the knowledge data (without --mixing-ratio: "
                   "the facts' marginal value t itself)")
    t.add_argument("--entropy", type=POSITIVE, required=True, metavar="H", help="total entropy of the facts in bits")
    t.add_argument("--mixing-ratio", type=RATIO, metavar="R", help="share r of knowledge tokens in the mixture, in (0, 1)")
    t.add_argument("--capacity", type=POSITIVE, metavar="M", help="the learner's capacity in bits")
    t.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("predict", help="critical mixing ratio and model size for a model and a knowledge set",
                       description="Predict, before training, whether a knowledge set mixed at ratio r is learned by a "
                       "model of a given size (Theorem 4.3 with a power-law web loss).")
    p.add_argument("--params", type=PARAMS, required=True, help="model size in parameters (of --params-kind)")
    p.add_argument("--mixing-ratio", type=RATIO, metavar="R", help="share r of knowledge tokens, in (0, 1)")
    _add_knowledge_args(p)
    calibrate_cli.add_predict_options(p)  # --calibration, --tokens: its own module

    ph = sub.add_parser("phase", help="text phase diagram over (mixing ratio, model size)",
                        description="Fraction of a knowledge set learned over a grid of mixing ratios and model sizes.")
    ph.add_argument("--params-min", type=PARAMS, default=1e6, help="smallest model size, parameters (default 1e6)")
    ph.add_argument("--params-max", type=PARAMS, default=1e9, help="largest model size, parameters (default 1e9)")
    ph.add_argument("--ratio-min", type=RATIO, default=0.05, help="lowest mixing ratio, in (0, 1) (default 0.05)")
    ph.add_argument("--ratio-max", type=RATIO, default=0.95, help="highest mixing ratio, in (0, 1) (default 0.95)")
    ph.add_argument("--rows", type=integer(2, MAX_GRID), default=19, help="mixing ratios on the grid (default 19)")
    ph.add_argument("--cols", type=integer(2, MAX_GRID), default=60, help="model sizes on the grid (default 60)")
    _add_knowledge_args(ph)
    popularity_cli.add_parser(sub)  # its own module: Algorithm 1 over a model family
    calibrate_cli.add_parser(sub)  # its own module: fit a critical-ratio predictor on a results table
    return parser


def _check_combinations(args) -> None:
    """Refuse flags that the command would ignore."""
    if args.command == "thresholds" and args.convexify and args.law is not None:
        conflict("--convexify", None, f"--law {_joined(args.law)}", "it applies to --web-points only")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    runners = {
        "thresholds": (run_thresholds, _print_thresholds),
        "predict": calibrate_cli.wrap_predict(run_predict, _print_predict),
        "phase": (run_phase, _print_phase),
        "popularity-threshold": (popularity_cli.run, popularity_cli.show),
        "calibrate": (calibrate_cli.run, calibrate_cli.show),
    }
    if args.command is None:
        return report("capacity", UsageError("COMMAND", None, f"required: one of {', '.join(runners)}"))
    compute, show_result = runners[args.command]
    try:
        _check_combinations(args)
        out = compute(args)
    except (ValueError, OSError) as exc:
        return report(f"capacity {args.command}", exc)
    if args.json:
        print(dumps(out))
    else:
        show_result(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
