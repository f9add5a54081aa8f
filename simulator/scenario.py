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

    [market]                 # kind in impact | best_quote | acas | logit: the kind's spec
                             # (simulator.engine.MARKET_SPECS; other kinds' fields are refused)
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
has a magnitude in [1e-15, 1e15] (:data:`simulator.validation.MAX_MAGNITUDE`,
:data:`~simulator.validation.MIN_MAGNITUDE`: what float64 can simulate); agent names are
non-blank and ``noise`` is reserved for the noise traders. Each market kind's spec (in its
mechanism module of :mod:`simulator.mechanisms`) validates its own fields and what it needs of
the agents, the flow and the noise
(:meth:`~simulator.mechanisms.base.MarketSpec.check_scenario`).
Conditions taken from the paper: ``cross_impact`` π ∈ [0, 2) (Remark 2.1(3)); ``cost_coupling``
|c| < 2 (class Υ, Remark 3.3); temporary impact β > 0 whenever there are traders (Assumption
2.4 / strong convexity in Definition 3.2; a market of makers only needs none); admissible sets
ε ≤ ξ̃, ξ > 0 (§3); traders of the best-quote, ACAS and logit markets need q₀ ≠ 0 (§3 trades in
the direction of sign(−q₀)); ACAS (§4) has exactly one trader, two makers, Λ(x) = exp(−γx) and
the individual cost βv²; the logit shares need one offset oⁱ per maker (an empty tuple means all
zero). Assumption 2.4's 4Nβφ ≥ α² concerns the equilibrium and is checked by the solver, not here.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from simulator.engine import MARKET_SPECS
from simulator.mechanisms.base import MarketSpec
from simulator.profiles import profile_at
from simulator.validation import choice, integer, number, rate_profile, set_field

FlowMode = Literal["fluid", "poisson", "bernoulli"]

MARKET_KINDS: tuple[str, ...] = tuple(MARKET_SPECS)
FLOW_MODES: tuple[str, ...] = ("fluid", "poisson", "bernoulli")

NOISE_NAME = "noise"
"""The name of the built-in noise traders in results; no strategic agent may use it."""


@dataclass(frozen=True)
class PriceSpec:
    """Reference price P: arithmetic Brownian motion ``P_t = initial + volatility·W_t``.

    A martingale (it changes realised P&L but not the equilibrium).
    """

    initial: float = 0.0
    volatility: float = 1.0

    def __post_init__(self) -> None:
        set_field(self, "initial", number("price.initial", self.initial))
        set_field(self, "volatility", number("price.volatility", self.volatility, low=0.0))


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
            set_field(self, name, number(f"{p}.{name}", getattr(self, name)))
        for name in ("reversion", "volatility", "buy_base", "sell_base"):
            set_field(self, name, number(f"{p}.{name}", getattr(self, name), low=0.0))
        set_field(self, "cap", number(f"{p}.cap", self.cap, low=0.0, strict=True))
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
        set_field(self, "buy_rate", rate_profile("noise.buy_rate", self.buy_rate))
        set_field(self, "sell_rate", rate_profile("noise.sell_rate", self.sell_rate))
        if self.factor is not None and not isinstance(self.factor, FactorSpec):
            raise ValueError(f"noise.factor = {self.factor!r} must be a FactorSpec or None")

    def buy_rate_at(self, t: float, horizon: float) -> float:
        """Deterministic noise buy rate a(t) (piecewise constant on equal sub-intervals)."""
        return float(profile_at(self.buy_rate, t, horizon))

    def sell_rate_at(self, t: float, horizon: float) -> float:
        """Deterministic noise sell rate b(t) (piecewise constant on equal sub-intervals)."""
        return float(profile_at(self.sell_rate, t, horizon))


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
            set_field(self, key, value)


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
    choice(f"{p}.role", role, ("trader", "maker"))
    if not isinstance(policy, str) or not policy:
        raise ValueError(f"{p}.policy = {policy!r} must be a policy name (string)")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ValueError(f"{p}.params = {params!r} must be a table/mapping")
    return {
        "initial_inventory": number(f"{p}.initial_inventory", initial_inventory),
        "running_penalty": number(f"{p}.running_penalty", running_penalty, low=0.0),
        "terminal_penalty": number(f"{p}.terminal_penalty", terminal_penalty, low=0.0),
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
        set_field(self, "horizon", number("horizon", self.horizon, low=0.0, strict=True))
        integer("steps", self.steps, low=1)
        integer("paths", self.paths, low=1)
        integer("seed", self.seed, low=0)
        choice("flow", self.flow, FLOW_MODES)
        set_field(self, "lot_size", number("lot_size", self.lot_size, low=0.0, strict=True))
        for group, role in (("traders", "trader"), ("makers", "maker")):
            agents = getattr(self, group)
            if not isinstance(agents, list | tuple):
                raise ValueError(f"{group} = {agents!r} must be a list of AgentSpec")
            set_field(self, group, tuple(agents))
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
        self.market.check_scenario(self)

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
        market = dict(_table("market", data["market"]))
        if "kind" not in market:
            raise ValueError(f"market.kind is missing; allowed: {', '.join(MARKET_KINDS)}")
        kwargs["market"] = market_spec(**market)
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
    return cls(**table)


def market_spec(kind: Any, **fields_: Any) -> MarketSpec:
    """The spec of market kind ``kind`` (:data:`~simulator.engine.MARKET_SPECS`) with ``fields_``
    (the ``[market]`` table without its kind). A field of another kind is refused naming the
    kinds that use it; an unknown one naming the kind's fields."""
    choice("market.kind", kind, MARKET_KINDS)
    spec = MARKET_SPECS[kind]
    own = _init_fields(spec)
    for key, value in fields_.items():
        if key in own:
            continue
        users = [k for k, other in MARKET_SPECS.items() if key in _init_fields(other)]
        if users:
            kinds = ", ".join(f"{k!r} ({MARKET_SPECS[k].section})" for k in users)
            raise ValueError(
                f"market.{key} = {value!r} is not allowed for market.kind = {kind!r}; it is only "
                f"used by market.kind = {kinds}; remove it or change the kind"
            )
        raise ValueError(
            f"unknown key 'market.{key}'; allowed keys in market for kind {kind!r}: "
            f"{', '.join(sorted(own | {'kind'}))}"
        )
    return spec(**fields_)


def _init_fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if f.init}


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
