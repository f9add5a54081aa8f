"""The Nash gap of a scenario's strategy profile, whatever its market.

For each strategic agent: its payoff under the profile, the payoff of its best response with
every other agent's strategy held fixed *as a process* (the open-loop notion of Guo & Jin,
Definitions 2.3 and 3.7), and the gain. The gain vanishes (as the grid refines) exactly when the
profile is a Nash equilibrium; for a heuristic it measures how exploitable the heuristic is.

§2–§4 (``impact``, ``best_quote``, ``acas``; fluid flow): this module plays the profile (one fluid
path of :func:`simulator.simulate`: deterministic noise rates make every profile deterministic)
and hands the schedules to the array-level best responses of the games:
:mod:`policies.equilibrium.execution_nash` (§2, a quadratic programme) and
:mod:`policies.equilibrium.market_making_nash` (§3–§4, a nonlinear control problem for the
makers). The gap is exact for the discretised game.

§5 (``logit``): the flows are random (Poisson orders, inventory noise ε·dW, the factor L of
(39)), so the gap is a Monte Carlo estimate on common random numbers (:func:`logit_nash_gap`):

1. the profile is played on M paths and every agent's actions are recorded path by path;
2. each agent's best response is computed in the *mean model* — the same scenario in fluid flow
   with ε = 0, the factor on its noise-free path and the reference price frozen, where the
   profile is deterministic — exactly, on the engine grid
   (:mod:`policies.equilibrium.logit_nash`: a bounded QP for a trader, projected Newton in fill
   variables for a maker), as a schedule;
3. that schedule is played in the random market on the same M paths (same seed) while every
   other agent replays its recorded actions (:class:`ReplayPolicy`: its strategy held fixed as a
   process, adapted to the same noise); the gain is the paired mean of J_BR − J_profile with a
   Student-t confidence interval (:mod:`simulator.statistics`).

The reported gain is the value of one admissible deviation, hence a *lower bound* of the true
gap (the supremum over all adapted strategies) up to Monte Carlo error. It is exact (up to the
price noise, which the common random numbers largely cancel) when the market is deterministic
(fluid flow, ε = 0, no factor noise): then the mean model is the market and the best-response
schedule is the exact best response. In a random market a schedule cannot react to the noise,
so the gain may understate the gap (and may be negative for a feedback profile that reacts well
to the noise); ``mean_model_gain`` reports the exact gap of the mean model beside it.
:func:`best_responses` hands the best responses back as policies, to be played in the simulator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from policies.base import MarketState, Policy, Role
from policies.equilibrium.adapters import (
    discrete_best_quote_game,
    discrete_logit_game,
    execution_game,
)
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.execution_nash import execution_best_response, execution_nash_gap
from policies.equilibrium.logit_nash import DiscreteLogitGame
from policies.equilibrium.market_making_nash import (
    DiscreteBestQuoteGame,
    market_making_best_response,
    market_making_nash_gap,
)
from simulator.result import SimulationResult
from simulator.scenario import Scenario
from simulator.simulation import build_policies, memory_plan, simulate
from simulator.statistics import mean_ci, paired_ci

__all__ = [
    "BestResponses",
    "ReplayPolicy",
    "SchedulePolicy",
    "best_quote_profile",
    "best_responses",
    "execution_profile",
    "logit_nash_gap",
    "logit_profile",
    "nash_gap",
    "scenario_nash_gap",
]

KINDS = "'impact', 'best_quote', 'acas', 'logit'"
"""The market kinds with a Nash-gap computation (for error messages)."""


def _fluid(scenario: Scenario) -> None:
    if scenario.flow != "fluid":
        raise ValueError(f"flow = {scenario.flow!r}; the Nash gap needs flow = 'fluid'")


def execution_profile(
    scenario: Scenario, seed: int = 0, cache: dict | None = None
) -> tuple[ExecutionGame, np.ndarray]:
    """The game of a fluid ``impact`` scenario and the rate schedules ``(steps, N)`` its
    policies play (one simulated fluid path: deterministic noise rates make every profile
    deterministic; σ of the reference price does not affect expected payoffs). ``cache``: the
    policy-factory cache (:func:`nash_gap`)."""
    _fluid(scenario)
    game = execution_game(scenario)
    res = simulate(scenario, paths=1, seed=seed, policies=_played(scenario, cache))
    rates = np.column_stack([res.agent(name).rate[:, 0] for name in game.agent_names])
    return game, rates


def _schedules(res: SimulationResult, scenario: Scenario, path: int = 0):
    """The traders' rates ``(N_t, n)`` and makers' half-spreads ``(N_m, n, 2)`` of one recorded
    path."""
    n = scenario.steps
    rates = np.zeros((len(scenario.traders), n))
    quotes = np.zeros((len(scenario.makers), n, 2))
    for i, a in enumerate(scenario.traders):
        rates[i] = res.agent(a.name).rate[:, path]
    for j, a in enumerate(scenario.makers):
        rec = res.agent(a.name)
        quotes[j, :, 0], quotes[j, :, 1] = rec.ask_spread[:, path], rec.bid_spread[:, path]
    return rates, quotes


def _played(scenario: Scenario, cache: dict | None = None) -> dict[str, Policy]:
    """The scenario's policies by agent name, built from the scenario as written (parameters
    that default to the price volatility keep their values when the price is frozen)."""
    built = build_policies(scenario, None, cache)
    return dict(zip([a.name for a in scenario.agents], built, strict=True))


def best_quote_profile(
    scenario: Scenario, seed: int = 0, cache: dict | None = None
) -> tuple[DiscreteBestQuoteGame, np.ndarray, np.ndarray]:
    """The market and the profile's schedules ``(N_t, n)``, ``(N_m, n, 2)`` played in a
    ``best_quote`` / ``acas`` scenario.

    Runs ``simulate(scenario, paths=1)`` in fluid mode with the reference price frozen at P₀
    (volatility 0: P is a martingale, so the expected payoffs are unchanged and a policy that
    reads the price cannot make the profile random). The policies are built from the original
    scenario, so parameters that default to the price volatility keep their values.
    ``cache``: the policy-factory cache (:func:`nash_gap`).
    """
    _fluid(scenario)
    market = discrete_best_quote_game(scenario)
    frozen = dataclasses.replace(
        scenario, price=dataclasses.replace(scenario.price, volatility=0.0)
    )
    res = simulate(frozen, paths=1, seed=seed, policies=_played(scenario, cache))
    return (market, *_schedules(res, scenario))


def mean_model(scenario: Scenario) -> Scenario:
    """The deterministic model of a ``logit`` scenario: fluid flow, inventory noise ε = 0, the
    factor L on its noise-free path (volatility 0, no diffusion callable) and the reference
    price frozen at P₀."""
    noise = scenario.noise
    if noise.factor is not None:
        factor = dataclasses.replace(noise.factor, volatility=0.0, diffusion=None)
        noise = dataclasses.replace(noise, factor=factor)
    return dataclasses.replace(
        scenario,
        flow="fluid",
        market=dataclasses.replace(scenario.market, inventory_noise=0.0),
        noise=noise,
        price=dataclasses.replace(scenario.price, volatility=0.0),
    )


def logit_profile(
    scenario: Scenario, seed: int = 0, cache: dict | None = None
) -> tuple[DiscreteLogitGame, np.ndarray, np.ndarray]:
    """The mean-model market of a ``logit`` scenario (:func:`mean_model`: its noise rates per
    step, κ(L(t_k)) along the factor's noise-free path) and the schedules ``(N_t, n)``,
    ``(N_m, n, 2)`` the scenario's policies play there (one fluid path)."""
    mean = mean_model(scenario)
    res = simulate(mean, paths=1, seed=seed, policies=_played(scenario, cache))
    market = discrete_logit_game(
        scenario, res.noise_buy_rate[:, 0].copy(), res.noise_sell_rate[:, 0].copy()
    )
    return (market, *_schedules(res, scenario))


def scenario_nash_gap(
    scenario: Scenario, seed: int = 0, paths: int | None = None, cache: dict | None = None
) -> pd.DataFrame:
    """The game's Nash-gap table of the profile a scenario plays (no ``policy`` column).
    ``paths``: Monte Carlo paths of the logit estimate (default the scenario's; ignored by the
    fluid §2–§4 computations); ``cache``: the policy-factory cache (:func:`nash_gap`)."""
    kind = scenario.market.kind
    if kind == "impact":
        return execution_nash_gap(*execution_profile(scenario, seed=seed, cache=cache))
    if kind in ("best_quote", "acas"):
        return market_making_nash_gap(*best_quote_profile(scenario, seed=seed, cache=cache))
    if kind == "logit":
        return logit_nash_gap(scenario, seed=seed, paths=paths, cache=cache)
    raise ValueError(f"market.kind = {kind!r} has no Nash-gap computation; allowed: {KINDS}")


def nash_gap(
    scenario: Scenario, seed: int = 0, paths: int | None = None, *, cache: dict | None = None
) -> pd.DataFrame:
    """Nash gap of the profile that ``scenario``'s policies play.

    Returns a DataFrame with columns agent, policy, role, payoff, best_response_payoff, gain
    (and any diagnostics the game adds), one row per strategic agent. §2–§4: exact, fluid flow
    (deterministic noise). §5 logit: a Monte Carlo estimate on ``paths`` paths (default the
    scenario's) with 95% confidence half-widths ``payoff_ci95``, ``best_response_payoff_ci95``,
    ``gain_ci95`` and the mean model's exact ``mean_model_gain`` (:func:`logit_nash_gap`).
    ``cache``: the policy-factory cache of an earlier build of the scenario's policies
    (:func:`simulator.simulation.build_policies`), so that an equilibrium solved there is
    reused instead of solved again (default: a fresh one).
    """
    gap = scenario_nash_gap(scenario, seed=seed, paths=paths, cache=cache)
    policies = {a.name: a.policy for a in scenario.agents}
    gap.insert(1, "policy", gap["agent"].map(policies))
    return gap


class SchedulePolicy(Policy):
    """A deterministic schedule played open loop, the same on every path: ``(n,)`` rates for a
    trader or ``(n, 2)`` half-spreads (δᵃ, δᵇ) for a maker, on the engine grid."""

    def __init__(self, role: Role, name: str, schedule: np.ndarray) -> None:
        self.role, self.name = role, name
        self.schedule = np.asarray(schedule, dtype=float)

    def act(self, state: MarketState) -> np.ndarray:
        action = self.schedule[state.step]
        if self.role == "trader":
            return np.full(state.paths, action)
        return np.broadcast_to(action, (state.paths, 2))


class ReplayPolicy(Policy):
    """An agent's actions recorded path by path in one run, replayed in a run with the same seed
    and number of paths: its strategy held fixed *as a process* (path m replays what it did on
    path m, whose noise the common random numbers reproduce). ``actions``: ``(n, M)`` rates of a
    trader or ``(n, M, 2)`` half-spreads of a maker."""

    def __init__(self, role: Role, name: str, actions: np.ndarray) -> None:
        self.role, self.name = role, name
        self.actions = np.asarray(actions, dtype=float)

    def reset(self, paths: int) -> None:
        if paths != self.actions.shape[1]:
            raise ValueError(
                f"{self.name}: replays {self.actions.shape[1]} recorded paths in a run (or "
                f"chunk) of {paths}; allowed: the recorded run's paths, simulated in one chunk"
            )

    def act(self, state: MarketState) -> np.ndarray:
        return self.actions[state.step]


@dataclass(frozen=True)
class BestResponses:
    """The best responses of :func:`nash_gap` as policies.

    ``profile``: every agent's strategy in the scenario's profile held fixed — its schedule
    (named ``<policy>_schedule``; §2–§4) or its recorded actions per path (named
    ``<policy>_replay``; §5, valid for runs with ``paths`` paths and the same seed);
    ``best``: every agent's best-response schedule (named ``best_response``). The Nash gap holds
    the others fixed *as processes* (open loop), so :meth:`deviation` plays the others' fixed
    strategies: its payoff for ``agent`` is ``best_response_payoff`` (the others' feedback
    policies would react to the deviation instead). ``mean_model_gain``: §5 only, the mean model's
    exact gains by agent (:func:`logit_nash_gap`); ``result``: §5 only, the recorded profile run.
    """

    profile: dict[str, Policy]
    best: dict[str, SchedulePolicy]
    paths: int | None = None
    mean_model_gain: pd.Series | None = field(default=None, repr=False)
    result: SimulationResult | None = field(default=None, repr=False)

    def deviation(self, agent: str) -> dict[str, Policy]:
        """Policies for ``simulate(..., policies=...)``: ``agent`` best-responds, others fixed."""
        if agent not in self.best:
            raise ValueError(f"agent = {agent!r}; allowed: one of {sorted(self.best)}")
        return {**self.profile, agent: self.best[agent]}


def best_responses(
    scenario: Scenario, seed: int = 0, paths: int | None = None, cache: dict | None = None
) -> BestResponses:
    """Each strategic agent's best response to ``scenario``'s profile, as policies (same
    markets and flows as :func:`nash_gap`; ``paths``: the logit market's Monte Carlo paths,
    default the scenario's; ``cache``: the policy-factory cache, as in :func:`nash_gap`)."""
    kind = scenario.market.kind
    played = {a.name: f"{a.policy}_schedule" for a in scenario.agents}
    profile: dict[str, Policy] = {}
    best: dict[str, SchedulePolicy] = {}
    if kind == "impact":
        game, rates = execution_profile(scenario, seed=seed, cache=cache)
        for i, name in enumerate(game.agent_names):
            u = execution_best_response(game, rates, i).schedule
            profile[name] = SchedulePolicy("trader", played[name], rates[:, i])
            best[name] = SchedulePolicy("trader", "best_response", u)
    elif kind in ("best_quote", "acas"):
        market, rates, quotes = best_quote_profile(scenario, seed=seed, cache=cache)
        profile, best, _ = _best_quote_responses(market, rates, quotes, played)
    elif kind == "logit":
        return _logit_responses(scenario, seed, paths, cache)
    else:
        raise ValueError(
            f"market.kind = {kind!r} has no best-response computation; allowed: {KINDS}"
        )
    return BestResponses(profile, best)


def _best_quote_responses(market, rates, quotes, played: dict[str, str]):
    """Schedules and exact best responses of a §3–§5 discrete market (others' schedules fixed),
    and each agent's exact gain (best-response payoff − profile payoff) by name."""
    profile: dict[str, Policy] = {}
    best: dict[str, SchedulePolicy] = {}
    gains: dict[str, float] = {}
    own = [*rates, *quotes]  # each agent's schedule, in game order
    for k, schedule in enumerate(own):
        br = market_making_best_response(market, rates, quotes, k)
        profile[br.agent] = SchedulePolicy(br.role, played[br.agent], schedule)
        best[br.agent] = SchedulePolicy(br.role, "best_response", br.schedule)
        gains[br.agent] = br.gain
    return profile, best, gains


def _mc_paths(scenario: Scenario, paths: int | None) -> int:
    paths = scenario.paths if paths is None else paths
    if isinstance(paths, bool) or not isinstance(paths, int | np.integer) or paths < 2:
        raise ValueError(
            f"paths = {paths!r} must be an integer >= 2 (the logit Nash gap is a Monte Carlo "
            "estimate with confidence intervals)"
        )
    return int(paths)


def _logit_responses(
    scenario: Scenario, seed: int, paths: int | None, cache: dict | None = None
) -> BestResponses:
    """§5: mean-model best-response schedules; the profile replayed path by path."""
    paths = _mc_paths(scenario, paths)
    fits = memory_plan(scenario, paths, paths)  # every path recorded, in one block
    if fits < paths:
        raise ValueError(
            f"paths = {paths}: the logit Nash gap replays the recorded play of all paths in one "
            f"block, and at most {fits} paths fit in one block here; allowed: paths <= {fits}"
        )
    cache = {} if cache is None else cache
    market, rates, quotes = logit_profile(scenario, seed=seed, cache=cache)
    played = {a.name: f"{a.policy}_schedule" for a in scenario.agents}
    _, best, mean_gains = _best_quote_responses(market, rates, quotes, played)
    res = simulate(
        scenario, paths=paths, seed=seed, policies=_played(scenario, cache), chunk_paths=paths
    )
    profile: dict[str, Policy] = {}
    for a in scenario.agents:
        rec = res.agent(a.name)
        if a.role == "trader":
            actions = rec.rate
        else:
            actions = np.stack([rec.ask_spread, rec.bid_spread], axis=-1)
        profile[a.name] = ReplayPolicy(a.role, f"{a.policy}_replay", actions)
    return BestResponses(profile, best, paths, pd.Series(mean_gains, name="gain"), res)


def logit_nash_gap(
    scenario: Scenario, seed: int = 0, paths: int | None = None, cache: dict | None = None
) -> pd.DataFrame:
    """Monte Carlo Nash gap of a ``logit`` scenario's profile (module docstring, §5).

    One row per strategic agent: agent, role, payoff ± ``payoff_ci95`` (mean J under the
    profile), best_response_payoff ± ``best_response_payoff_ci95`` (mean J of the mean-model
    best-response schedule against the others' recorded play), gain ± ``gain_ci95`` (the paired
    difference on common random numbers; a lower bound of the true gap up to Monte Carlo error)
    and ``mean_model_gain`` (the exact gap of the mean model). Intervals: 95% Student-t.
    ``cache``: the policy-factory cache (:func:`nash_gap`).
    """
    responses = _logit_responses(scenario, seed, paths, cache)
    res = responses.result
    mean_gain = responses.mean_model_gain
    rows = []
    for a in scenario.agents:
        dev = simulate(
            scenario,
            paths=responses.paths,
            seed=seed,
            policies=responses.deviation(a.name),
            record=False,
            chunk_paths=responses.paths,
        )
        base, best = res.agent(a.name).objective, dev.agent(a.name).objective
        pay, pay_ci = mean_ci(base)
        br, br_ci = mean_ci(best)
        gain, gain_ci = paired_ci(best, base)
        rows.append(
            {
                "agent": a.name,
                "role": a.role,
                "payoff": pay,
                "payoff_ci95": pay_ci,
                "best_response_payoff": br,
                "best_response_payoff_ci95": br_ci,
                "gain": gain,
                "gain_ci95": gain_ci,
                "mean_model_gain": float(mean_gain[a.name]),
            }
        )
    return pd.DataFrame(rows)
