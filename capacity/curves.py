"""Loss-versus-capacity curves F(m): the best achievable loss of a domain given m bits of capacity.

arXiv 2505.18091, Sec. 4: F is non-increasing and convex in m (a rate-distortion argument). Every curve here
is convex and non-increasing on m >= 0 and knows its value, its one-sided derivatives, and its
*demand* at a marginal value s: the set of capacities at which -F' crosses s. Demand is what the
water-filling solver and the thresholds of Theorem 4.3 are built on:

    demand(s) = (lo, hi),  lo = inf{m >= 0 : -F'_+(m) <= s},  hi = sup{m >= 0 : -F'_-(m) >= s}

so that M0-(t) = lo(t) and M0+(t) = hi(t) in Theorem 4.3. For a smooth curve lo == hi; for a
piecewise-linear one, s equal to the slope of a segment gives the whole segment.

Units are the caller's: loss in bits (or nats) per token of the domain, capacity in bits. See
``capacity.units`` for conversions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from capacity._validate import check_finite, check_nonnegative, check_positive

ArrayLike = float | np.ndarray | Sequence[float]


@runtime_checkable
class LossCurve(Protocol):
    """A convex, non-increasing loss-versus-capacity curve."""

    def value(self, m: ArrayLike) -> np.ndarray: ...

    def derivative_right(self, m: ArrayLike) -> np.ndarray: ...

    def derivative_left(self, m: ArrayLike) -> np.ndarray: ...

    def demand(self, s: float) -> tuple[float, float]: ...

    def kinks(self) -> np.ndarray:
        """Marginal values s at which demand(s) is an interval of positive length."""
        ...

    @property
    def saturation_capacity(self) -> float:
        """Smallest m beyond which F is flat (inf if F keeps falling)."""
        ...

    def cvxpy_expression(self, m, scale: float):
        """F(scale * x) as a convex cvxpy expression of the variable x."""
        ...


@dataclass(frozen=True)
class PowerLawCurve:
    """F(m) = C + A m^-alpha for m > 0 (arXiv 2505.18091, Sec. 4; docs/THEORY.md, section 4); F(0) = +inf.

    -F'(m) = A alpha m^-(alpha+1), so demand(s) = (A alpha / s)^(1/(alpha+1)) for s > 0.
    """

    irreducible: float  # C
    amplitude: float  # A
    exponent: float  # alpha

    def __post_init__(self) -> None:
        check_finite("irreducible loss C", self.irreducible)
        check_positive("amplitude A", self.amplitude)
        check_positive("exponent alpha", self.exponent)
        if self.exponent >= 1.0:
            # The paper's Theorem 4.3 power-law corollary assumes alpha in (0, 1).
            raise ValueError(f"exponent alpha must be in (0, 1), got {self.exponent!r}")

    def value(self, m: ArrayLike) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        with np.errstate(divide="ignore"):
            return self.irreducible + self.amplitude * np.where(m > 0, m, 0.0) ** -self.exponent

    def derivative_right(self, m: ArrayLike) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        with np.errstate(divide="ignore"):
            return -self.amplitude * self.exponent * np.where(m > 0, m, 0.0) ** -(self.exponent + 1)

    derivative_left = derivative_right

    def demand(self, s: float) -> tuple[float, float]:
        if s <= 0:
            return (np.inf, np.inf)
        m = (self.amplitude * self.exponent / s) ** (1.0 / (self.exponent + 1.0))
        return (m, m)

    def demand_array(self, s: np.ndarray) -> np.ndarray:
        """Vectorised demand for s > 0 (the curve is smooth, so lo == hi)."""
        return (self.amplitude * self.exponent / np.asarray(s, dtype=float)) ** (1.0 / (self.exponent + 1.0))

    def kinks(self) -> np.ndarray:
        return np.empty(0)

    @property
    def saturation_capacity(self) -> float:
        return np.inf

    def cvxpy_expression(self, x, scale: float):
        import cvxpy as cp

        return self.irreducible + self.amplitude * scale ** -self.exponent * cp.power(x, -self.exponent, approx=False)


class _PiecewiseLinear:
    """Shared machinery for convex, non-increasing piecewise-linear curves.

    Stored as breakpoints 0 = b_0 < b_1 < ... < b_n with slopes -s_1 >= ... (s_1 > s_2 > ... > 0)
    on the segments and a flat tail after b_n; F(0) = value_at_zero.
    """

    _breaks: np.ndarray  # (n+1,) starting at 0
    _slopes: np.ndarray  # (n,) positive marginal values, strictly decreasing
    _value_at_zero: float

    def _setup(self, value_at_zero: float, lengths: np.ndarray, slopes: np.ndarray) -> None:
        order = np.argsort(-slopes, kind="stable")
        lengths, slopes = lengths[order], slopes[order]
        # Merge segments of equal slope so that kinks are distinct.
        merged_lengths, merged_slopes = [], []
        for length, slope in zip(lengths, slopes):
            if length <= 0:
                continue
            if merged_slopes and slope == merged_slopes[-1]:
                merged_lengths[-1] += length
            else:
                merged_lengths.append(float(length))
                merged_slopes.append(float(slope))
        # object.__setattr__: subclasses may be frozen dataclasses.
        object.__setattr__(self, "_breaks", np.concatenate([[0.0], np.cumsum(merged_lengths)]))
        object.__setattr__(self, "_slopes", np.asarray(merged_slopes, dtype=float))
        object.__setattr__(self, "_value_at_zero", float(value_at_zero))

    def value(self, m: ArrayLike) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        starts, ends = self._breaks[:-1], self._breaks[1:]
        covered = np.clip(m[..., None] - starts, 0.0, ends - starts)
        return self._value_at_zero - (covered * self._slopes).sum(axis=-1)

    def _segment_slope(self, m: np.ndarray, right: bool) -> np.ndarray:
        side = "right" if right else "left"
        idx = np.searchsorted(self._breaks, m, side=side) - 1  # segment index containing m
        if not right:
            idx = np.where(m <= 0, 0, idx)  # F'_-(0) is taken as F'_+(0)
        slopes = np.concatenate([self._slopes, [0.0]])
        return -slopes[np.clip(idx, 0, len(self._slopes))]

    def derivative_right(self, m: ArrayLike) -> np.ndarray:
        return self._segment_slope(np.asarray(m, dtype=float), right=True)

    def derivative_left(self, m: ArrayLike) -> np.ndarray:
        return self._segment_slope(np.asarray(m, dtype=float), right=False)

    def demand(self, s: float) -> tuple[float, float]:
        if s <= 0:
            return (self.saturation_capacity, np.inf)
        # lo: start of the first segment whose slope is <= s; hi: end of the last segment whose slope >= s.
        n_above = int(np.sum(self._slopes > s))
        n_at_least = int(np.sum(self._slopes >= s))
        return (float(self._breaks[n_above]), float(self._breaks[n_at_least]))

    def kinks(self) -> np.ndarray:
        return self._slopes.copy()

    @property
    def saturation_capacity(self) -> float:
        return float(self._breaks[-1])

    def cvxpy_expression(self, x, scale: float):
        import cvxpy as cp

        # A convex PWL function is the max of its affine pieces (plus the flat tail).
        lines = []
        for start, slope in zip(self._breaks[:-1], self._slopes):
            lines.append(self.value(start) - slope * (scale * x - start))
        lines.append(self.value(self.saturation_capacity) + 0.0 * x)
        return cp.max(cp.hstack(lines))


@dataclass(frozen=True)
class FactsCurve(_PiecewiseLinear):
    """Theorem 4.2: F(m) = C + p max(H - m, 0).

    p is the exposure frequency of each fact per token of this domain (all facts equally frequent),
    H the facts' total entropy in bits. Loss falls linearly with capacity: no phase transition alone.
    """

    exposure_frequency: float  # p
    entropy_bits: float  # H_tot
    irreducible: float = 0.0  # C

    def __post_init__(self) -> None:
        check_positive("exposure_frequency p", self.exposure_frequency)
        check_positive("entropy_bits H", self.entropy_bits)
        check_finite("irreducible loss C", self.irreducible)
        self._setup(
            self.irreducible + self.exposure_frequency * self.entropy_bits,
            np.array([self.entropy_bits]),
            np.array([self.exposure_frequency]),
        )

    @property
    def total_entropy_bits(self) -> float:
        return self.entropy_bits

    def fraction_learned(self, m: ArrayLike) -> np.ndarray:
        return np.clip(np.asarray(m, dtype=float) / self.entropy_bits, 0.0, 1.0)


@dataclass(frozen=True)
class FactGroup:
    """`count` facts, each of `entropy_bits` bits, each seen with `exposure_frequency` per token."""

    count: float
    entropy_bits: float
    exposure_frequency: float

    def __post_init__(self) -> None:
        check_positive("fact group count", self.count)
        check_positive("fact group entropy_bits", self.entropy_bits)
        check_positive("fact group exposure_frequency", self.exposure_frequency)

    @property
    def total_entropy_bits(self) -> float:
        return self.count * self.entropy_bits


class MultiFrequencyFactsCurve(_PiecewiseLinear):
    """Knowledge whose facts come in groups of different frequencies (e.g. the power-law SynBio).

    The optimal learner stores the most frequent facts first, so
    F(m) = C + sum_g p_g max(H_g - m_g(m), 0) is convex piecewise linear with slopes -p_g on
    consecutive segments of length H_g = count_g * entropy_g, ordered by falling p_g.
    """

    def __init__(self, groups: Sequence[FactGroup], irreducible: float = 0.0) -> None:
        if len(groups) == 0:
            raise ValueError("MultiFrequencyFactsCurve needs at least one fact group, got 0")
        check_finite("irreducible loss C", irreducible)
        self.groups = tuple(groups)
        self.irreducible = float(irreducible)
        lengths = np.array([g.total_entropy_bits for g in self.groups])
        slopes = np.array([g.exposure_frequency for g in self.groups])
        self._setup(irreducible + float(lengths @ slopes), lengths, slopes)

    def __repr__(self) -> str:
        return f"MultiFrequencyFactsCurve({len(self.groups)} groups, H={self.total_entropy_bits:.4g} bits)"

    @property
    def total_entropy_bits(self) -> float:
        return float(self._breaks[-1])

    def fraction_learned(self, m: ArrayLike) -> np.ndarray:
        return np.clip(np.asarray(m, dtype=float) / self.total_entropy_bits, 0.0, 1.0)

    def group_fraction_learned(self, m: float) -> np.ndarray:
        """Fraction of each group (in the order given) stored by a learner holding m bits here."""
        order = np.argsort([-g.exposure_frequency for g in self.groups], kind="stable")
        lengths = np.array([self.groups[i].total_entropy_bits for i in order])
        starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        stored = np.clip(m - starts, 0.0, lengths)
        out = np.empty(len(self.groups))
        out[order] = stored / lengths
        return out


class TabulatedCurve(_PiecewiseLinear):
    """A curve through measured (capacity, loss) points, linearly interpolated.

    The theory needs a convex, non-increasing curve. With ``convexify=False`` (default) the points
    must already be so (ValueError otherwise, naming the first offending point); with
    ``convexify=True`` the lower convex hull of the points is used, made non-increasing by a flat
    tail after its minimum. Below the first capacity the first segment is extended to m = 0; after
    the last point the curve is flat.
    """

    def __init__(self, capacities: ArrayLike, losses: ArrayLike, convexify: bool = False) -> None:
        m = np.asarray(capacities, dtype=float)
        f = np.asarray(losses, dtype=float)
        if m.ndim != 1 or m.shape != f.shape or len(m) < 2:
            raise ValueError(f"need two or more (capacity, loss) points of equal length, got {m.shape} and {f.shape}")
        check_finite("tabulated capacities", m)
        check_finite("tabulated losses", f)
        check_nonnegative("tabulated capacities", m)
        order = np.argsort(m)
        m, f = m[order], f[order]
        if np.any(np.diff(m) == 0):
            raise ValueError(f"tabulated capacities must be distinct, got repeated value {float(m[np.argmax(np.diff(m) == 0)])!r}")
        if convexify:
            m, f = _lower_convex_hull(m, f)
            lowest = int(np.argmin(f))
            m, f = m[: lowest + 1], f[: lowest + 1]
        slopes = -np.diff(f) / np.diff(m)
        if np.any(slopes < 0):
            i = int(np.argmax(slopes < 0)) + 1
            raise ValueError(f"tabulated curve must be non-increasing: loss rises to {float(f[i])!r} at capacity {float(m[i])!r}")
        if np.any(np.diff(slopes) > 1e-12 * np.maximum(1.0, slopes[:-1])):
            i = int(np.argmax(np.diff(slopes) > 1e-12 * np.maximum(1.0, slopes[:-1]))) + 1
            raise ValueError(
                f"tabulated curve must be convex: slope steepens after capacity {float(m[i])!r} "
                "(pass convexify=True to use the lower convex hull)"
            )
        # Extend the first segment down to m = 0.
        value_at_zero = f[0] + (slopes[0] * m[0] if len(slopes) else 0.0)
        lengths = np.diff(np.concatenate([[0.0], m[1:]]))
        keep = slopes > 0
        self.capacities, self.losses = m, f
        self._setup(value_at_zero, lengths[keep], slopes[keep])
        # Segments of zero slope in the middle would break strict convexity; they only occur at the end.

    def __repr__(self) -> str:
        return f"TabulatedCurve({len(self.capacities)} points)"


def _lower_convex_hull(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotone-chain lower hull of points sorted by x."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return x[hull], y[hull]
