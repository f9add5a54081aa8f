"""§3 kinks: a truncation starting or stopping to bind, or two makers swapping the best quote,
makes the drift of (13)–(14) only piecewise smooth. The switching times are located and the
integration split there, so RK4 keeps its fourth order and the default solve is accurate to
1e-7 relative (values and paths)."""

from __future__ import annotations

import numpy as np
import pytest

from policies.equilibrium.market_making import MarketMakingGame, MarketMakingSolution, _solve_y0
from policies.equilibrium.market_making_bvp import Grid, integrate
from policies.equilibrium.market_making_hamiltonian import forward_drift

BASE = dict(
    horizon=1.0,
    trader_inventories=(-5.0,),
    maker_inventories=(1.0, 0.0),
    temporary_impact=0.5,
    intensity_decay=2.0,
    trader_running_penalty=0.5,
    maker_running_penalty=0.5,
    noise_buy_rate=1.0,
    noise_sell_rate=1.0,
)
CASES = {
    # the makers' spread cap ξ binds for part of the horizon only
    "max_spread_starts_binding": dict(BASE, max_spread=4.8),
    # the buyer's rate falls onto the lower truncation ε and stays there
    "min_rate_starts_binding": dict(BASE, min_rate=2.5),
    # the two makers swap the best ask
    "best_quote_swaps": dict(
        horizon=1.0,
        trader_inventories=(-3.0,),
        maker_inventories=(0.3, 0.0),
        temporary_impact=0.5,
        intensity_decay=2.0,
        trader_running_penalty=0.1,
        maker_running_penalty=(0.1, 0.6),
        noise_buy_rate=2.0,
        noise_sell_rate=0.5,
    ),
}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


def test_rk4_keeps_fourth_order_across_a_truncation_kink():
    # the buyer's rate falls onto ε = 2.5 at t ≈ 0.135 and stays there: one kink on [0, T]
    game = MarketMakingGame(**dict(BASE, min_rate=2.5))
    pb, q0 = game.problem, game.initial_inventories
    y0 = np.array([8.60875071, 4.87518784, 5.10163335])  # its equilibrium Y(0) (to 1e-8)
    ends = {}
    for steps in (25, 50, 100, 800):
        tr = integrate(pb, Grid.build(pb, 0.0, steps), q0, y0, payoff=True)
        ends[steps] = np.concatenate([tr.q[-1], tr.y[-1], tr.cash, tr.penalty])
    rates = forward_drift(pb.market, tr.y, 1.0, 1.0, 0.5).rate[:, 0]
    assert np.isclose(rates, 2.5).any() and not np.isclose(rates, 2.5).all()  # it is a kink
    err = [_rel(ends[k], ends[800]) for k in (25, 50, 100)]
    # fourth order (ratios 16: 2.2e-5, 1.4e-6, 8.6e-8); without the split the end states do not
    # even converge monotonically (kink on a different piece from step to step)
    assert err[0] / err[1] > 10 and err[1] / err[2] > 10 and err[2] < 2e-7


@pytest.mark.parametrize("case", sorted(CASES))
def test_default_solve_reaches_1e_7_on_kinked_cases(case):
    game = MarketMakingGame(**CASES[case])
    sol = game.solve()  # default: 50 steps
    # reference: event-split RK4 shooting on 200 steps (an independent method), Newton started
    # from the default solution's Y(0) (the shooting residual decides where it stops)
    grid = Grid.build(game.problem, 0.0, 200)
    y0, info = _solve_y0(
        game.problem, grid, game.initial_inventories[None], "shooting", sol.adjoint[:1]
    )
    assert info["method"] == "shooting" and info["residual"] < 1e-9
    ref = MarketMakingSolution._build(game, grid, y0[0], info, "radon")
    every = ref.grid.steps // sol.grid.steps
    assert _rel(sol.value.values, ref.value.values) < 1e-7
    assert _rel(sol.inventory, ref.inventory[::every]) < 1e-7
    assert _rel(sol.adjoint, ref.adjoint[::every]) < 1e-7
    # the kink is real: a truncation binds on part of the horizon, or the best maker changes
    if case == "best_quote_swaps":
        assert np.unique(np.argmin(ref.ask, axis=1)).size == 2
    elif case == "min_rate_starts_binding":
        rates = ref.rate[:, 0]
        assert np.isclose(rates, 2.5).any() and not np.isclose(rates, 2.5).all()
        # collocation refines its mesh at the kink until it runs out of nodes; its last iterate
        # starts the shooting, which converges without the homotopy (and its many shootings)
        assert sol.diagnostics["method"] == "shooting (collocation warm start)"
        assert sol.diagnostics["continuation_steps"] == 0
    else:
        binding = ref.diagnostics["truncation_binding"]["maker_0.max_spread"]
        assert 0.0 < binding < 1.0
