"""Execution-trader heuristics: TWAP, Almgren–Chriss, participation (percentage of volume).

A trader holds signed inventory Q (q₀ > 0 sells with rate v < 0) and returns its rate v for every
path at once. None of these policies looks at the other players; they are the single-agent
baselines against which the Guo & Jin equilibria (and their Nash gaps) are compared.

Almgren–Chriss (Almgren & Chriss 2001; Cartea, Jaimungal & Penalva 2015, ch. 6): with temporary
cost coefficient η, running penalty φ and terminal penalty A, the trader minimises

    C(v) = ∫_t^T (η v_s² + φ Q_s²) ds + A Q_T²,        dQ_s = v_s ds,  Q_t = q.

Euler–Lagrange gives η Q'' = φ Q with the transversality condition η Q'(T) = −A Q(T), so with
κ = √(φ/η), m = A/(ηκ), τ = T − t,

    Q(s) = q·[cosh κ(T−s) + m sinh κ(T−s)] / [cosh κτ + m sinh κτ],
    v_t  = −g(τ)·Q_t,   g(τ) = κ·[sinh κτ + m cosh κτ]/[cosh κτ + m sinh κτ],

and the minimal cost is V(t, q) = η·g(τ)·q² (g solves the Riccati ODE g' = φ/η − g², g(0) = A/η).
Dividing by cosh κτ and writing th(τ) = tanh(κτ)/κ (= τ at κ = 0), r = A/η:

    g(τ) = (κ²·th(τ) + r) / (1 + r·th(τ)),

a form that is finite for κ → 0 (φ = 0: g = r/(1 + rτ), the linear schedule with terminal
penalty) and for r → ∞ (A = ∞: g = 1/th(τ) = κ coth κτ; with φ = 0 too, g = 1/τ: TWAP).
Other players are ignored, and so is the trader's own permanent impact in the §2 market: under the
paper's J it adds (α/N)·∫Q v dt = α/(2N)·(Q_T² − q₀²), i.e. it lowers the effective terminal
penalty to A − α/(2N); pass ``params.terminal_penalty`` to account for it.
"""

from __future__ import annotations

import math

import numpy as np

from policies.base import MarketState, Policy
from policies.heuristics._params import check_keys, flag, index, param, where
from policies.registry import PolicyContext, register_policy


def _tanh_over_kappa(kappa: float, tau: np.ndarray) -> np.ndarray:
    """th(τ) = tanh(κτ)/κ, continuous at κ = 0 where it equals τ."""
    return np.tanh(kappa * tau) / kappa if kappa > 0 else np.asarray(tau, dtype=float)


def almgren_chriss_decay(
    tau: float | np.ndarray, eta: float, phi: float, terminal_penalty: float
) -> np.ndarray:
    """The feedback coefficient g(τ) ≥ 0 of the Almgren–Chriss rate ``v = −g(τ)·Q`` (module doc).

    ``tau`` is the time left T − t (> 0 when ``terminal_penalty`` is infinite); ``eta`` > 0 the
    temporary cost coefficient, ``phi`` ≥ 0 the running penalty, ``terminal_penalty`` ∈ [0, ∞].
    """
    kappa = math.sqrt(phi / eta)
    th = _tanh_over_kappa(kappa, np.asarray(tau, dtype=float))
    if math.isinf(terminal_penalty):
        return 1.0 / th
    r = terminal_penalty / eta
    return (kappa**2 * th + r) / (1.0 + r * th)


def almgren_chriss_schedule(
    s: float | np.ndarray,
    t: float,
    q: float | np.ndarray,
    horizon: float,
    eta: float,
    phi: float,
    terminal_penalty: float,
) -> np.ndarray:
    """The optimal inventory Q(s), s ∈ [t, T], starting from Q_t = ``q`` (module doc).

    Computed as f(T−s)/f(T−t) with f(τ) = cosh κτ·(1 + r·th(τ)) (r = A/η; f ∝ cosh κτ·th(τ) for
    A = ∞) and the cosh ratio taken in log space, so large κT does not overflow. ``s`` and ``q``
    broadcast against each other (e.g. ``s[:, None]`` against paths ``q[None, :]``).
    """
    kappa = math.sqrt(phi / eta)
    tau_s = horizon - np.asarray(s, dtype=float)
    tau_t = horizon - t

    def log_cosh(x: np.ndarray | float) -> np.ndarray:
        return np.logaddexp(x, -x) - math.log(2.0)

    th_s, th_t = _tanh_over_kappa(kappa, tau_s), _tanh_over_kappa(kappa, np.asarray(tau_t))
    if math.isinf(terminal_penalty):
        shape = th_s / th_t
    else:
        r = terminal_penalty / eta
        shape = (1.0 + r * th_s) / (1.0 + r * th_t)
    return np.asarray(q) * np.exp(log_cosh(kappa * tau_s) - log_cosh(kappa * tau_t)) * shape


def almgren_chriss_cost(
    tau: float | np.ndarray,
    q: float | np.ndarray,
    eta: float,
    phi: float,
    terminal_penalty: float,
) -> np.ndarray:
    """Minimal cost V = η·g(τ)·q² of ∫(ηv² + φQ²) + A·Q_T² from inventory ``q`` with τ left.

    The trader's objective (P₀ = 0, no price moves) is −V.
    """
    return eta * almgren_chriss_decay(tau, eta, phi, terminal_penalty) * np.asarray(q) ** 2


