"""Scenario policies ``equilibrium`` (feedback) and ``equilibrium_open_loop`` for every game.

The scenario's market kind picks the game; the game is solved once per scenario build (kept in
the factory cache) and each agent plays its own component of the solution:

* ``equilibrium``: the decoupling field evaluated at the realised state (feedback map);
* ``equilibrium_open_loop``: the equilibrium schedule along the equilibrium path (the stochastic
  §5 game: the controls at the mean adjoint of its mean path).

The stochastic §5 game (ε > 0 or a random factor) is solved by regression Monte Carlo on its own
grid of :data:`REGRESSION_STEPS` steps with :data:`REGRESSION_PATHS` training paths (Picard
tolerance 1e-3), whatever the scenario's steps and paths: the fitted field is linear in t between
its grid times, so the engine may step finer or coarser; the cost (∝ steps × paths) does not
grow with the paths a scenario simulates; and a scenario with few steps or paths still gets a
solve that converges (ten steps, for one, leave too little regression signal per step for the
Picard iteration to settle at 1e-3). Its feedback reads each path's inventories and factor
level L.

The game comes from :func:`policies.equilibrium.adapters.game_for`; ``.solve()`` returns a
solution with ``feedback_policy(agent_name)`` and ``open_loop_policy(agent_name)``.
"""

from __future__ import annotations

from typing import Any

from policies.base import Policy
from policies.equilibrium.adapters import game_for
from policies.registry import PolicyContext, register_policy

REGRESSION_STEPS = 50
"""Time steps of the played stochastic §5 solve."""

REGRESSION_PATHS = 500
"""Monte Carlo training paths of the played stochastic §5 solve."""


def _solution(context: PolicyContext) -> Any:
    """Solve the scenario's game once per build and share the solution among its agents."""
    if "equilibrium" not in context.cache:
        scenario = context.scenario
        game = game_for(scenario)
        options = {}
        if getattr(game, "stochastic", False):
            # §5 with ε > 0 or a random factor: regression Monte Carlo on its own grid (cost ∝
            # steps × paths); the relaxed Picard iteration stops at a fixed-point residual of
            # 1e-3, below the regression's own error
            options = {
                "steps": REGRESSION_STEPS,
                "paths": REGRESSION_PATHS,
                "tolerance": 1e-3,
            }
        context.cache["equilibrium"] = game.solve(**options)
    return context.cache["equilibrium"]


def _feedback(context: PolicyContext) -> Policy:
    solution = _solution(context)
    check_grid = getattr(solution, "check_grid", None)  # §2: the feedback's stability on dt
    if check_grid is not None and "grid_checked" not in context.cache:
        check_grid(context.scenario.steps)
        context.cache["grid_checked"] = True
    return solution.feedback_policy(context.agent.name)


def _open_loop(context: PolicyContext) -> Policy:
    return _solution(context).open_loop_policy(context.agent.name)


for _role in ("trader", "maker"):
    register_policy(_role, "equilibrium")(_feedback)
    register_policy(_role, "equilibrium_open_loop")(_open_loop)
