"""Scenario data model: one validated, immutable description of a market and its agents.

Units: time in the horizon's units, rates in shares per unit time, prices in currency.

Every dataclass validates itself on construction (``__post_init__``), so a :class:`Scenario`
object is always well formed: a bad value raises ``ValueError`` naming the field path
(``traders[1].terminal_penalty``), the value and what is allowed.

TOML layout (read by :func:`load_scenario`; the same nesting is accepted by
:meth:`Scenario.from_dict`)::

    name = "acas"            # required
    horizon = 1.0            # T > 0
    steps = 200              # number of time steps n >= 1 (dt = T / n)
    paths = 1000             # default number of Monte Carlo paths M
    seed = 0                 # default seed (integer >= 0)
    flow = "fluid"           # "fluid" (rates x dt), "poisson" (lot_size x Poisson counts) or
                             # "bernoulli" (at most one lot per order stream and step; §3/§4)
    lot_size = 1.0           # > 0, Poisson and Bernoulli modes only

    [market]                 # MarketSpec; kind in impact | best_quote | acas | logit
    kind = "acas"
    temporary_impact = 0.1   # beta (required when there are traders), or one per trader:
                             # [0.1, 0.2] (beta^i, the individual lambda^i of §3)
    intensity_decay = 1.5    # gamma in Lambda(x) = exp(-gamma x)
    max_spread = 5.0         # xi
    min_rate = 0.0           # epsilon
    max_rate = 50.0          # xi-tilde

    [price]                  # PriceSpec: P = initial + volatility * W
    initial = 0.0
    volatility = 1.0

    [noise]                  # NoiseSpec: constants or lists (piecewise-constant profile)
    buy_rate = 5.0
    sell_rate = [5.0, 6.0]

    [noise.factor]           # FactorSpec, logit market only (kappa(L), OU factor L)
    reversion = 1.0

    [[traders]]              # AgentSpec, role "trader"; name defaults to trader_0, trader_1, ...
    policy = "twap"
    initial_inventory = 10.0
    running_penalty = 0.0    # phi
    terminal_penalty = 1.0   # A
    params = { }             # the policy's own parameters

    [[makers]]               # AgentSpec, role "maker"; name defaults to maker_0, ...
    policy = "constant_spread"
    initial_inventory = 0.0

Unknown keys, wrong types and out-of-range values are rejected. Every finite number is 0 or
has a magnitude in [1e-15, 1e15] (:data:`MAX_MAGNITUDE`, :data:`MIN_MAGNITUDE`: what float64
can simulate); agent names are non-blank and ``noise`` is reserved for the noise traders.
Conditions taken from the paper: ``cross_impact`` π ∈ [0, 2) (Remark 2.1(3)); ``cost_coupling``
|c| < 2 (class Υ, Remark 3.3); temporary impact β > 0 whenever there are traders (Assumption
2.4 / strong convexity in Definition 3.2; a market of makers only needs none); admissible sets
ε ≤ ξ̃, ξ > 0 (§3); traders of the best-quote, ACAS and logit markets need q₀ ≠ 0 (§3 trades in
the direction of sign(−q₀)); ACAS (§4) has exactly one trader, two makers, Λ(x) = exp(−γx) and
the individual cost βv²; the logit shares need one offset oⁱ per maker (an empty tuple means all
zero). Assumption 2.4's 4Nβφ ≥ α² concerns the equilibrium and is checked by the solver, not here.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from simulator.mechanisms import rules
from simulator.profiles import profile_at

MarketKind = Literal["impact", "best_quote", "acas", "logit"]
FlowMode = Literal["fluid", "poisson", "bernoulli"]

MARKET_KINDS: tuple[str, ...] = ("impact", "best_quote", "acas", "logit")
FLOW_MODES: tuple[str, ...] = ("fluid", "poisson", "bernoulli")


# ---------------------------------------------------------------------------------------------
# validation helpers (each raises ValueError naming the field path, the value, what is allowed)
# ---------------------------------------------------------------------------------------------

NOISE_NAME = "noise"
"""The name of the built-in noise traders in results; no strategic agent may use it."""

MAX_MAGNITUDE = 1e15
"""Largest magnitude of a finite scenario number. float64 keeps 15–16 significant digits, so
beyond this a lot or a tick added to an inventory or a price is lost, and the products the
engine forms (price × volume, A·Q², φ·Q²·T) run towards overflow."""

MIN_MAGNITUDE = 1e-15
"""Smallest magnitude of a non-zero scenario number (a smaller one is written as 0): below it
divisions by it (dt = T/n, 1/β, 1/γ) overflow and sums with numbers of order 1 ignore it."""


def check_magnitude(path: str, value: Any, x: float) -> float:
    """``x`` if it is 0, ±inf or has a magnitude in [MIN_MAGNITUDE, MAX_MAGNITUDE]; else a
    ``ValueError`` naming ``path``, ``value`` and the bounds."""
    if math.isfinite(x) and x != 0.0 and not MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE:
        raise ValueError(
            f"{path} = {value!r} is not allowed; a number's magnitude must be 0 or lie in "
            f"[{MIN_MAGNITUDE:g}, {MAX_MAGNITUDE:g}] (float64 cannot simulate with it: "
            "overflow or lost precision); rescale the units"
        )
    return x


def _number(
    path: str,
    value: Any,
    *,
    low: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
) -> float:
    """``value`` as a float, checking its type and ``value >= low`` (``> low`` if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path} = {value!r} must be a number (int or float)")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{path} = {value!r} must be a finite number")
    check_magnitude(path, value, x)
    if low is not None and (x <= low if strict else x < low):
        op = ">" if strict else ">="
        raise ValueError(f"{path} = {value!r} is not allowed; it must be {op} {low:g}")
    return x