class Twap(Policy):
    """Time-weighted average price: sell (or buy) at a constant rate.

    Default (``reactive=False``): the textbook schedule ``v = −q₀/T``, with q₀ each path's initial
    inventory; it ignores what happens to Q afterwards. ``reactive=True``: ``v = −Q_t/(T − t)``,
    the uniform rate that liquidates the *current* inventory by T (the Almgren–Chriss policy with
    φ = 0, A = ∞). Both coincide when nothing but the policy moves Q; the reactive one also
    liquidates when rates are clipped, fills are Poisson or inventories are noisy (§5).
    """

    role = "trader"
    name = "twap"

    def __init__(self, reactive: bool = False) -> None:
        self.reactive = reactive

    def batch_key(self) -> tuple:
        return (Twap, self.reactive)

    def act(self, state: MarketState) -> np.ndarray:
        if self.reactive:
            return -state.inventory / state.time_left
        return -state.initial_inventories[:, state.index] / state.horizon


class AlmgrenChriss(Policy):
    """The single-agent Almgren–Chriss optimum in feedback form ``v = −g(T − t)·Q_t``.

    η: temporary cost coefficient, φ: running penalty, A: terminal penalty (may be ∞); see the
    module docstring. On the engine's grid the rate is held for one step, so g is capped at 1/dt:
    the trader never sells past zero within a step (only binds on the last step with A = ∞ and
    φ > 0, where κ·dt·coth(κ·dt) > 1, and there it makes Q_T = 0 exactly).
    """

    role = "trader"
    name = "almgren_chriss"

    def __init__(self, eta: float, phi: float, terminal_penalty: float) -> None:
        self.eta, self.phi, self.terminal_penalty = eta, phi, terminal_penalty

    def batch_key(self) -> tuple:
        return (AlmgrenChriss, self.eta, self.phi, self.terminal_penalty)

    def act(self, state: MarketState) -> np.ndarray:
        g = almgren_chriss_decay(state.time_left, self.eta, self.phi, self.terminal_penalty)
        return -min(float(g), 1.0 / state.dt) * state.inventory


class Participation(Policy):
    """Percentage of volume: trade ρ·(noise buy rate + noise sell rate) toward zero inventory.

    ``v = −sign(Q)·min(ρ·(a + b), |Q|/dt)``: the cap means one step never carries the inventory
    past zero, and the trader stops once flat. Inventory may remain at T if the volume is thin.
    """

    role = "trader"
    name = "participation"

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def batch_key(self) -> tuple:
        return (Participation, self.rate)

    def act(self, state: MarketState) -> np.ndarray:
        q = state.inventory
        volume = self.rate * (state.noise_buy_rate + state.noise_sell_rate)
        if q.ndim == 2:  # a batch: one column per agent
            volume = volume[:, None]
        return -np.sign(q) * np.minimum(volume, np.abs(q) / state.dt)


@register_policy("trader", "twap")
def _twap(context: PolicyContext) -> Twap:
    """params: ``reactive`` (bool, default false)."""
    check_keys(context, ["reactive"])
    return Twap(reactive=flag(context, "reactive", False))


def own_temporary_cost(context: PolicyContext) -> tuple[float, str]:
    """The trader's own quadratic temporary-cost coefficient η implied by the market (β/N in §2,
    β in §3–§5: :meth:`~simulator.mechanisms.base.MarketSpec.own_temporary_cost`). Returns
    (η, source field)."""
    scenario = context.scenario
    return scenario.market.own_temporary_cost(index(context), len(scenario.traders))


@register_policy("trader", "almgren_chriss")
def _almgren_chriss(context: PolicyContext) -> AlmgrenChriss:
    """params: ``temporary_impact`` η > 0 (default β/N in the impact market, β otherwise),
    ``running_penalty`` φ ≥ 0 and ``terminal_penalty`` A ∈ [0, ∞] (default: the agent's own)."""
    check_keys(context, ["temporary_impact", "running_penalty", "terminal_penalty"])
    agent, who = context.agent, where(context)
    eta_default, eta_source = own_temporary_cost(context)
    eta = param(
        context, "temporary_impact", eta_default, default_from=eta_source, low=0, open_low=True
    )
    phi = param(
        context,
        "running_penalty",
        agent.running_penalty,
        default_from=f"{who}.running_penalty",
        low=0,
    )
    a = param(
        context,
        "terminal_penalty",
        agent.terminal_penalty,
        default_from=f"{who}.terminal_penalty",
        low=0,
        open_high=False,
    )
    return AlmgrenChriss(eta=eta, phi=phi, terminal_penalty=a)


@register_policy("trader", "participation")
def _participation(context: PolicyContext) -> Participation:
    """params: ``participation`` ρ ∈ (0, 1] (required): the fraction of noise volume traded."""
    check_keys(context, ["participation"])
    rho = param(context, "participation", low=0, open_low=True, high=1, open_high=False)
    return Participation(rate=rho)
