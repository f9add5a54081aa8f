"""Benchmark: §5 stochastic logit game by the grid PDE (:func:`solve_logit_pde`).

Rows (one run each; the machine is shared, timings are noisy):

* deterministic limit (ε = 0, no factor), 1 trader + 2 makers, points 5, 9, 17 per axis: the
  error of J and of u(0, q₀) against the collocation solution (1e-8) and the observed order
  ``log₂(e_h / e_{h/2})``;
* ε = 0.3, no factor (3-d grid), points 5, 9, 17: the observed order from three nested grids
  ``log₂(|J₅ − J₉| / |J₉ − J₁₇|)`` (no exact solution);
* ε = 0.3 with the OU factor (volatility 0.5, 4-d grid), 9 points per axis: time, steps and the
  estimated error (nested grid) relative to |J|;
* the issue's example itself (T = 1, β = 0.1, flows 15·e^{±L/2}, ε = 0.3: ``bench_logit.py``'s
  stochastic game, solved there by regression Monte Carlo) with the factor, 9⁴ nodes: time and
  estimated error (the trader's rates reach ~200 near T at the box's far corner: ~5× more time
  steps than the mild game);
* baseline in the same run: the deterministic collocation solve (``LogitGame.solve()``).

The game is a mild version of the issue's example (β = 0.5, T = 0.5: the CFL-limited sweeps stay
short). Run: ``/work/venv/bin/python benchmarks/bench_logit_pde.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from bench_logit import STOCHASTIC  # noqa: E402  (this folder is on sys.path)

from policies.equilibrium.logit import LogitGame  # noqa: E402
from policies.equilibrium.logit_pde import solve_logit_pde  # noqa: E402

MILD = dict(
    horizon=0.5,
    trader_inventories=(-2.0,),
    maker_inventories=(1.0, -0.5),
    temporary_impact=0.5,
    share_sharpness=2.0,
    share_offsets=(0.0, 0.2),
    trader_running_penalty=0.2,
    trader_terminal_penalty=1.0,
    maker_running_penalty=0.1,
    maker_terminal_penalty=0.5,
    noise_buy_rate=4.0,
    noise_sell_rate=3.0,
)
FACTOR = dict(
    initial=0.3,
    mean=0.0,
    reversion=2.0,
    volatility=0.5,
    buy_base=4.0,
    sell_base=3.0,
    buy_loading=0.5,
    sell_loading=-0.5,
    cap=20.0,
)
POINTS = (5, 9, 17)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def order(coarse: np.ndarray, fine: np.ndarray) -> str:
    with np.errstate(all="ignore"):
        p = np.log2(np.abs(coarse) / np.abs(fine))
    return " ".join(f"{x:5.2f}" for x in p)


def fmt(x: np.ndarray, digits: int = 2) -> str:
    return " ".join(f"{v:.{digits}e}" for v in np.atleast_1d(x))


def main() -> None:
    det_game = LogitGame(**MILD)
    t_det, det = timed(det_game.solve)
    q0 = np.array(det_game.initial_inventories)
    print(f"baseline: deterministic collocation solve {t_det:.3f} s")

    print("\nε = 0 (exact: collocation): error of J and u(0, q₀) by agent, observed order")
    errs = []
    for p in POINTS:
        t, sol = timed(lambda p=p: solve_logit_pde(det_game, points=p, error_estimate=False))
        ev = sol.value.to_numpy() - det.value.to_numpy()
        ey = sol.adjoint_at(0.0, q0)[0] - det.adjoint[0]
        errs.append((ev, ey))
        steps = sol.diagnostics["time_steps"]
        print(f"  points {p:3d}  {t:7.2f} s  {steps:4d} steps  J err {fmt(ev)}  u err {fmt(ey)}")
    for (a, b), p in zip(zip(errs[:-1], errs[1:], strict=True), POINTS[1:], strict=True):
        print(f"  order to {p:3d}: J {order(a[0], b[0])}   u {order(a[1], b[1])}")

    print("\nε = 0.3, no factor: J by agent, observed order from three nested grids")
    noisy = LogitGame(**MILD, inventory_noise=0.3)
    vals = []
    for p in POINTS:
        t, sol = timed(lambda p=p: solve_logit_pde(noisy, points=p, error_estimate=False))
        vals.append(sol.value.to_numpy())
        steps = sol.diagnostics["time_steps"]
        print(f"  points {p:3d}  {t:7.2f} s  {steps:4d} steps  J {fmt(vals[-1], 7)}")
    print(f"  observed order {order(vals[1] - vals[0], vals[2] - vals[1])}")

    factor_row(
        "ε = 0.3 and the OU factor (σ = 0.5)", LogitGame(**MILD, inventory_noise=0.3, factor=FACTOR)
    )
    factor_row(
        "the issue's example (bench_logit.py's stochastic game: T = 1, β = 0.1)",
        LogitGame(**STOCHASTIC),
    )


def factor_row(label: str, game: LogitGame) -> None:
    """One 4-d solve (9 nodes per axis, with the nested grid): time, steps, J, the estimated
    relative error against the issue's target (1e-3 in < 60 s)."""
    print(f"\n{label}: 4-d grid")
    t, sol = timed(lambda: solve_logit_pde(game, points=9, factor_points=9))
    value = sol.value.to_numpy()
    if not np.all(np.isfinite(value)):
        raise SystemExit("non-finite values")
    rel = sol.diagnostics["estimated_error"].to_numpy() / np.abs(value)
    print(
        f"  grid {sol.diagnostics['grid']['shape']}  {t:7.2f} s (with the nested grid)  "
        f"{sol.diagnostics['time_steps']} steps  J {fmt(value, 5)}  estimated relative error "
        f"{fmt(rel)} (max {np.max(rel):.1e}; the issue's target 1e-3 in < 60 s: "
        f"{'met' if np.max(rel) <= 1e-3 and t < 60 else 'not met'})"
    )


if __name__ == "__main__":
    main()
