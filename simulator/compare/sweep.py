"""``marketgame sweep``: the comparison at every point of a grid of scenario parameters.

A grid axis is ``KEY=START:STOP:COUNT`` (``COUNT`` evenly spaced values, integers when START and
STOP are written as integers) or ``KEY=V1,V2,…`` (numbers or words, e.g. policy names). ``KEY``
is a dotted path into the scenario's TOML tables: ``market.intensity_decay``, ``noise.buy_rate``,
``traders[0].terminal_penalty`` or ``makers.maker_a.running_penalty`` (an agent by name). Axes
combine as a cartesian product, or element by element with ``zipped=True`` (equal lengths).
Every point's scenario is validated before anything runs, and an error names the key, the point
and what the scenario allows.

Each point is one task on Dask (:func:`simulator.distributed.open_client`: a loopback
LocalCluster by default, an existing cluster by ``scheduler`` address); its seed is derived from
the base seed and its coordinates only, so results do not depend on which worker ran which point
or in what order. Finished points are kept in ``OUT.partial/`` as they arrive, so an
interrupted sweep resumes where it stopped; at the end the folder ``OUT`` is written atomically
(:func:`simulator.outputs.atomic_output_dir`: ``table.parquet``, ``table.csv``, plots,
``summary.json``) and the partial folder removed.

The table is tidy: one row per (point, table, profile, agent, metric) with ``value`` and
``ci95`` (empty where no interval applies), the coordinates as columns. The summary metrics are
``equilibrium_advantage`` (per agent written with a heuristic h: J when it plays the equilibrium
minus J when it plays h, the others at the equilibrium; paired) and ``regret`` (the Nash gap of
the profile as written).
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from policies.catalog import check_policy_names
from simulator import outputs
from simulator.compare.core import ComparisonResult, compare
from simulator.compare.report import beside, write_csv_table
from simulator.scenario import Scenario, read_scenario_file

Value = int | float | str


@dataclass(frozen=True)
class Axis:
    """One grid axis: a scenario key and its values."""

    key: str
    values: tuple[Value, ...]


def _number(text: str) -> Value:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_axis(spec: str) -> Axis:
    """``KEY=START:STOP:COUNT`` or ``KEY=V1,V2,…`` (module docstring) as an :class:`Axis`."""
    key, sep, rest = spec.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise ValueError(f"--grid {spec!r}: expected KEY=START:STOP:COUNT or KEY=V1,V2,...")
    if ":" in rest:
        parts = rest.split(":")
        if len(parts) != 3:
            raise ValueError(f"--grid {spec!r}: a range is START:STOP:COUNT (three numbers)")
        start, stop, count = (_number(p) for p in parts)
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"--grid {spec!r}: COUNT = {parts[2]!r} must be an integer >= 1")
        if not all(isinstance(v, int | float) for v in (start, stop)):
            raise ValueError(f"--grid {spec!r}: START and STOP must be numbers")
        values = np.linspace(float(start), float(stop), count)
        if isinstance(start, int) and isinstance(stop, int) and np.all(values == np.round(values)):
            return Axis(key, tuple(int(v) for v in values))
        return Axis(key, tuple(float(v) for v in values))
    values = tuple(_number(v) for v in rest.split(","))
    if any(v == "" for v in values):
        raise ValueError(f"--grid {spec!r}: an empty value in the list")
    return Axis(key, values)


def grid_points(axes: Sequence[Axis], zipped: bool = False) -> list[dict[str, Value]]:
    """The points of the grid: the cartesian product of the axes, or their zip."""
    if not axes:
        raise ValueError("a sweep needs at least one --grid axis")
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"--grid keys {keys} repeat a key; each key may appear once")
    if zipped:
        lengths = {a.key: len(a.values) for a in axes}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"zipped grids need axes of equal length; got {lengths}")
        combos = zip(*(a.values for a in axes), strict=True)
    else:
        combos = itertools.product(*(a.values for a in axes))
    return [dict(zip(keys, c, strict=True)) for c in combos]


_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def set_key(data: Mapping[str, Any], key: str, value: Value) -> dict[str, Any]:
    """A deep copy of the TOML mapping ``data`` with ``key`` (module docstring) set."""
    out = copy.deepcopy(dict(data))
    node: Any = out
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        m = _SEGMENT.match(part)
        if m is None:
            raise ValueError(f"--grid key {key!r}: {part!r} is not a key or key[index]")
        name, index = m.group(1), m.group(2)
        if isinstance(node, list):  # an agent list addressed by name
            found = [e for e in node if isinstance(e, dict) and e.get("name") == name]
            if not found or index is not None:
                names = [e.get("name") for e in node if isinstance(e, dict)]
                raise ValueError(f"--grid key {key!r}: no agent named {name!r}; agents: {names}")
            node = found[0]
            if last:
                raise ValueError(f"--grid key {key!r}: name a field of agent {name!r}")
            continue
        if not isinstance(node, dict):
            raise ValueError(f"--grid key {key!r}: {'.'.join(parts[:depth])!r} is not a table")
        if index is not None:
            items = node.get(name)
            if not isinstance(items, list) or int(index) >= len(items):
                size = len(items) if isinstance(items, list) else 0
                raise ValueError(
                    f"--grid key {key!r}: {name}[{index}] does not exist ({size} entries)"
                )
            if last:
                items[int(index)] = value
            else:
                node = items[int(index)]
        elif last:
            node[name] = value
        else:
            node = node.setdefault(name, {})
    return out


def point_scenario(data: Mapping[str, Any], point: Mapping[str, Value]) -> Scenario:
    """The validated scenario of one grid point."""
    for key, value in point.items():
        data = set_key(data, key, value)
    try:
        scenario = Scenario.from_dict(data)
        check_policy_names(scenario)
        return scenario
    except ValueError as exc:
        where = ", ".join(f"{k} = {v!r}" for k, v in point.items())
        raise ValueError(f"grid point ({where}): {exc}") from None


def point_seed(base_seed: int, point: Mapping[str, Value]) -> int:
    """A seed in [0, 2⁶²) from the base seed and the point's coordinates only."""
    text = json.dumps([int(base_seed), sorted(point.items())], sort_keys=True)
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) >> 2


