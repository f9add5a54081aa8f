"""A market-making BVP that cannot be solved raises a clear error; it never returns garbage."""

from __future__ import annotations

import pytest

from policies.equilibrium import MarketMakingGame, MarketMakingSolveError
from tests.helpers import ACAS


def test_unsolvable_shooting_problem_raises_a_solve_error_naming_the_bvp():
    # A = 1e4, γ = 20, φ = 50: the shooting Newton iteration overflows from the very first
    # homotopy step (exp(γ·ΔY) with ΔY ~ 2A·Δq); continuation stalls and the solver must say so.
    game = MarketMakingGame.acas(
        **{**ACAS, "terminal_penalty": 1e4, "intensity_decay": 20.0, "running_penalty": 50.0}
    )
    with pytest.raises(MarketMakingSolveError, match=r"BVP \(13\)–\(14\)"):
        game.solve(method="shooting")
