"""Order-flow engine: what the actions of one step mean for the market (Guo & Jin §2, §3–§5).

The engine owns the mechanism; agents and policies never touch it. All arrays hold the M paths on
their last axis: trader rates ``rates`` ``(N_traders, M)``, maker half-spreads ``quotes``
``(N_makers, 2, M)`` (δᵃ, δᵇ). After :meth:`Market.clear` the fill arrays describe the step:
the traders' signed ``volume`` (> 0 bought) and ``trader_price`` (the per-share price of their
fills, temporary cost included), both ``(N_traders, M)``; the makers' ``buy``/``sell`` (volume
bought/sold) and ``cash`` (cash change), ``(N_makers, M)``; and the noise traders'
``noise_buy``/``noise_sell``/``noise_cash`` ``(M,)`` with their per-share prices ``noise_price``
``(2, M)`` (buys, sells). Makers fill at their quotes P + δᵃ (sells) and P − δᵇ (buys).

Discretisation (fluid mode; controls piecewise constant on [t_k, t_{k+1}), the exact integrals
of the continuous game for such controls):

* §2 impact: Δ_k = α/N·Σ_j v_j·dt, ω_k = α·(a_k − b_k)·dt, trader i fills v_i·dt at
  P_k + I_k + ϖ_k + ½(Δ_k + ω_k) + β/N·(v_i + π·Σ_{j≠i} v_j); then I += Δ, ϖ += ω (S = P + I + ϖ).
  Noise traders fill at the impact-free mid P_k + I_k + ϖ_k + ½(Δ_k + ω_k).
* §3/§4 best quote: quotes clipped to [−ξ, ξ]; trader rates clipped to [ε, ξ̃] (q₀ < 0) or
  [−ξ̃, −ε] (q₀ > 0). ã = a + Σ_buyers v, b̃ = b − Σ_sellers v. Maker j sells ã·Λ(δʲᵃ − δ̄ʲᵃ)·dt at
  P + δʲᵃ and buys b̃·Λ(δʲᵇ − δ̄ʲᵇ)·dt at P − δʲᵇ, δ̄ʲ = min_{l≠j} δˡ (0 with a single maker).
  Traders fill at the best quote P + min δᵃ / P − min δᵇ and pay λⁱ(v)·dt, λⁱ = β·vⁱ² or
  β·vⁱ(vⁱ + c·mean_{j≠i} vʲ) (Remark 3.3). Noise traders fill at the best quotes too. Not
  volume-conserving (as in the paper: Λ is an intensity, not a share).
* §5 logit: maker i takes the share ζⁱ = softmax_i(−ς·δⁱ + oⁱ) of ã and of b̃ (Σζ = 1: maker
  volume = trader + noise volume); strategic inventories also get ε·ΔW (``diffusion``).

Poisson mode: every volume is lot_size × Poisson(intensity·dt/lot_size) with the fluid
intensities (traders |v|, noise a and b, best-quote makers ã·Λ and b̃·Λ); in the logit market the
market orders of each source (a trader, noise buys, noise sells) are split among the makers
with probabilities ζ, drawn as independent Poisson(intensity·ζʲ) counts per maker (Poisson
splitting: the same law as a Poisson total split multinomially), so volume is conserved order by
order. Each count inverts one uniform of its path's stream (path-keyed randomness). Temporary
costs and quotes are those of the fluid step at the chosen rates; state (inventories, I, ϖ)
moves with the realised volumes. In §2 the permanent impact of a step is that of its *realised*
volumes, and fills pay the step-average price
P_k + I_k + ϖ_k + ½(Δ_k + ω_k) with the realised Δ_k, ω_k: a trader's own lots move the price it
pays within the step, so its expected cash differs from the fluid one by −½·(α/N)·lot·|v|·dt per
step (and its mark S_T·Q_T by the matching +(α/N)·lot·|v|·dt), a discreteness cost of order lot
that vanishes as lot_size → 0. In §3–§5 prices are quotes, so expected cash flows per step equal
the fluid ones.

Bernoulli mode (§3/§4 best-quote markets only): every order stream of the Poisson mode (each
trader, the noise buy and sell flows, each maker's ask and bid) fills at most one lot per step,
with probability min(1, intensity·dt/lot_size) — the classic discrete-time market-making
simulation (Avellaneda & Stoikov 2008 §4: a quote is hit with probability Λ(δ)·dt per step).
Its mean equals the fluid one while intensity·dt ≤ lot_size; beyond, the flow is capped at one
lot per step. The §2 impact market has no quotes (a cap would silently truncate a trader's
schedule) and the §5 logit market routes the realised market orders among the makers (several
streams can hit one quote side in a step), so the scenario rejects Bernoulli flow there.

Intensities stay finite by design: an exponential Λ(δ − δ̄) is at most e^{2γξ} with quotes
clipped to [−ξ, ξ] (``max_spread``; e^{γξ} with one maker). With ξ = ∞ a quote can run away (e.g.
Avellaneda–Stoikov at high risk aversion and large inventory), so every step checks the makers'
intensities: an expected volume ã·Λ·dt above :data:`MAX_LOTS_PER_STEP` lots (or not finite)
raises ``ValueError`` naming the maker, the quote, the step and what to set (``max_spread`` or
the maker's ``min_half_spread``) instead of overflowing.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.mechanisms import rules
from simulator.processes import INVENTORY, PathRandom
from simulator.scenario import Scenario

MAX_LOTS_PER_STEP = 2.0**53
"""Largest expected number of lots one maker quote side may receive in a step: counts stay exact
integers in float64 (and well below numpy's Poisson sampler limit ~9e18)."""


class Market:
    """Common state and helpers of every mechanism (see the module docstring).

    A mechanism declares what the recorder keeps of it besides the agents' books:
    ``recorded_states`` (arrays on the grid t_0..t_n, read from :meth:`recorded`) and
    ``recorded_steps`` (per-step attributes of the engine, e.g. the best quotes).
    """

    has_quotes = True
    recorded_states: tuple[str, ...] = ()
    recorded_steps: tuple[str, ...] = ("best_ask", "best_bid")

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        m = scenario.market
        self.spec = m
        self.random = random
        self.dt = scenario.dt
        self.flow = scenario.flow
        self.discrete = scenario.flow != "fluid"  # Poisson or Bernoulli lots
        # clear() may raise on a non-finite action (a count drawn from a NaN mean, the makers'
        # intensity check): the model then checks the actions before clearing
        self.needs_finite_actions = True
        self.lot = scenario.lot_size
        self.nt, self.nm = len(scenario.traders), len(scenario.makers)
        self.paths = paths
        self.rates = np.zeros((self.nt, paths))
        self.quotes = np.zeros((self.nm, 2, paths))
        self.volume = np.zeros((self.nt, paths))  # signed trader volumes of the step
        self.buy = np.zeros((self.nm, paths))
        self.sell = np.zeros((self.nm, paths))
        self.cash = np.zeros((self.nm, paths))
        self.noise_buy = np.zeros(paths)
        self.noise_sell = np.zeros(paths)
        self.noise_cash = np.zeros(paths)
        self.trader_price = np.zeros((self.nt, paths))
        self.noise_price = np.zeros((2, paths))
        self.diffusion: np.ndarray | None = None
        self.best_ask: np.ndarray | None = None
        self.best_bid: np.ndarray | None = None
        q0 = np.array([a.initial_inventory for a in scenario.traders]).reshape(-1, 1)
        self._buyers = q0 < 0  # (nt, 1): the §3 indicator I(q₀ < 0)
        self._sellers = q0 > 0
        self._buyer_rows = tuple(int(i) for i in np.flatnonzero(self._buyers[:, 0]))
        self._seller_rows = tuple(int(i) for i in np.flatnonzero(self._sellers[:, 0]))
        self._ibuf: np.ndarray | None = None  # Poisson intensities, allocated on first use
        self._sum = np.empty(paths)  # scratch for sums over several traders

    # -- helpers ---------------------------------------------------------------------------------
    def _discrete_volumes(self, step: int, intensities: np.ndarray) -> np.ndarray:
        """lot × Poisson(intensity·dt/lot), or lot × Bernoulli(min(1, intensity·dt/lot)), row by
        row (intensities ``(k, M)``, in place)."""
        intensities *= self.dt / self.lot
        if self.flow == "poisson":
            self.random.poisson(step, intensities, out=intensities)
        else:
            np.minimum(intensities, 1.0, out=intensities)
            self.random.bernoulli(step, intensities, out=intensities)
        intensities *= self.lot
        return intensities

    def _intensities(self, nb: np.ndarray, ns: np.ndarray, extra: int = 0) -> np.ndarray:
        """The step's order intensities, ``(nt + 2 + extra, M)``: |trader rates|, noise buy rate,
        noise sell rate, then ``extra`` rows for the caller to fill (best-quote maker fills);
        :meth:`_draw` turns them into volumes (discrete modes; one buffer reused every step)."""
        buf = self._ibuf
        if buf is None:
            buf = self._ibuf = np.empty((self.nt + 2 + extra, self.paths))
        np.abs(self.rates, out=buf[: self.nt])
        buf[self.nt] = nb
        buf[self.nt + 1] = ns
        return buf

    def _draw(self, step: int, buf: np.ndarray) -> None:
        """Discrete modes: turn ``buf`` (intensities) into volumes; set trader and noise volumes."""
        self._discrete_volumes(step, buf)
        np.copysign(buf[: self.nt], self.rates, out=self.volume)
        self.noise_buy[:] = buf[self.nt]
        self.noise_sell[:] = buf[self.nt + 1]

    def _fluid_volumes(self, nb: np.ndarray, ns: np.ndarray) -> None:
        """Fluid mode: trader volumes v·dt and noise volumes a·dt, b·dt (no intensity buffer)."""
        dt = self.dt
        np.multiply(self.rates, dt, out=self.volume)
        np.multiply(nb, dt, out=self.noise_buy)
        np.multiply(ns, dt, out=self.noise_sell)

    def _volumes(self, step: int, nb: np.ndarray, ns: np.ndarray) -> None:
        """Trader and noise volumes of the step (fluid or discrete)."""
        if self.discrete:
            self._draw(step, self._intensities(nb, ns))
        else:
            self._fluid_volumes(nb, ns)

    def _row_sum(self, x: np.ndarray, rows: tuple[int, ...]) -> np.ndarray | None:
        """Σ_{i ∈ rows} x[i] (None if ``rows`` is empty), added row by row in order: bit for bit
        ``np.where(mask, x, 0.0).sum(axis=0)`` (numpy sums axis 0 sequentially; the skipped
        zero rows change at most the sign of a zero) without the temporaries. One row: a view."""
        if not rows:
            return None
        if len(rows) == 1:
            return x[rows[0]]
        out = self._sum
        np.add(x[rows[0]], x[rows[1]], out=out)
        for i in rows[2:]:
            out += x[i]
        return out

    @staticmethod
    def split_volume(volume: np.ndarray, bought: np.ndarray, sold: np.ndarray) -> None:
        """A trader's signed volume as its volume bought, max(v, 0), and sold, max(−v, 0) (for
        the recorder: the books settle the signed volume directly)."""
        np.maximum(volume, 0.0, out=bought)
        np.negative(volume, out=sold)
        np.maximum(sold, 0.0, out=sold)

    def set_quotes(self, maker: int, half_spreads: np.ndarray) -> None:
        """Maker ``maker`` (0-based among makers) quotes ``half_spreads`` (δᵃ, δᵇ), ``(M, 2)``
        or ``(2,)``, into ``quotes[maker]``."""
        d = half_spreads
        self.quotes[maker] = d.T if d.ndim == 2 else d[:, None]

    def post_quotes(self) -> None:
        """Every maker has set its quotes: compute the best quotes."""

    routes: np.ndarray | None = None
    """``(sources, makers, M)``: the volume each order source (each trader, noise buys, noise
    sells) sent to each maker in the step, where the engine routes orders to makers (§5 discrete
    flow); None otherwise."""

    @staticmethod
    def route_sources(scenario: Scenario) -> int:
        """How many order sources :attr:`routes` has for ``scenario`` (0: no routes)."""
        return 0

    def clear(self, step: int, price: np.ndarray, nb: np.ndarray, ns: np.ndarray) -> None:
        """Compute the step's fills and cash flows from ``rates``/``quotes`` at P_k = ``price``."""
        raise NotImplementedError

    def mark_price(self, price: np.ndarray) -> np.ndarray:
        """The price at which the objective marks terminal inventory: P_T (§3–§5)."""
        return price

    def recorded(self, name: str, price: np.ndarray) -> np.ndarray:
        """The recorded state ``name`` (one of ``recorded_states``) at reference price P."""
        return self.mark_price(price) if name == "market_price" else getattr(self, name)


def trader_column(beta: float | tuple[float, ...]) -> float | np.ndarray:
    """The scenario's temporary impact for arrays with one row per trader: the one β as a float
    (bit-identical arithmetic), or the βⁱ as a column ``(N, 1)`` broadcasting over the paths."""
    return np.asarray(beta, dtype=float)[:, None] if isinstance(beta, tuple) else beta


class ImpactMarket(Market):
    """§2: permanent impact I, noise drift ϖ, temporary impact with cross-impact π."""

    has_quotes = False
    recorded_states = ("market_price",)  # S = P + I + ϖ (:meth:`mark_price`)
    recorded_steps = ()

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        self.impact = np.zeros(paths)  # I_k = α/N ∫ Σ v dt
        self.noise_drift = np.zeros(paths)  # ϖ_k = α ∫ (a − b) dt
        m = self.spec
        self._alpha_n = m.permanent_impact / self.nt
        self._beta_n = trader_column(m.temporary_impact) / self.nt  # βⁱ/N
        self._pi = m.cross_impact
        # fluid §2 arithmetic carries a NaN or inf rate into the books within the step
        self.needs_finite_actions = self.discrete

    def clear(self, step: int, price: np.ndarray, nb: np.ndarray, ns: np.ndarray) -> None:
        self._volumes(step, nb, ns)
        delta = self.volume.sum(axis=0)
        delta *= self._alpha_n  # Δ_k
        omega = self.noise_buy - self.noise_sell
        omega *= self.spec.permanent_impact  # ω_k
        mid = price + self.impact + self.noise_drift + 0.5 * (delta + omega)
        rates = self.rates
        # β/N (v_i + π Σ_{j≠i} v_j) = β/N ((1 − π) v_i + π Σ_j v_j)
        rules.impact_price(mid, rates, self._beta_n, self._pi, out=self.trader_price)
        np.multiply(mid, self.noise_sell - self.noise_buy, out=self.noise_cash)
        self.noise_price[...] = mid
        self.impact += delta
        self.noise_drift += omega

    def mark_price(self, price: np.ndarray) -> np.ndarray:
        """S = P + I + ϖ (recorded as ``market_price``); §2's objective marks inventory at the
        market price S_T (J = E[−∫Ŝ v dt + S_T Q_T − ∫φQ² dt − A Q_T²])."""
        return price + self.impact + self.noise_drift


class BestQuoteMarket(Market):
    """§3 (and §4): makers compete with the best other quote through the intensity Λ."""

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        m = self.spec
        self.best_ask = np.zeros(paths)
        self.best_bid = np.zeros(paths)
        self._xi = m.max_spread
        # admissible set A^{i,e} of §3
        self._rate_lo, self._rate_hi = rules.rate_bounds(self._buyers, m.min_rate, m.max_rate)
        self._beta = trader_column(m.temporary_impact)  # β, or βⁱ per trader row
        self._coupling = m.cost_coupling if m.temporary_cost == "aggregated" else 0.0
        lam = rules.Intensity.build(m.intensity, m.intensity_decay)
        self._gamma = lam.decay  # exponential Λ: evaluated in place below (None otherwise)
        self._intensity = lam.value
        self._maker_names = tuple(a.name for a in scenario.makers)
        self._shares = np.zeros((self.nm, 2, paths))
        # preallocated per-step buffers (the usual step allocates no temporaries)
        self._a_tilde = np.empty(paths)
        self._b_tilde = np.empty(paths)
        self._ask = self.noise_price[0]  # P + min δᵃ (noise buys fill there)
        self._bid = self.noise_price[1]  # P − min δᵇ
        self._scratch = np.empty((max(self.nm, 1), paths))
        self._same = np.empty(paths, dtype=bool)

    # -- quotes ------------------------------------------------------------------------------------
    def set_quotes(self, maker: int, half_spreads: np.ndarray) -> None:
        """As :meth:`Market.set_quotes`, clipped to [−ξ, ξ] in the same pass as the copy."""
        d = half_spreads
        d = d.T if d.ndim == 2 else d[:, None]
        q = self.quotes[maker]
        if not math.isfinite(self._xi):
            q[...] = d
        elif d.dtype == q.dtype:
            np.clip(d, -self._xi, self._xi, out=q)
        else:  # e.g. float32 quotes: convert first, then clip in float64
            q[...] = d
            np.clip(q, -self._xi, self._xi, out=q)

    def post_quotes(self) -> None:
        q = self.quotes
        rules.best_quote(q[:, 0], out=self.best_ask)
        rules.best_quote(q[:, 1], out=self.best_bid)

    def _exp(self, x: np.ndarray) -> None:
        """x ← exp(x) in place, row by row along the paths axis.

        exp is the dearest ufunc of a step (numpy has no SIMD float64 exp without AVX-512), and
        a row often holds one value on every path: in fluid mode with inventory- and time-driven
        quotes (constant spreads, inventory skew, Avellaneda–Stoikov, the §4 feedback
        equilibrium) all paths carry the same inventories, so the same quotes. Such a row gets
        one exp, copied to every path: the same ufunc loop on the same value, bit-identical.
        The test costs one scalar comparison when the paths differ (first vs last path).
        """
        same = self._same
        for idx in np.ndindex(x.shape[:-1]):
            row = x[idx]  # a view: written in place
            first = row[0]
            if row[-1] == first and np.equal(row, first, out=same).all():
                np.exp(row[:1], out=row[:1])
                row[1:] = row[0]
            else:
                np.exp(row, out=row)

    def _compute_shares(self) -> np.ndarray:
        """Λ(δʲ − δ̄ʲ) for both sides, ``(nm, 2, M)``."""
        s = self._shares
        if self._gamma is not None and self.nm == 2:
            # two makers: x¹ = −x⁰, so Λ(x¹) = exp(γx⁰) = 1/Λ(x⁰) (one exp instead of two)
            np.subtract(self.quotes[0], self.quotes[1], out=s[0])
            s[0] *= -self._gamma
            self._exp(s[0])
            np.divide(1.0, s[0], out=s[1])
            return s
        if self._gamma is not None:  # Λ(x) = exp(−γx), in place
            np.subtract(self.quotes, rules.best_other_quote(self.quotes), out=s)
            s *= -self._gamma
            self._exp(s)
            return s
        s[...] = self._intensity(self.quotes - rules.best_other_quote(self.quotes))
        return s

    # -- clearing ----------------------------------------------------------------------------------
    def _flows(self, nb: np.ndarray, ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ã = a + Σ_buyers v and b̃ = b − Σ_sellers v (intended rates)."""
        v = self.rates
        # no trader on a side: ã = a (= a + 0), b̃ = b (= b − 0)
        bought = self._row_sum(v, self._buyer_rows)
        a_tilde = nb if bought is None else np.add(nb, bought, out=self._a_tilde)
        sold = self._row_sum(v, self._seller_rows)  # (reuses _row_sum's scratch: after ã)
        b_tilde = ns if sold is None else np.subtract(ns, sold, out=self._b_tilde)
        return a_tilde, b_tilde

    def _maker_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray) -> None:
        """Draw all volumes; maker sells into ``sell``, buys into ``buy``."""
        nt, nm = self.nt, self.nm
        a_tilde, b_tilde = self._flows(nb, ns)
        shares = self._compute_shares()
        sold, bought = self.sell, self.buy
        # maker intensities ã·Λ and b̃·Λ, written in place, then checked
        np.multiply(shares[:, 0], a_tilde, out=sold)
        np.multiply(shares[:, 1], b_tilde, out=bought)
        self._check_intensities(step, sold, bought)
        if not self.discrete:
            self._fluid_volumes(nb, ns)
            sold *= self.dt
            bought *= self.dt
            return
        buf = self._intensities(nb, ns, extra=2 * nm)
        mk = buf[nt + 2 :].reshape(nm, 2, self.paths)
        mk[:, 0] = sold
        mk[:, 1] = bought
        self._draw(step, buf)  # maker rows become lot × Poisson or Bernoulli counts
        sold[...] = mk[:, 0]
        bought[...] = mk[:, 1]

    def _check_intensities(self, step: int, sold: np.ndarray, bought: np.ndarray) -> None:
        """Raise if a maker's expected volume ã·Λ·dt (or b̃·Λ·dt) of this step exceeds
        :data:`MAX_LOTS_PER_STEP` lots or is not finite (module docstring: a runaway quote)."""
        limit = MAX_LOTS_PER_STEP * self.lot / self.dt
        peak = max(sold.max(), bought.max())
        if peak <= limit:  # False for NaN too
            return
        for side, name, lam in ((0, "ask", sold), (1, "bid", bought)):
            bad = ~(lam <= limit)
            if not bad.any():
                continue
            j, path = (int(i[0]) for i in np.nonzero(bad))
            maker = self._maker_names[j]
            delta = self.quotes[j, side, path]
            raise ValueError(
                f"maker {maker!r} quoted {name} half-spread δ = {delta:.6g} at step {step} "
                f"(t = {step * self.dt:.6g}, path {path}): its fill intensity "
                f"{lam[j, path]:.3g} exceeds {limit:.3g} ({MAX_LOTS_PER_STEP:.3g} lots of "
                f"{self.lot:g} per step) — a runaway quote (e.g. Avellaneda–Stoikov with a large "
                "risk_aversion and inventory). Bound the quotes: set market.max_spread (ξ; "
                f"Λ ≤ e^{{2γξ}}) or makers[{j}].params.min_half_spread"
            )

    def clear(self, step: int, price: np.ndarray, nb: np.ndarray, ns: np.ndarray) -> None:
        nt = self.nt
        if nt:
            np.clip(self.rates, self._rate_lo, self._rate_hi, out=self.rates)
        self._maker_volumes(step, nb, ns)
        # makers: + (P + δᵃ)·sold − (P − δᵇ)·bought
        q, tmp = self.quotes, self._scratch
        mc = self.cash
        np.add(price, q[:, 0], out=mc)
        mc *= self.sell
        np.subtract(price, q[:, 1], out=tmp)
        tmp *= self.buy
        mc -= tmp
        ask = np.add(price, self.best_ask, out=self._ask)
        bid = np.subtract(price, self.best_bid, out=self._bid)
        if nt:
            v, unit = self.rates, self.trader_price
            # per-share temporary cost β(vⁱ + c·mean_{j≠i} vʲ) at the chosen rates
            rules.temporary_price(v, self._beta, self._coupling, out=unit)
            # plus the best quote of the trader's side (ask for buyers, bid otherwise)
            if len(self._buyer_rows) == nt:
                unit += ask
            elif not self._buyer_rows:
                unit += bid
            else:
                unit += np.where(self._buyers, ask, bid)
        np.multiply(bid, self.noise_sell, out=self.noise_cash)
        np.multiply(ask, self.noise_buy, out=tmp[0])
        self.noise_cash -= tmp[0]


class LogitMarket(BestQuoteMarket):
    """§5: shares ζⁱ = softmax(−ς·δ + o), volume conserved; ε·ΔW on strategic inventories."""

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        m = self.spec
        offsets = m.share_offsets or (0.0,) * self.nm
        self._offsets = np.asarray(offsets, dtype=float).reshape(-1, 1, 1)
        self._sigma = m.share_sharpness
        self._user_shares = m.shares if callable(m.shares) else None
        self._eps_sqdt = m.inventory_noise * math.sqrt(self.dt)
        if self._eps_sqdt:
            self.diffusion = np.zeros((self.nt + self.nm, paths))
        # Poisson splitting: the side of the book each order source hits (0 asks, 1 bids)
        nt = self.nt
        self._source_side = np.array([0 if q else 1 for q in self._buyers[:, 0]] + [0, 1])
        self._ask_sources = [*self._buyer_rows, nt]
        self._bid_sources = [*self._seller_rows, nt + 1]
        if self.discrete:
            self.routes = np.zeros((nt + 2, self.nm, paths))

    @staticmethod
    def route_sources(scenario: Scenario) -> int:
        return len(scenario.traders) + 2 if scenario.flow != "fluid" else 0

    def _compute_shares(self) -> np.ndarray:
        z = self._shares
        if self._user_shares is not None:
            for side in (0, 1):
                z[:, side] = self._checked_user_shares(self.quotes[:, side])
            return z
        np.multiply(self.quotes, -self._sigma, out=z)
        z += self._offsets
        z -= z.max(axis=0, keepdims=True)
        self._exp(z)
        z /= z.sum(axis=0, keepdims=True)
        return z

    def _checked_user_shares(self, half_spreads: np.ndarray) -> np.ndarray:
        """The user's ζ(δ) for one side, checked: shape (n_makers, M), ζ ≥ 0, Σζ = 1 (§5)."""
        shares = np.asarray(self._user_shares(half_spreads.copy()), dtype=float)
        if shares.shape != half_spreads.shape:
            raise ValueError(
                f"market.shares returned shape {shares.shape}; expected {half_spreads.shape} "
                "(one share per maker and path)"
            )
        if not (np.all(shares >= 0.0) and np.allclose(shares.sum(axis=0), 1.0, atol=1e-9)):
            raise ValueError(
                "market.shares returned shares outside the simplex (min "
                f"{shares.min():.3g}, column sums in [{shares.sum(axis=0).min():.6g}, "
                f"{shares.sum(axis=0).max():.6g}]); the logit market (§5) needs ζ ≥ 0, Σζ = 1"
            )
        return shares

    def _maker_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray) -> None:
        shares = self._compute_shares()
        self._diffuse(step)
        if self.discrete:  # Poisson (the scenario rejects Bernoulli flow here)
            self._split_volumes(step, nb, ns, shares)
            return
        self._fluid_volumes(nb, ns)
        # ã·dt and b̃·dt: noise + traders of the matching side
        vol = self.volume
        bought = self._row_sum(vol, self._buyer_rows)
        asks = (
            self.noise_buy if bought is None else np.add(self.noise_buy, bought, out=self._a_tilde)
        )
        sold = self._row_sum(vol, self._seller_rows)  # (reuses _row_sum's scratch: after asks)
        bids = (
            self.noise_sell
            if sold is None
            else np.subtract(self.noise_sell, sold, out=self._b_tilde)
        )
        np.multiply(shares[:, 0], asks, out=self.sell)
        np.multiply(shares[:, 1], bids, out=self.buy)

    def _split_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray, shares: np.ndarray) -> None:
        """Poisson mode: source s (each trader, noise buys, noise sells) sends lot × Poisson(
        intensityₛ·ζʲ·dt/lot) orders to maker j, ζ of the side s hits (asks for buyers and noise
        buys). A source's volume is the sum over makers; a maker's the sum over sources."""
        nt = self.nt
        rates = self._intensities(nb, ns)  # (nt + 2, M): |v|, a, b
        split = self.routes
        np.multiply(rates[:, None, :], shares[:, self._source_side].swapaxes(0, 1), out=split)
        self._discrete_volumes(step, split.reshape(-1, self.paths))
        volumes = split.sum(axis=1)
        np.copysign(volumes[:nt], self.rates, out=self.volume)
        self.noise_buy[:] = volumes[nt]
        self.noise_sell[:] = volumes[nt + 1]
        split[self._ask_sources].sum(axis=0, out=self.sell)
        split[self._bid_sources].sum(axis=0, out=self.buy)

    def _diffuse(self, step: int) -> None:
        """ε·ΔW on the strategic inventories (§5), if ε > 0."""
        if self.diffusion is not None:
            z = self.random.normal(INVENTORY, step, width=self.diffusion.shape[0])
            np.multiply(z, self._eps_sqdt, out=self.diffusion)


ENGINES: dict[str, type[Market]] = {
    "impact": ImpactMarket,
    "best_quote": BestQuoteMarket,
    "acas": BestQuoteMarket,
    "logit": LogitMarket,
}
"""The engine of each market kind (``scenario.market.kind``)."""


def make_market(scenario: Scenario, paths: int, random: PathRandom) -> Market:
    """The engine for ``scenario.market.kind``."""
    return ENGINES[scenario.market.kind](scenario, paths, random)
