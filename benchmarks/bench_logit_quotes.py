"""Benchmark: the §5 logit quote map ψ(y) of (43)–(44) (:meth:`LogitShares.quotes`).

The played equilibrium feedback evaluates ψ at every step on every path, so the quote map must
be cheap also where the ±ξ truncation binds with |y| ≫ ξ (off the equilibrium path). Rows:
800 adjoint vectors per call, ς = 2, for

* untruncated quotes (ξ = ∞, y ~ N(0, 1));
* a mild truncation (ξ = 1, y ~ N(0, 1));
* the truncation binding far from the quotes (ξ = 1, y ~ N(0, 20): |y| ≫ ξ);

with 2 makers (offsets 0, 0.2) and 3 twins. Baseline in the same run: the quote map of commit
``--baseline`` (default 81c8461, before the safeguarded μ-Newton), loaded from git; the column
``max |Δδ|`` is the largest difference of the two maps' quotes (round-off).

Timings: best of ``--repeats`` interleaved rounds of 20 calls after an untimed warm-up.
Run: ``/work/venv/bin/python benchmarks/bench_logit_quotes.py [--repeats 5] [--baseline REV]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from policies.equilibrium.logit_quotes import LogitShares  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULE = "policies/equilibrium/logit_quotes.py"


def baseline_module(rev: str):
    """The quote-map module as of git revision ``rev`` (imported from a temporary file)."""
    try:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{MODULE}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"--baseline {rev}: cannot read {MODULE} from git ({exc})") from None
    path = pathlib.Path(tempfile.mkdtemp()) / "logit_quotes_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("logit_quotes_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def best_time(fn, repeats: int, calls: int = 20) -> float:
    """Best mean time per call (ms) over ``repeats`` rounds of ``calls`` calls."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return 1e3 * best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", default="81c8461", help="git revision of the old quote map")
    args = ap.parse_args()
    old = baseline_module(args.baseline)
    rng = np.random.default_rng(0)
    print(f"logit quote map ψ(y), 800 points per call; baseline: {MODULE} at {args.baseline}")
    print(f"{'case':<44} {'baseline ms':>11} {'now ms':>8} {'speed-up':>9} {'max |Δδ|':>9}")
    for offsets in ((0.0, 0.2), (0.0, 0.0, 0.0)):
        n = len(offsets)
        new = LogitShares(2.0, np.array(offsets))
        ref = old.LogitShares(2.0, np.array(offsets))
        for label, scale, xi in (
            ("untruncated (ξ = ∞, |y| ~ 1)", 1.0, np.inf),
            ("mild truncation (ξ = 1, |y| ~ 1)", 1.0, 1.0),
            ("truncation far off (ξ = 1, |y| ~ 20)", 20.0, 1.0),
        ):
            y = rng.normal(0.0, scale, size=(800, n))
            a, b = ref.quotes(y, xi), new.quotes(y, xi)  # warm-up, and the agreement
            diff = float(np.max(np.abs(a.delta - b.delta)))
            t_old = t_new = np.inf
            for _ in range(args.repeats):  # interleaved rounds
                t_old = min(t_old, best_time(lambda r=ref, y=y, x=xi: r.quotes(y, x), 1))
                t_new = min(t_new, best_time(lambda r=new, y=y, x=xi: r.quotes(y, x), 1))
            print(
                f"{n} makers, {label:<35} {t_old:>11.2f} {t_new:>8.2f} "
                f"{t_old / t_new:>8.1f}x {diff:>9.1e}"
            )


if __name__ == "__main__":
    main()
