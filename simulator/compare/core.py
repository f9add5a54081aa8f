"""``compare(scenario)``: every profile of :mod:`.profiles` on common random numbers, with
payoffs, paired differences, regrets and role metrics as DataFrames."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.compare import metrics as mt
from simulator.compare.profiles import (
    EQUILIBRIUM,
    Profile,
    best_response_profiles,
    build_profiles,
    with_policies,
)
from simulator.compare.verdict import verdict_lines
from simulator.scenario import Scenario, load_scenario
from simulator.simulation import build_policies, simulate
from simulator.statistics import mean_ci, paired_ci


@dataclass
class ComparisonResult:
    """What :func:`compare` returns. Tables (DataFrames, one row per …):

    * ``profiles``: profile — name, kind, deviator, the policy of every agent;
    * ``skipped``: profile that could not be played — name, reason;
    * ``payoffs``: (profile, agent) — mean J with its 95% CI half-width ``ci95``, and ``diff`` =
      the paired difference to the ``baseline`` profile (the equilibrium when the market has a
      solver, else the scenario as written) with ``diff_ci95``;
    * ``deviations``: (agent, policy) — the deviator's paired gain when it alone switches from
      the baseline to ``policy`` (or to its best response), the regret heat map;
    * ``regret``: agent — the Nash gap of the profile as written (``payoff``,
      ``best_response_payoff``, ``nash_gap``: exact and fluid in §2–§4, a Monte Carlo estimate
      on the same paths in §5), its Monte Carlo estimate
      ``mc_gain`` ± ``mc_gain_ci95`` (the best response played against the others' schedules),
      and the equilibrium profile's own gap ``equilibrium_gap``;
    * ``traders``, ``makers``: (profile, agent) — the role metrics of :mod:`.metrics` (means;
      ``shortfall_ci95``, ``pnl_std``, ``sharpe``);
    * ``market``: profile — quoted and effective spread, volume, price impact, welfare ± CI.

    ``objectives[profile][agent]`` holds J per path; ``fans[profile][agent]`` the quantile fans.
    """

    scenario: Scenario
    seed: int
    paths: int
    baseline: str
    profiles: pd.DataFrame
    skipped: pd.DataFrame
    payoffs: pd.DataFrame
    deviations: pd.DataFrame
    regret: pd.DataFrame
    traders: pd.DataFrame
    makers: pd.DataFrame
    market: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    objectives: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    fans: dict[str, dict[str, mt.Fan]] = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str:
        """The short text verdict printed at the top of the report."""
        return "\n".join(verdict_lines(self))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by file stem (``payoffs`` → ``payoffs.csv``)."""
        return {
            "profiles": self.profiles,
            "payoffs": self.payoffs,
            "deviations": self.deviations,
            "regret": self.regret,
            "traders": self.traders,
            "makers": self.makers,
            "market": self.market,
            "skipped": self.skipped,
        }

    def write(self, out: str | os.PathLike[str], plots: bool = True) -> dict[str, Any]:
        """Write the report folder (atomically); returns ``{file name: path}``."""
        from simulator.compare.report import write_report

        return write_report(self, out, plots=plots)


@dataclass
class _Run:
    profile: Profile
    policies: dict[str, str]
    objectives: dict[str, np.ndarray]
    roles: dict[str, str]
    traders: dict[str, dict[str, np.ndarray]]
    makers: dict[str, dict[str, np.ndarray]]
    market: dict[str, Any]
    fans: dict[str, mt.Fan]


def compare(
    scenario: Scenario | str | os.PathLike[str],
    paths: int | None = None,
    seed: int | None = None,
    *,
    tournament: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ComparisonResult:
    """Compare the equilibrium with the scenario's heuristics (module :mod:`.profiles`).

    Every profile is simulated with ``paths`` paths (default the scenario's, at least 2) and
    the same ``seed``, so differences are paired path by path. ``progress(done, total)`` is
    called as profiles advance (units: steps). Raises ``ValueError`` for a bad scenario or
    argument, naming it.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    paths = scenario.paths if paths is None else paths
    seed = scenario.seed if seed is None else seed
    if isinstance(paths, bool) or not isinstance(paths, int | np.integer) or paths < 2:
        raise ValueError(f"paths = {paths!r} must be an integer >= 2 (confidence intervals)")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed = {seed!r} must be an integer >= 0")
    paths, seed = int(paths), int(seed)
    notes: list[str] = []
    caches: dict[Any, dict[str, Any]] = {}
    solvable = True
    everyone_eq = with_policies(scenario, {a.name: EQUILIBRIUM for a in scenario.agents})
    try:  # solve once (the profiles share the solution through the cache)
        build_policies(everyone_eq, None, _cache(caches, everyone_eq))
    except (ValueError, RuntimeError) as exc:
        solvable = False
        notes.append(
            f"The equilibrium cannot be solved for this scenario ({_first_line(exc)}): the "
            "heuristics are compared with the scenario as written."
        )
    profiles = build_profiles(scenario, tournament=tournament, equilibrium=solvable)
    gap_written = gap_eq = None
    if solvable and scenario.flow != "fluid" and scenario.market.kind != "logit":
        notes.append(
            f"flow = {scenario.flow!r}: the Nash gap and the best responses are computed in "
            "fluid flow only, so they are left out."
        )
    elif solvable:
        from simulator.nash_gap import nash_gap

        try:  # (the §5 gap is a Monte Carlo estimate on the comparison's paths and seed)
            gap_written = nash_gap(scenario, seed=seed, paths=paths, cache=_cache(caches, scenario))
            gap_eq = nash_gap(
                everyone_eq, seed=seed, paths=paths, cache=_cache(caches, everyone_eq)
            )
            profiles += best_response_profiles(scenario, seed, paths, _cache(caches, scenario))
        except (ValueError, RuntimeError) as exc:
            gap_written = gap_eq = None
            notes.append(f"No Nash gap or best responses: {_first_line(exc)}.")
    total = len(profiles) * scenario.steps
    runs: list[_Run] = []
    skipped: list[tuple[str, str]] = []
    for i, profile in enumerate(profiles):
        on_step = None
        if progress is not None:

            def on_step(done: int, _total: int, i: int = i) -> None:
                progress(i * scenario.steps + done, total)

        try:
            runs.append(_simulate(profile, paths, seed, _cache(caches, profile.scenario), on_step))
        except (ValueError, RuntimeError) as exc:
            if profile.kind in ("equilibrium", "as_written"):  # the baselines: no comparison
                raise ValueError(f"the {profile.name} profile cannot be played: {exc}") from exc
            skipped.append((profile.name, _first_line(exc)))
    if progress is not None:
        progress(total, total)
    return _assemble(scenario, seed, paths, runs, skipped, gap_written, gap_eq, notes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cache(caches: dict[Any, dict[str, Any]], scenario: Scenario) -> dict[str, Any]:
    """The policy-factory cache a profile shares with the others, so that the equilibrium is
    solved once. With unbounded quotes (ξ = ∞) the solver's safety check depends on which makers
    play heuristics, so profiles share a cache only with the same maker policies."""
    s = scenario
    bounded = not s.makers or np.isfinite(s.market.max_spread)  # no makers: no quotes (§2)
    key = None if bounded else tuple(a.policy for a in s.makers)
    return caches.setdefault(key, {})


def _simulate(
    profile: Profile,
    paths: int,
    seed: int,
    cache: dict[str, Any],
    progress: Callable[[int, int], None] | None,
) -> _Run:
    built = build_policies(profile.scenario, profile.overrides, cache)
    policies = dict(zip((a.name for a in profile.scenario.agents), built, strict=True))
    res = simulate(profile.scenario, paths=paths, seed=seed, policies=policies, progress=progress)
    strategic = [a for a in res.agents if a.role in ("trader", "maker")]
    return _Run(
        profile=profile,
        policies={a.name: a.policy for a in strategic},
        objectives={a.name: a.objective.copy() for a in strategic},
        roles={a.name: a.role for a in strategic},
        traders={a.name: mt.trader_metrics(res, a) for a in strategic if a.role == "trader"},
        makers={a.name: mt.maker_metrics(res, a) for a in strategic if a.role == "maker"},
        market=mt.market_metrics(res),
        fans={a.name: mt.fan(a) for a in strategic},
    )


def _assemble(
    scenario: Scenario,
    seed: int,
    paths: int,
    runs: list[_Run],
    skipped: list[tuple[str, str]],
    gap_written: pd.DataFrame | None,
    gap_eq: pd.DataFrame | None,
    notes: list[str],
) -> ComparisonResult:
    by_name = {r.profile.name: r for r in runs}
    baseline = EQUILIBRIUM if EQUILIBRIUM in by_name else "as written"
    base = by_name[baseline]
    agents = [a.name for a in scenario.agents]
    profile_rows, payoff_rows, trader_rows, maker_rows, market_rows = [], [], [], [], []
    for r in runs:
        p = r.profile
        profile_rows.append(
            {"profile": p.name, "kind": p.kind, "deviator": p.deviator or "", **r.policies}
        )
        for name in agents:
            mean, ci = mean_ci(r.objectives[name])
            diff, diff_ci = paired_ci(r.objectives[name], base.objectives[name])
            payoff_rows.append(
                {
                    "profile": p.name,
                    "kind": p.kind,
                    "deviator": p.deviator or "",
                    "agent": name,
                    "role": r.roles[name],
                    "policy": r.policies[name],
                    "mean": mean,
                    "ci95": ci,
                    "diff": diff,
                    "diff_ci95": diff_ci,
                }
            )
        for name, m in r.traders.items():
            row = {"profile": p.name, "agent": name, "policy": r.policies[name]}
            row.update({k: float(v.mean()) for k, v in m.items()})
            row["shortfall_ci95"] = mean_ci(m["shortfall"])[1]
            trader_rows.append(row)
        for name, m in r.makers.items():
            row = {"profile": p.name, "agent": name, "policy": r.policies[name]}
            row.update({k: float(v.mean()) for k, v in m.items()})
            sd = float(m["pnl"].std(ddof=1))
            row["pnl_std"] = sd
            row["sharpe"] = row["pnl"] / sd if sd > 0 else float("nan")
            maker_rows.append(row)
        mk = dict(r.market)
        welfare = mk.pop("welfare")
        w_mean, w_ci = mean_ci(welfare)
        w_diff, w_diff_ci = paired_ci(welfare, base.market["welfare"])
        market_rows.append(
            {
                "profile": p.name,
                **mk,
                "welfare": w_mean,
                "welfare_ci95": w_ci,
                "welfare_diff": w_diff,
                "welfare_diff_ci95": w_diff_ci,
            }
        )
    payoffs = pd.DataFrame(payoff_rows)
    regret = _regret(scenario, gap_written, gap_eq, by_name)
    deviations = _deviations(payoffs, regret, baseline)
    return ComparisonResult(
        scenario=scenario,
        seed=seed,
        paths=paths,
        baseline=baseline,
        profiles=pd.DataFrame(profile_rows),
        skipped=pd.DataFrame(skipped, columns=["profile", "reason"]),
        payoffs=payoffs,
        deviations=deviations,
        regret=regret,
        traders=pd.DataFrame(trader_rows),
        makers=pd.DataFrame(maker_rows),
        market=pd.DataFrame(market_rows),
        notes=notes,
        objectives={r.profile.name: r.objectives for r in runs},
        fans={r.profile.name: r.fans for r in runs},
    )


def _deviations(payoffs: pd.DataFrame, regret: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """The deviator's own paired gain, one row per (agent, policy): over the baseline for the
    unilateral deviations, over the profile as written for the best responses."""
    own = payoffs[(payoffs["kind"] == "deviation") & (payoffs["agent"] == payoffs["deviator"])]
    rows = own[["agent", "role", "policy", "diff", "diff_ci95"]].rename(
        columns={"diff": "gain", "diff_ci95": "gain_ci95"}
    )
    rows = rows.assign(against=baseline)
    br = regret.dropna(subset=["mc_gain"])
    br = pd.DataFrame(
        {
            "agent": br["agent"],
            "role": br["role"],
            "policy": "best_response",
            "gain": br["mc_gain"],
            "gain_ci95": br["mc_gain_ci95"],
            "against": "as written",
        }
    )
    return pd.concat([rows, br], ignore_index=True)


def _regret(
    scenario: Scenario,
    gap_written: pd.DataFrame | None,
    gap_eq: pd.DataFrame | None,
    by_name: dict[str, _Run],
) -> pd.DataFrame:
    columns = [
        "agent",
        "role",
        "policy",
        "payoff",
        "best_response_payoff",
        "nash_gap",
        "mc_gain",
        "mc_gain_ci95",
        "equilibrium_gap",
    ]
    if gap_written is None:
        return pd.DataFrame(columns=columns)
    written = by_name.get("as written") or by_name[EQUILIBRIUM]
    eq_gap = gap_eq.set_index("agent")["gain"]
    roles = {a.name: a.role for a in scenario.agents}
    rows = []
    for g in gap_written.itertuples(index=False):
        br = by_name.get(f"{g.agent}: best response")
        mc = ci = float("nan")
        if br is not None:
            mc, ci = paired_ci(br.objectives[g.agent], written.objectives[g.agent])
        rows.append(
            {
                "agent": g.agent,
                "role": roles[g.agent],
                "policy": g.policy,
                "payoff": g.payoff,
                "best_response_payoff": g.best_response_payoff,
                "nash_gap": g.gain,
                "mc_gain": mc,
                "mc_gain_ci95": ci,
                "equilibrium_gap": float(eq_gap[g.agent]),
            }
        )
    return pd.DataFrame(rows, columns=columns)


__all__ = ["ComparisonResult", "compare"]
