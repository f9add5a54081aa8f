"""Benchmark: §5 logit game, deterministic and stochastic equilibria (Guo & Jin (39)–(44)).

Rows (best of ``--repeats``, measured in the same run; the machine is shared, timings are noisy):

* 1 trader + 2 makers (the issue's example), collocation — target < 0.2 s — and the same game
  with a truncation that starts binding inside the horizon (min_rate = 1.6: a switching time);
* 2 traders + 3 makers (a buyer and a seller, a two-piece noise profile) — target < 1 s;
* baseline in the same run: shooting (DOP853 with event restarts, variational Newton) on the
  switching example, the independent method the tests compare against;
* the logit quote map alone: 10⁴ adjoint vectors (3 makers, ξ = 1), one vectorised call.

The error column is the largest value difference to the shooting solve (switching example) or
the solver's own estimate (trailing Chebyshev coefficients).

Stochastic game (regression Monte Carlo, ``--stochastic``, default on; ``--quick`` for a short run):

* 1 trader + 2 makers with the OU factor (volatility 0.5) and ε = 0.3 (runs/logit.toml's game
  with ξ = ∞) — target 1e-3 relative in < 60 s: time, values ± standard error, and the value
  difference to a solve on twice the steps and paths (the error estimate);
* observed convergence order in Δt of the regression method against the collocation solution
  (ε = 0, where collocation is exact to 1e-8): errors at 10, 20, 40, 80 steps;
* time against the number of agents (2 = 2 makers, 4 = 1 + 3, 8 = 2 + 6, 16 = 4 + 12) with the
  factor and ε = 0.3, 40 steps, per Picard sweep and in total.
* the relaxed Picard iteration on the example scenario runs/logit.toml (ξ = 5 and the rate
  bound ε bind) at the scenario policies' resolution (50 steps, 500 training paths, tolerance
  1e-3), against two baselines in the same run: plain Picard (ω = 1), which cycles there, and
  the implicit steps' Newton with the finite-difference ∂f/∂Y (``drift_jacobian``: n + 1 drift
  evaluations) in place of the exact one (``drift_derivative``).

Run: ``/work/venv/bin/python benchmarks/bench_logit.py [--repeats 3] [--quick] [--no-stochastic]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from policies.equilibrium.coefficients import Profile  # noqa: E402
from policies.equilibrium.logit import LogitGame  # noqa: E402
from policies.equilibrium.logit_quotes import build_shares  # noqa: E402

EXAMPLE = dict(
    horizon=1.0,
    trader_inventories=(-4.0,),
    maker_inventories=(2.0, 0.0),
    temporary_impact=0.1,
    share_sharpness=2.0,
    share_offsets=(0.0, 0.2),
    trader_running_penalty=0.5,
    trader_terminal_penalty=5.0,
    maker_running_penalty=0.05,
    maker_terminal_penalty=1.0,
    noise_buy_rate=15.0,
    noise_sell_rate=15.0,
)
LARGER = dict(
    EXAMPLE,
    trader_inventories=(-3.0, 2.0),
    maker_inventories=(1.0, 0.0, -1.0),
    share_offsets=(0.0, 0.1, 0.2),
    noise_buy_rate=Profile((10.0, 20.0)),
)


def best(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


FACTOR = dict(
    initial=0.0,
    mean=0.0,
    reversion=2.0,
    volatility=0.5,
    buy_base=15.0,
    sell_base=15.0,
    buy_loading=0.5,
    sell_loading=-0.5,
    cap=100.0,
)
STOCHASTIC = {
    k: v for k, v in EXAMPLE.items() if k not in ("noise_buy_rate", "noise_sell_rate")
} | dict(factor=FACTOR, inventory_noise=0.3)


def stochastic_rows(quick: bool) -> None:
    """The regression Monte Carlo rows (see the module docstring)."""
    game = LogitGame(**STOCHASTIC)
    opts = dict(steps=50, paths=500, tolerance=1e-4)
    fine = dict(steps=100, paths=1000, tolerance=1e-4)
    if quick:
        opts, fine = (
            dict(steps=40, paths=200, tolerance=1e-3),
            dict(steps=80, paths=400, tolerance=1e-3),
        )
    t0 = time.perf_counter()
    sol = game.solve(**opts)
    t = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = game.solve(**fine)
    t_ref = time.perf_counter() - t0
    rel = float(np.max(np.abs(sol.value - ref.value) / np.abs(ref.value)))
    se = float(np.max(sol.std_error / np.abs(sol.value)))
    d = sol.diagnostics
    print(
        "\nstochastic: 1 trader + 2 makers, OU factor (σ_L = 0.5), ε = 0.3 — target 1e-3 in < 60 s"
    )
    print(f"{'solve':<40} {'time [s]':>9} {'rel. diff to fine':>18} {'rel. SE':>9} {'Picard':>7}")
    print(f"{str(opts):<40} {t:>9.1f} {rel:>18.1e} {se:>9.1e} {d['picard_iterations']:>7}")
    print(
        f"{str(fine):<40} {t_ref:>9.1f} {'(reference)':>18} {'':>9} "
        f"{ref.diagnostics['picard_iterations']:>7}"
    )
    print(
        "values:",
        ", ".join(
            f"{k} {v:.4f} ± {s:.4f}"
            for (k, v), s in zip(sol.value.items(), sol.std_error, strict=True)
        ),
    )
    print(
        f"standard error without / with the control variate: "
        f"{d['value_std_error_without_control_variate']:.3g} / {d['value_std_error']:.3g}"
    )

    det_game = LogitGame(**EXAMPLE)
    det = det_game.solve()
    print("\nobserved order in Δt (regression method at ε = 0 against collocation, 100 paths)")
    print(f"{'steps':>6} {'max |J − J_colloc|':>20} {'order':>7} {'time [s]':>9}")
    prev = None
    for steps in (10, 20, 40) if quick else (10, 20, 40, 80):
        t0 = time.perf_counter()
        s = det_game.solve(method="regression", steps=steps, paths=100, tolerance=1e-4)
        t = time.perf_counter() - t0
        err = float(np.max(np.abs(s.value - det.value)))
        order = f"{np.log2(prev / err):.2f}" if prev else ""
        print(f"{steps:>6} {err:>20.2e} {order:>7} {t:>9.1f}")
        prev = err

    print("\ntime against the number of agents (OU factor, ε = 0.3, 40 steps, tolerance 1e-3)")
    print(
        f"{'agents':>7} {'traders+makers':>15} {'basis':>6} {'paths':>6} {'Picard':>7} "
        f"{'per sweep [s]':>14} {'total [s]':>10}"
    )
    for nt, nm in ((0, 2), (1, 3), (2, 6), (4, 12)) if not quick else ((0, 2), (1, 3)):
        qe = tuple(-3.0 if i % 2 == 0 else 3.0 for i in range(nt))
        g = LogitGame(
            **{
                k: v
                for k, v in STOCHASTIC.items()
                if k not in ("trader_inventories", "maker_inventories", "share_offsets")
            },
            trader_inventories=qe,
            maker_inventories=tuple(np.linspace(-1.0, 1.0, nm)),
            share_offsets=tuple(np.linspace(0.0, 0.2, nm)),
        )
        dim = nt + nm + 1
        k = (dim + 1) * (dim + 2) // 2
        paths = max(300, 3 * k)
        t0 = time.perf_counter()
        s = g.solve(steps=40, paths=paths, tolerance=1e-3)
        t = time.perf_counter() - t0
        it = s.diagnostics["picard_iterations"]
        print(
            f"{nt + nm:>7} {f'{nt}+{nm}':>15} {k:>6} {paths:>6} {it:>7} {t / (it + 1):>14.2f} "
            f"{t:>10.1f}"
        )


def played_rows() -> None:
    """runs/logit.toml at the played resolution against its baselines (module docstring)."""
    from pathlib import Path

    from policies.equilibrium import logit_regression
    from policies.equilibrium.adapters import logit_game
    from policies.equilibrium.logit import LogitSolveError
    from policies.equilibrium.logit_bvp import drift_jacobian
    from policies.equilibrium.play import REGRESSION_PATHS, REGRESSION_STEPS
    from simulator import load_scenario

    game = logit_game(load_scenario(Path(__file__).resolve().parents[1] / "runs" / "logit.toml"))
    opts = dict(steps=REGRESSION_STEPS, paths=REGRESSION_PATHS, tolerance=1e-3)
    print(f"\nruns/logit.toml at {opts} (ξ = 5 and ε bind)")
    own = {k: getattr(logit_regression, k) for k in ("_aitken", "drift_derivative")}
    first = None
    for name, patch in (
        ("Aitken-relaxed Picard, exact ∂f/∂Y", {}),
        ("baseline: plain Picard (ω = 1)", {"_aitken": lambda omega, *_: 1.0}),
        ("baseline: finite-difference ∂f/∂Y", {"drift_derivative": drift_jacobian}),
    ):
        for attr, value in {**own, **patch}.items():
            setattr(logit_regression, attr, value)
        t0 = time.perf_counter()
        try:
            sol = game.solve(**opts)
            d, values = sol.diagnostics, sol.value.to_numpy()
            first = values if first is None else first
            moved = float(np.max(np.abs(values - first)) / np.abs(first).max())
            outcome = (
                f"converged: {d['picard_iterations']} sweeps, fixed-point residual "
                f"{d['picard_residual']:.1e}, estimated error {d['estimated_error']:.1e}, "
                f"values {moved:.0e} relative to the first row's"
            )
        except LogitSolveError as exc:
            outcome = f"fails: {str(exc).split(': ', 1)[1]}"
        finally:
            for attr, value in own.items():
                setattr(logit_regression, attr, value)
        print(f"{name:<36} {time.perf_counter() - t0:>7.1f} s  {outcome}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="short stochastic rows")
    ap.add_argument("--no-stochastic", action="store_true", help="deterministic rows only")
    args = ap.parse_args()
    r = args.repeats
    LogitGame(**EXAMPLE).solve()  # warm-up (imports, BLAS controller)
    rows = []
    t, sol = best(lambda: LogitGame(**EXAMPLE).solve(), r)
    rows.append(("1 trader + 2 makers, collocation", t, 0.2, sol.diagnostics["estimated_error"]))
    switching = dict(EXAMPLE, min_rate=1.6)
    t_sw, sol_sw = best(lambda: LogitGame(**switching).solve(), r)
    t_sh, sol_sh = best(lambda: LogitGame(**switching).solve(method="shooting"), 1)
    diff = float(np.max(np.abs(sol_sw.value - sol_sh.value)) / np.abs(sol_sh.value).max())
    rows.append(("  + switching time (min_rate = 1.6), collocation", t_sw, 0.2, diff))
    rows.append(("  baseline: shooting (DOP853, event restarts)", t_sh, None, diff))
    t, sol = best(lambda: LogitGame(**LARGER).solve(), r)
    rows.append(("2 traders + 3 makers, collocation", t, 1.0, sol.diagnostics["estimated_error"]))
    shares = build_shares("logit", 2.0, (0.0, 0.1, 0.2), 3)
    y = np.random.default_rng(0).normal(0.0, 1.5, size=(10_000, 3))
    t, _ = best(lambda: shares.quotes(y, 1.0), r)
    rows.append(("quote map (44), 10^4 states x 3 makers", t, None, None))
    print(f"{'case':<52} {'time [s]':>10} {'target':>8} {'error':>10}")
    for name, t, target, err in rows:
        tg = f"< {target:g}" if target else ""
        er = f"{err:.1e}" if err is not None else ""
        print(f"{name:<52} {t:>10.4f} {tg:>8} {er:>10}")
    print("(shared 2-core machine: figures are noisy; best of", r, "runs)")
    if not args.no_stochastic:
        stochastic_rows(args.quick)
        played_rows()


if __name__ == "__main__":
    main()
