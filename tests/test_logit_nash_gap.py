"""§5 logit market: exact discrete best responses and the Monte Carlo Nash gap."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from policies.equilibrium.adapters import discrete_logit_game
from policies.equilibrium.market_making_nash import (
    maker_best_response,
    market_making_nash_gap,
    profile_payoffs,
)
from simulator import load_scenario, simulate
from simulator.cli import EXIT_INVALID, EXIT_OK, examples_dir, main
from simulator.nash_gap import best_responses, logit_profile, mean_model, nash_gap
from simulator.simulation import build_policies


def small(steps: int = 50, policy: str = "equilibrium", **over):
    """runs/logit_equilibrium.toml with a smaller order (q₀ = 2) and noise rates 5: the
    equilibrium quotes are interior (no truncation binds), so the makers' gaps are not trivial."""
    sc = load_scenario(examples_dir() / "logit_equilibrium.toml")
    noise = dataclasses.replace(sc.noise, buy_rate=5.0, sell_rate=5.0)
    seller = dataclasses.replace(sc.traders[0], initial_inventory=2.0, policy=policy)
    return dataclasses.replace(sc, steps=steps, noise=noise, traders=(seller,), **over)


def three_makers():
    """Two traders (a TWAP seller, an Almgren–Chriss buyer) and three heuristic makers with
    distinct share offsets: the soft-min competitor quote of DiscreteLogitGame is exercised."""
    sc = small(steps=40)
    seller = dataclasses.replace(sc.traders[0], policy="twap")
    buyer = dataclasses.replace(
        seller, name="buyer", initial_inventory=-1.0, policy="almgren_chriss"
    )
    m = sc.makers[0]
    makers = (
        dataclasses.replace(m, name="as", policy="avellaneda_stoikov"),
        dataclasses.replace(m, name="cs", policy="constant_spread", initial_inventory=0.5),
        dataclasses.replace(
            m, name="skew", policy="inventory_skew", initial_inventory=-0.5, params={"skew": 0.3}
        ),
    )
    market = dataclasses.replace(sc.market, share_offsets=(0.0, 0.3, -0.2))
    return dataclasses.replace(sc, traders=(seller, buyer), makers=makers, market=market)


def test_discrete_logit_payoffs_are_the_engines_fluid_payoffs():
    """The array-level market (logistic Λ against the soft-min competitor quote) reproduces the
    engine's fluid objectives of a heuristic profile with the price frozen, to rounding."""
    sc = three_makers()
    market, rates, quotes = logit_profile(sc, seed=2)
    expected = profile_payoffs(market, rates, quotes).set_index("agent")["payoff"]
    played = dict(zip([a.name for a in sc.agents], build_policies(sc), strict=True))
    res = simulate(mean_model(sc), paths=1, seed=2, policies=played)
    for name, value in expected.items():
        assert res.agent(name).objective[0] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    # the shares of the soft-min form are the engine's softmax shares
    z = market.shares(quotes)
    lam = market.intensity.value(quotes[0] - market.competitor_quotes(quotes, 0))
    assert np.allclose(z[0], lam, rtol=1e-13) and np.allclose(z.sum(axis=0), 1.0, rtol=1e-14)


def test_maker_best_response_beats_every_perturbation_of_it():
    """The certified maker best response is a maximum: random perturbations of its quotes do
    not pay more (the deviation problem is concave in fill variables for the logistic Λ)."""
    sc = three_makers()
    market, rates, quotes = logit_profile(sc, seed=2)
    br = maker_best_response(market, rates, quotes, 1)
    assert br.optimality_residual < 1e-6
    rng = np.random.default_rng(0)
    for _ in range(5):
        trial = quotes.copy()
        trial[1] = br.schedule + 0.05 * rng.standard_normal(br.schedule.shape)
        pay = profile_payoffs(market, rates, trial).set_index("agent")["payoff"]["cs"]
        assert pay < br.payoff


