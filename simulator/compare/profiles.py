"""The strategy profiles of a comparison, all simulated on common random numbers.

* ``equilibrium``: every strategic agent plays the Nash feedback map (markets with a solver);
* ``as written``: the scenario's own policies;
* unilateral deviations from the equilibrium: one agent alone plays another policy of its role
  (``"buyer: twap"``), the others stay at the equilibrium;
* switches to the equilibrium: one agent alone moves from its written heuristic to the
  equilibrium, the others play as written (``"buyer → equilibrium"``);
* best responses: one agent plays its best response to the profile as written, the others'
  strategies held fixed as in the Nash gap (``"buyer: best response"``; fluid flow, or the
  logit market with the others replaying their recorded play);
* the tournament (optional): every combination of role policies, the empirical game table.

A deviating agent that switches policy keeps its ``params`` only when it keeps its policy (the
parameters of one policy mean nothing to another); a policy that needs parameters it does not
get is reported as a skipped profile, not run with made-up values.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from policies.base import Policy
from policies.catalog import available_policies
from simulator.scenario import Scenario

EQUILIBRIUM = "equilibrium"
MAX_TOURNAMENT = 512
"""Largest tournament (number of profiles) that ``--tournament`` accepts."""


@dataclass(frozen=True)
class Profile:
    """One profile: its name, kind, the deviating agent (if any), and how to simulate it."""

    name: str
    kind: str
    deviator: str | None
    scenario: Scenario
    overrides: Mapping[str, Policy] = field(default_factory=dict)


def role_policies(role: str) -> list[str]:
    """Every registered policy of ``role`` except the open-loop equilibrium schedule (the
    feedback equilibrium stands for the equilibrium)."""
    return [p for p in available_policies(role) if p != "equilibrium_open_loop"]


def with_policies(scenario: Scenario, assignment: Mapping[str, str]) -> Scenario:
    """``scenario`` with the agents named in ``assignment`` playing the given policies."""

    def agent(spec):
        new = assignment.get(spec.name, spec.policy)
        if new == spec.policy:
            return spec
        return dataclasses.replace(spec, policy=new, params={})

    return dataclasses.replace(
        scenario,
        traders=tuple(agent(a) for a in scenario.traders),
        makers=tuple(agent(a) for a in scenario.makers),
    )


def build_profiles(
    scenario: Scenario, tournament: bool = False, equilibrium: bool = True
) -> list[Profile]:
    """The profiles of the module docstring, equilibrium first (best responses excluded: they
    need the Nash-gap computation, see :func:`best_response_profiles`). ``equilibrium=False``
    leaves out every profile in which an agent plays the equilibrium (it cannot be played)."""
    names = [a.name for a in scenario.agents]
    written = {a.name: a.policy for a in scenario.agents}
    out: list[Profile] = []
    eq = equilibrium
    if eq:
        eq_all = {n: EQUILIBRIUM for n in names}
        out.append(Profile(EQUILIBRIUM, "equilibrium", None, with_policies(scenario, eq_all)))
    if not eq or written != eq_all:
        out.append(Profile("as written", "as_written", None, scenario))
    base = eq_all if eq else written
    for a in scenario.agents:
        for policy in role_policies(a.role):
            if policy == base[a.name] or (not eq and policy == EQUILIBRIUM):
                continue
            assignment = {**base, a.name: policy}
            out.append(
                Profile(
                    f"{a.name}: {policy}", "deviation", a.name, with_policies(scenario, assignment)
                )
            )
    if eq:
        for a in scenario.agents:
            if written[a.name] != EQUILIBRIUM:
                assignment = {**written, a.name: EQUILIBRIUM}
                if assignment == eq_all:
                    continue  # the equilibrium profile itself
                out.append(
                    Profile(
                        f"{a.name} → equilibrium",
                        "to_equilibrium",
                        a.name,
                        with_policies(scenario, assignment),
                    )
                )
    if tournament:
        out.extend(tournament_profiles(scenario, {p.name for p in out}, eq))
    return out


def tournament_profiles(
    scenario: Scenario, taken: set[str] = frozenset(), equilibrium: bool = True
) -> list[Profile]:
    """Every combination of role policies (named ``"t: policy/policy/…"`` in agent order),
    except the equilibrium itself; refused beyond :data:`MAX_TOURNAMENT` profiles."""
    eq = equilibrium
    choices = [
        [p for p in role_policies(a.role) if eq or p != EQUILIBRIUM] for a in scenario.agents
    ]
    size = 1
    for c in choices:
        size *= len(c)
    if size > MAX_TOURNAMENT:
        raise ValueError(
            f"tournament = True: {size} profiles for {len(choices)} agents; allowed: at most "
            f"{MAX_TOURNAMENT} (a smaller game, or compare without --tournament)"
        )
    names = [a.name for a in scenario.agents]
    out = []
    for combo in itertools.product(*choices):
        if eq and all(p == EQUILIBRIUM for p in combo):
            continue
        name = "t: " + "/".join(combo)
        if name in taken:
            continue
        out.append(
            Profile(
                name,
                "tournament",
                None,
                with_policies(scenario, dict(zip(names, combo, strict=True))),
            )
        )
    return out


def best_response_profiles(
    scenario: Scenario, seed: int, paths: int | None = None, cache: dict | None = None
) -> list[Profile]:
    """One profile per agent: its best response to the profile as written (others' strategies
    held fixed, :func:`simulator.nash_gap.best_responses`); fluid flow (§2–§4) or the logit
    market, whose others replay their recorded play: simulate these profiles with ``paths``
    paths and ``seed``. ``cache``: the policy-factory cache of the scenario's policies (an
    equilibrium solved there is not solved again)."""
    from simulator.nash_gap import best_responses

    responses = best_responses(scenario, seed=seed, paths=paths, cache=cache)
    return [
        Profile(
            f"{name}: best response", "best_response", name, scenario, responses.deviation(name)
        )
        for name in (a.name for a in scenario.agents)
    ]
