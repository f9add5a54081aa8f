"""Mean-field solve (Prop. 4.5, (36)) vs naive per-trader solves of the individual problems (34).

Side by side in one run (timings on a shared machine are noisy):

* ``mean-field``: the representative ACAS game + (36) in closed form, then every trader's rate
  schedule on the engine grid (one vectorised expression for all N traders) and the conditions;
* ``naive discrete``: N exact discrete control problems, one per trader, against the makers'
  quotes (:func:`trader_best_response`, an O(n) banded solve each, in a Python loop);
* ``naive BVP``: N continuous two-point problems (34) with ``scipy.integrate.solve_bvp``.

Run: ``python benchmarks/bench_mean_field.py [--traders 1000] [--bvp-traders 100] [--steps 200]``.
BLAS is pinned to one thread (``OPENBLAS_NUM_THREADS``, overridable): on the shared 2-core machine
oversubscribed threads make the small matrix operations 10–40× slower.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.integrate import solve_bvp  # noqa: E402

from policies.equilibrium.market_making_nash import (  # noqa: E402
    DiscreteBestQuoteGame,
    trader_best_response,
)
from policies.equilibrium.mean_field import MeanFieldGame, MeanFieldSolution  # noqa: E402


def mean_field(samples: np.ndarray, phi: float, steps: int):
    """Solve (representative ACAS + (36) + conditions), then all N schedules on the grid."""
    t0 = time.perf_counter()
    game = MeanFieldGame(
        horizon=1.0,
        temporary_impact=0.5,
        intensity_decay=2.0,
        terminal_penalty=1.0,
        running_penalty=phi,
        inventory_distribution=samples,
        maker_inventories=(1.0, 0.0),
        noise_buy_rate=1.0,
        noise_sell_rate=1.0,
    )
    acas = game.representative_game().solve()
    t_acas = time.perf_counter()
    sol = MeanFieldSolution(game, acas)  # (36) in closed form
    sol.conditions()
    t1 = time.perf_counter()
    tk = np.arange(steps) / steps
    rates = sol.rate_from_initial(tk[None, :], samples[:, None])
    return sol, rates, t1 - t0, time.perf_counter() - t1, t1 - t_acas


def naive_discrete(sol, samples: np.ndarray, steps: int) -> np.ndarray:
    g = sol.game
    _, _, quotes = sol.population_profile(samples[:1], steps)
    out = np.empty((samples.size, steps))
    for j, q0 in enumerate(samples):
        market = DiscreteBestQuoteGame(
            horizon=g.horizon,
            steps=steps,
            temporary_impact=g.beta,
            intensity_decay=g.gamma,
            trader_inventories=[q0],
            maker_inventories=g.maker_inventories,
            trader_running_penalty=g.phi,
            trader_terminal_penalty=g.terminal,
        )
        out[j] = trader_best_response(market, np.zeros((1, steps)), quotes, 0).schedule
    return out


def naive_bvp(sol, samples: np.ndarray, steps: int) -> np.ndarray:
    g = sol.game
    t, m = sol.time, sol.best_ask
    tk = np.arange(steps) / steps
    out = np.empty((samples.size, steps))
    for j, q0 in enumerate(samples):

        def rhs(s, z):
            return np.vstack([(z[1] - np.interp(s, t, m)) / (2 * g.beta), 2 * g.phi * z[0]])

        def bc(za, zb, q0=q0):
            return np.array([za[0] - q0, zb[1] + 2 * g.terminal * zb[0]])

        mesh = np.linspace(0, g.horizon, 41)
        guess = np.vstack([np.full_like(mesh, q0), np.full_like(mesh, -2 * g.terminal * q0)])
        res = solve_bvp(rhs, bc, mesh, guess, tol=1e-8)
        if not res.success:
            raise RuntimeError(f"solve_bvp failed for trader {j}: {res.message}")
        out[j] = (res.sol(tk)[1] - np.interp(tk, t, m)) / (2 * g.beta)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traders", type=int, default=1000)
    ap.add_argument("--bvp-traders", type=int, default=100)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    samples = -np.random.default_rng(args.seed).gamma(20.0, 0.5, size=args.traders)
    rows = []
    for phi in (0.0, 0.2):
        sol, rates, t_solve, t_eval, t_36 = mean_field(samples, phi, args.steps)
        rows.append((phi, "mean-field solve", args.traders, t_solve, np.nan))
        rows.append((phi, "  of which (36)+cond", args.traders, t_36, np.nan))
        rows.append((phi, "+ all schedules", args.traders, t_eval, 0.0))
        big = -np.random.default_rng(args.seed + 1).gamma(20.0, 0.5, size=100 * args.traders)
        _, _, t_solve_big, t_eval_big, t_36_big = mean_field(big, phi, args.steps)
        rows.append((phi, "mean-field solve", big.size, t_solve_big, np.nan))
        rows.append((phi, "  of which (36)+cond", big.size, t_36_big, np.nan))
        rows.append((phi, "+ all schedules", big.size, t_eval_big, np.nan))
        t0 = time.perf_counter()
        disc = naive_discrete(sol, samples, args.steps)
        rows.append(
            (
                phi,
                "naive discrete",
                args.traders,
                time.perf_counter() - t0,
                float(np.max(np.abs(disc - rates))),
            )
        )
        nb = min(args.bvp_traders, args.traders)
        t0 = time.perf_counter()
        bvp = naive_bvp(sol, samples[:nb], args.steps)
        rows.append(
            (
                phi,
                "naive BVP",
                nb,
                time.perf_counter() - t0,
                float(np.max(np.abs(bvp - rates[:nb]))),
            )
        )
        check = sol.average_rate_check(big)
        print(
            f"φ = {phi}: (32) population mean vs representative over {big.size} traders: "
            f"max |diff| = {np.max(np.abs(check['difference'])):.2e} "
            f"(LLN bound {check['lln_bound'].min():.2e}), all within: {check['within'].all()}"
        )
    print(
        f"\n{'φ':>4} {'method':>20} {'traders':>9} {'time [s]':>10} {'ms/trader':>10} "
        f"{'max |v − v_mf|':>15}"
    )
    for phi, name, n, secs, err in rows:
        print(f"{phi:>4} {name:>20} {n:>9d} {secs:>10.3f} {1e3 * secs / n:>10.4f} {err:>15.2e}")


if __name__ == "__main__":
    main()
