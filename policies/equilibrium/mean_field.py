"""Mean-field limit of the §4 ACAS game: a continuum of buyers and two makers (Proposition 4.5).

The traders' initial inventories qʲ₀ are i.i.d. negative with mean q̄₀; the makers see the flow
``ã = a + lim (1/n) Σ vʲ``. Under the ansatz (32) — the population-average rate equals the rate of
the representative ACAS trader with q₀ = q̄₀ — the makers play the ACAS equilibrium quotes
``δᵃ = 1/γ + Ŷᵐ``, ``δᵇ = 1/γ − Ŷᵐ`` (17), and every trader solves the linear control problem (34)
against the best ask ``m_t = min_j δʲᵃ_t = 1/γ + Ŷ¹ᵐ_t``. Its solution is affine,
``Yʲ_t = A_t Qʲ_t + B_t``, with (36) (written with φ; the paper's (36) is the φ = 0 case)::

    A' = 2φ − A²/(2β),  A_T = −2A;        B' = A/(2β)·(m − B),  B_T = 0,
    vʲ_t = (Yʲ_t − m_t)/(2β).

Closed forms (β, φ constant). With ``ω = √(φ/β)``, ``τ = T − t`` and
``V(τ) = cosh ωτ + (A/(βω)) sinh ωτ`` (Radon's lemma: ``A = 2βV'/V``)::

    A_t = −2β·V_τ(τ)/V(τ),   Φ_t := exp ∫₀ᵗ A/(2β) = V(T − t)/V(T),
    B_t = −(1/Φ_t) ∫ₜᵀ Φ'_s m_s ds        (a weighted average of the future best asks)
        = m_t − (Φ_T m_T − ∫ₜᵀ 2φ Φ_s Q̂¹ᵐ_s ds)/Φ_t    (by parts: m' = Ŷ¹ᵐ' = 2φQ̂¹ᵐ),

and Q̄ needs ∫ 1/Φ², also in closed form (:func:`inverse_square_integral`): with φ = 0 no
quadrature is left and every trader's rate is exactly constant; with φ > 0 only integrals
carrying a factor φ are taken by Simpson's rule.

For φ = 0: ``A_t = −2A/(1 + (A/β)(T − t))`` and Yʲ is constant in t, ``Yʲ = A₀qʲ₀ + B₀``
(the paper's proof of Proposition 4.5 uses φ = 0; with φ > 0 the same linear structure holds, Y is
no longer constant, and (32) still follows from linearity in qʲ₀ and the law of large numbers).
Deviations from the representative are linear: ``vʲ_t = v̄_t + (qʲ₀ − q̄₀)·Φ'_t`` (Φ' < 0), so
the truncation ``v ≥ ε`` of (34) is inactive for trader j iff
``qʲ₀ − q̄₀ ≤ min_t (v̄_t − ε)/|Φ'_t|`` (the exact condition). The paper's (33)
``qʲ₀ − q̄₀ ≤ (β/A)(v̄_t − ε)`` (using |A₀| ≤ 2A, φ = 0) and (37)
``qʲ₀ − q̄₀ ≤ p/(4A)·(−q̄₀ + q¹ᵐ₀ − 1/(2Aγ))`` with
``p = 2{1/A + T/β·[1 + e^{2Aγ(q¹ᵐ₀ − q²ᵐ₀)}]}⁻¹`` (proof of Theorem 4.3: a = b = 0, φ = 0,
Assumption 4.4, q¹ᵐ₀ ≥ q²ᵐ₀) are successively stronger sufficient conditions; all three are
reported with the traders (or the probability mass) violating them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import cumulative_simpson

from policies.base import Policy
from policies.equilibrium.blas import single_threaded
from policies.equilibrium.coefficients import Coefficient
from policies.equilibrium.market_making import MarketMakingGame, MarketMakingSolution
from policies.equilibrium.protocol import Feedback


# --------------------------------------------------------------------------------------------
# (36): closed forms
# --------------------------------------------------------------------------------------------
def _shc(x: np.ndarray) -> np.ndarray:
    """sinh(x)/x, = 1 at 0."""
    x = np.asarray(x, dtype=float)
    out = np.ones_like(x)
    big = np.abs(x) > 1e-8
    out[big] = np.sinh(x[big]) / x[big]
    return out


def riccati_closed_form(
    t: Any, horizon: float, beta: float, running_penalty: float, terminal_penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """A_t of (36) and Φ_t = exp ∫₀ᵗ A/(2β) in closed form (Radon's lemma, V'' = (φ/β)V).

    ``A' = 2φ − A²/(2β)``, ``A_T = −2A``. For φ = 0 this is ``A_t = −2A/(1 + (A/β)(T − t))``.
    """
    tau = horizon - np.asarray(t, dtype=float)
    om = math.sqrt(running_penalty / beta)
    c = terminal_penalty / beta

    def v(tt: np.ndarray) -> np.ndarray:
        return np.cosh(om * tt) + c * tt * _shc(om * tt)

    v_tau = om * om * tau * _shc(om * tau) + c * np.cosh(om * tau)
    a = -2.0 * beta * v_tau / v(tau)
    phi_t = v(tau) / v(np.asarray(horizon, dtype=float))
    return a, phi_t


def inverse_square_integral(
    t: Any, horizon: float, beta: float, running_penalty: float, terminal_penalty: float
) -> np.ndarray:
    """``∫₀ᵗ ds/Φ_s²`` in closed form, Φ of :func:`riccati_closed_form`.

    ``Φ_s = V(T − s)/V(T)`` with ``V'' = ω²V``; ``U(τ) = τ·shc(ωτ)`` (sinh(ωτ)/ω) solves the same
    equation with Wronskian ``VU' − V'U = 1``, so ``(U/V)' = 1/V²`` and
    ``∫₀ᵗ ds/Φ_s² = V(T)²·[U(T)/V(T) − U(T − t)/V(T − t)]``.
    """
    om = math.sqrt(running_penalty / beta)
    c = terminal_penalty / beta

    def ratio(tau: np.ndarray) -> np.ndarray:
        u = tau * _shc(om * tau)
        return u / (np.cosh(om * tau) + c * u)

    horizon_ = np.asarray(horizon, dtype=float)
    v_big = np.cosh(om * horizon_) + c * horizon_ * _shc(om * horizon_)
    tau = horizon - np.asarray(t, dtype=float)
    return v_big**2 * (ratio(horizon_) - ratio(tau))


def _cumulative_integral(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """∫₀ᵗ y ds at every node: composite Simpson (O(h⁴) for smooth y on the RK4 grid)."""
    if t.size < 3:
        return np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(t))])
    return cumulative_simpson(y, x=t, initial=0.0)


def _cumulative_integral_from_end(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """∫ₜᵀ y ds at every node."""
    total = _cumulative_integral(y, t)
    return total[-1] - total


# --------------------------------------------------------------------------------------------
# the game
# --------------------------------------------------------------------------------------------
def _is_distribution(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("mean", "std", "support", "sf", "rvs"))


class MeanFieldGame:
    """Infinitely many ACAS buyers with i.i.d. initial inventories, two makers (Prop. 4.5).

    ``inventory_distribution``: a 1-D array of samples qʲ₀ < 0 (the population, or a sample of
    it) or a frozen ``scipy.stats`` distribution of q₀ (its mean is q̄₀; P(q₀ ≥ 0) > 0 is reported
    as a violation). β, φ, A are constants (homogeneous penalties as in §4); noise rates as in
    :meth:`MarketMakingGame.acas`.
    """

    def __init__(
        self,
        *,
        horizon: float,
        temporary_impact: float,
        intensity_decay: float,
        terminal_penalty: float,
        inventory_distribution: Any,
        maker_inventories: tuple[float, float],
        running_penalty: float = 0.0,
        noise_buy_rate: Any = 0.0,
        noise_sell_rate: Any = 0.0,
        min_rate: float = 0.0,
        max_rate: float = math.inf,
    ) -> None:
        for name, value, low in (
            ("horizon", horizon, 0.0),
            ("temporary_impact", temporary_impact, 0.0),
            ("intensity_decay", intensity_decay, 0.0),
            ("terminal_penalty", terminal_penalty, 0.0),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > low):
                raise ValueError(f"{name} = {value!r}; allowed: a constant > 0")
        if not (isinstance(running_penalty, int | float) and running_penalty >= 0):
            raise ValueError(f"running_penalty = {running_penalty!r}; allowed: a constant φ ≥ 0")
        if len(maker_inventories) != 2:
            raise ValueError(f"maker_inventories = {maker_inventories!r}; allowed: two makers (§4)")
        self.horizon = float(horizon)
        self.beta = float(temporary_impact)
        self.gamma = float(intensity_decay)
        self.phi = float(running_penalty)
        self.terminal = float(terminal_penalty)
        self.maker_inventories = tuple(float(q) for q in maker_inventories)
        self.noise_buy_rate, self.noise_sell_rate = noise_buy_rate, noise_sell_rate
        self.min_rate, self.max_rate = float(min_rate), float(max_rate)
        if _is_distribution(inventory_distribution):
            self.distribution = inventory_distribution
            self.samples = None
            mean = float(inventory_distribution.mean())
        else:
            samples = np.asarray(inventory_distribution, dtype=float).ravel()
            if samples.size == 0 or not np.all(np.isfinite(samples)):
                raise ValueError(
                    "inventory_distribution: allowed a non-empty array of finite samples or a "
                    "frozen scipy.stats distribution"
                )
            if np.any(samples >= 0):
                bad = np.flatnonzero(samples >= 0)
                raise ValueError(
                    f"inventory_distribution has q₀ ≥ 0 at indices {bad[:10].tolist()} "
                    f"(values {samples[bad[:10]].tolist()}); allowed: q₀ < 0 (Prop. 4.5: i.i.d. "
                    "negative initial inventories — every trader buys)"
                )
            self.distribution = None
            self.samples = samples
            mean = float(samples.mean())
        if not (math.isfinite(mean) and mean < 0):
            raise ValueError(
                f"mean initial inventory q̄₀ = {mean!r}; allowed: q̄₀ < 0 (the representative buys)"
            )
        self.mean_inventory = mean

    def representative_game(self) -> MarketMakingGame:
        """The ACAS game of the representative trader (q₀¹ᵉ = q̄₀) and the two makers."""
        return MarketMakingGame.acas(
            horizon=self.horizon,
            temporary_impact=self.beta,
            intensity_decay=self.gamma,
            running_penalty=self.phi,
            terminal_penalty=self.terminal,
            trader_inventory=self.mean_inventory,
            maker_inventories=self.maker_inventories,
            noise_buy_rate=self.noise_buy_rate,
            noise_sell_rate=self.noise_sell_rate,
            min_rate=self.min_rate,
            max_rate=self.max_rate,
        )

    @single_threaded
    def solve(self, steps: int | None = None) -> MeanFieldSolution:
        """Solve the representative ACAS game, then (36) for the population."""
        acas = self.representative_game().solve(steps=steps)
        return MeanFieldSolution(self, acas)


# --------------------------------------------------------------------------------------------
# the solution
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Coefficients:
    time: np.ndarray
    best_ask: np.ndarray  # m_t = min_j δʲᵃ = 1/γ + Ŷ¹ᵐ
    a: np.ndarray  # A_t
    b: np.ndarray  # B_t
    phi: np.ndarray  # Φ_t
    dphi: np.ndarray  # Φ'_t = A_tΦ_t/(2β): ∂vʲ_t/∂qʲ₀
    mean_rate: np.ndarray  # v̄_t, the rate of the q̄₀ trader from (36)
    mean_inventory: np.ndarray  # Q̄_t


class MeanFieldSolution:
    """The mean-field equilibrium: representative ACAS solution, makers' quotes, (36), checks.

    * ``acas``: the representative :class:`MarketMakingSolution` (makers' quotes, values);
    * the :class:`~policies.equilibrium.protocol.Solution` protocol: :attr:`value`,
      :attr:`path`, :meth:`feedback`, :meth:`policies`, :attr:`diagnostics`;
    * :attr:`representative_path`, :meth:`maker_quotes`;
    * ``time``, ``A``, ``B``: (36) on the ACAS grid; ``best_ask`` m_t;
    * :meth:`rate` (feedback in the current inventory) and :meth:`rate_from_initial`
      (open-loop from qʲ₀), vectorised; :meth:`trader_value` of a trader;
    * :meth:`average_rate_check` (ansatz (32) by the law of large numbers);
    * :meth:`conditions` / :meth:`violations`: (33), (37) and the exact truncation condition.
    """

    def __init__(self, game: MeanFieldGame, acas: MarketMakingSolution) -> None:
        self.game = game
        self.acas = acas
        beta = game.beta
        t = np.asarray(acas.time, dtype=float)
        m = np.asarray(acas.ask, dtype=float).min(axis=1)
        a, phi = riccati_closed_form(t, game.horizon, beta, game.phi, game.terminal)
        dphi = a * phi / (2 * beta)
        # B_t = −(1/Φ_t)∫ₜᵀ Φ'm ds, by parts with m' = Ŷ¹ᵐ' = 2φQ̂¹ᵐ (the best maker's
        # adjoint equation (14)): B = m − (Φ_T m_T − I)/Φ, I_t = ∫ₜᵀ 2φΦQ̂¹ᵐ ds (0 when φ = 0)
        best = np.argmin(acas.ask, axis=1)
        q_best = acas.inventory[np.arange(t.size), 1 + best]
        i_t = _cumulative_integral_from_end(2 * game.phi * phi * q_best, t)
        end = phi[-1] * m[-1]
        b = m - (end - i_t) / phi
        # Q̄' = (A Q̄ + B − m)/(2β): Q̄ = Φ[q̄₀ + ∫₀ᵗ (B − m)/(2βΦ)] with (B − m)/Φ =
        # −(Φ_T m_T − I)/Φ²; ∫ 1/Φ² in closed form, so φ = 0 leaves no quadrature at all
        inv_sq = inverse_square_integral(t, game.horizon, beta, game.phi, game.terminal)
        drift = -end * inv_sq + _cumulative_integral(i_t / phi**2, t)
        qbar = phi * (game.mean_inventory + drift / (2 * beta))
        vbar = (a * qbar + b - m) / (2 * beta)
        self._c = _Coefficients(t, m, a, b, phi, dphi, vbar, qbar)

    # ---- coefficients ----------------------------------------------------------------------
    @property
    def time(self) -> np.ndarray:
        return self._c.time

    @property
    def A(self) -> np.ndarray:  # noqa: N802 - the paper's symbol
        """A_t of (36) on :attr:`time`."""
        return self._c.a

    @property
    def B(self) -> np.ndarray:  # noqa: N802 - the paper's symbol
        """B_t of (36) on :attr:`time`."""
        return self._c.b

    @property
    def best_ask(self) -> np.ndarray:
        """m_t = min_j δʲᵃ_t = 1/γ + Ŷ¹ᵐ_t, the price (over P) every trader pays."""
        return self._c.best_ask

    @property
    def representative_rate(self) -> np.ndarray:
        """v̄_t from (36) at q₀ = q̄₀ (equals the ACAS trader's v̂¹ᵉ up to quadrature error)."""
        return self._c.mean_rate

    @property
    def representative_mismatch(self) -> float:
        """max_t |v̄_t − v̂¹ᵉ_t|: (36) at q̄₀ against the ACAS solver (a consistency check)."""
        return float(np.max(np.abs(self._c.mean_rate - self.acas.rate[:, 0])))

    @property
    def representative_path(self) -> pd.DataFrame:
        """The q̄₀ trader from (36): time, inventory Q̄, adjoint A·Q̄ + B, rate v̄, best_ask m."""
        c = self._c
        return pd.DataFrame(
            {
                "time": c.time,
                "inventory": c.mean_inventory,
                "adjoint": c.a * c.mean_inventory + c.b,
                "rate": c.mean_rate,
                "best_ask": c.best_ask,
            }
        )

    def maker_quotes(self) -> pd.DataFrame:
        """The makers' equilibrium half-spreads (17) on :attr:`time` (tidy)."""
        path = self.acas.path
        cols = ["time", "agent", "ask_spread", "bid_spread", "inventory", "adjoint"]
        return path.loc[path["role"] == "maker", cols].reset_index(drop=True)

    def _at(self, arr: np.ndarray, t: Any) -> np.ndarray:
        return np.interp(np.asarray(t, dtype=float), self._c.time, arr)

    # ---- strategies --------------------------------------------------------------------------
    def rate(self, t: Any, inventory: Any) -> np.ndarray:
        """Feedback rate ``v(t, q) = (A_t q + B_t − m_t)/(2β)`` (broadcast over t and q)."""
        g = self.game
        a, _ = riccati_closed_form(t, g.horizon, g.beta, g.phi, g.terminal)
        q = np.asarray(inventory, dtype=float)
        return (a * q + self._at(self._c.b, t) - self._at(self._c.best_ask, t)) / (2 * g.beta)

    def rate_from_initial(self, t: Any, initial_inventory: Any) -> np.ndarray:
        """Open-loop rate of the trader with q₀: ``v̄_t + (q₀ − q̄₀)Φ'_t`` (broadcast)."""
        dq = np.asarray(initial_inventory, dtype=float) - self.game.mean_inventory
        return self._at(self._c.mean_rate, t) + dq * self._at(self._c.dphi, t)

    def inventory_from_initial(self, t: Any, initial_inventory: Any) -> np.ndarray:
        """Qʲ_t = Q̄_t + (q₀ − q̄₀)Φ_t."""
        dq = np.asarray(initial_inventory, dtype=float) - self.game.mean_inventory
        return self._at(self._c.mean_inventory, t) + dq * self._at(self._c.phi, t)

    def trader_value(self, initial_inventory: Any) -> np.ndarray:
        """J^{j,e} (P₀ = 0) of the trader starting at q₀ (vectorised, any shape).

        ``J = −∫ m v dt − ∫ βv² dt − ∫ φQ² dt − A Q_T²`` is quadratic in Δ = q₀ − q̄₀ because
        v and Q are affine in Δ; the three coefficients are integrated once (Simpson's rule).
        """
        c, g = self._c, self.game
        t = c.time

        def integral(y: np.ndarray) -> float:
            return float(_cumulative_integral(y, t)[-1])

        v0, v1, q0, q1 = c.mean_rate, c.dphi, c.mean_inventory, c.phi
        c0 = -integral(c.best_ask * v0 + g.beta * v0**2 + g.phi * q0**2) - g.terminal * q0[-1] ** 2
        c1 = (
            -integral(c.best_ask * v1 + 2 * g.beta * v0 * v1 + 2 * g.phi * q0 * q1)
            - 2 * g.terminal * q0[-1] * q1[-1]
        )
        c2 = -integral(g.beta * v1**2 + g.phi * q1**2) - g.terminal * q1[-1] ** 2
        d = np.asarray(initial_inventory, dtype=float) - g.mean_inventory
        return c0 + c1 * d + c2 * d * d

    @property
    def value(self) -> pd.Series:
        """Representative trader (mean-field formulas) and makers (ACAS solver), P₀ = 0."""
        out = self.acas.value.copy()
        out.iloc[0] = float(self.trader_value(self.game.mean_inventory))
        return out

    def values(self) -> pd.Series:
        """:attr:`value` (the name of earlier versions)."""
        return self.value

    @property
    def path(self) -> pd.DataFrame:
        """Tidy, as :attr:`MarketMakingSolution.path`: the representative trader from (36)
        (inventory Q̄, adjoint A·Q̄ + B, rate v̄) and the makers from the ACAS solution."""
        c = self._c
        path = self.acas.path.copy()
        rows = (path["agent"] == self.acas.game.trader_names[0]).to_numpy()
        path.loc[rows, "inventory"] = c.mean_inventory
        path.loc[rows, "adjoint"] = c.a * c.mean_inventory + c.b
        path.loc[rows, "rate"] = c.mean_rate
        return path

    @property
    def diagnostics(self) -> dict[str, Any]:
        """The representative ACAS solve's diagnostics and :attr:`representative_mismatch`."""
        return {**self.acas.diagnostics, "representative_mismatch": self.representative_mismatch}

    def feedback(self, t: float, inventories: np.ndarray) -> Feedback:
        """Equilibrium controls at time t for states (M, 3): one trader's own inventory qʲ, then
        the makers' inventories (game order of :attr:`acas`), vectorised over the M rows.

        A single trader of the continuum does not move the makers: they see the population's
        inventory Q̄_t on its equilibrium path, so their adjoints are the ACAS decoupling field
        at (Q̄_t, Q¹ᵐ, Q²ᵐ) and they quote (17). The trader's adjoint is (36),
        ``Yʲ = A_t qʲ + B_t``, and it trades ``(Yʲ − min_j δʲᵃ)/(2β)`` truncated as in (34) —
        :meth:`rate` when the makers are on their equilibrium path.
        """
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        if q.ndim != 2 or q.shape[-1] != 3:
            raise ValueError(
                f"inventories: shape {q.shape}; expected (M, 3) (the trader, then two makers)"
            )
        g = self.game
        state = q.copy()
        state[:, 0] = self._at(self._c.mean_inventory, t)
        y = self.acas.adjoint_at(t, state)
        _, ask, bid = self.acas.controls_at(t, y)
        a, _ = riccati_closed_form(t, g.horizon, g.beta, g.phi, g.terminal)
        y[:, 0] = a * q[:, 0] + self._at(self._c.b, t)
        rate = self.acas.trader_rates_at(t, y, ask.min(axis=1), bid.min(axis=1))
        return Feedback(y, rate, ask, bid)

    def policies(self, open_loop: bool = False) -> dict[str, Policy]:
        """The representative ACAS game's equilibrium policies (:attr:`acas`), by agent name:
        the finite game whose equilibrium the makers play; a scenario has no continuum."""
        return self.acas.policies(open_loop)

    # ---- checks ------------------------------------------------------------------------------
    def average_rate_check(self, samples: Any, t: Any | None = None) -> pd.DataFrame:
        """Ansatz (32): the sample mean of the individual rates vs the representative's rate.

        Each trader's rate is computed individually (``(N, K)`` array); the law of large numbers
        gives ``|mean − v̂¹ᵉ| ≤ 4·sd/√N`` with ``sd`` the sample sd of the rates at each t.
        Columns: time, mean_rate, representative_rate, difference, lln_bound, within.
        """
        q = np.asarray(samples, dtype=float).ravel()
        tt = self._c.time if t is None else np.atleast_1d(np.asarray(t, dtype=float))
        rates = self.rate_from_initial(tt[None, :], q[:, None])
        mean = rates.mean(axis=0)
        rep = np.interp(tt, self.acas.time, self.acas.rate[:, 0])
        bound = 4 * rates.std(axis=0, ddof=1) / math.sqrt(q.size) + 1e-9
        diff = mean - rep
        return pd.DataFrame(
            {
                "time": tt,
                "mean_rate": mean,
                "representative_rate": rep,
                "difference": diff,
                "lln_bound": bound,
                "within": np.abs(diff) <= bound + self.representative_mismatch,
            }
        )

    def bounds(self) -> dict[str, float | None]:
        """Largest allowed qʲ₀ − q̄₀ under each condition (None: not applicable).

        ``exact``: the truncation v ≥ ε of (34) never binds; ``eq33``: (33); ``eq37``: (37).
        ``lower``: smallest allowed qʲ₀ − q̄₀ so that v ≤ ξ̃ never binds (−inf if ξ̃ = ∞).
        """
        g, c = self.game, self._c
        slack = c.mean_rate - g.min_rate
        exact = float(np.min(slack / -c.dphi))
        lower = -math.inf
        if math.isfinite(g.max_rate):
            lower = float(np.max((c.mean_rate - g.max_rate) / -c.dphi))
        eq33 = float(g.beta / g.terminal * np.min(slack))
        eq37 = None
        if self._eq37_applicable() is None:
            q1m, q2m = max(g.maker_inventories), min(g.maker_inventories)
            p = 2.0 / (
                1 / g.terminal
                + g.horizon / g.beta * (1 + math.exp(2 * g.terminal * g.gamma * (q1m - q2m)))
            )
            eq37 = p / (4 * g.terminal) * (-g.mean_inventory + q1m - 1 / (2 * g.terminal * g.gamma))
        return {"exact": exact, "eq33": eq33, "eq37": eq37, "lower": lower}

    def _eq37_applicable(self) -> str | None:
        """Why (37) does not apply (None if it does): Thm 4.3 needs a = b = 0, φ = 0, Ass. 4.4."""
        g = self.game
        noise = np.concatenate([np.atleast_1d(g.noise_buy_rate), np.atleast_1d(g.noise_sell_rate)])
        if callable(g.noise_buy_rate) or callable(g.noise_sell_rate) or np.any(noise != 0):
            return "needs a = b = 0 (Theorem 4.3)"
        if g.phi != 0:
            return "needs φ = 0 (Theorem 4.3)"
        margin = -1 / (2 * g.terminal * g.gamma) - (g.mean_inventory - max(g.maker_inventories))
        if margin <= 0:
            return f"Assumption 4.4 fails: q̄₀ − q¹ᵐ₀ ≥ −1/(2Aγ) (margin {margin:.3g})"
        return None

    def conditions(self) -> pd.DataFrame:
        """Conditions of Proposition 4.5 on the sample or the distribution's support.

        Columns: condition, max_deviation (largest allowed q₀ − q̄₀), holds, violators (count,
        samples), worst_excess (largest q₀ − q̄₀ − bound), violation_probability (distributions:
        P(q₀ − q̄₀ > bound), plus P(q₀ ≥ 0) in the ``negative`` row), note.
        """
        g = self.game
        bounds = self.bounds()
        rows = []
        representative_ok = bool(np.min(self._c.mean_rate) >= g.min_rate - 1e-12)
        rows.append(
            dict(
                condition="representative_admissible",
                max_deviation=np.nan,
                holds=representative_ok,
                violators=0,
                worst_excess=float(g.min_rate - np.min(self._c.mean_rate)),
                violation_probability=np.nan,
                note="min_t v̄_t ≥ ε (Assumption 4.4 / (26))",
            )
        )
        if self.game.distribution is not None:
            dist = g.distribution
            p_neg = float(dist.sf(0.0))
            rows.append(
                dict(
                    condition="negative",
                    max_deviation=-g.mean_inventory,
                    holds=p_neg == 0.0,
                    violators=0,
                    worst_excess=float(dist.support()[1]),
                    violation_probability=p_neg,
                    note="P(q₀ ≥ 0): Prop. 4.5 needs negative q₀",
                )
            )
        notes = {
            "exact": "v_t ≥ ε (and ≤ ξ̃) for all t: truncation in (34) inactive",
            "eq33": "(33) (derived for φ = 0)",
            "eq37": "(37) sufficient condition via Thm 4.3's p",
        }
        for name in ("exact", "eq33", "eq37"):
            bound = bounds[name]
            if bound is None:
                rows.append(
                    dict(
                        condition=name,
                        max_deviation=np.nan,
                        holds=None,
                        violators=0,
                        worst_excess=np.nan,
                        violation_probability=np.nan,
                        note=f"{notes[name]}: not applicable, {self._eq37_applicable()}",
                    )
                )
                continue
            lower = bounds["lower"] if name == "exact" else -math.inf
            rows.append(
                dict(
                    condition=name,
                    max_deviation=bound,
                    note=notes[name],
                    **self._check(bound, lower),
                )
            )
        return pd.DataFrame(rows)

    def _check(self, upper: float, lower: float) -> dict[str, Any]:
        g = self.game
        if g.samples is not None:
            d = g.samples - g.mean_inventory
            bad = (d > upper) | (d < lower)
            excess = np.maximum(d - upper, lower - d)
            return dict(
                holds=not bool(np.any(bad)),
                violators=int(np.sum(bad)),
                worst_excess=float(np.max(excess)),
                violation_probability=np.nan,
            )
        dist = g.distribution
        lo, hi = (float(x) - g.mean_inventory for x in dist.support())
        prob = float(dist.sf(g.mean_inventory + upper))
        if math.isfinite(lower):
            prob += float(dist.cdf(g.mean_inventory + lower))
        excess = max(hi - upper, lower - lo)
        return dict(
            holds=bool(excess <= 0),
            violators=0,
            worst_excess=float(excess),
            violation_probability=prob,
        )

    def violations(self, condition: str = "exact") -> pd.DataFrame:
        """The sampled traders violating ``condition`` ("exact", "eq33", "eq37"): index, q0,
        deviation q₀ − q̄₀, bound, excess (> 0), sorted by excess."""
        g = self.game
        if g.samples is None:
            raise ValueError("violations() lists sampled traders; this game has a distribution")
        bounds = self.bounds()
        if condition not in ("exact", "eq33", "eq37"):
            raise ValueError(f"condition = {condition!r}; allowed: 'exact', 'eq33', 'eq37'")
        if bounds[condition] is None:
            raise ValueError(f"condition (37) is not applicable: {self._eq37_applicable()}")
        upper = bounds[condition]
        lower = bounds["lower"] if condition == "exact" else -math.inf
        d = g.samples - g.mean_inventory
        excess = np.maximum(d - upper, lower - d)
        idx = np.flatnonzero(excess > 0)
        out = pd.DataFrame(
            {
                "index": idx,
                "q0": g.samples[idx],
                "deviation": d[idx],
                "bound": upper,
                "excess": excess[idx],
            }
        )
        return out.sort_values("excess", ascending=False).reset_index(drop=True)

    # ---- finite populations ------------------------------------------------------------------
    def population_profile(self, samples: Any, steps: int) -> tuple[Any, np.ndarray, np.ndarray]:
        """A finite population on the engine grid: (market, rates ``(N, n)``, quotes ``(2, n, 2)``).

        N traders with initial inventories ``samples`` whose *average* rate hits the asks
        (``flow_weights = 1/N``: the finite-N version of ``ã = a + lim (1/n) Σ vʲ``), each playing
        its mean-field schedule, and the makers quoting the ACAS equilibrium, all sampled at
        ``t_k`` (piecewise constant). Feed it to
        :func:`~policies.equilibrium.market_making_nash.market_making_nash_gap`.
        """
        from policies.equilibrium.market_making_nash import DiscreteBestQuoteGame

        g = self.game
        q = np.asarray(samples, dtype=float).ravel()
        if q.size == 0 or np.any(q >= 0):
            raise ValueError("samples: allowed a non-empty array of q₀ < 0")
        dt = g.horizon / steps
        tk = np.arange(steps) * dt
        market = DiscreteBestQuoteGame(
            horizon=g.horizon,
            steps=steps,
            temporary_impact=g.beta,
            intensity_decay=g.gamma,
            trader_inventories=q,
            maker_inventories=g.maker_inventories,
            trader_running_penalty=g.phi,
            trader_terminal_penalty=g.terminal,
            maker_running_penalty=g.phi,
            maker_terminal_penalty=g.terminal,
            noise_buy_rate=Coefficient.build("noise_buy_rate", g.noise_buy_rate, g.horizon)(tk),
            noise_sell_rate=Coefficient.build("noise_sell_rate", g.noise_sell_rate, g.horizon)(tk),
            min_rate=g.min_rate,
            max_rate=g.max_rate,
            flow_weights=1.0 / q.size,
        )
        rates = self.rate_from_initial(tk[None, :], q[:, None])
        t = self.acas.time
        quotes = np.stack(
            [
                np.stack(
                    [np.interp(tk, t, self.acas.ask[:, j]), np.interp(tk, t, self.acas.bid[:, j])],
                    axis=1,
                )
                for j in range(2)
            ]
        )
        return market, rates, quotes
