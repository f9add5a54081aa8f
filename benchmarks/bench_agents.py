"""Python cost per policy group, not per agent: the §2 market with N traders vs a numpy floor.

Usage::

    python benchmarks/bench_agents.py [--traders 10 100 1000] [--paths 100] [--steps 100]
                                      [--repeats 3] [--strict]

The market: §2 impact (α = 0.1, β = 1, π = 1), N Almgren–Chriss traders sharing one parameter
set (η = β/N, φ = 0.1, A = 1) with initial inventories spread over [−5, 5], no noise traders,
fluid flow, T = 1. Two implementations of the same dynamics:

(i)  model — ``simulate(scenario, record=False)``: N Mesa agents; agents whose policies share a
     batch key (:meth:`policies.base.Policy.batch_key`) act as one batch, one policy call over an
     (agents × paths) block per step;
(b)  numpy — one function over (N, M) arrays, a loop over the steps only: the floor.

Both use the same reference-price normals (the path-keyed stream of
:class:`simulator.processes.PathRandom`) and the shared market rules
(:mod:`simulator.mechanisms.rules`); the script checks that every trader's J agrees path by path
before printing. Timings: best of ``--repeats`` interleaved rounds after an untimed warm-up (the
machine may be shared). Target: (i) within 1.5× of (b) at the largest N (PASS/FAIL printed;
``--strict`` exits 1 on a FAIL).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from policies.heuristics import almgren_chriss_decay
from simulator import Scenario, simulate
from simulator.mechanisms import rules
from simulator.mechanisms.impact import ImpactSpec
from simulator.processes import PRICE, PathRandom
from simulator.scenario import AgentSpec, PriceSpec

SEED = 7
ALPHA, BETA, PHI, A = 0.1, 1.0, 0.1, 1.0


def scenario(n: int, steps: int) -> Scenario:
    q0 = np.linspace(-5.0, 5.0, n) + 0.01  # no trader starts flat
    traders = tuple(
        AgentSpec(f"t{i}", "trader", "almgren_chriss", float(q), PHI, A) for i, q in enumerate(q0)
    )
    return Scenario(
        name=f"bench_agents_{n}",
        market=ImpactSpec(permanent_impact=ALPHA, temporary_impact=BETA),
        horizon=1.0,
        steps=steps,
        traders=traders,
        price=PriceSpec(initial=0.0, volatility=1.0),
    )


def model(sc: Scenario, paths: int) -> np.ndarray:
    res = simulate(sc, paths=paths, seed=SEED, record=False)
    return np.stack([a.objective for a in res.agents])


def floor(sc: Scenario, paths: int) -> np.ndarray:
    """The same market as one numpy loop over the steps, vectorised over traders and paths."""
    n, dt, steps = len(sc.traders), sc.dt, sc.steps
    q = np.repeat(np.array([[a.initial_inventory] for a in sc.traders]), paths, axis=1)
    cash, running = np.zeros_like(q), np.zeros_like(q)
    price, impact = np.zeros(paths), np.zeros(paths)
    random = PathRandom(SEED, 0, paths)
    scale = sc.price.volatility * math.sqrt(dt)
    eta = BETA / n
    for k in range(steps):
        g = almgren_chriss_decay(sc.horizon - k * dt, eta, PHI, A)
        v = -min(float(g), 1.0 / dt) * q
        vol = v * dt
        delta = vol.sum(axis=0)
        delta *= ALPHA / n
        mid = price + impact + 0.5 * delta
        fill = rules.impact_price(mid, v, BETA / n, 1.0)
        cash -= fill * vol
        prev = q.copy()
        q += vol
        running += rules.running_penalty(prev, q, PHI, dt)
        impact += delta
        price += random.normal(PRICE, k) * scale
    return cash + (price + impact) * q - running - A * q**2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traders", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--paths", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args(argv)
    print(f"§2 market, Almgren–Chriss traders, {args.paths} paths × {args.steps} steps")
    print(f"{'N':>6} {'model s':>9} {'numpy s':>9} {'ratio':>6}  µs/step (model, numpy)")
    ratio = math.nan
    for n in args.traders:
        sc = scenario(n, args.steps)
        got, want = model(sc, args.paths), floor(sc, args.paths)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        best = {"model": math.inf, "numpy": math.inf}
        for _ in range(args.repeats):
            for name, fn in (("model", model), ("numpy", floor)):
                t0 = time.perf_counter()
                fn(sc, args.paths)
                best[name] = min(best[name], time.perf_counter() - t0)
        ratio = best["model"] / best["numpy"]
        per = [1e6 * best[k] / args.steps for k in ("model", "numpy")]
        print(
            f"{n:>6} {best['model']:>9.4f} {best['numpy']:>9.4f} {ratio:>6.2f}  "
            f"{per[0]:.0f}, {per[1]:.0f}"
        )
    ok = ratio <= 1.5
    print(
        f"target: model within 1.5× of numpy at N = {args.traders[-1]}: {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
