"""The built-in policies, registered: heuristics (:mod:`policies.heuristics`) and the equilibrium
policies of every solved game (:mod:`policies.equilibrium.play`).

Importing this module fills :mod:`policies.registry`; the simulator imports it where it builds
policies from a scenario, and checks the scenario's policy names here before anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import policies.equilibrium.play  # noqa: F401  (registers "equilibrium", "equilibrium_open_loop")
import policies.heuristics  # noqa: F401  (registers the heuristics)
from policies.registry import available_policies, build_policy

if TYPE_CHECKING:
    from simulator.scenario import Scenario

__all__ = ["available_policies", "build_policy", "check_policy_names"]


def check_policy_names(scenario: Scenario, skip: frozenset[str] = frozenset()) -> None:
    """Raise ValueError naming the first agent (``traders[i].policy``) whose policy is not a
    registered policy of its role; agents named in ``skip`` (given a ready policy) are not
    checked."""
    for group in ("traders", "makers"):
        for i, a in enumerate(getattr(scenario, group)):
            if a.name in skip:
                continue
            allowed = available_policies(a.role)
            if a.policy not in allowed:
                raise ValueError(
                    f"{group}[{i}].policy = {a.policy!r} is not a {a.role} policy; "
                    f"allowed: {', '.join(allowed) or 'none'}"
                )
