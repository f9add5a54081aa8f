"""Reading a dataset back: :func:`open_dataset` (a pyarrow dataset of the finished blocks) and
:func:`describe` (the summary printed by ``marketgame dataset --describe DIR``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from simulator.datasets import partitions
from simulator.datasets.schema import SCHEMAS


class Dataset:
    """One table of a dataset folder: ``.arrow`` is the :class:`pyarrow.dataset.Dataset` over
    the finished partitions (hive column ``block``); ``to_table`` / ``to_pandas`` read it with
    optional ``columns`` and ``filter`` (a pyarrow expression, e.g. ``ds.field("path") < 10``),
    in path order. Other attributes are those of the pyarrow dataset (``count_rows``, ...)."""

    def __init__(self, arrow: ds.Dataset, table: str) -> None:
        self.arrow = arrow
        self.table = table

    def to_table(
        self, columns: list[str] | None = None, filter: ds.Expression | None = None
    ) -> pa.Table:
        return self.arrow.to_table(columns=columns, filter=filter)

    def to_pandas(
        self, columns: list[str] | None = None, filter: ds.Expression | None = None
    ) -> pd.DataFrame:
        return self.to_table(columns, filter).to_pandas()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.arrow, name)


def read_metadata(root: str | os.PathLike[str]) -> dict[str, Any]:
    """``metadata.json`` of a dataset folder (``ValueError`` if it is not one)."""
    path = Path(root) / partitions.METADATA
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"{str(root)!r} is not a dataset folder (no {partitions.METADATA})"
        ) from None


def open_dataset(root: str | os.PathLike[str], table: str = "events") -> Dataset:
    """The table ``table`` of the dataset folder ``root``, over its finished blocks only."""
    root = Path(root)
    meta = read_metadata(root)
    if table not in meta["tables"]:
        raise ValueError(f"table = {table!r}: this dataset has {', '.join(meta['tables'])}")
    blocks = partitions.finished_blocks(root)
    files = [str(partitions.partition_file(root, table, b)) for b in blocks]
    hive = ds.partitioning(pa.schema([("block", pa.int32())]), flavor="hive")
    arrow = ds.dataset(
        files,
        schema=SCHEMAS[table].append(pa.field("block", pa.int32())),
        format="parquet",
        partitioning=hive,
        partition_base_dir=str(root / table),
    )
    return Dataset(arrow, table)


def describe(root: str | os.PathLike[str]) -> str:
    """A short text summary: scenario, seed, paths and blocks done, rows and bytes per table."""
    root = Path(root)
    meta = read_metadata(root)
    done = partitions.finished_blocks(root)
    paths_done = sum(e["paths"][1] - e["paths"][0] for e in done.values())
    sc = meta["scenario"]
    lines = [
        f"{root}: dataset of {sc['name']} ({sc['market']['kind']}, flow {meta['flow']}), "
        f"seed {meta['seed']}, run id {meta['run_id']}, schema {meta['schema_version']}",
        f"paths {paths_done}/{meta['paths']} in {len(done)}/{meta['blocks']} blocks of "
        f"{meta['block_paths']}, {meta['steps']} steps of dt = {meta['dt']:g}"
        + ("" if len(done) == meta["blocks"] else " (incomplete: rerun to resume)"),
        "agents: " + ", ".join(f"{a['name']} ({a['role']}, {a['policy']})" for a in meta["agents"]),
    ]
    for t in meta["tables"]:
        rows = sum(e["rows"].get(t, 0) for e in done.values())
        size = sum(partitions.partition_file(root, t, b).stat().st_size for b in done)
        lines.append(f"  {t:<9} {rows:>14,} rows {size / 1e6:>10.1f} MB")
    if meta.get("lobster"):
        lines.append(f"  lobster   message and orderbook files per path in {root / 'lobster'}")
    return "\n".join(lines)
