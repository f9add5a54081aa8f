"""``sweep`` on Dask: the same grid of ≥ 20 comparisons on 1 and on 2 local workers.

Each point is a full ``compare`` of the §4 ACAS example (every profile, the Nash gap and the
best responses) on a coarser grid. Both runs use the same base seed, so their tables must be
identical whatever the scheduling; the script checks it and prints the wall times (cluster
start-up included) and the speed-up. On the shared 2-core machine the figures are noisy.

Run: ``python benchmarks/bench_sweep.py [--steps 50] [--paths 200]`` (from the repository root).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simulator.compare.sweep import load_data, set_key, sweep

GRID = ["market.intensity_decay=1:3:5", "traders.buyer.terminal_penalty=2:8:4"]  # 20 points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--paths", type=int, default=200)
    args = parser.parse_args()
    data = set_key(
        load_data(Path(__file__).resolve().parents[1] / "runs" / "acas.toml"), "steps", args.steps
    )
    rows = []
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            result = sweep(
                data, GRID, paths=args.paths, out=Path(tmp) / f"w{workers}", workers=workers
            )
            wall = time.perf_counter() - t0
            points = result.computed + result.resumed
            rows.append((workers, points, wall))
            tables.append((Path(tmp) / f"w{workers}" / "table.csv").read_bytes())
    same = tables[0] == tables[1]
    print(f"sweep of the ACAS comparison: {args.steps} steps, {args.paths} paths per point")
    print(f"{'workers':>7}  {'points':>6}  {'wall s':>7}  {'s/point':>7}  {'speed-up':>8}")
    for workers, points, wall in rows:
        print(
            f"{workers:>7}  {points:>6}  {wall:7.1f}  {wall / points:7.2f}  "
            f"{rows[0][2] / wall:8.2f}"
        )
    print(f"tables identical on 1 and 2 workers: {same}")
    if not same:
        raise SystemExit("the sweep's table depends on the number of workers")


if __name__ == "__main__":
    main()
