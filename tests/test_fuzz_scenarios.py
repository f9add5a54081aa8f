"""Hostile scenario files: every example scenario, every field, every kind of bad value.

A mutated scenario must either be refused — exit status ≠ 0, one line on stderr, no
traceback, and (for invalid input, status 2) the line names the field — or run to completion
with every written number finite. Runs are small (8 paths, no plots) and bounded in count.
"""

from __future__ import annotations

import json
import math
import signal
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cli import EXIT_INVALID, EXIT_OK, main

RUNS = Path(__file__).resolve().parents[1] / "runs"
EXAMPLES = {p.stem: tomllib.loads(p.read_text()) for p in sorted(RUNS.glob("*.toml"))}
MUTATIONS = (
    "wrong type",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "zero",
    "negative",
    "unknown choice",
    "unknown key",
)
SECONDS = 60  # a run that takes longer than this is a hang: the test fails


def _leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every field path (table keys and list indices) of a parsed scenario."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in [path + (k,), *_leaves(v, path + (k,))]]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in [path + (i,), *_leaves(v, path + (i,))]]
    return []


FIELDS = [(name, path) for name, data in EXAMPLES.items() for path in _leaves(data)]


def _mutate(data: dict, path: tuple, how: str) -> tuple[dict, str]:
    """A deep copy of ``data`` with ``how`` applied at ``path``; returns it and the name the
    error must mention (the field's key, or the unknown key)."""
    data = json.loads(json.dumps(data))  # deep copy (scenario files hold no NaN)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    old = parent[key]
    name = next((str(k) for k in reversed(path) if isinstance(k, str)), "")
    if how == "unknown key":
        table = old if isinstance(old, dict) else parent if isinstance(parent, dict) else data
        table["no_such_key"] = 1.0
        return data, "no_such_key"
    if how == "wrong type":
        new: Any = 1.5 if isinstance(old, str) else {"x": 1} if isinstance(old, list) else "text"
    elif how == "unknown choice":
        new = "no_such_choice"
    elif how == "zero":
        new = 0 if isinstance(old, int) and not isinstance(old, bool) else 0.0
    elif how == "negative":
        new = -abs(old) if isinstance(old, int | float) and old else -1
    else:
        new = float(how)
    parent[key] = new
    return data, name


def _toml(value: Any) -> str:
    """A TOML value (inline tables and arrays; TOML spells nan, inf, -inf like Python)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _timeout(signum, frame):
    raise TimeoutError(f"a fuzzed run took more than {SECONDS} s")


def _check_outputs(out: Path) -> None:
    """Every number written by a completed run is finite."""
    for line in (out / "payoffs.csv").read_text().splitlines()[1:]:
        for cell in line.split(",")[3:]:
            assert math.isfinite(float(cell)), line
    summary = json.loads((out / "summary.json").read_text())
    for row in summary["payoffs"]:
        assert all(math.isfinite(row[k]) for k in ("mean", "std_error")), row
    table = pq.read_table(out / "steps.parquet").to_pandas()
    for column in ("time", "inventory", "cash", "reference_price"):
        assert np.isfinite(table[column].to_numpy()).all(), column
    last = table["step"] == table["step"].max()
    for role, column in (("trader", "rate"), ("maker", "ask_spread"), ("maker", "bid_spread")):
        values = table.loc[(table["role"] == role) & ~last, column].to_numpy()
        assert np.isfinite(values).all(), column


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FIELDS), how=st.sampled_from(MUTATIONS))
def test_a_mutated_scenario_is_refused_in_one_line_or_runs_to_finite_outputs(
    field, how, tmp_path_factory, capsys
):
    example, path = field
    data, name = _mutate(EXAMPLES[example], path, how)
    tmp = tmp_path_factory.mktemp("fuzz")
    scenario = tmp / "fuzzed.toml"
    scenario.write_text("\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in data.items()))
    out = tmp / "out"
    argv = ["run", str(scenario), "--out", str(out), "--paths", "8", "--record-paths", "2"]
    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(SECONDS)
    try:
        status = main([*argv, "--no-plots", "--no-progress"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    where = f"{example}: {path} ← {how}"
    if status == EXIT_OK:
        assert err == "", (where, err)
        _check_outputs(out)
        return
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("marketgame: error: "), (where, err)
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir()), where
    if status == EXIT_INVALID:
        assert name in lines[0], (where, lines[0])


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_example_round_trips_through_the_fuzzer_writer(example):
    text = "\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in EXAMPLES[example].items())
    assert tomllib.loads(text) == EXAMPLES[example]
