"""The order-flow engine's common part: the arrays of a step and how volumes are drawn (§2–§5).

The engine owns the mechanism; agents and policies never touch it. All arrays hold the M paths on
their last axis: trader rates ``rates`` ``(N_traders, M)``, maker half-spreads ``quotes``
``(N_makers, 2, M)`` (δᵃ, δᵇ). After :meth:`Market.clear` the fill arrays describe the step:
the traders' signed ``volume`` (> 0 bought) and ``trader_price`` (the per-share price of their
fills, temporary cost included), both ``(N_traders, M)``; the makers' ``buy``/``sell`` (volume
bought/sold) and ``cash`` (cash change), ``(N_makers, M)``; and the noise traders'
``noise_buy``/``noise_sell``/``noise_cash`` ``(M,)`` with their per-share prices ``noise_price``
``(2, M)`` (buys, sells). Makers fill at their quotes P + δᵃ (sells) and P − δᵇ (buys).

Fluid mode (controls piecewise constant on [t_k, t_{k+1}), the exact integrals of the continuous
game for such controls): each mechanism's module states its own —
:mod:`simulator.mechanisms.impact` (§2), :mod:`simulator.mechanisms.best_quote` (§3/§4),
:mod:`simulator.mechanisms.logit` (§5).

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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from simulator.validation import number, set_field

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario

MAX_LOTS_PER_STEP = 2.0**53
"""Largest expected number of lots one maker quote side may receive in a step: counts stay exact
integers in float64 (and well below numpy's Poisson sampler limit ~9e18)."""


@dataclass(frozen=True)
class MarketSpec:
    """The ``[market]`` table of a scenario: what every market kind's spec holds.

    Each mechanism module defines one frozen subclass per market kind (``ImpactSpec`` §2,
    ``BestQuoteSpec`` §3, ``AcasSpec`` §4, ``LogitSpec`` §5) with its own fields, validated on
    construction; ``kind`` is set by the class. :meth:`check_scenario` checks what the kind
    needs of the scenario's agents, flow and noise.

    ``temporary_impact`` (every kind) is one β for every trader, or a list with one βⁱ per
    trader (trader i pays its own βⁱ: the individual λⁱ of §3, Def. 3.2); read it with
    :meth:`trader_impacts`.
    """

    kind: str = field(default="", init=False)
    temporary_impact: float | tuple[float, ...] = 0.0

    section: ClassVar[str] = ""
    """The paper's section of the market (in error messages)."""
    uses_noise_factor: ClassVar[bool] = False
    """Whether the noise rates may follow the factor L (``noise.factor``, §5's κ(L))."""
    has_quotes: ClassVar[bool] = True
    """Whether makers quote (best quotes, quote tables, LOBSTER books); §2 has no quotes."""
    routes_orders: ClassVar[bool] = False
    """Whether market orders are routed among the makers by shares (§5) rather than executed
    at the best quote (§3/§4)."""

    def __post_init__(self) -> None:
        if not self.kind:
            raise TypeError(
                "MarketSpec is the base of the market specs; build one kind's spec (ImpactSpec, "
                "BestQuoteSpec, AcasSpec, LogitSpec) or use simulator.scenario.market_spec(kind, "
                "**fields)"
            )
        p = "market"
        beta = self.temporary_impact
        if isinstance(beta, list | tuple):
            if not beta:
                raise ValueError(
                    f"{p}.temporary_impact = {beta!r} must be a number or a non-empty list of "
                    "numbers (one per trader)"
                )
            beta = tuple(
                number(f"{p}.temporary_impact[{i}]", b, low=0.0) for i, b in enumerate(beta)
            )
        else:
            beta = number(f"{p}.temporary_impact", beta, low=0.0)
        set_field(self, "temporary_impact", beta)

    def trader_impacts(self, traders: int) -> tuple[float, ...]:
        """βⁱ of each of ``traders`` traders: the list as given, or the one β repeated."""
        beta = self.temporary_impact
        return beta if isinstance(beta, tuple) else (beta,) * traders

    def own_temporary_cost(self, trader: int, traders: int) -> tuple[float, str]:
        """Trader ``trader``'s own quadratic temporary-cost coefficient η (of ``traders``) and
        the field it comes from: βⁱ (§3–§5: individual βv² or aggregated vⁱ(βvⁱ + βc·mean v⁻ⁱ);
        with one βⁱ per trader, the trader's own)."""
        beta = self.temporary_impact
        if isinstance(beta, tuple):
            return beta[trader], f"market.temporary_impact[{trader}]"
        return beta, "market.temporary_impact"

    def spread_decay(self) -> tuple[float, str] | None:
        """The rate at which a maker's fills decay exponentially in its own half-spread, with the
        field it comes from (the default ``intensity_decay`` of quoting heuristics); None if the
        market has none."""
        return None

    def check_scenario(self, scenario: Scenario) -> None:
        """Raise ``ValueError`` if ``scenario``'s agents, flow or noise do not fit this market:
        one β per trader and β > 0 when there are traders, the kind's own conditions
        (:meth:`_check_kind`), and no ``noise.factor`` unless the kind uses one."""
        nt = len(scenario.traders)
        beta = self.temporary_impact
        if isinstance(beta, tuple) and len(beta) != nt:
            raise ValueError(
                f"market.temporary_impact = {list(beta)!r} has {len(beta)} values but there are "
                f"{nt} traders; allowed: one number for every trader, or one value per trader"
            )
        bad = [i for i, b in enumerate(self.trader_impacts(nt)) if b <= 0.0]
        if bad:
            field_ = "market.temporary_impact" + (f"[{bad[0]}]" if isinstance(beta, tuple) else "")
            value = beta[bad[0]] if isinstance(beta, tuple) else beta
            raise ValueError(
                f"{field_} = {value!r} is not allowed; it "
                "must be > 0 when there are traders (beta bounded away from zero: Assumption 2.4 "
                "in §2, strong convexity of the temporary cost in Definition 3.2 for §3-§5)"
            )
        self._check_kind(scenario)
        if scenario.noise.factor is not None and not self.uses_noise_factor:
            raise ValueError(
                f"noise.factor is only used by market.kind = 'logit' (§5, κ(L)); "
                f"market.kind = {self.kind!r} takes deterministic noise rates"
            )

    def _check_kind(self, scenario: Scenario) -> None:
        """The kind's own conditions on the scenario (none here)."""

    def _refuse_bernoulli(self, scenario: Scenario, why: str) -> None:
        """Refuse ``flow = 'bernoulli'`` for this kind, saying ``why``."""
        if scenario.flow == "bernoulli":
            raise ValueError(
                f"flow = 'bernoulli' is not allowed for market.kind = {self.kind!r}: Bernoulli "
                f"flow fills at most one lot per quote side and step, and {why}; use flow = "
                "'fluid' or 'poisson', or market.kind = 'best_quote'/'acas'"
            )


class Market:
    """Common state and helpers of every mechanism (see the module docstring).

    A mechanism declares what the recorder keeps of it besides the agents' books:
    ``recorded_states`` (arrays on the grid t_0..t_n, read from :meth:`recorded`) and
    ``recorded_steps`` (per-step attributes of the engine, e.g. the best quotes).
    """

    specs: ClassVar[tuple[type[MarketSpec], ...]] = ()
    """The market kinds this engine clears (their spec classes; :mod:`simulator.engine`)."""
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
