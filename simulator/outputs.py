"""Atomic, byte-reproducible writers for run outputs.

Every writer renders the whole file in memory, writes it to a temporary file *in the destination
directory*, ``fsync``s it and moves it over the target with :func:`os.replace` (atomic on POSIX
and Windows), then ``fsync``s the directory. A reader therefore sees either the old file or the
new one, never a torn write, and a crash leaves no half-written output under the final name.

The renderings are deterministic, so the same data give the same bytes:

* CSV: fixed column order, ``\\n`` line ends, floats with a fixed ``%.10g`` format;
* JSON: sorted keys, fixed indentation, non-finite floats written as ``null``;
* Parquet: an explicit Arrow schema, no pandas metadata, no statistics of creation time
  (Parquet files carry no timestamps; ``created_by`` names the pyarrow version only);
* PNG: matplotlib's Agg backend with the ``Software`` chunk removed (see :mod:`simulator.plots`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FLOAT_FORMAT = "%.10g"
"""printf-style format of every float written to CSV (10 significant digits)."""

_TMP_PREFIX = ".tmp-"


def _file_mode() -> int:
    """0o666 minus the process umask: what ``open(path, "w")`` would give (mkstemp gives 0o600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, replace)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX + target.name + ".", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` atomically, with ``\\n`` line ends whatever the platform."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON with sorted keys; numpy scalars/arrays and tuples become plain JSON."""
    text = json.dumps(_jsonable(obj), sort_keys=True, indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def render_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render rows as CSV text: floats with :data:`FLOAT_FORMAT`, strings quoted only if needed."""
    lines = [",".join(_csv_cell(c) for c in columns)]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"CSV row has {len(row)} cells, header has {len(columns)}")
        lines.append(",".join(_csv_cell(v) for v in row))
    return "\n".join(lines) + "\n"


def write_csv(
    path: str | os.PathLike[str], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Path:
    """Write a CSV file atomically (see :func:`render_csv`)."""
    return atomic_write_text(path, render_csv(columns, rows))


def write_parquet(
    path: str | os.PathLike[str], columns: Mapping[str, np.ndarray], schema: pa.Schema
) -> Path:
    """Write column arrays as one Parquet file with an explicit ``schema``, atomically.

    ``columns`` must hold exactly the schema's fields. No pandas metadata is stored, and the
    compression (zstd) and row-group size are fixed, so equal inputs give equal bytes.
    """
    missing = [f.name for f in schema if f.name not in columns]
    extra = sorted(set(columns) - set(schema.names))
    if missing or extra:
        raise ValueError(
            f"Parquet columns do not match the schema: missing {missing}, extra {extra}"
        )
    arrays = [pa.array(np.asarray(columns[f.name]), type=f.type) for f in schema]
    table = pa.Table.from_arrays(arrays, schema=schema)
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=1 << 20,
        use_dictionary=True,
        write_statistics=True,
    )
    return atomic_write_bytes(path, sink.getvalue())


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return FLOAT_FORMAT % value
    if value is None:
        return ""
    text = str(value)
    if any(ch in text for ch in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def _jsonable(obj: Any) -> Any:
    """Convert numpy types, tuples, paths and non-finite floats into JSON-native values."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} value {obj!r} to JSON")
