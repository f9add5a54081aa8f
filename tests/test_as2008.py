"""Avellaneda & Stoikov (2008) §4 simulation (runs/as2008*.toml) against the published table.

Published, γ = 0.1 (their Table: 1000 simulations): inventory strategy spread 1.29, profit 62.94,
std(profit) 5.89, std(q_T) 2.80; symmetric strategy spread 1.29, profit 67.21, std(profit) 13.43,
std(q_T) 8.66. The published "spread" is (2/γ)ln(1 + γ/k) = 1.2908, the time-independent part of
the inventory strategy's spread γσ²(T − t) + (2/γ)ln(1 + γ/k).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulator import simulate
from simulator.scenario import load_scenario

RUNS = Path(__file__).resolve().parent.parent / "runs"
GAMMA, K, SIGMA, A, N_PUBLISHED = 0.1, 1.5, 2.0, 140.0, 1000
PUBLISHED = {
    "inventory": {"profit": 62.94, "std_profit": 5.89, "std_q": 2.80},
    "symmetric": {"profit": 67.21, "std_profit": 13.43, "std_q": 8.66},
}


def _run(file: str):
    sc = load_scenario(RUNS / file)
    res = simulate(sc, paths=sc.paths, seed=sc.seed, record=sc.paths)
    mk = res.agent(sc.makers[0].name)
    profit, q_t = mk.objective, mk.inventory[-1]  # J = X_T + q_T·S_T (φ = A = 0)
    stats = {
        "profit": profit.mean(),
        "std_profit": profit.std(ddof=1),
        "std_q": q_t.std(ddof=1),
        "spread": (mk.ask_spread + mk.bid_spread).mean(),
    }
    return sc, stats, profit.size


def _z(ours: float, published: float, sd_ours: float, sd_pub: float, n: int, kind: str) -> float:
    """Difference in units of the combined Monte Carlo standard error of both estimates (the
    standard error of a sample std is ≈ sd/√(2n))."""
    scale = 1.0 if kind == "mean" else 1 / math.sqrt(2)
    se = scale * math.hypot(sd_ours / math.sqrt(n), sd_pub / math.sqrt(N_PUBLISHED))
    return abs(ours - published) / se


@pytest.fixture(scope="module")
def symmetric():
    return _run("as2008_symmetric.toml")


@pytest.fixture(scope="module")
def inventory():
    return _run("as2008.toml")


def test_published_spread_is_the_time_independent_part_of_the_as_spread(symmetric, inventory):
    base = 2 / GAMMA * math.log1p(GAMMA / K)
    assert round(base, 2) == 1.29
    sc, stats, _ = symmetric
    assert stats["spread"] == pytest.approx(base, abs=1e-4)  # half_spread = 0.6454 in the file
    sc, stats, _ = inventory
    mean_tau = np.mean(sc.horizon - sc.dt * np.arange(sc.steps))  # quotes at t_k, k < n
    assert stats["spread"] == pytest.approx(base + GAMMA * SIGMA**2 * mean_tau, rel=1e-12)


def test_symmetric_strategy_reproduces_the_published_row_within_monte_carlo_error(symmetric):
    sc, stats, n = symmetric
    pub = PUBLISHED["symmetric"]
    assert _z(stats["profit"], pub["profit"], stats["std_profit"], pub["std_profit"], n, "mean") < 3
    for key in ("std_profit", "std_q"):
        assert _z(stats[key], pub[key], stats[key], pub[key], n, "std") < 3
    # and the exact expectations of this discretisation: fills ~ Bernoulli(p) on each side
    half = 0.6454
    p = A * math.exp(-K * half) * sc.dt
    assert abs(stats["profit"] - 2 * sc.steps * half * p) < 3 * stats["std_profit"] / math.sqrt(n)
    sd_q = math.sqrt(2 * sc.steps * p * (1 - p))
    assert abs(stats["std_q"] - sd_q) < 3 * sd_q / math.sqrt(2 * n)


def test_inventory_strategy_keeps_the_published_risk_reduction(inventory, symmetric):
    """The paper's finding: the inventory strategy earns a little less with far less variance.
    Its std(q_T) matches the published 2.80 within Monte Carlo error; its profit mean and std do
    not (64.8 and 6.6 vs 62.94 and 5.89: runs/README.md discusses the gap)."""
    _, inv, n = inventory
    _, sym, _ = symmetric
    pub = PUBLISHED["inventory"]
    assert _z(inv["std_q"], pub["std_q"], inv["std_q"], pub["std_q"], n, "std") < 3
    assert inv["profit"] < sym["profit"]
    assert inv["std_profit"] < 0.5 * sym["std_profit"] and inv["std_q"] < 0.4 * sym["std_q"]
    # the engine against an independent vectorised replay of the same discretisation
    ref = _replay_inventory_strategy(paths=20000, seed=5)
    for key in ("profit", "std_profit", "std_q"):
        sd = inv["std_profit"] if key != "std_q" else inv["std_q"]
        kind = "mean" if key == "profit" else "std"
        scale = 1.0 if kind == "mean" else 1 / math.sqrt(2)
        se = scale * sd * math.sqrt(1 / n + 1 / 20000)
        assert abs(inv[key] - ref[key]) < 3 * se, key


def _replay_inventory_strategy(paths: int, seed: int) -> dict[str, float]:
    """AS eqs. (29)–(30) quotes at (q_k, t_k), fills Bernoulli(A·e^{−kδ}·dt) at P_k ± δ, then
    P_{k+1} = P_k + σ√dt·Z (the engine's step order), written independently of the engine."""
    rng = np.random.default_rng(seed)
    n, dt = 200, 1.0 / 200
    s, x, q = np.full(paths, 100.0), np.zeros(paths), np.zeros(paths)
    for k in range(n):
        tau = 1.0 - k * dt
        r = s - q * GAMMA * SIGMA**2 * tau
        half = 0.5 * GAMMA * SIGMA**2 * tau + math.log1p(GAMMA / K) / GAMMA
        ask, bid = r + half, r - half
        sold = rng.random(paths) < np.minimum(1, A * np.exp(-K * (ask - s)) * dt)
        bought = rng.random(paths) < np.minimum(1, A * np.exp(-K * (s - bid)) * dt)
        x += sold * ask - bought * bid
        q += bought.astype(float) - sold
        s += SIGMA * math.sqrt(dt) * rng.standard_normal(paths)
    profit = x + q * s
    return {"profit": profit.mean(), "std_profit": profit.std(ddof=1), "std_q": q.std(ddof=1)}