def point_id(point: Mapping[str, Value]) -> str:
    """A file-name-safe identity of a point (a hash of its coordinates)."""
    return hashlib.sha256(json.dumps(sorted(point.items())).encode()).hexdigest()[:16]


SWEEP_FILES = ("table.parquet", "table.csv", "*.png", "summary.json")
"""What a sweep folder holds (an existing folder with other files is refused, not replaced)."""

TIDY_COLUMNS = ["table", "profile", "agent", "metric", "value", "ci95"]


def tidy(result: ComparisonResult) -> pd.DataFrame:
    """Every metric of a comparison in long form (``TIDY_COLUMNS``), plus the summary rows."""
    rows: list[tuple] = []
    for r in result.payoffs.itertuples(index=False):
        rows.append(("payoffs", r.profile, r.agent, "J", r.mean, r.ci95))
        rows.append(("payoffs", r.profile, r.agent, "J_diff", r.diff, r.diff_ci95))
    for r in result.regret.itertuples(index=False):
        rows.append(("regret", "as written", r.agent, "nash_gap", r.nash_gap, math.nan))
        rows.append(("regret", "as written", r.agent, "mc_gain", r.mc_gain, r.mc_gain_ci95))
        rows.append(("regret", "equilibrium", r.agent, "nash_gap", r.equilibrium_gap, math.nan))
    for name in ("traders", "makers"):
        table = getattr(result, name)
        for rec in table.to_dict("records"):
            for metric, value in rec.items():
                if metric in ("profile", "agent", "policy") or metric.endswith("_ci95"):
                    continue
                ci = rec.get(f"{metric}_ci95", math.nan)
                rows.append((name, rec["profile"], rec["agent"], metric, value, ci))
    for rec in result.market.to_dict("records"):
        for metric, value in rec.items():
            if metric == "profile" or metric.endswith("_ci95"):
                continue
            ci = rec.get(f"{metric}_ci95", math.nan)
            rows.append(("market", rec["profile"], "", metric, value, ci))
    rows += [("summary", *row) for row in _summary(result)]
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def _summary(result: ComparisonResult) -> list[tuple]:
    """(profile, agent, metric, value, ci95): equilibrium advantage and regret per agent."""
    out = []
    pay = result.payoffs.set_index(["profile", "agent"])
    for a in result.scenario.agents:
        key = (f"{a.name}: {a.policy}", a.name)
        if result.baseline == "equilibrium" and key in pay.index:
            row = pay.loc[key]
            out.append((key[0], a.name, "equilibrium_advantage", -row["diff"], row["diff_ci95"]))
    for r in result.regret.itertuples(index=False):
        out.append(("as written", r.agent, "regret", r.nash_gap, math.nan))
    return out


def run_point(
    data: Mapping[str, Any], point: Mapping[str, Value], seed: int, paths: int | None
) -> pd.DataFrame:
    """One task: the comparison at ``point`` as a tidy table (a pure function of its inputs)."""
    from threadpoolctl import threadpool_limits

    scenario = point_scenario(data, point)
    with threadpool_limits(1):
        result = compare(scenario, paths=paths, seed=seed)
    table = tidy(result)
    for i, (key, value) in enumerate(point.items()):
        table.insert(i, key, [value] * len(table))
    table.insert(len(point), "seed", seed)
    return table


@dataclass
class SweepResult:
    """What :func:`sweep` returns: the tidy table, the files, and how many points were
    computed now and how many were taken from an interrupted earlier run."""

    table: pd.DataFrame
    files: dict[str, Path]
    computed: int
    resumed: int


