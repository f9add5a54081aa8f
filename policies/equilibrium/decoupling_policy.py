"""The equilibrium policies of the §3–§5 solutions: a solution's decoupling field played as a
scenario policy, vectorised over paths, with one evaluation per step shared by its agents.

A solution provides ``game`` (``names``, ``roles``, ``trader_names``), ``_step_cache`` (a
:class:`StepCache`), ``adjoint_at(t, Q, exact=, trust_radius=)`` (the decoupling field at the
realised inventories), ``schedule_at(t)`` (the equilibrium adjoint on the equilibrium path, one
row), ``controls_at(t, Y)`` (rates, asks, bids) and ``trader_rates_at(t, Y, best_ask,
best_bid)`` (the traders' reply to the quotes they observe). A solution whose field depends on
the §5 noise factor L (``observes_factor``) gets it as ``adjoint_at(..., factor=L)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.base import MarketState, Policy


class DecouplingPolicy(Policy):
    """Trader: rate (M,); maker: half-spreads (M, 2), from the solution (vectorised over paths)."""

    def __init__(
        self,
        sol: Any,
        agent: str,
        feedback: bool,
        exact: bool,
        trust_radius: float | None,
    ):
        g = sol.game
        if agent not in g.names:
            raise ValueError(f"agent_name = {agent!r}: not in this game; allowed {g.names}")
        self.sol, self.agent, self.feedback, self.exact = sol, agent, feedback, exact
        self.trust_radius = trust_radius
        self.index = g.names.index(agent)
        self.role = g.roles[self.index]
        self.name = "equilibrium" if feedback else "equilibrium_open_loop"
        self._nt = len(g.trader_names)
        self._names: tuple[str, ...] | None = None
        self._cols: list[int] = []
        self._factor = bool(getattr(sol, "observes_factor", False))

    def reset(self, paths: int) -> None:
        """A new run: drop the solution's per-step cache (its buffers may reuse old addresses)."""
        self.sol._step_cache.clear()

    def act(self, state: MarketState) -> np.ndarray:
        sol, m = self.sol, state.paths
        if self._names != state.names:  # the model's names are fixed for a run: once per run
            self._names = state.names
            self._cols = [state.names.index(nm) for nm in sol.game.names]
        opts = (self.feedback, self.exact, self.trust_radius)
        entry = sol._step_cache.entry(state, opts)  # shared by the agents of one step
        if entry.y is None:
            if self.feedback:
                extra = {"factor": state.noise_factor} if self._factor else {}
                entry.y = sol.adjoint_at(
                    state.t,
                    state.inventories[:, self._cols],
                    exact=self.exact,
                    trust_radius=self.trust_radius,
                    **extra,
                )
            else:  # one row: every path plays the same schedule
                entry.y = sol.schedule_at(state.t)
        y = entry.y
        if self.role == "trader" and self.feedback and state.best_ask is not None:
            # react to the quotes faced (21)
            rate = sol.trader_rates_at(state.t, y, state.best_ask, state.best_bid)
            return np.ascontiguousarray(rate[:, self.index])
        if entry.controls is None:
            entry.controls = sol.controls_at(state.t, y)
        rate, ask, bid = entry.controls
        if self.feedback:
            if self.role == "trader":
                return np.ascontiguousarray(rate[:, self.index])
            j = self.index - self._nt
            return np.stack([ask[:, j], bid[:, j]], axis=-1)
        if self.role == "trader":
            return np.full(m, rate[0, self.index])
        j = self.index - self._nt
        return np.tile(np.array([ask[0, j], bid[0, j]]), (m, 1))


class _StepEntry:
    """Adjoint ``y`` and controls ``(rate, ask, bid)`` of one step for one policy option set."""

    __slots__ = ("controls", "y")

    def __init__(self) -> None:
        self.y: np.ndarray | None = None
        self.controls: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


class StepCache:
    """Per-step share of ``y`` / controls among the equilibrium policies of one solution.

    Within a step the model hands every agent the same live inventory buffer, unchanged until
    all agents have acted; the key is (step, t, buffer address, shape, strides). The buffer is
    referenced while cached, so its address cannot be reused by another array meanwhile. The
    policies' ``reset`` clears the cache before every run.
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.buffer: np.ndarray | None = None
        self.entries: dict[tuple, _StepEntry] = {}

    def clear(self) -> None:
        self.key, self.buffer, self.entries = None, None, {}

    def entry(self, state: MarketState, opts: tuple) -> _StepEntry:
        inv = state.inventories
        key = (state.step, state.t, inv.ctypes.data, inv.shape, inv.strides)
        if key != self.key:
            self.key, self.buffer, self.entries = key, inv, {}
        entry = self.entries.get(opts)
        if entry is None:
            entry = self.entries[opts] = _StepEntry()
        return entry
