"""Run a scenario and write its outputs to a directory: :func:`run`.

``run("runs/acas.toml")`` simulates the scenario (``paths`` Monte Carlo paths, ``seed``) and writes
into ``runs/acas/`` (by default a folder beside the scenario file, named after it):

=================  ================================================================================
``payoffs.csv``    one row per agent: agent, role, policy, mean objective J, its standard error
                   (empty for a single path), paths (J = cash_T + P_T·Q_T − ∫φQ²dt − A·Q_T²,
                   the paper's objective)
``steps.parquet``  tidy per-step table for the first ``record_paths`` paths (default
                   :data:`DEFAULT_RECORD_PATHS`): one row per (agent, time, path); schema
                   :data:`STEPS_SCHEMA` (identical for every market; columns that do not apply are
                   null/NaN)
``*.png``          ``inventories.png``, ``actions.png`` (traders' rates, makers' half-spreads),
                   ``prices.png`` and ``pnl.png`` (distribution of J over all paths)
``summary.json``   the resolved scenario (every default filled in), seed, paths, recorded paths,
                   package version, payoffs and the list of files
=================  ================================================================================

The folder is written as a whole (:func:`simulator.outputs.atomic_output_dir`): the run writes
into a fresh sibling folder, under a lock on ``out``, and swaps it in at the end, so ``out`` holds
either the previous run's files or this run's, never a mix (no stale plots after ``plots=False``
either), and a failed or interrupted run leaves it as it was. The files are byte-identical for the
same scenario, seed and paths: they contain no timestamps and no absolute paths.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator import outputs
from simulator.plots import render_all
from simulator.progress import ProgressBar
from simulator.result import SimulationResult
from simulator.scenario import Scenario, load_scenario
from simulator.simulation import simulate, simulate_on_cluster

DEFAULT_RECORD_PATHS = 16
"""Paths whose full trajectories go to ``steps.parquet`` and the trajectory plots by default.
Payoffs and the P&L plot always use every path."""

OUTPUT_FILES = ("payoffs.csv", "steps.parquet", "summary.json", "*.png")
"""What a run writes (glob patterns): an existing output folder holding anything else is not
replaced (:func:`simulator.outputs.atomic_output_dir`)."""

PAYOFF_COLUMNS = ("agent", "role", "policy", "mean", "std_error", "paths")

MARKET_COLUMNS = (
    "market_price",
    "best_ask",
    "best_bid",
    "noise_factor",
    "noise_buy_rate",
    "noise_sell_rate",
)
"""Market-wide columns of ``steps.parquet``: S = P + I + ϖ (§2 only), the best half-spreads
min_j δʲ (§3–§5), the §5 factor L, and the noise traders' rates."""

STEPS_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int32(), nullable=False),
        pa.field("time", pa.float64(), nullable=False),
        pa.field("path", pa.int32(), nullable=False),
        pa.field("agent", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("policy", pa.string(), nullable=False),
        pa.field("inventory", pa.float64()),
        pa.field("cash", pa.float64()),
        pa.field("rate", pa.float64()),
        pa.field("ask_spread", pa.float64()),
        pa.field("bid_spread", pa.float64()),
        pa.field("buy_volume", pa.float64()),
        pa.field("sell_volume", pa.float64()),
        pa.field("reference_price", pa.float64()),
        *(pa.field(name, pa.float64()) for name in MARKET_COLUMNS),
    ]
)
"""Schema of ``steps.parquet``. Rows are ordered by agent (scenario order, noise last), then
time, then path. State columns (inventory, cash, prices, noise_factor) are values at ``time``
t_k; per-step columns (rate, spreads, volumes, best quotes, noise rates) are the values held on
[t_k, t_{k+1}) and are NaN in the last row t_n. ``rate`` is NaN for makers and noise traders,
``ask_spread`` / ``bid_spread`` are NaN for traders and noise traders."""


@dataclass(frozen=True)
class RunSummary:
    """What :func:`run` returns: where the outputs went, the payoff table, the in-memory result."""

    out: Path
    files: dict[str, Path]
    payoffs: pd.DataFrame
    scenario: Scenario
    seed: int
    paths: int
    recorded_paths: int
    result: SimulationResult


def default_out(scenario_or_path: Scenario | str | os.PathLike[str]) -> Path:
    """``runs/acas.toml`` → ``runs/acas/``; a :class:`Scenario` object → ``./<scenario.name>/``."""
    if isinstance(scenario_or_path, Scenario):
        return Path.cwd() / scenario_or_path.name
    path = Path(scenario_or_path)
    return path.with_suffix("") if path.suffix else path.with_name(path.name + "_out")