def load_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw TOML mapping of a scenario file (validated as a scenario)."""
    data = read_scenario_file(path)
    Scenario.from_dict(data)
    return data


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _manifest(data: Mapping[str, Any], points: list[dict], seed: int, paths: int | None) -> dict:
    return {"scenario": data, "points": points, "seed": seed, "paths": paths}


def run_points(
    data: Mapping[str, Any],
    points: list[dict[str, Value]],
    out: str | os.PathLike[str],
    *,
    seed: int,
    paths: int | None,
    client: Any,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Run the points that ``OUT.partial/`` does not hold yet on the Dask ``client``, keeping each
    one as it finishes; returns (computed, resumed)."""
    from distributed import as_completed

    partial = _partial(Path(out))
    manifest = json.loads(json.dumps(_manifest(data, points, seed, paths), default=str))
    mpath = partial / "sweep.json"
    if mpath.exists():
        if json.loads(mpath.read_text()) != manifest:
            raise ValueError(
                f"{partial} holds an interrupted sweep of other points, seed, paths or "
                "scenario; remove it or choose another output folder"
            )
    else:
        outputs.write_json(mpath, manifest)
    todo = [p for p in points if not (partial / f"{point_id(p)}.parquet").exists()]
    resumed = len(points) - len(todo)
    if progress is not None:
        progress(resumed, len(points))
    futures = {
        client.submit(run_point, data, p, point_seed(seed, p), paths, pure=False): p for p in todo
    }
    done = resumed
    for future in as_completed(futures):
        table = future.result()
        _write_parquet(partial / f"{point_id(futures[future])}.parquet", table)
        done += 1
        if progress is not None:
            progress(done, len(points))
    return len(todo), resumed


def _write_parquet(path: Path, table: pd.DataFrame) -> Path:
    arrow = pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(None)
    sink = io.BytesIO()
    pq.write_table(arrow, sink, compression="zstd")
    return outputs.atomic_write_bytes(path, sink.getvalue())


def sweep(
    scenario: str | os.PathLike[str] | Mapping[str, Any],
    grids: Sequence[str | Axis],
    *,
    zipped: bool = False,
    paths: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    plots: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Compare at every grid point (module docstring) and write the sweep folder ``out``.

    ``scenario``: a TOML path or its raw mapping. ``paths`` / ``seed``: per point (defaults:
    the scenario's). The points run on ``client`` if given, else on
    ``open_client(workers, scheduler)``.
    """
    from simulator.distributed import open_client

    if isinstance(scenario, Mapping):
        data = dict(scenario)
        Scenario.from_dict(data)
        if out is None:
            raise ValueError("out is required when the scenario is given as a mapping")
    else:
        data = load_data(scenario)
        out = beside(scenario, "sweep") if out is None else out
    out = Path(out)
    axes = [g if isinstance(g, Axis) else parse_axis(g) for g in grids]
    points = grid_points(axes, zipped)
    for p in points:  # validate every point before anything runs
        point_scenario(data, p)
    base = Scenario.from_dict(data)
    seed = base.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed = {seed!r} must be an integer >= 0")
    if paths is not None and (isinstance(paths, bool) or not isinstance(paths, int) or paths < 2):
        raise ValueError(f"paths = {paths!r} must be an integer >= 2")
    if client is None:
        with open_client(workers, scheduler) as own:
            computed, resumed = run_points(
                data, points, out, seed=seed, paths=paths, client=own, progress=progress
            )
    else:
        computed, resumed = run_points(
            data, points, out, seed=seed, paths=paths, client=client, progress=progress
        )
    partial = _partial(out)
    table = pd.concat(
        [pd.read_parquet(partial / f"{point_id(p)}.parquet") for p in points], ignore_index=True
    )
    files = _write_sweep(out, table, axes, zipped, seed, plots)
    shutil.rmtree(partial, ignore_errors=True)
    return SweepResult(table, files, computed, resumed)


def _write_sweep(
    out: Path, table: pd.DataFrame, axes: list[Axis], zipped: bool, seed: int, plots: bool
) -> dict[str, Path]:
    from simulator.compare.sweep_plots import render_sweep_figures
    from simulator.runner import package_version

    names = ["table.parquet", "table.csv", "summary.json"]
    with outputs.atomic_output_dir(out, owned=SWEEP_FILES) as tmp:
        _write_parquet(tmp / "table.parquet", table)
        write_csv_table(tmp / "table.csv", table)
        if plots:
            for name, png in render_sweep_figures(table, [a.key for a in axes], zipped).items():
                outputs.atomic_write_bytes(tmp / name, png)
                names.append(name)
        outputs.write_json(
            tmp / "summary.json",
            {
                "grid": {a.key: list(a.values) for a in axes},
                "zipped": zipped,
                "seed": seed,
                "points": int(table[[a.key for a in axes]].drop_duplicates().shape[0]),
                "files": sorted(names),
                "marketgame_version": package_version(),
            },
        )
    return {name: out / name for name in sorted(names)}
