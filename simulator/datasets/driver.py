"""``generate_dataset``: a scenario's order-flow dataset, block by block, on a Dask cluster.

Tasks are blocks of ``block_paths`` paths. Each task simulates its block with the model's
recorder (:class:`~simulator.model.Recorder` keyed to the block), builds the tables as Arrow
columns a few paths at a time and streams them straight into its partitions
(:mod:`simulator.datasets.partitions`); the driver only sees row counts. A block is a pure function
of (scenario, seed, its paths), so the files are byte-identical for any number of workers, and
the rows (read back sorted by path and step) are identical for any block size.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.base import Policy
from simulator import outputs
from simulator.datasets import partitions
from simulator.datasets.schema import SCHEMA_VERSION, SCHEMAS
from simulator.datasets.tables import BUILDERS, BlockData
from simulator.distributed import open_client
from simulator.processes import BLOCK, NoiseRates
from simulator.progress import ProgressBar
from simulator.scenario import Scenario
from simulator.simulation import build_policies, simulate_paths

DEFAULT_BLOCK_PATHS = BLOCK
"""Paths per task and partition by default (the random-number block: no wasted draws)."""

CHUNK_PATHS = 32
"""Paths whose rows are built at once (one Parquet row group): bounds a worker's memory."""


@dataclass(frozen=True)
class DatasetSpec:
    """Everything a block task needs besides the policies (small, pickled once per task)."""

    scenario: Scenario
    seed: int
    paths: int
    block_paths: int
    out: str
    run_id: str
    names: tuple[str, ...]
    roles: tuple[str, ...]
    policies: tuple[str, ...]
    noise: bool
    lobster: bool
    tables: tuple[str, ...] = field(default=())

    @property
    def blocks(self) -> int:
        return math.ceil(self.paths / self.block_paths)

    def block_range(self, block: int) -> tuple[int, int]:
        start = block * self.block_paths
        return start, min(start + self.block_paths, self.paths)


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`generate_dataset` returns."""

    out: Path
    paths: int
    blocks: int
    skipped_blocks: int
    rows: dict[str, int]
    seconds: float


def simulate_block(spec: DatasetSpec, policies: list[Policy], block: int) -> BlockData:
    """Run the model on the block's paths, recording every path of it."""
    sc = spec.scenario
    start, stop = spec.block_range(block)
    rec = simulate_paths(sc, policies, spec.seed, start, stop, stop, spec.noise)
    return BlockData(
        sc, spec.seed, spec.run_id, start, stop, spec.names, spec.roles, spec.policies, rec
    )


def write_block(job: tuple[DatasetSpec, list[Policy]], block: int) -> dict[str, Any]:
    """The block task: simulate, write every table's partition, then the manifest entry."""
    spec, policies = job
    data = simulate_block(spec, policies, block)
    root = Path(spec.out)
    n = data.stop - data.start
    rows = {}
    for table in spec.tables:
        build = BUILDERS[table]
        chunks = (build(data, lo, min(lo + CHUNK_PATHS, n)) for lo in range(0, n, CHUNK_PATHS))
        target = partitions.partition_file(root, table, block)
        rows[table] = partitions.write_parquet(target, SCHEMAS[table], chunks)
    if spec.lobster:
        from simulator.datasets.lobster import write_lobster

        write_lobster(data, root)
    entry = {"block": block, "paths": [data.start, data.stop], "rows": rows}
    partitions.write_manifest(root, block, entry)
    return entry


def dataset_metadata(spec: DatasetSpec) -> dict[str, Any]:
    """Content of ``metadata.json`` (no timestamps: byte-identical for equal inputs)."""
    from simulator.runner import package_version, resolved_scenario

    sc = spec.scenario
    return {
        "schema_version": SCHEMA_VERSION,
        "marketgame_version": package_version(),
        "run_id": spec.run_id,
        "scenario": resolved_scenario(sc),
        "seed": spec.seed,
        "paths": spec.paths,
        "block_paths": spec.block_paths,
        "blocks": spec.blocks,
        "steps": sc.steps,
        "dt": sc.dt,
        "flow": sc.flow,
        "agents": [
            {"name": n, "role": r, "policy": p}
            for n, r, p in zip(spec.names, spec.roles, spec.policies, strict=True)
        ],
        "tables": list(spec.tables),
        "lobster": spec.lobster,
    }


def _run_id(scenario: Scenario, seed: int) -> str:
    from simulator.runner import resolved_scenario

    text = json.dumps(
        outputs._jsonable({"scenario": resolved_scenario(scenario), "seed": seed}), sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} = {value!r} must be a whole number >= 1")
    return value


