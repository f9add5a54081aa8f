"""Exogenous processes and path-keyed randomness.

* :class:`PathRandom` — random numbers keyed by **path**: path ``p`` takes its numbers from
  position ``p % BLOCK`` of the draws of block ``b = p // BLOCK``, whose generators are
  ``default_rng(SeedSequence([seed, b, stream]))`` and always draw whole blocks. Every draw of
  path ``p`` (Gaussian or Poisson) therefore depends only on ``(seed, p)``: not on how many paths
  are simulated, nor on how a run is split into chunks (chunks may start anywhere).
* :func:`poisson_quantile` — Poisson counts by inversion of one uniform per count, so that a
  count consumes exactly one number of its path's stream whatever its mean.
* :class:`ReferencePrice` — P, an arithmetic Brownian motion (a martingale), simulated exactly.
* :class:`NoiseRates` — the noise traders' buy/sell rates: a(t), b(t) piecewise constant (§2–§4),
  or κᵃ(L_t), κᵇ(L_t) driven by the §5 factor L of (39) (exact Ornstein–Uhlenbeck transition, or
  Euler–Maruyama for user drift/diffusion callables).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from simulator.profiles import profile_on_grid

if TYPE_CHECKING:
    from simulator.scenario import FactorSpec, NoiseSpec, PriceSpec

BLOCK = 1024
"""Paths per random block: the unit in which generators draw (a constant of the random-number
layout, like :data:`TIME_BATCH`; chunks of a run may have any size)."""

TIME_BATCH = 64
"""Random numbers are drawn for this many steps at once (a fixed constant, so that the stream of
a block does not depend on the run)."""

POISSON_MAX_MEAN = 2.0**52
"""Largest Poisson mean drawn: counts above 2⁵² are not exact in float64."""

_SEARCH_MEAN = 10.0  # means up to this are inverted by a search from 0, larger ones near the mean

# stream identifiers (third entry of the SeedSequence key)
PRICE, FACTOR, INVENTORY, POISSON, BERNOULLI = range(5)


def poisson_quantile(u: np.ndarray, lam: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The Poisson(``lam``) quantile of ``u`` ∈ [0, 1), element-wise, into ``out`` (float):
    the smallest k ≥ 0 with P(N ≤ k) ≥ u. NaN means give NaN.

    Means ≤ 10: a search from k = 0 with the recurrence p(k) = p(k−1)·λ/k on the entries still
    below ``u`` (few iterations: the count itself). Larger means: bracket the quantile around the
    Cornish–Fisher guess λ + √λ·z + (z² − 1)/6 (z the normal quantile of u) and bisect with the
    regularized incomplete gamma CDF (scipy's ``pdtr``): a few evaluations per entry. Each entry
    depends on its own ``u`` and ``lam`` only.
    """
    u, lam = np.broadcast_arrays(u, lam)
    bad = (lam < 0) | (lam > POISSON_MAX_MEAN)
    if bad.any():
        raise ValueError(
            f"Poisson mean {float(lam[bad].flat[0])!r} is outside [0, 2^52] (lots per step); "
            "a larger lot_size or a smaller dt keeps counts exact"
        )
    # read everything before writing: ``out`` may be ``lam``
    small, large = np.flatnonzero(lam <= _SEARCH_MEAN), np.flatnonzero(lam > _SEARCH_MEAN)
    pos, uu, mean = small, u.flat[small], lam.flat[small]
    u_large, lam_large = u.flat[large], lam.flat[large]
    out[...] = np.where(np.isnan(lam), np.nan, 0.0)
    pmf = np.exp(-mean)
    cdf = pmf.copy()
    keep = uu > cdf
    k = 0
    while keep.any():
        pos, uu, mean, pmf, cdf = pos[keep], uu[keep], mean[keep], pmf[keep], cdf[keep]
        k += 1
        out.flat[pos] = k
        pmf *= mean
        pmf /= k
        cdf += pmf
        # stop where adding p(k) no longer moves the CDF (u within rounding of 1: P < 1e-15)
        keep = (uu > cdf) & (pmf > cdf * 1.2e-16)
    if large.size:
        out.flat[large] = _poisson_quantile_near_mean(u_large, lam_large)
    return out


