"""Benchmark: §5 logit game, deterministic equilibrium (Guo & Jin (40)–(44), ε = 0).

Rows (best of ``--repeats``, measured in the same run; the machine is shared, timings are noisy):

* 1 trader + 2 makers (the issue's example), collocation — target < 0.2 s — and the same game
  with a truncation that starts binding inside the horizon (min_rate = 1.6: a switching time);
* 2 traders + 3 makers (a buyer and a seller, a two-piece noise profile) — target < 1 s;
* baseline in the same run: shooting (DOP853 with event restarts, variational Newton) on the
  switching example, the independent method the tests compare against;
* the logit quote map alone: 10⁴ adjoint vectors (3 makers, ξ = 1), one vectorised call.

The error column is the largest value difference to the shooting solve (switching example) or
the solver's own estimate (trailing Chebyshev coefficients).

Run: ``/work/venv/bin/python benchmarks/bench_logit.py [--repeats 3]``.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
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


if __name__ == "__main__":
    main()