def run(
    scenario_or_path: Scenario | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    paths: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    record_paths: int = DEFAULT_RECORD_PATHS,
    plots: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
    block_paths: int | None = None,
) -> RunSummary:
    """Simulate a scenario (object or TOML path) and write its outputs into ``out``.

    ``paths`` / ``seed`` default to the scenario's. ``record_paths``: how many paths (the first
    ones) keep full trajectories for ``steps.parquet`` and the trajectory plots; the payoffs use
    all ``paths``. ``progress``: a progress bar on stderr (only drawn on a terminal).
    ``plots=False`` skips the PNG files (they dominate the run time of small scenarios).
    ``workers`` (a new loopback Dask cluster of that many processes) or ``scheduler`` (the
    address of an existing one) spread the paths over a cluster in tasks of ``block_paths``
    paths (:func:`simulator.simulation.simulate_on_cluster`); the files are byte-identical to
    the in-process run's for any worker count and block size.
    Invalid scenarios or arguments raise ``ValueError`` naming the field.
    """
    cluster = workers is not None or scheduler is not None
    if block_paths is not None and not cluster:
        raise ValueError(
            f"block_paths = {block_paths!r} applies to runs on a cluster; give workers or "
            "scheduler too"
        )
    if isinstance(record_paths, bool) or not isinstance(record_paths, int | np.integer):
        raise ValueError(f"record_paths = {record_paths!r} must be an integer >= 1")
    if record_paths < 1:
        raise ValueError(f"record_paths = {record_paths!r} must be an integer >= 1")
    if isinstance(scenario_or_path, Scenario):
        scenario = scenario_or_path
    else:
        scenario = load_scenario(scenario_or_path)
    if out is not None and not os.fspath(out).strip():
        raise ValueError(f"out = {os.fspath(out)!r} is empty; name an output directory")
    out_dir = Path(out) if out is not None else default_out(scenario_or_path)

    writes = 4  # progress units after the simulation: payoffs, steps, plots, summary
    with (
        outputs.atomic_output_dir(out_dir, owned=OUTPUT_FILES) as staging,
        ProgressBar(scenario.steps + writes, scenario.name, enabled=progress) as bar,
    ):

        def on_step(done: int, total: int) -> None:
            bar.total = total + writes
            bar.update(done)

        if cluster:
            result = simulate_on_cluster(
                scenario,
                paths,
                seed,
                record=int(record_paths),
                workers=workers,
                scheduler=scheduler,
                block_paths=block_paths,
                progress=on_step,
            )
        else:
            result = simulate(
                scenario, paths=paths, seed=seed, record=int(record_paths), progress=on_step
            )
        payoffs = result.payoffs()
        names = ["payoffs.csv", "steps.parquet"]
        outputs.write_csv(staging / "payoffs.csv", PAYOFF_COLUMNS, _payoff_rows(payoffs))
        bar.advance()
        outputs.write_parquet(staging / "steps.parquet", steps_columns(result), STEPS_SCHEMA)
        bar.advance()
        if plots:
            for name, png in render_all(result).items():
                outputs.atomic_write_bytes(staging / name, png)
                names.append(name)
        bar.advance()
        names.append("summary.json")
        outputs.write_json(staging / "summary.json", summary_dict(result, payoffs, sorted(names)))
        bar.advance()
    files = {name: out_dir / name for name in sorted(names)}
    return RunSummary(
        out=out_dir,
        files=files,
        payoffs=payoffs,
        scenario=scenario,
        seed=result.seed,
        paths=result.paths,
        recorded_paths=result.recorded_paths,
        result=result,
    )


def steps_columns(result: SimulationResult) -> dict[str, np.ndarray]:
    """The columns of ``steps.parquet`` (schema :data:`STEPS_SCHEMA`) for the recorded paths."""
    frame = result.to_columns()  # numpy columns, no pandas
    rows = frame["time"].size
    # t_k = k·dt exactly (the result's grid is arange(n + 1)·dt), so k = rint(t / dt)
    columns: dict[str, np.ndarray] = {
        "step": np.rint(frame["time"] / result.scenario.dt).astype(np.int32),
        "policy": np.repeat(
            np.array([a.policy for a in result.agents], dtype=object),
            rows // max(len(result.agents), 1),
        ),
    }
    for field in STEPS_SCHEMA:
        if field.name not in columns:
            columns[field.name] = frame.get(field.name, np.full(rows, np.nan))
    return columns


def resolved_scenario(scenario: Scenario) -> dict[str, Any]:
    """The scenario as the nested TOML layout, every default filled in (JSON-ready).

    Unset optional tables (``None``, e.g. no ``noise.factor``) are left out, as in a TOML file;
    callables (a user Λ or factor drift) are named ``"<callable module.qualname>"``. In
    ``summary.json`` infinite values (e.g. ``max_rate = inf``) appear as the string ``"inf"``.
    """
    return _plain(dataclasses.asdict(scenario))


def summary_dict(
    result: SimulationResult, payoffs: pd.DataFrame, files: list[str]
) -> dict[str, Any]:
    """Content of ``summary.json`` (no timestamps, no absolute paths: reproducible bytes)."""
    scenario = result.scenario
    return {
        "marketgame_version": package_version(),
        "scenario": resolved_scenario(scenario),
        "seed": result.seed,
        "paths": result.paths,
        "recorded_paths": result.recorded_paths,
        "dt": scenario.dt,
        "payoffs": [dict(zip(PAYOFF_COLUMNS, row, strict=True)) for row in _payoff_rows(payoffs)],
        "files": files,
    }


def package_version() -> str:
    """The installed ``marketgame`` version (``"unknown"`` when running from a bare checkout)."""
    try:
        return importlib.metadata.version("marketgame")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _payoff_rows(payoffs: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows of ``payoffs.csv``; a standard error from one path (undefined) is left empty."""
    return [
        (
            str(r.agent),
            str(r.role),
            str(r.policy),
            float(r.mean),
            float(r.std_error) if np.isfinite(r.std_error) else None,
            int(r.paths),
        )
        for r in payoffs.itertuples(index=False)
    ]


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, Callable):  # type: ignore[arg-type]
        name = getattr(obj, "__qualname__", type(obj).__qualname__)
        return f"<callable {getattr(obj, '__module__', '?')}.{name}>"
    return obj
