"""One place for the figures' look, so that every plot in the package reads the same."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never need a display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter  # noqa: E402

PAPER_COLOR = "0.45"  # the paper's own numbers, drawn as references
THEORY_STYLE = dict(color="black", linestyle="--", linewidth=1.2)
RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
}


def new_figure(width: float = 4.8, height: float = 3.4, ncols: int = 1):
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), layout="constrained")
    return fig, axes


def series_colors(n: int):
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in ([0.5] if n == 1 else [0.1 + 0.8 * i / (n - 1) for i in range(n)])]


def save(fig, path_stem) -> list[str]:
    """Write PNG and PDF next to each other; return the paths."""
    paths = []
    with plt.rc_context(RC):
        for ext in ("png", "pdf"):
            path = f"{path_stem}.{ext}"
            fig.savefig(path)
            paths.append(path)
    plt.close(fig)
    return paths


def log_axis(ax, which: str) -> None:
    """Log scale on ``which`` ("x" or "y") with labels that never collide: decades only on an axis
    spanning a decade or more; 1, 2 and 5 times a power of ten, as "20k", on a shorter one."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    if high / low >= 10.0:
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0)))
        axis.set_major_formatter(EngFormatter(sep=""))
        axis.set_minor_formatter(EngFormatter(sep=""))
