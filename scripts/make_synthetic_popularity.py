"""Write the shipped SYNTHETIC PopQA-style table, empirical/data/popularity/synthetic_family.csv.

Nothing in it was measured: seven made-up models named by size ("synthetic-70m" ... "synthetic-12b")
answer 1,000 questions each, with correctness drawn from a known law (``capacity.popularity.
synthetic_family``): popularity ~ Pareto(0.5) above 10, accuracy a logistic in log(popularity / T)
from 0.05 to 0.95, and T = 30,000 (N / 70M)^-0.8. Algorithm 1's threshold is then a fixed multiple of
T, so ``capacity popularity-threshold`` on this file should recover a slope near -0.8.

    python scripts/make_synthetic_popularity.py            # rewrites the file (seed 0: same bytes)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capacity.popularity import synthetic_family, write_popularity_csv  # noqa: E402

SIZES = {"70m": 70e6, "160m": 160e6, "410m": 410e6, "1.4b": 1.4e9, "2.8b": 2.8e9, "6.9b": 6.9e9, "12b": 12e9}
TRUE_SLOPE = -0.8
OUT = ROOT / "empirical" / "data" / "popularity" / "synthetic_family.csv"


def main(out: Path = OUT) -> None:
    columns = synthetic_family(list(SIZES.values()), slope=TRUE_SLOPE, threshold_at_first=3e4, questions=1000, seed=0)
    names = {f"model-{k + 1}": f"synthetic-{name}" for k, name in enumerate(SIZES)}
    columns["model"] = [names[m] for m in columns["model"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_popularity_csv(columns, out)
    print(f"wrote {out} ({len(columns['model'])} rows, true slope {TRUE_SLOPE})")


if __name__ == "__main__":
    main()
