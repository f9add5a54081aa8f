"""``compare``: paired statistics on common random numbers, best responses, every example."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from policies.equilibrium import execution_payoffs
from policies.equilibrium.adapters import execution_game
from simulator import load_scenario, simulate
from simulator.compare import compare
from simulator.compare.profiles import with_policies
from simulator.scenario import Scenario
from simulator.statistics import mean_ci, paired_ci

RUNS = Path(__file__).resolve().parents[1] / "runs"


IMPACT = {
    "name": "cmp_impact",
    "horizon": 1.0,
    "steps": 10,
    "paths": 64,
    "seed": 3,
    "market": {"kind": "impact", "permanent_impact": 0.2, "temporary_impact": 0.3},
    "noise": {"buy_rate": 2.0, "sell_rate": 1.0},
    "traders": [
        {
            "name": "seller",
            "policy": "twap",
            "initial_inventory": 4.0,
            "running_penalty": 0.2,
            "terminal_penalty": 2.0,
        },
        {
            "name": "buyer",
            "policy": "equilibrium",
            "initial_inventory": -2.0,
            "running_penalty": 0.4,
            "terminal_penalty": 1.0,
        },
    ],
}
"""§2: two traders, permanent and temporary impact, noise pressure (shared by the sweep tests)."""


def impact_scenario(steps: int = 10, volatility: float = 1.0) -> Scenario:
    """:data:`IMPACT` with a volatile reference price."""
    return Scenario.from_dict({**IMPACT, "steps": steps, "price": {"volatility": volatility}})


def test_a_profile_played_twice_differs_from_itself_by_exactly_zero():
    # Two separate simulations of the same profile with the same seed see the same random
    # numbers (common random numbers), so the paired difference and its interval are exactly 0.
    s = impact_scenario()
    twap = with_policies(s, {"buyer": "twap"})
    a = simulate(twap, paths=200, seed=5, record=False).agent("buyer").objective
    b = simulate(twap, paths=200, seed=5, record=False).agent("buyer").objective
    assert paired_ci(a, b) == (0.0, 0.0)
    assert mean_ci(a)[1] > 0  # the price noise is real: the unpaired interval is not 0
    result = compare(s, paths=32, tournament=True)
    pay = result.payoffs.set_index(["profile", "agent"])
    base = pay.xs(result.baseline, level="profile")
    assert (base["diff"] == 0).all() and (base["diff_ci95"] == 0).all()
    # the tournament replays "seller: twap" (the others at equilibrium) in a separate run
    left = result.objectives["seller: twap"]
    right = result.objectives["t: twap/equilibrium"]
    for agent in ("seller", "buyer"):
        assert paired_ci(left[agent], right[agent]) == (0.0, 0.0)


def test_paired_interval_covers_the_known_difference_at_the_nominal_rate():
    # Deterministic schedules (fluid flow, deterministic noise): the difference of the deviator's
    # J between TWAP and equilibrium is its exact fluid payoff difference (execution_payoffs,
    # the engine's closed form) plus a Gaussian martingale term. 400 independent replications
    # of 50 paths each: the 95% t-interval must cover the known value about 95% of the time
    # (binomial s.d. 1.1%: the band [0.92, 0.98] is ±2.7 s.d.).
    s = impact_scenario()
    eq = with_policies(s, {"seller": "equilibrium"})
    dev = s  # seller plays TWAP against the equilibrium buyer
    game = execution_game(s)
    known = []
    for scn in (dev, eq):
        res = simulate(scn, paths=1, seed=0)
        rates = np.column_stack([res.agent(n).rate[:, 0] for n in game.agent_names])
        known.append(execution_payoffs(game, rates)[0])
    truth = known[0] - known[1]
    reps, per = 400, 50
    j_dev = simulate(dev, paths=reps * per, seed=11, record=False).agent("seller").objective
    j_eq = simulate(eq, paths=reps * per, seed=11, record=False).agent("seller").objective
    covered = 0
    for r in range(reps):
        sl = slice(r * per, (r + 1) * per)
        diff, half = paired_ci(j_dev[sl], j_eq[sl])
        covered += abs(diff - truth) <= half
    assert 0.92 <= covered / reps <= 0.98
    # the unpaired intervals of each mean are far wider than the paired one
    assert mean_ci(j_dev[:per])[1] > 3 * paired_ci(j_dev[:per], j_eq[:per])[1]


def test_best_responses_in_the_comparison_reach_the_nash_gap():
    scenario = load_scenario(RUNS / "acas.toml")
    scenario = dataclasses.replace(scenario, steps=50)
    result = compare(scenario, paths=400)
    regret = result.regret.set_index("agent")
    assert set(regret.index) == {"buyer", "maker_a", "maker_b"}
    for agent, row in regret.iterrows():
        assert row["nash_gap"] > 0
        # Monte Carlo estimate of the same gain: within 3 half-widths (P is the only noise)
        assert abs(row["mc_gain"] - row["nash_gap"]) <= 3 * row["mc_gain_ci95"] + 1e-9, agent
        assert row["equilibrium_gap"] < 0.1 * row["nash_gap"]  # O(dt²) at 50 steps
    assert "most exploitable agent is maker_b" in result.verdict


def test_best_response_payoff_is_exact_without_price_noise():
    s = impact_scenario(volatility=0.0)
    result = compare(s, paths=4)
    regret = result.regret.set_index("agent")
    for _, row in regret.iterrows():
        assert row["mc_gain"] == pytest.approx(row["nash_gap"], rel=1e-9, abs=1e-10)
        assert row["mc_gain_ci95"] == 0.0


@pytest.mark.parametrize("path", sorted(RUNS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_scenario_compares_cleanly(path, tmp_path):
    scenario = dataclasses.replace(load_scenario(path), steps=40, paths=48)
    result = compare(scenario, paths=48)
    assert result.verdict.startswith(scenario.name)
    assert not result.payoffs.empty and not result.market.empty
    for name, table in result.tables().items():
        numbers = table.select_dtypes("number")
        if name == "makers":
            numbers = numbers.drop(
                columns=["sharpe"], errors="ignore"
            )  # undefined for a deterministic P&L
        assert np.isfinite(numbers.to_numpy(dtype=float)).all(), name
    played = set(result.profiles["profile"])
    assert "equilibrium" in played, result.verdict
    files = result.write(tmp_path / "report", plots=False)
    assert {"report.html", "report.md", "payoffs.csv", "summary.json"} <= set(files)
    for name in ("makers.csv", "traders.csv", "market.csv", "payoffs.csv"):
        cells = (tmp_path / "report" / name).read_text().replace("\n", ",").split(",")
        assert not {"nan", "inf", "-inf"} & set(cells), name


def test_comparison_is_reproducible_to_the_byte(tmp_path):
    s = impact_scenario()
    for out in ("a", "b"):
        compare(s, paths=16, seed=4).write(tmp_path / out, plots=False)
    for name in ("payoffs.csv", "traders.csv", "market.csv", "report.md", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_bad_arguments_are_refused_with_the_field_named():
    s = impact_scenario()
    with pytest.raises(ValueError, match="paths = 1 must be an integer >= 2"):
        compare(s, paths=1)
    with pytest.raises(ValueError, match="seed = -1"):
        compare(s, paths=4, seed=-1)


def test_progress_reaches_its_total():
    calls = []
    compare(impact_scenario(), paths=4, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] > 0
    assert all(d <= t for d, t in calls)
    assert not math.isnan(calls[0][0])


def test_cli_prints_the_verdict_and_the_table_and_writes_the_report(tmp_path, capsys):
    from simulator.cli import EXIT_INVALID, EXIT_OK, main

    path = tmp_path / "small.toml"
    path.write_text((RUNS / "execution_vs_heuristics.toml").read_text())
    args = ["compare", str(path), "--paths", "16", "--no-progress", "--no-plots"]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("execution_vs_heuristics (impact, fluid):")
    assert "agent" in out and "Nash gap" in out and "report: " in out
    assert (tmp_path / "small_compare" / "report.html").exists()
    assert main([*args[:2], "--paths", "1"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "paths = 1 must be an integer >= 2" in err and "Traceback" not in err


@pytest.mark.parametrize("file", ["logit_vs_heuristics.toml", "acas_vs_heuristics_fluid.toml"])
def test_compare_solves_the_equilibrium_once(file, monkeypatch):
    """The profiles and the Nash gaps share one solve of the game (the policy-factory cache is
    handed to ``nash_gap``): a solve costs seconds to minutes in the stochastic §5 game."""
    from policies.equilibrium import adapters

    solves = []
    original = adapters.game_for

    class Counted:
        """The game, with its solves counted."""

        def __init__(self, game):
            self.game = game

        def __getattr__(self, name):
            return getattr(self.game, name)

        def solve(self, *args, **kwargs):
            solves.append(self.game)
            return self.game.solve(*args, **kwargs)

    def counting(scenario):
        return Counted(original(scenario))

    monkeypatch.setattr(adapters, "game_for", counting)
    monkeypatch.setattr("policies.equilibrium.play.game_for", counting)
    scenario = dataclasses.replace(load_scenario(RUNS / file), steps=20, paths=16)
    result = compare(scenario, paths=16)
    assert "equilibrium" in set(result.profiles["profile"])
    assert len(result.regret) and len(solves) == len({repr(g) for g in solves}), solves