def prepare(
    scenario: Scenario,
    paths: int,
    out: str | os.PathLike[str],
    seed: int | None = None,
    block_paths: int = DEFAULT_BLOCK_PATHS,
    lobster: bool = False,
) -> tuple[DatasetSpec, list[Policy]]:
    """Validate the arguments and build the policies (solved once, on the driver)."""
    paths = _positive("paths", paths)
    block_paths = _positive("block_paths", block_paths)
    seed = scenario.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed = {seed!r} must be a whole number >= 0")
    if lobster:
        from simulator.datasets.lobster import check_lobster

        check_lobster(scenario)
    policies = build_policies(scenario)
    noise = NoiseRates(scenario.noise, 1, scenario.steps, scenario.dt).active
    names = tuple(a.name for a in scenario.agents) + (("noise",) if noise else ())
    roles = tuple(a.role for a in scenario.agents) + (("noise",) if noise else ())
    labels = tuple(
        getattr(p, "name", a.policy) for p, a in zip(policies, scenario.agents, strict=True)
    ) + (("noise",) if noise else ())
    tables = tuple(t for t in SCHEMAS if t != "quotes" or scenario.market.has_quotes)
    spec = DatasetSpec(
        scenario=scenario,
        seed=seed,
        paths=paths,
        block_paths=min(block_paths, paths),
        out=str(Path(out).resolve()),
        run_id=_run_id(scenario, seed),
        names=names,
        roles=roles,
        policies=labels,
        noise=noise,
        lobster=lobster,
        tables=tables,
    )
    return spec, policies


def _open_folder(spec: DatasetSpec) -> dict[int, dict]:
    """Create or reopen the dataset folder; the manifest of blocks already done."""
    root = Path(spec.out)
    meta = dataset_metadata(spec)
    target = root / partitions.METADATA
    if target.exists():
        try:
            old = json.loads(target.read_text())
        except (OSError, ValueError):
            old = None
        if old != json.loads(json.dumps(outputs._jsonable(meta))):
            raise ValueError(
                f"out = {str(root)!r} holds another dataset (its metadata.json differs: other "
                "scenario, seed, paths, block size or options); choose a new folder or delete it"
            )
    elif root.exists() and any(root.iterdir()):
        raise ValueError(
            f"out = {str(root)!r} exists and is not a dataset folder; choose a new or empty folder"
        )
    else:
        outputs.write_json(target, meta)
    partitions.remove_temporaries(root)
    return partitions.finished_blocks(root)


def generate_dataset(
    scenario: Scenario,
    paths: int,
    out: str | os.PathLike[str],
    *,
    seed: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    block_paths: int = DEFAULT_BLOCK_PATHS,
    lobster: bool = False,
    progress: bool = True,
) -> DatasetSummary:
    """Write the dataset of ``paths`` paths of ``scenario`` into the folder ``out``.

    ``workers``: processes of a new loopback Dask cluster (default: the cores); ``scheduler``: the
    address of an existing cluster instead (its workers must see ``out``). ``block_paths``: paths
    per task and partition. ``lobster``: also write LOBSTER message and order-book files per path.
    A rerun into the same folder resumes: finished blocks are skipped. Bad arguments raise
    ``ValueError`` naming the argument.
    """
    t0 = time.monotonic()
    spec, policies = prepare(scenario, paths, out, seed, block_paths, lobster)
    done = _open_folder(spec)
    todo = [b for b in range(spec.blocks) if b not in done]
    if todo:
        _run_blocks(spec, policies, todo, workers, scheduler, progress)
    finished = partitions.finished_blocks(Path(spec.out))
    rows = {t: sum(e["rows"].get(t, 0) for e in finished.values()) for t in spec.tables}
    return DatasetSummary(
        out=Path(spec.out),
        paths=spec.paths,
        blocks=spec.blocks,
        skipped_blocks=spec.blocks - len(todo),
        rows=rows,
        seconds=time.monotonic() - t0,
    )


def _run_blocks(
    spec: DatasetSpec,
    policies: list[Policy],
    todo: list[int],
    workers: int | None,
    scheduler: str | None,
    progress: bool,
) -> None:
    from distributed import as_completed

    total = sum(b - a for a, b in map(spec.block_range, todo))  # this run's paths
    paths_done = 0
    with (
        open_client(workers=workers, scheduler=scheduler) as client,
        ProgressBar(total, f"{spec.scenario.name}: paths", enabled=progress) as bar,
    ):
        [job] = client.scatter([(spec, policies)], broadcast=True, hash=False)
        futures = client.map(write_block, [job] * len(todo), todo, pure=False)
        bar.update(paths_done)
        start, rows = time.monotonic(), 0
        for future in as_completed(futures):
            entry = future.result()
            rows += entry["rows"].get("events", 0)
            paths_done += entry["paths"][1] - entry["paths"][0]
            rate = rows / max(time.monotonic() - start, 1e-9)
            bar.note = f"{rate:,.0f} event rows/s"
            bar.update(paths_done)