def _integer(path: str, value: Any, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path} = {value!r} must be an integer")
    if value < low:
        raise ValueError(f"{path} = {value!r} is not allowed; it must be an integer >= {low}")
    return int(value)


def _choice(path: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{path} = {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _rate_profile(path: str, value: Any) -> float | tuple[float, ...]:
    """A non-negative constant, or a non-empty tuple (piecewise-constant profile)."""
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"{path} = {value!r} must be a number or a non-empty list of numbers")
        return tuple(_number(f"{path}[{i}]", v, low=0.0) for i, v in enumerate(value))
    return _number(path, value, low=0.0)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class PriceSpec:
    """Reference price P: arithmetic Brownian motion ``P_t = initial + volatility·W_t``.

    A martingale (it changes realised P&L but not the equilibrium).
    """

    initial: float = 0.0
    volatility: float = 1.0

    def __post_init__(self) -> None:
        _set(self, "initial", _number("price.initial", self.initial))
        _set(self, "volatility", _number("price.volatility", self.volatility, low=0.0))


@dataclass(frozen=True)
class FactorSpec:
    """§5 noise factor L (39): Ornstein–Uhlenbeck ``dL = reversion·(mean − L)dt + volatility·dW``.

    The noise rates are ``κᵃ(L) = buy_base·exp(buy_loading·L)`` and
    ``κᵇ(L) = sell_base·exp(sell_loading·L)``, capped at ``cap`` (Assumption 5.3(2): bounded,
    Lipschitz). Python users may pass ``drift(t, L)`` / ``diffusion(t, L)`` callables instead.
    """

    initial: float = 0.0
    mean: float = 0.0
    reversion: float = 1.0
    volatility: float = 0.5
    buy_base: float = 1.0
    sell_base: float = 1.0
    buy_loading: float = 1.0
    sell_loading: float = -1.0
    cap: float = 100.0
    drift: Callable[[float, Any], Any] | None = None
    diffusion: Callable[[float, Any], Any] | None = None

    def __post_init__(self) -> None:
        p = "noise.factor"
        for name in ("initial", "mean", "buy_loading", "sell_loading"):
            _set(self, name, _number(f"{p}.{name}", getattr(self, name)))
        for name in ("reversion", "volatility", "buy_base", "sell_base"):
            _set(self, name, _number(f"{p}.{name}", getattr(self, name), low=0.0))
        _set(self, "cap", _number(f"{p}.cap", self.cap, low=0.0, strict=True))
        for name in ("drift", "diffusion"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(f"{p}.{name} = {value!r} must be a callable f(t, L) or None")


@dataclass(frozen=True)
class NoiseSpec:
    """Noise traders' buy and sell rates (a ≥ 0, b ≥ 0).

    ``buy_rate`` / ``sell_rate``: a constant, or a tuple giving a piecewise-constant profile on
    equal sub-intervals of [0, T]. ``factor`` (logit market only) makes them κ(L) instead.
    Use :meth:`buy_rate_at` / :meth:`sell_rate_at` (deterministic cases) to read them at time t.
    """

    buy_rate: float | tuple[float, ...] = 0.0
    sell_rate: float | tuple[float, ...] = 0.0
    factor: FactorSpec | None = None

    def __post_init__(self) -> None:
        _set(self, "buy_rate", _rate_profile("noise.buy_rate", self.buy_rate))
        _set(self, "sell_rate", _rate_profile("noise.sell_rate", self.sell_rate))
        if self.factor is not None and not isinstance(self.factor, FactorSpec):
            raise ValueError(f"noise.factor = {self.factor!r} must be a FactorSpec or None")

    def buy_rate_at(self, t: float, horizon: float) -> float:
        """Deterministic noise buy rate a(t) (piecewise constant on equal sub-intervals)."""
        return float(profile_at(self.buy_rate, t, horizon))

    def sell_rate_at(self, t: float, horizon: float) -> float:
        """Deterministic noise sell rate b(t) (piecewise constant on equal sub-intervals)."""
        return float(profile_at(self.sell_rate, t, horizon))


@dataclass(frozen=True)
class MarketSpec:
    """Mechanism parameters. Which fields matter depends on ``kind``:

    impact (§2):     permanent_impact α, temporary_impact β, cross_impact π (Remark 2.1(3);
                     π = 1 is the aggregated impact of the paper's main text).
    every kind:      temporary_impact is one β for every trader, or a list with one βⁱ per
                     trader (trader i pays its own βⁱ: the individual λⁱ of §3, Def. 3.2);
                     read it with :meth:`trader_impacts`.
    best_quote (§3): intensity ("exponential" with intensity_decay γ, or a callable Λ),
                     temporary_cost ("individual": βv², or "aggregated": vⁱ(β vⁱ + β·c·mean v⁻ⁱ)
                     with c = cost_coupling), temporary_impact β, max_spread ξ, min_rate ε,
                     max_rate ξ̃.
    acas (§4):       best_quote with exactly 1 trader, 2 makers, exponential Λ, individual cost.
    logit (§5):      shares ζ: "logit" (ζⁱ = softmax(−ς·δⁱ + oⁱ) with share_sharpness ς and
                     share_offsets oⁱ, one per maker) or a callable (Python only) mapping one
                     side's half-spreads, shape (n_makers, M), to shares of the same shape
                     (class ℶ of Def. 5.1 with Σζ = 1, checked every step); inventory_noise ε (the
                     ε·dW on inventories), temporary cost as in best_quote; noise rates κ(L).
    """

    kind: MarketKind
    permanent_impact: float = 0.0
    temporary_impact: float | tuple[float, ...] = 0.0
    cross_impact: float = 1.0
    intensity: str | Callable[[Any], Any] = "exponential"
    intensity_decay: float = 1.0
    temporary_cost: Literal["individual", "aggregated"] = "individual"
    cost_coupling: float = 1.0
    max_spread: float = float("inf")
    min_rate: float = 0.0
    max_rate: float = float("inf")
    shares: str | Callable[[Any], Any] = "logit"
    share_sharpness: float = 1.0
    share_offsets: tuple[float, ...] = ()
    inventory_noise: float = 0.0

    def __post_init__(self) -> None:
        p = "market"
        _choice(f"{p}.kind", self.kind, MARKET_KINDS)
        _set(
            self,
            "permanent_impact",
            _number(f"{p}.permanent_impact", self.permanent_impact, low=0.0),
        )
        beta = self.temporary_impact
        if isinstance(beta, list | tuple):
            if not beta:
                raise ValueError(
                    f"{p}.temporary_impact = {beta!r} must be a number or a non-empty list of "
                    "numbers (one per trader)"
                )
            beta = tuple(
                _number(f"{p}.temporary_impact[{i}]", b, low=0.0) for i, b in enumerate(beta)
            )
        else:
            beta = _number(f"{p}.temporary_impact", beta, low=0.0)
        _set(self, "temporary_impact", beta)
        pi = _number(f"{p}.cross_impact", self.cross_impact)
        if not 0.0 <= pi < 2.0:
            raise ValueError(
                f"{p}.cross_impact = {self.cross_impact!r} must lie in [0, 2) (Remark 2.1(3))"
            )
        _set(self, "cross_impact", pi)
        if not callable(self.intensity):
            _choice(f"{p}.intensity", self.intensity, ("exponential",))
        if not callable(self.shares):
            _choice(f"{p}.shares", self.shares, ("logit",))
        _set(
            self,
            "intensity_decay",
            _number(f"{p}.intensity_decay", self.intensity_decay, low=0.0, strict=True),
        )
        _choice(f"{p}.temporary_cost", self.temporary_cost, ("individual", "aggregated"))
        c = _number(f"{p}.cost_coupling", self.cost_coupling)
        if abs(c) >= 2.0:
            raise ValueError(
                f"{p}.cost_coupling = {self.cost_coupling!r} must satisfy |c| < 2 "
                "(class Υ of temporary costs, Remark 3.3)"
            )
        _set(self, "cost_coupling", c)
        xi = _number(f"{p}.max_spread", self.max_spread, low=0.0, strict=True, allow_inf=True)
        eps = _number(f"{p}.min_rate", self.min_rate, low=0.0)
        xi_t = _number(f"{p}.max_rate", self.max_rate, low=0.0, strict=True, allow_inf=True)
        rules.check_rate_bounds(eps, xi_t, prefix=f"{p}.")
        _set(self, "max_spread", xi)
        _set(self, "min_rate", eps)
        _set(self, "max_rate", xi_t)
        _set(
            self,
            "share_sharpness",
            _number(f"{p}.share_sharpness", self.share_sharpness, low=0.0, strict=True),
        )
        if not isinstance(self.share_offsets, list | tuple):
            raise ValueError(
                f"{p}.share_offsets = {self.share_offsets!r} must be a list of "
                "numbers (one per maker)"
            )
        _set(
            self,
            "share_offsets",
            tuple(_number(f"{p}.share_offsets[{i}]", o) for i, o in enumerate(self.share_offsets)),
        )
        _set(
            self, "inventory_noise", _number(f"{p}.inventory_noise", self.inventory_noise, low=0.0)
        )
        if self.kind != "logit":
            if self.inventory_noise != 0.0:
                raise ValueError(
                    f"{p}.inventory_noise = {self.inventory_noise!r} is only used by "
                    "market.kind = 'logit' (§5); set it to 0 or change the kind"
                )
            if self.share_offsets:
                raise ValueError(
                    f"{p}.share_offsets = {self.share_offsets!r} is only used by "
                    "market.kind = 'logit' (§5); remove it or change the kind"
                )
            if callable(self.shares):
                raise ValueError(
                    f"{p}.shares = {self.shares!r} is only used by market.kind = 'logit' (§5); "
                    "remove it or change the kind"
                )
        if self.kind == "acas":
            if self.intensity != "exponential":
                raise ValueError(
                    f"{p}.intensity = {self.intensity!r} is not allowed for acas; "
                    "§4 uses Λ(x) = exp(-γx): intensity = 'exponential'"
                )
            if self.temporary_cost != "individual":
                raise ValueError(
                    f"{p}.temporary_cost = {self.temporary_cost!r} is not allowed "
                    "for acas; §4 uses λ(v) = βv²: temporary_cost = 'individual'"
                )

    def trader_impacts(self, traders: int) -> tuple[float, ...]:
        """βⁱ of each of ``traders`` traders: the list as given, or the one β repeated."""
        beta = self.temporary_impact
        return beta if isinstance(beta, tuple) else (beta,) * traders


@dataclass(frozen=True)
class AgentSpec:
    """A strategic agent: a trader (execution) or a maker, with the objective's penalties.

    Objective (the paper's J): cash + P_T·Q_T − ∫ running_penalty·Q² dt − terminal_penalty·Q_T²
    (in the §2 impact market the inventory is marked at S_T = P_T + I_T + ϖ_T, as in the paper).
    ``params`` are the policy's own parameters (e.g. ``{"participation": 0.1}``).
    """

    name: str
    role: Literal["trader", "maker"]
    policy: str
    initial_inventory: float
    running_penalty: float = 0.0
    terminal_penalty: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        prefix = self.name if isinstance(self.name, str) and self.name else "agent"
        for key, value in _agent_fields(
            prefix, **{f.name: getattr(self, f.name) for f in fields(self)}
        ).items():
            _set(self, key, value)


def _agent_fields(
    p: str,
    name: Any = None,
    role: Any = None,
    policy: Any = None,
    initial_inventory: Any = None,
    running_penalty: Any = 0.0,
    terminal_penalty: Any = 0.0,
    params: Any = None,
) -> dict[str, Any]:
    """Validated, normalised :class:`AgentSpec` fields; errors name them ``{p}.field``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{p}.name = {name!r} must be a non-blank string")
    if name == NOISE_NAME:
        raise ValueError(
            f"{p}.name = {name!r} is reserved for the built-in noise traders (their row in "
            "every result); choose another name"
        )
    _choice(f"{p}.role", role, ("trader", "maker"))
    if not isinstance(policy, str) or not policy:
        raise ValueError(f"{p}.policy = {policy!r} must be a policy name (string)")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ValueError(f"{p}.params = {params!r} must be a table/mapping")
    return {
        "initial_inventory": _number(f"{p}.initial_inventory", initial_inventory),
        "running_penalty": _number(f"{p}.running_penalty", running_penalty, low=0.0),
        "terminal_penalty": _number(f"{p}.terminal_penalty", terminal_penalty, low=0.0),
        "params": params,
    }


@dataclass(frozen=True)
class Scenario:
    """A whole market: mechanism, clock, processes and agents (traders first, then makers)."""

    name: str
    market: MarketSpec
    horizon: float
    steps: int
    traders: tuple[AgentSpec, ...]
    makers: tuple[AgentSpec, ...] = ()
    price: PriceSpec = PriceSpec()
    noise: NoiseSpec = NoiseSpec()
    flow: FlowMode = "fluid"
    lot_size: float = 1.0
    paths: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name = {self.name!r} must be a non-empty string")
        for fname, cls in (("market", MarketSpec), ("price", PriceSpec), ("noise", NoiseSpec)):
            if not isinstance(getattr(self, fname), cls):
                raise ValueError(f"{fname} = {getattr(self, fname)!r} must be a {cls.__name__}")
        _set(self, "horizon", _number("horizon", self.horizon, low=0.0, strict=True))
        _integer("steps", self.steps, low=1)
        _integer("paths", self.paths, low=1)
        _integer("seed", self.seed, low=0)
        _choice("flow", self.flow, FLOW_MODES)
        _set(self, "lot_size", _number("lot_size", self.lot_size, low=0.0, strict=True))
        for group, role in (("traders", "trader"), ("makers", "maker")):
            agents = getattr(self, group)
            if not isinstance(agents, list | tuple):
                raise ValueError(f"{group} = {agents!r} must be a list of AgentSpec")
            _set(self, group, tuple(agents))
            for i, a in enumerate(getattr(self, group)):
                if not isinstance(a, AgentSpec):
                    raise ValueError(f"{group}[{i}] = {a!r} must be an AgentSpec")
                if a.role != role:
                    raise ValueError(
                        f"{group}[{i}].role = {a.role!r} is not allowed; agents "
                        f"listed under {group} have role {role!r}"
                    )
        names = [a.name for a in self.agents]
        for i, a in enumerate(self.agents):
            if names.index(a.name) != i:
                raise ValueError(f"agent name {a.name!r} is used twice; names must be unique")
        self._check_mechanism()

    def _check_mechanism(self) -> None:
        kind = self.market.kind
        nt, nm = len(self.traders), len(self.makers)
        beta = self.market.temporary_impact
        if isinstance(beta, tuple) and len(beta) != nt:
            raise ValueError(
                f"market.temporary_impact = {list(beta)!r} has {len(beta)} values but there are "
                f"{nt} traders; allowed: one number for every trader, or one value per trader"
            )
        bad = [i for i, b in enumerate(self.market.trader_impacts(nt)) if b <= 0.0]
        if bad:
            field_ = "market.temporary_impact" + (f"[{bad[0]}]" if isinstance(beta, tuple) else "")
            value = beta[bad[0]] if isinstance(beta, tuple) else beta
            raise ValueError(
                f"{field_} = {value!r} is not allowed; it "
                "must be > 0 when there are traders (beta bounded away from zero: Assumption 2.4 "
                "in §2, strong convexity of the temporary cost in Definition 3.2 for §3-§5)"
            )
        if self.flow == "bernoulli" and kind in ("impact", "logit"):
            why = (
                "§2 has no quotes, and capping a trader at one lot per step would silently "
                "truncate its schedule"
                if kind == "impact"
                else "§5 routes the realised market orders among the makers, so several order "
                "streams can hit one quote side in a step"
            )
            raise ValueError(
                f"flow = 'bernoulli' is not allowed for market.kind = {kind!r}: Bernoulli flow "
                f"fills at most one lot per quote side and step, and {why}; use flow = 'fluid' "
                "or 'poisson', or market.kind = 'best_quote'/'acas'"
            )
        if kind == "impact":
            if nt < 1:
                raise ValueError(
                    "traders = [] is not allowed for market.kind = 'impact'; the §2 "
                    "execution game needs at least one trader"
                )
            if nm:
                raise ValueError(
                    f"makers has {nm} entries but market.kind = 'impact' (§2) has no "
                    "market makers; remove them or use best_quote/acas/logit"
                )
        else:
            if nm < 1:
                raise ValueError(
                    f"makers = [] is not allowed for market.kind = {kind!r}; the "
                    "best quotes must be offered by at least one maker "
                    "(Assumption 3.6)"
                )
            for i, a in enumerate(self.traders):
                if a.initial_inventory == 0.0:
                    raise ValueError(
                        f"traders[{i}].initial_inventory = 0.0 is not allowed for market.kind = "
                        f"{kind!r}: §3 requires q₀ ≠ 0 (q₀ < 0 buys at rates in [ε, ξ̃], "
                        "q₀ > 0 sells at rates in [-ξ̃, -ε])"
                    )
        if kind == "acas" and (nt, nm) != (1, 2):
            raise ValueError(
                f"market.kind = 'acas' needs exactly 1 trader and 2 makers (§4); got "
                f"{nt} trader(s) and {nm} maker(s)"
            )
        if kind == "logit" and self.market.share_offsets and len(self.market.share_offsets) != nm:
            raise ValueError(
                f"market.share_offsets = {list(self.market.share_offsets)!r} has "
                f"{len(self.market.share_offsets)} entries; the logit shares (§5) need "
                f"one offset per maker ({nm}), or none (all zero)"
            )
        if self.noise.factor is not None and kind != "logit":
            raise ValueError(
                f"noise.factor is only used by market.kind = 'logit' (§5, κ(L)); "
                f"market.kind = {kind!r} takes deterministic noise rates"
            )

    @property
    def dt(self) -> float:
        return self.horizon / self.steps

    @property
    def agents(self) -> tuple[AgentSpec, ...]:
        """Strategic agents in column order: traders, then makers."""
        return self.traders + self.makers

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build a scenario from the nested mapping of the TOML layout (module docstring)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"scenario = {data!r} must be a table/mapping")
        top = _fields(cls) - {"market", "price", "noise", "traders", "makers"}
        _check_keys("", data, _fields(cls))
        if "market" not in data:
            raise ValueError("market is missing; a scenario needs a [market] table with a kind")
        kwargs: dict[str, Any] = {k: data[k] for k in top if k in data}
        for key in ("name", "horizon", "steps"):
            if key not in data:
                raise ValueError(f"{key} is missing; it is a required top-level key")
        kwargs["market"] = _build(MarketSpec, "market", data["market"])
        if "price" in data:
            kwargs["price"] = _build(PriceSpec, "price", data["price"])
        if "noise" in data:
            noise = _table("noise", data["noise"])
            _check_keys("noise", noise, _fields(NoiseSpec))
            noise = dict(noise)
            if "factor" in noise:
                noise["factor"] = _build(FactorSpec, "noise.factor", noise["factor"])
            kwargs["noise"] = NoiseSpec(**noise)
        for group, role in (("traders", "trader"), ("makers", "maker")):
            entries = data.get(group, [])
            if not isinstance(entries, list | tuple):
                raise ValueError(f"{group} = {entries!r} must be an array of tables")
            agents = []
            for i, entry in enumerate(entries):
                p = f"{group}[{i}]"
                entry = dict(_table(p, entry))
                _check_keys(p, entry, _fields(AgentSpec))
                entry.setdefault("name", f"{role}_{i}")
                entry.setdefault("role", role)
                for key in ("policy", "initial_inventory"):
                    if key not in entry:
                        raise ValueError(f"{p}.{key} is missing; it is required")
                _agent_fields(p, **entry)  # errors name the field path, e.g. traders[1].policy
                agents.append(AgentSpec(**entry))
            kwargs[group] = tuple(agents)
        return cls(**kwargs)


def _fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _table(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path} = {value!r} must be a table/mapping")
    return value


def _check_keys(path: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise ValueError(
                f"unknown key {where!r}; allowed keys"
                f"{' in ' + path if path else ''}: {', '.join(sorted(allowed))}"
            )


def _build(cls: type, path: str, value: Any) -> Any:
    table = _table(path, value)
    _check_keys(path, table, _fields(cls))
    if cls is MarketSpec and "kind" not in table:
        raise ValueError(f"{path}.kind is missing; allowed: {', '.join(MARKET_KINDS)}")
    return cls(**table)


MAX_SCENARIO_BYTES = 1 << 20
"""Largest scenario file read (1 MiB): a scenario is a small TOML file."""


class ScenarioFileError(ValueError):
    """A scenario file that cannot be read: missing, unreadable, not a regular file, too large,
    not UTF-8 or not TOML. The message names the file and the reason."""


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """The parsed TOML of a scenario file, read safely: the file is opened without blocking
    (a FIFO cannot hang the reader), must be a regular file, and at most
    :data:`MAX_SCENARIO_BYTES` are read. Every failure is a :class:`ScenarioFileError`."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioFileError(f"{path}: no such scenario file") from None
    except PermissionError:
        raise ScenarioFileError(f"{path}: permission denied (the file is not readable)") from None
    except IsADirectoryError:
        raise ScenarioFileError(f"{path}: is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ScenarioFileError(f"{path}: is a directory, not a scenario file")
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket or special file"
            )
            raise ScenarioFileError(
                f"{path}: is {kind}, not a regular file; scenarios are read from regular TOML files"
            )
        try:
            raw = b""
            while len(raw) <= MAX_SCENARIO_BYTES:
                chunk = os.read(fd, MAX_SCENARIO_BYTES + 1 - len(raw))
                if not chunk:
                    break
                raw += chunk
        except OSError as exc:
            raise ScenarioFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioFileError(
            f"{path}: is larger than {MAX_SCENARIO_BYTES} bytes; a scenario is a small TOML file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioFileError(
            f"{path}: is not UTF-8 text (byte {exc.start}); TOML is UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioFileError(f"{path}: invalid TOML: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read (:func:`read_scenario_file`) and validate a scenario TOML file (layout in the module
    docstring)."""
    return Scenario.from_dict(read_scenario_file(path))