def test_equilibrium_nash_gap_is_second_order_in_dt():
    """Exact discrete best responses against the equilibrium feedback played on the grid: the
    gain is O(dt²) (ratio → 4 when dt halves; measured 4.2 and 4.1); TWAP is O(1) away."""
    gains = []
    for steps in (25, 50, 100):
        gap = market_making_nash_gap(*logit_profile(small(steps)))
        assert gap["optimality_residual"].max() < 1e-8
        gains.append(gap.set_index("agent")["gain"])
    for coarse, fine in zip(gains, gains[1:], strict=False):
        assert np.all((coarse / fine) > 3.5), (coarse / fine).to_dict()
    assert gains[-1].max() < 1e-4
    twap = market_making_nash_gap(*logit_profile(small(50, "twap"))).set_index("agent")
    assert twap.loc["seller", "gain"] > 1000 * gains[1]["seller"]


def test_monte_carlo_gap_of_the_equilibrium_is_within_its_interval_and_twap_is_not():
    """Fluid flow, ε = 0, price noise σ = 1: the equilibrium's Monte Carlo gain is within its
    95% interval of 0; a TWAP seller's gain is significantly positive and matches the exact gap
    of the mean model within its interval."""
    eq = nash_gap(small(), seed=3, paths=40).set_index("agent")
    assert (eq["gain"].abs() <= eq["gain_ci95"] + 1e-3).all(), eq[["gain", "gain_ci95"]]
    twap = nash_gap(small(policy="twap"), seed=3, paths=40).set_index("agent")
    row = twap.loc["seller"]
    assert row["policy"] == "twap" and row["gain"] - row["gain_ci95"] > 0.3
    assert abs(row["gain"] - row["mean_model_gain"]) <= row["gain_ci95"]


def test_random_market_gap_is_a_paired_estimate_against_the_replayed_profile():
    """Poisson orders, inventory noise and a random factor (runs/logit.toml, heuristics only):
    replaying every agent's recorded actions reproduces the profile bit for bit (the others are
    held fixed as processes on common random numbers), and the TWAP seller's mean-model best
    response gains significantly."""
    sc = load_scenario(examples_dir() / "logit.toml")
    sc = dataclasses.replace(
        sc,
        steps=40,
        flow="poisson",
        lot_size=0.1,
        traders=(dataclasses.replace(sc.traders[0], policy="twap"),),
    )
    br = best_responses(sc, seed=1, paths=30)
    replay = simulate(sc, paths=30, seed=1, policies=br.profile, chunk_paths=30)
    for a in sc.agents:
        assert np.array_equal(replay.agent(a.name).objective, br.result.agent(a.name).objective)
    gap = nash_gap(sc, seed=1, paths=30).set_index("agent")
    assert gap.loc["seller", "gain"] > gap.loc["seller", "gain_ci95"] > 0
    assert np.isfinite(gap.to_numpy(dtype=object)[:, 2:].astype(float)).all()


def test_user_share_functions_are_refused_by_name():
    sc = small()
    market = dataclasses.replace(sc.market, shares=lambda d: np.full_like(d, 1 / d.shape[0]))
    with pytest.raises(ValueError, match="market.shares"):
        discrete_logit_game(dataclasses.replace(sc, market=market), np.ones(50), np.ones(50))


def test_cli_prints_the_confidence_intervals_and_one_line_errors(tmp_path, capsys):
    text = (examples_dir() / "logit_equilibrium.toml").read_text()
    path = tmp_path / "gap.toml"
    path.write_text(text.replace("steps = 200", "steps = 20"))
    assert main(["nash-gap", str(path), "--paths", "4"]) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert "Monte Carlo on 4 paths" in lines[0] and "lower bound" in lines[0]
    assert lines[1].split() == [
        "agent",
        "policy",
        "payoff",
        "payoff_ci95",
        "best_response_payoff",
        "gain",
        "gain_ci95",
        "mean_model_gain",
    ]
    assert [line.split()[0] for line in lines[2:]] == ["seller", "maker_a", "maker_b"]
    assert main(["nash-gap", str(path), "--paths", "1"]) == EXIT_INVALID
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paths = 1" in err[0] and "Traceback" not in err[0]
