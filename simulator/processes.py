"""Exogenous processes and path-keyed randomness.

* :class:`PathRandom` — random numbers keyed by **path blocks**: path ``p`` belongs to block
  ``b = p // BLOCK`` whose generators are ``default_rng(SeedSequence([seed, b, stream]))``. A
  block's draws never depend on how many paths (or which chunk) are simulated alongside it, so a
  run split into chunks whose sizes are multiples of ``BLOCK`` reproduces the one-piece run
  bit for bit.
* :class:`ReferencePrice` — P, an arithmetic Brownian motion (a martingale), simulated exactly.
* :class:`NoiseRates` — the noise traders' buy/sell rates: a(t), b(t) piecewise constant (§2–§4),
  or κᵃ(L_t), κᵇ(L_t) driven by the §5 factor L of (39) (exact Ornstein–Uhlenbeck transition, or
  Euler–Maruyama for user drift/diffusion callables).
"""

from __future__ import annotations

import math

import numpy as np

from simulator.scenario import FactorSpec, NoiseSpec, PriceSpec

BLOCK = 1024
"""Paths per random block. Chunks of a run must be multiples of it (bit-identical chunking)."""

TIME_BATCH = 64
"""Gaussian increments are drawn for this many steps at once (a fixed constant, so that the
stream of a block does not depend on the run)."""

# stream identifiers (third entry of the SeedSequence key)
PRICE, FACTOR, INVENTORY, POISSON, MULTINOMIAL, BERNOULLI = range(6)


class PathRandom:
    """Block-keyed generators for the paths ``[start, stop)`` of a run with ``seed``.

    ``start`` must be a multiple of :data:`BLOCK`. Gaussian streams draw whole blocks of shape
    ``(TIME_BATCH, width, BLOCK)`` at a time (independent of ``stop``), so path ``p`` receives the
    same numbers whatever the number of simulated paths. Poisson and multinomial draws are made
    block by block with the block's own generator.
    """

    def __init__(self, seed: int, start: int, stop: int, block: int = BLOCK) -> None:
        if start % block:
            raise ValueError(f"chunk start {start} must be a multiple of the block size {block}")
        self.seed, self.start, self.stop, self.block = seed, start, stop, block
        self.paths = stop - start
        first, last = start // block, (stop + block - 1) // block
        # (block id, local slice within the chunk, number of paths of the block in the chunk)
        self.blocks = [
            (
                b,
                slice(b * block - start, min((b + 1) * block, stop) - start),
                min((b + 1) * block, stop) - b * block,
            )
            for b in range(first, last)
        ]
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

    def normal(self, stream: int, step: int, width: int = 1) -> np.ndarray:
        """Standard normals for ``step``: shape ``(paths,)`` if ``width == 1`` else
        ``(width, paths)``. Consecutive steps of a stream are independent."""
        batch_start = step - step % TIME_BATCH
        cached = self._buffers.get(stream)
        if cached is None or cached[0] != batch_start:
            buf = cached[1] if cached is not None else np.empty((TIME_BATCH, width, self.paths))
            for gen, (_, sl, n) in zip(self.generators(stream), self.blocks, strict=True):
                buf[:, :, sl] = gen.standard_normal((TIME_BATCH, width, self.block))[:, :, :n]
            self._buffers[stream] = (batch_start, buf)
            cached = self._buffers[stream]
        z = cached[1][step - batch_start]
        return z[0] if width == 1 else z

    def poisson(self, lam: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Poisson counts with means ``lam`` (shape ``(k, paths)``) into ``out`` (float)."""
        for gen, (_, sl, _) in zip(self.generators(POISSON), self.blocks, strict=True):
            out[:, sl] = gen.poisson(lam[:, sl])
        return out

    def bernoulli(self, prob: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Bernoulli(``prob``) outcomes as 0.0/1.0 (shape ``(k, paths)``) into ``out``; ``out``
        may be ``prob`` itself (one uniform per entry, drawn block by block)."""
        for gen, (_, sl, _) in zip(self.generators(BERNOULLI), self.blocks, strict=True):
            u = gen.random(prob[:, sl].shape)
            np.less(u, prob[:, sl], out=u)
            out[:, sl] = u
        return out

    def multinomial(self, counts: np.ndarray, probs: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Split ``counts`` (shape ``(k, paths)``) among categories with ``probs``
        (``(k, c, paths)``, summing to 1 over c) into ``out`` (``(k, c, paths)``)."""
        p = np.moveaxis(probs, 1, 2)  # (k, paths, c): categories last, as numpy wants
        o = np.moveaxis(out, 1, 2)
        for gen, (_, sl, _) in zip(self.generators(MULTINOMIAL), self.blocks, strict=True):
            pb = p[:, sl, :]
            pb = pb / pb.sum(axis=-1, keepdims=True)  # guard against rounding (sum 1 ± 1e-16)
            o[:, sl, :] = gen.multinomial(counts[:, sl].astype(np.int64), pb)
        return out


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


def profile_on_grid(profile: float | tuple[float, ...], steps: int) -> np.ndarray:
    """A rate profile (constant, or piecewise constant on equal sub-intervals of [0, T]) at the
    grid times t_k, k = 0..steps−1 (integer arithmetic: interval ⌊k·len/steps⌋)."""
    if not isinstance(profile, tuple):
        return np.full(steps, float(profile))
    values = np.asarray(profile, dtype=float)
    return values[(np.arange(steps) * len(values)) // steps]


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
        np.exp(f.buy_loading * L, out=self.buy)
        self.buy *= f.buy_base
        np.minimum(self.buy, f.cap, out=self.buy)
        np.exp(f.sell_loading * L, out=self.sell)
        self.sell *= f.sell_base
        np.minimum(self.sell, f.cap, out=self.sell)

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