def _poisson_quantile_near_mean(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """:func:`poisson_quantile` for large means: bracket [lo, hi] (F(lo) < u ≤ F(hi), F(−1) = 0)
    around the Cornish–Fisher guess by doubling steps, then bisect on the integers."""
    z = np.maximum(special.ndtri(u), -40.0)  # u = 0: z = −inf
    guess = np.maximum(np.floor(lam + np.sqrt(lam) * z + (z * z - 1.0) / 6.0), 0.0)

    def cdf(k: np.ndarray, sel: np.ndarray) -> np.ndarray:
        return np.where(k < 0.0, 0.0, special.pdtr(np.maximum(k, 0.0), lam[sel]))

    lo, hi, width = guess - 1.0, guess.copy(), np.ones_like(guess)
    every = np.ones(u.shape, dtype=bool)
    move = cdf(hi, every) < u
    while move.any():  # raise hi until F(hi) ≥ u
        lo[move] = hi[move]
        hi[move] += width[move]
        width[move] *= 2.0
        move[move] = cdf(hi[move], move) < u[move]
    width[:] = 1.0
    move = (lo >= 0.0) & (cdf(lo, every) >= u)
    while move.any():  # lower lo until F(lo) < u or lo = −1
        hi[move] = lo[move]
        lo[move] = np.maximum(lo[move] - width[move], -1.0)
        width[move] *= 2.0
        move[move] = (lo[move] >= 0.0) & (cdf(lo[move], move) >= u[move])
    move = hi - lo > 1.0
    while move.any():
        mid = np.floor(0.5 * (lo[move] + hi[move]))
        above = cdf(mid, move) >= u[move]
        hi[move] = np.where(above, mid, hi[move])
        lo[move] = np.where(above, lo[move], mid)
        move = hi - lo > 1.0
    return hi


class PathRandom:
    """Path-keyed random numbers for the paths ``[start, stop)`` of a run with ``seed``.

    Each stream draws whole blocks of shape ``(TIME_BATCH, width, BLOCK)`` with the block's own
    generator and keeps the chunk's part, so path ``p`` receives the same numbers whatever the
    number of simulated paths and wherever the chunk starts. ``width`` (rows drawn per step) must
    be the same at every step of a stream.
    """

    def __init__(self, seed: int, start: int, stop: int) -> None:
        if not 0 <= start < stop:
            raise ValueError(f"paths [{start}, {stop}) must be a non-empty range from 0")
        self.seed, self.start, self.stop = seed, start, stop
        self.paths = stop - start
        # (block id, slice within the chunk, slice within the block)
        self.blocks = []
        for b in range(start // BLOCK, (stop + BLOCK - 1) // BLOCK):
            lo, hi = max(b * BLOCK, start), min((b + 1) * BLOCK, stop)
            self.blocks.append(
                (b, slice(lo - start, hi - start), slice(lo - b * BLOCK, hi - b * BLOCK))
            )
        self._gens: dict[int, list[np.random.Generator]] = {}
        self._buffers: dict[int, tuple[int, np.ndarray]] = {}

    def generators(self, stream: int) -> list[np.random.Generator]:
        """One generator per block for ``stream`` (created on first use)."""
        gens = self._gens.get(stream)
        if gens is None:
            gens = [
                np.random.default_rng(np.random.SeedSequence([self.seed, b, stream]))
                for b, _, _ in self.blocks
            ]
            self._gens[stream] = gens
        return gens

    def _batch(self, stream: int, step: int, width: int, uniform: bool) -> np.ndarray:
        """The ``(width, paths)`` numbers of ``step``: standard normals or uniforms on [0, 1)."""
        batch_start = step - step % TIME_BATCH
        cached = self._buffers.get(stream)
        if cached is None or cached[0] != batch_start:
            buf = cached[1] if cached is not None else np.empty((TIME_BATCH, width, self.paths))
            shape = (TIME_BATCH, width, BLOCK)
            for gen, (_, local, within) in zip(self.generators(stream), self.blocks, strict=True):
                draw = gen.random(shape) if uniform else gen.standard_normal(shape)
                buf[:, :, local] = draw[:, :, within]
            self._buffers[stream] = cached = (batch_start, buf)
        return cached[1][step - batch_start]

    def normal(self, stream: int, step: int, width: int = 1) -> np.ndarray:
        """Standard normals for ``step``: shape ``(paths,)`` if ``width == 1`` else
        ``(width, paths)``. Consecutive steps of a stream are independent."""
        z = self._batch(stream, step, width, uniform=False)
        return z[0] if width == 1 else z

    def poisson(self, step: int, lam: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Poisson counts of ``step`` with means ``lam`` (shape ``(k, paths)``, ``k`` the same at
        every step) into ``out`` (float; may be ``lam``): one uniform per count, inverted."""
        return poisson_quantile(self._batch(POISSON, step, lam.shape[0], uniform=True), lam, out)

    def bernoulli(self, step: int, prob: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Bernoulli(``prob``) outcomes of ``step`` as 0.0/1.0 (shape ``(k, paths)``, ``k`` the
        same at every step) into ``out`` (may be ``prob``): one uniform per entry."""
        return np.less(self._batch(BERNOULLI, step, prob.shape[0], uniform=True), prob, out=out)


class ReferencePrice:
    """P_{k+1} = P_k + σ·√dt·Z_k (exact arithmetic Brownian motion; a martingale)."""

    def __init__(self, spec: PriceSpec, paths: int, dt: float) -> None:
        self.value = np.full(paths, spec.initial)
        self._scale = spec.volatility * math.sqrt(dt)
        self._increment = np.empty(paths)

    def advance(self, random: PathRandom, step: int) -> None:
        if self._scale:
            dp = np.multiply(random.normal(PRICE, step), self._scale, out=self._increment)
            self.value += dp


def _capped_exponential(
    base: float, loading: float, level: np.ndarray, cap: float, out: np.ndarray
) -> np.ndarray:
    """min(base·e^{loading·L}, cap) into ``out`` without overflow: the exponent is first
    limited to ln(cap/base) + 1, where the product already exceeds the cap (so the result is
    bit for bit the naive formula's wherever that one is finite), and base = 0 gives 0 even
    where e^{loading·L} would overflow (no 0·inf)."""
    if base == 0.0:
        out.fill(0.0)
        return out
    np.multiply(level, loading, out=out)
    np.minimum(out, math.log(cap / base) + 1.0, out=out)
    np.exp(out, out=out)
    out *= base
    np.minimum(out, cap, out=out)
    return out


class NoiseRates:
    """Noise traders' rates at t_k, as ``(M,)`` arrays ``buy`` and ``sell``.

    Deterministic (``factor is None``): a(t_k), b(t_k) from the profiles. Factor-driven (§5):
    κᵃ(L) = min(buy_base·e^{buy_loading·L}, cap), κᵇ(L) = min(sell_base·e^{sell_loading·L}, cap)
    with L the Ornstein–Uhlenbeck factor of (39), advanced by its exact Gaussian transition
    (or Euler–Maruyama if ``drift``/``diffusion`` callables are given).
    """

    def __init__(self, spec: NoiseSpec, paths: int, steps: int, dt: float) -> None:
        self.factor: FactorSpec | None = spec.factor
        self.dt = dt
        self.buy = np.empty(paths)
        self.sell = np.empty(paths)
        if self.factor is None:
            self._buy_grid = profile_on_grid(spec.buy_rate, steps)
            self._sell_grid = profile_on_grid(spec.sell_rate, steps)
            self.level: np.ndarray | None = None
        else:
            f = self.factor
            self.level = np.full(paths, f.initial)
            th = f.reversion
            self._decay = math.exp(-th * dt)
            self._sd = f.volatility * (
                math.sqrt((1 - self._decay**2) / (2 * th)) if th > 0 else math.sqrt(dt)
            )

    @property
    def active(self) -> bool:
        """Whether any noise trading can happen at all."""
        if self.factor is not None:
            return self.factor.buy_base > 0 or self.factor.sell_base > 0
        return bool(self._buy_grid.any() or self._sell_grid.any())

    def observe(self, step: int) -> None:
        """Set ``buy``/``sell`` to the rates at t_k."""
        if self.factor is None:
            self.buy.fill(self._buy_grid[step])
            self.sell.fill(self._sell_grid[step])
            return
        f, L = self.factor, self.level
        _capped_exponential(f.buy_base, f.buy_loading, L, f.cap, self.buy)
        _capped_exponential(f.sell_base, f.sell_loading, L, f.cap, self.sell)

    def advance(self, random: PathRandom, step: int) -> None:
        """L_k → L_{k+1}."""
        f, L = self.factor, self.level
        if f is None:
            return
        z = random.normal(FACTOR, step)
        if f.drift is None and f.diffusion is None:
            L -= f.mean
            L *= self._decay
            L += f.mean
            L += self._sd * z
        else:
            t = step * self.dt
            drift = f.drift(t, L) if f.drift is not None else f.reversion * (f.mean - L)
            vol = f.diffusion(t, L) if f.diffusion is not None else f.volatility
            L += drift * self.dt + vol * math.sqrt(self.dt) * z
