"""Benchmark: §2 execution-game solver, class-structured vs dense N×N (Guo & Jin Thm 2.7).

Prints one table, all rows measured in the same run (the machine is shared, timings are noisy):

* homogeneous population, N = 10⁶ (K = 1 class: 1 + 1 + 1 unknowns): build + solve + one
  feedback evaluation for all N traders (target < 1 s);
* K = 100 classes, N = 10⁶ (K + K² + K unknowns): same (target < 2 s);
* the same problems with the structured DOP853 integrator (reference for accuracy and speed);
* dense N×N Riccati integration (DOP853 on N² + N unknowns, O(N³) per evaluation) for N growing
  geometrically until the next size would exceed the 60 s budget, with the structured solver on
  the same N side by side.

Run: ``/work/venv/bin/python benchmarks/bench_execution.py`` in the default environment: the
solver itself limits BLAS to one thread around its small dense work
(:mod:`policies.equilibrium.blas`), so no ``OPENBLAS_NUM_THREADS`` is needed (or set here).
"""

from __future__ import annotations

import time

import numpy as np

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.execution import ExecutionGame

DENSE_BUDGET = 60.0
MARKET = dict(
    horizon=1.0,
    permanent_impact=0.3,
    temporary_impact=0.5,
    terminal_penalty=1.0,
    noise_buy_rate=0.1,
    noise_sell_rate=Profile((0.3, 0.1)),
)


def population(n: int, classes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    q0 = rng.normal(size=n)
    if classes == 1:
        phi = 0.2
    else:
        phi = np.linspace(0.1, 0.5, classes)[rng.integers(0, classes, n)]
    return dict(initial_inventory=q0, running_penalty=phi)


def run(n: int, classes: int, **solve_kw) -> dict:
    t0 = time.perf_counter()
    game = ExecutionGame(**MARKET, **population(n, classes))
    t1 = time.perf_counter()
    sol = game.solve(**solve_kw)
    t2 = time.perf_counter()
    v = sol.feedback(0.5, game.initial_inventory)
    t3 = time.perf_counter()
    assert v.shape == (n,) and np.all(np.isfinite(v))
    k = game.classes().count
    unknowns = n * n + n if sol.method == "dense" else 2 * k + k * k
    return dict(
        case=f"{sol.method}/{sol.integrator}",
        N=n,
        K=k,
        unknowns=unknowns,
        steps=sol.riccati_steps,
        build=t1 - t0,
        solve=t2 - t1,
        feedback=t3 - t2,
        total=t3 - t0,
        values=sol.values,
        rate=v,
    )


def row(r: dict, ref: dict | None = None) -> str:
    diff = "" if ref is None else f"{np.abs(r['values'] - ref['values']).max():10.2e}"
    return (
        f"{r['case']:24s} {r['N']:>9d} {r['K']:>5d} {r['unknowns']:>9d} {r['steps']:>6d} "
        f"{r['build']:8.3f} {r['solve']:8.3f} {r['feedback']:9.4f} {r['total']:8.3f} {diff}"
    )


def main() -> None:
    print("§2 execution game: solve + one feedback evaluation (seconds)")
    print(
        f"{'method/integrator':24s} {'N':>9s} {'K':>5s} {'unknowns':>9s} {'steps':>6s} "
        f"{'build':>8s} {'solve':>8s} {'feedback':>9s} {'total':>8s} {'max|ΔJ|':>10s}"
    )
    for classes, target in ((1, 1.0), (100, 2.0)):
        fast = run(10**6, classes)
        print(row(fast), f"  target < {target:g} s: {'ok' if fast['total'] < target else 'MISSED'}")
        slow = run(10**6, classes, integrator="dop853")
        print(row(slow, fast), "  (ΔJ: exponential vs DOP853)")
    print()
    print(
        f"dense N×N DOP853 vs structured on the same heterogeneous population (K = 3), budget "
        f"{DENSE_BUDGET:g} s for the dense probe; ΔJ: structured vs dense"
    )
    spent, size, last = 0.0, 4.0, None
    while True:
        n = int(round(size))
        if last is not None:
            # dense cost ~ N³ per evaluation × steps ~ √N: predict this size from the last one
            predicted = last["total"] * (n / last["N"]) ** 3.5
            if predicted > DENSE_BUDGET or spent + predicted > 2 * DENSE_BUDGET:
                print(
                    f"stop: dense N = {n} predicted {predicted:.1f} s ({spent:.1f} s spent); "
                    f"largest dense N solved: {last['N']} in {last['total']:.1f} s"
                )
                break
        dense = run(n, 3, method="dense")
        spent += dense["total"]
        structured = run(n, 3)
        print(row(dense))
        print(row(structured, dense))
        last, size = dense, size * 2**0.5


if __name__ == "__main__":
    main()
