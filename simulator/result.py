"""Simulation results: per-agent paths, market arrays, payoffs, and a tidy long table.

Arrays have time on axis 0 and paths on axis 1: states on the grid ``(n+1, R)`` (t_0..t_n),
per-step quantities ``(n, R)`` (held on [t_k, t_{k+1})). ``R`` is the number of *recorded* paths
(the first R paths of the run; all of them by default, none with ``record=False``), while the
terminal quantities ``running_cost``, ``terminal_cost`` and ``objective`` cover all ``M`` paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from simulator.scenario import Scenario


@dataclass
class AgentPath:
    """One agent's recorded paths and terminal objective (role trader, maker or noise).

    ``objective`` is the paper's J per path: cash_T + P_T·Q_T − ∫φQ²dt − A·Q_T², with the
    inventory marked at the market price S_T = P_T + I_T + ϖ_T in the §2 impact market (as in
    the paper's §2 objective)
    (``running_cost`` = ∫φQ²dt, ``terminal_cost`` = A·Q_T²). Per-share prices of the step's
    fills ``(n, R)``: ``fill_price`` for traders (temporary cost included), ``buy_price`` /
    ``sell_price`` for the noise traders; makers fill at their quotes P + δᵃ and P − δᵇ.
    """

    name: str
    role: str
    policy: str
    inventory: np.ndarray
    cash: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    running_cost: np.ndarray
    terminal_cost: np.ndarray
    objective: np.ndarray
    rate: np.ndarray | None = None
    ask_spread: np.ndarray | None = None
    bid_spread: np.ndarray | None = None
    fill_price: np.ndarray | None = None
    buy_price: np.ndarray | None = None
    sell_price: np.ndarray | None = None


@dataclass
class SimulationResult:
    """What :func:`simulator.simulate` returns (see the module docstring for shapes).

    ``market`` holds mechanism arrays by name: ``market_price`` S = P + I + ϖ ``(n+1, R)`` (§2),
    ``best_ask`` / ``best_bid`` min_j δʲ ``(n, R)`` (§3–§5), ``noise_factor`` L ``(n+1, R)`` (§5),
    ``noise_buy_rate`` / ``noise_sell_rate`` ``(n, R)``; they are also attributes
    (``res.best_ask``).
    """

    scenario: Scenario
    seed: int
    paths: int
    time: np.ndarray
    reference_price: np.ndarray
    agents: tuple[AgentPath, ...]
    market: dict[str, np.ndarray] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        market = self.__dict__.get("market", {})
        if name in market:
            return market[name]
        raise AttributeError(f"SimulationResult has no attribute {name!r}")

    @property
    def recorded_paths(self) -> int:
        """R, the number of paths whose trajectories were kept."""
        return self.reference_price.shape[1]

    def agent(self, name: str) -> AgentPath:
        """The :class:`AgentPath` called ``name``."""
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(f"no agent {name!r}; agents: {', '.join(a.name for a in self.agents)}")

    def payoffs(self) -> pd.DataFrame:
        """Mean objective J per agent with its Monte Carlo standard error."""
        rows = []
        for a in self.agents:
            j = a.objective
            se = float(j.std(ddof=1) / np.sqrt(j.size)) if j.size > 1 else float("nan")
            rows.append(
                {
                    "agent": a.name,
                    "role": a.role,
                    "policy": a.policy,
                    "mean": float(j.mean()),
                    "std_error": se,
                    "paths": int(j.size),
                }
            )
        return pd.DataFrame(rows, columns=["agent", "role", "policy", "mean", "std_error", "paths"])

    def to_frame(self, paths: int | Sequence[int] | None = None) -> pd.DataFrame:
        """Tidy long table, one row per (time, path, agent), for recorded paths.

        ``paths``: None (all recorded), an int (the first that many) or a list of path indices.
        Columns: time, path, agent, role, inventory, cash, rate, ask_spread, bid_spread,
        buy_volume, sell_volume, reference_price and the market arrays. Per-step quantities
        (held on [t_k, t_{k+1})) are NaN in the last row t_n.
        """
        return pd.DataFrame(self.to_columns(paths))

    def to_columns(self, paths: int | Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """The columns of :meth:`to_frame` as numpy arrays (rows by agent, then time, then
        path), built without pandas: what ``steps.parquet`` is written from."""
        r = self.recorded_paths
        if paths is None:
            idx = np.arange(r)
        elif isinstance(paths, int | np.integer):
            idx = np.arange(min(int(paths), r))
        else:
            idx = np.asarray(paths, dtype=int)
        if idx.size and (idx.min() < 0 or idx.max() >= r):
            raise ValueError(f"paths = {paths!r}: only paths 0..{r - 1} were recorded")
        n1, na = self.time.size, len(self.agents)

        def grid(a: np.ndarray | None) -> np.ndarray:
            if a is None:
                return np.full(n1 * idx.size, np.nan)
            a = a[:, idx]
            if a.shape[0] == n1 - 1:  # per-step quantity: pad t_n with NaN
                a = np.vstack([a, np.full((1, idx.size), np.nan)])
            return a.reshape(-1)

        def per_agent(name: str) -> np.ndarray:
            parts = [grid(getattr(a, name)) for a in self.agents]
            return np.concatenate(parts) if parts else np.empty(0)

        def repeat(values: list[str]) -> np.ndarray:
            return np.repeat(np.array(values, dtype=object), n1 * idx.size)

        columns = {
            "time": np.tile(np.repeat(self.time, idx.size), na),
            "path": np.tile(idx, n1 * na),
            "agent": repeat([a.name for a in self.agents]),
            "role": repeat([a.role for a in self.agents]),
        }
        for name in (
            "inventory",
            "cash",
            "rate",
            "ask_spread",
            "bid_spread",
            "buy_volume",
            "sell_volume",
        ):
            columns[name] = per_agent(name)
        for key, arr in {"reference_price": self.reference_price, **self.market}.items():
            columns[key] = np.tile(grid(arr), na)
        return columns
