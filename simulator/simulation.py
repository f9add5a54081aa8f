"""In-memory Monte Carlo simulation of a scenario: :func:`simulate`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from policies.base import Policy
from policies.catalog import build_policy, check_policy_names
from policies.registry import PolicyContext
from simulator.engine import ENGINES
from simulator.model import MarketModel, Recorder
from simulator.processes import BLOCK, TIME_BATCH, NoiseRates
from simulator.resources import check_memory, human_bytes
from simulator.result import AgentPath, SimulationResult
from simulator.scenario import Scenario


def build_policies(
    scenario: Scenario,
    overrides: Mapping[str, Policy] | None = None,
    cache: dict[str, Any] | None = None,
) -> list[Policy]:
    """One policy per strategic agent (column order), built from the registry with one shared
    ``cache``; ``overrides`` maps agent names to ready policies (e.g. a best response).

    Every policy name is checked before any policy is built (so before any equilibrium is
    solved): an unknown name raises ValueError naming the field (``traders[1].policy``)."""
    overrides = dict(overrides or {})
    names = {a.name for a in scenario.agents}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"policies = {unknown!r} name no agent of the scenario; agents: "
            f"{', '.join(a.name for a in scenario.agents)}"
        )
    check_policy_names(scenario, skip=frozenset(overrides))
    cache = {} if cache is None else cache
    built = []
    for spec in scenario.agents:
        policy = overrides.get(spec.name)
        if policy is None:
            policy = build_policy(PolicyContext(scenario, spec, cache))
        if getattr(policy, "role", spec.role) != spec.role:
            raise ValueError(
                f"{spec.name}: policy {getattr(policy, 'name', policy)!r} has role "
                f"{policy.role!r}; the agent is a {spec.role}"
            )
        built.append(policy)
    return built


CHUNK_BYTES = 256 << 20
"""Working memory of one chunk of paths when ``simulate`` picks the chunk size itself."""


def memory_plan(scenario: Scenario, paths: int, recorded: int) -> int:
    """The chunk size for ``paths`` paths (at most :data:`CHUNK_BYTES` of per-path working
    state, so any number of paths runs in bounded blocks), after checking that the arrays that
    do grow with the run — terminal costs of every path, trajectories of the ``recorded`` ones —
    fit in memory (:func:`simulator.resources.check_memory`)."""
    nt, nm = len(scenario.traders), len(scenario.makers)
    accounts = nt + nm + 1
    steps = scenario.steps
    # per path of a chunk: the books and the engine's buffers, plus the random-number buffers
    # (TIME_BATCH steps of every stream: price, factor, inventory noise, order counts)
    streams = 2 + nt + nm + (nt + 2) * max(nm, 1) + 2 * nm
    per_path = 8 * (16 * accounts + TIME_BATCH * streams)
    chunk = max(1, min(paths, CHUNK_BYTES // per_path))
    terminal = 8 * 3 * accounts * paths
    routes = ENGINES[scenario.market.kind].route_sources(scenario) * nm
    trajectories = 8 * (steps + 1) * recorded * (8 * accounts + 6 + routes)
    check_memory(
        terminal + trajectories + chunk * per_path,
        f"simulating {paths} paths of {steps} steps for {accounts - 1} agents (terminal costs "
        f"{human_bytes(terminal)}, {recorded} recorded paths {human_bytes(trajectories)}, "
        f"chunks of {chunk} paths {human_bytes(chunk * per_path)})",
        "run fewer paths, steps or agents, or record fewer paths (--record-paths)",
    )
    return chunk


def _arguments(
    scenario: Scenario, paths: int | None, seed: int | None, record: bool | int
) -> tuple[int, int, int]:
    """Validated ``(paths, seed, recorded)`` of a run (defaults: the scenario's)."""
    if not isinstance(scenario, Scenario):
        raise ValueError(f"scenario = {scenario!r} must be a Scenario (see load_scenario)")
    paths = scenario.paths if paths is None else paths
    seed = scenario.seed if seed is None else seed
    for key, value, low in (("paths", paths, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{key} = {value!r} must be an integer >= {low}")
    paths, seed = int(paths), int(seed)
    if isinstance(record, bool):
        recorded = paths if record else 0
    elif isinstance(record, int | np.integer) and record >= 0:
        recorded = min(int(record), paths)
    else:
        raise ValueError(f"record = {record!r} must be True, False or a number of paths >= 0")
    return paths, seed, recorded


def simulate(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | None = None,
    *,
    record: bool | int = True,
    chunk_paths: int | None = None,
    policies: Mapping[str, Policy] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``paths`` Monte Carlo paths (default ``scenario.paths``) with ``seed`` (default
    ``scenario.seed``) and return a :class:`~simulator.result.SimulationResult`.

    ``record``: True keeps every path's trajectories, False only the terminal quantities
    (``running_cost``, ``terminal_cost``, ``objective``; for millions of paths), an int R keeps
    the trajectories of the first R paths. ``chunk_paths``: simulate at most this many paths at a
    time; results are bit-identical to the one-piece run because path i's random numbers depend
    only on (seed, i). ``policies``: agent name → ready :class:`Policy`,
    replacing the scenario's policy for that agent (all others are built from the registry).
    ``progress(done, total)`` is called after every step (``total`` = chunks × steps).
    """
    paths, seed, recorded = _arguments(scenario, paths, seed, record)
    chunk = memory_plan(scenario, paths, recorded) if chunk_paths is None else chunk_paths
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ValueError(f"chunk_paths = {chunk_paths!r} must be a positive integer")
    built = build_policies(scenario, policies)
    noise_active = NoiseRates(scenario.noise, 1, scenario.steps, scenario.dt).active
    recorder = Recorder(scenario, paths, recorded, noise_active)
    starts = range(0, paths, chunk)
    for c, start in enumerate(starts):
        model = MarketModel(scenario, built, min(chunk, paths - start), seed, start, recorder)
        if progress is None:
            model.run()
        else:
            model.run(lambda k, c=c: progress(c * scenario.steps + k, len(starts) * scenario.steps))
        model.release()
    return _result(scenario, seed, paths, recorder, built, noise_active)


def simulate_paths(
    scenario: Scenario,
    policies: Sequence[Policy],
    seed: int,
    start: int,
    stop: int,
    recorded: int,
    noise: bool,
) -> Recorder:
    """The paths ``[start, stop)`` of a run with ``seed``, in one model: a recorder (``first =
    start``) with their terminal costs, and the trajectories of those among the run's first
    ``recorded`` paths. A pure function of its arguments: one Dask task of a run or a dataset."""
    kept = max(0, min(stop, recorded) - start)
    rec = Recorder(scenario, stop - start, kept, noise, first=start)
    model = MarketModel(scenario, policies, stop - start, seed, start, rec)
    model.run()
    model.release()
    return rec


def _block_task(job: tuple[Scenario, list[Policy], int, int, bool], start: int, stop: int):
    scenario, policies, seed, recorded, noise = job
    return simulate_paths(scenario, policies, seed, start, stop, recorded, noise)


def simulate_on_cluster(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | None = None,
    *,
    record: bool | int = True,
    workers: int | None = None,
    scheduler: str | None = None,
    block_paths: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """:func:`simulate` with the paths spread over a Dask cluster (a new loopback cluster of
    ``workers`` processes, or the one at ``scheduler``; :func:`simulator.distributed.open_client`).

    Tasks are blocks of ``block_paths`` paths (default: about four blocks per worker, a multiple
    of the random-number block, at most the memory plan's chunk); each returns its paths'
    terminal costs and, for the blocks holding the first ``record`` paths, their trajectories,
    assembled in path order on the driver. Path i's draws depend only on (seed, i), so the result
    is bit-identical to :func:`simulate`'s for any worker count and block size.
    ``progress(done, total)`` counts finished paths.
    """
    from distributed import as_completed

    from simulator.distributed import open_client

    paths, seed, recorded = _arguments(scenario, paths, seed, record)
    if block_paths is not None and (
        isinstance(block_paths, bool) or not isinstance(block_paths, int) or block_paths < 1
    ):
        raise ValueError(f"block_paths = {block_paths!r} must be a whole number >= 1")
    chunk = memory_plan(scenario, paths, recorded)
    built = build_policies(scenario)
    noise = NoiseRates(scenario.noise, 1, scenario.steps, scenario.dt).active
    recorder = Recorder(scenario, paths, recorded, noise)
    with open_client(workers=workers, scheduler=scheduler) as client:
        size = block_paths
        if size is None:
            nworkers = max(1, len(client.scheduler_info()["workers"]))
            size = min(chunk, BLOCK * math.ceil(paths / (4 * nworkers * BLOCK)))
        starts = range(0, paths, size)
        [job] = client.scatter([(scenario, built, seed, recorded, noise)], broadcast=True)
        stops = [min(s + size, paths) for s in starts]
        futures = client.map(_block_task, [job] * len(starts), starts, stops, pure=False)
        sizes = {f.key: stop - start for f, start, stop in zip(futures, starts, stops, strict=True)}
        done = 0
        for future in as_completed(futures):
            recorder.insert(future.result())
            done += sizes[future.key]
            future.release()
            if progress is not None:
                progress(done, paths)
    return _result(scenario, seed, paths, recorder, built, noise)


def _result(
    scenario: Scenario, seed: int, paths: int, rec: Recorder, policies: list[Policy], noise: bool
) -> SimulationResult:
    roles = [a.role for a in scenario.agents] + (["noise"] if noise else [])
    names = [a.name for a in scenario.agents] + (["noise"] if noise else [])
    pnames = [
        getattr(p, "name", a.policy) for p, a in zip(policies, scenario.agents, strict=True)
    ] + (["noise"] if noise else [])
    agents = tuple(
        AgentPath(name=n, role=r, policy=p, **arrays)
        for n, r, p, arrays in zip(names, roles, pnames, rec.agents, strict=True)
    )
    time = np.arange(scenario.steps + 1) * scenario.dt
    return SimulationResult(
        scenario=scenario,
        seed=seed,
        paths=paths,
        time=time,
        reference_price=rec.reference_price,
        agents=agents,
        market=rec.market,
    )
