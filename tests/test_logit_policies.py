"""§5 logit market: the scenario → LogitGame adapter and the equilibrium policies in the engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from policies.equilibrium.adapters import game_for, logit_game
from policies.equilibrium.logit import LogitGame, trader_adjoint_range
from simulator import load_scenario, simulate
from simulator.cli import examples_dir


def example(name: str, **over):
    sc = load_scenario(examples_dir() / f"{name}.toml")
    return dataclasses.replace(sc, **over) if over else sc


def frozen_price(sc):
    """P has no volatility: the fluid game is then deterministic path by path."""
    return dataclasses.replace(sc, price=dataclasses.replace(sc.price, volatility=0.0))


def test_adapter_reads_the_logit_scenario():
    sc = example("logit_equilibrium")
    game = game_for(sc)
    assert isinstance(game, LogitGame)
    assert game.names == ("seller", "maker_a", "maker_b")
    assert game.trader_inventories == (8.0,) and game.maker_inventories == (0.0, 0.0)
    pb = game.problem
    assert pb.max_spread == 5.0 and pb.min_rate == 0.1 and pb.max_rate == 100.0
    assert np.allclose(pb.shares.offsets, (0.0, 0.2)) and pb.shares.sharpness == 2.0


def test_adapter_passes_the_stochastic_example_to_the_regression_solver():
    """runs/logit.toml has ε = 0.3 and a random OU factor: the stochastic game, whose only
    method is regression."""
    game = logit_game(example("logit"))
    assert game.stochastic and game._stochastic.inventory_noise == 0.3
    assert game._stochastic.factor["volatility"] == 0.5
    with pytest.raises(ValueError, match="method = 'collocation'.*stochastic"):
        game.solve(method="collocation")


@pytest.mark.parametrize("policy", ["equilibrium", "equilibrium_open_loop"])
@pytest.mark.parametrize("steps", [100, 400])
def test_equilibrium_play_earns_the_solver_values_to_first_order_in_dt(steps, policy):
    """All agents on the equilibrium feedback map (or all on the open-loop schedule), fluid flow,
    frozen price: the simulated payoffs converge to ``sol.value`` at first order in dt (controls
    piecewise constant on the engine grid): gap × steps ≤ 20 (measured: feedback ~1–6, open loop
    ~14)."""
    sc = frozen_price(example("logit_equilibrium", steps=steps))
    sc = dataclasses.replace(
        sc,
        traders=tuple(dataclasses.replace(a, policy=policy) for a in sc.traders),
        makers=tuple(dataclasses.replace(a, policy=policy) for a in sc.makers),
    )
    sol = game_for(sc).solve()
    pay = simulate(sc, paths=2, seed=1).payoffs().set_index("agent")["mean"]
    gap = np.max(np.abs(pay[list(sol.value.index)].to_numpy() - sol.value.to_numpy()))
    assert gap * steps < 20.0, (steps, gap)


def test_feedback_policy_is_vectorised_and_deduplicates_paths():
    """``controls_at`` on M equal rows equals one row repeated; distinct rows differ."""
    sol = game_for(example("logit_equilibrium")).solve()
    q_hat, y_hat = sol.state_at(0.3)
    y = np.repeat(y_hat, 6, axis=0)
    y[3:] += np.array([0.1, -0.2, 0.05])
    rate, ask, bid = sol.controls_at(0.3, y)
    assert rate.shape == (6, 1) and ask.shape == (6, 2)
    rows = np.concatenate([rate, ask, bid], axis=1)
    assert np.all(rows[:3] == rows[0]) and not np.allclose(rows[0], rows[3])
    one = sol.controls_at(0.3, y_hat)
    assert np.array_equal(one[1][0], ask[0])


def test_trader_adjoint_range_holds_the_exact_field_and_is_it_where_the_rate_bound_binds():
    """The exact field u(t, Q) (the game re-solved on [t, T] from Q: constant coefficients) lies
    in :func:`trader_adjoint_range` on and off the path; a seller whose inventory is almost gone
    trades at the bound −ε from t on, where the range's lower end IS the exact adjoint, and the
    played feedback there is that adjoint and the rate −ε (the first-order field alone
    extrapolates the interior-rate regime across the kink)."""
    game = game_for(example("logit_equilibrium"))
    sol = game.solve()
    t = 0.3
    q_hat, _ = sol.state_at(t)
    for seller in (0.05, 1.0, float(q_hat[0, 0]), 6.0):  # q₀ > 0: the subgame's trader sells
        q = q_hat.copy()
        q[0, 0] = seller
        sub = dataclasses.replace(
            game,
            horizon=1.0 - t,
            trader_inventories=(seller,),
            maker_inventories=tuple(q[0, 1:]),
        )
        exact = sub.solve().adjoint[0, 0]
        lo, hi = trader_adjoint_range(game.problem, t, q[:, :1])
        assert lo[0, 0] - 1e-7 <= exact <= hi[0, 0] + 1e-7, (seller, lo, exact, hi)
        if seller < 0.1:
            assert exact == pytest.approx(lo[0, 0], abs=1e-7)
            fb = sol.feedback(t, q)
            assert fb.adjoint[0, 0] == pytest.approx(exact, abs=1e-7)
            assert fb.rate[0, 0] == pytest.approx(-game.min_rate)
