"""The players of the §3–§5 games: per-agent parameters, names, roles and penalties.

``MarketMakingGame`` (§3–§4) and ``LogitGame`` (§5) hold the same players — N traders, then the
makers — with a running penalty φⁱ (a coefficient of time) and a terminal penalty Aⁱ ≥ 0 each.
This module reads and checks them once for both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from policies.equilibrium.coefficients import Coefficient


def checked_horizon(horizon: Any) -> float:
    """T, refused unless a finite number > 0."""
    if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon = {horizon!r}: must be a finite number > 0")
    return horizon


def checked_inventories(
    trader_inventories: Any, maker_inventories: Any, why: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """q₀ of the traders and of the makers as flat float arrays: finite, and q₀ ≠ 0 for every
    trader (q₀ < 0 buys, q₀ > 0 sells; ``why`` adds the game's reason to that message)."""
    qe = np.asarray(trader_inventories, dtype=float).reshape(-1)
    qm = np.asarray(maker_inventories, dtype=float).reshape(-1)
    for name, q in (("trader_inventories", qe), ("maker_inventories", qm)):
        if not np.all(np.isfinite(q)):
            raise ValueError(f"{name} = {tuple(q)!r}: must be finite")
    if np.any(qe == 0):
        raise ValueError(
            f"trader_inventories = {tuple(qe)!r}: every trader needs q₀ ≠ 0 "
            f"(q₀ < 0 buys, q₀ > 0 sells{why})"
        )
    return qe, qm


def per_agent(name: str, value: Any, count: int) -> list:
    """``value`` for each of ``count`` agents: a sequence gives one value per agent (its length
    must be ``count``), anything else (a number, a callable, a ``Profile``) is shared by all."""
    if isinstance(value, (list, tuple, np.ndarray)) and not callable(value):
        if len(value) != count:
            raise ValueError(f"{name} = {value!r}: expected one value per agent ({count})")
        return list(value)
    return [value] * count


def player_names(
    trader_names: tuple[str, ...] | None,
    maker_names: tuple[str, ...] | None,
    n_traders: int,
    n_makers: int,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The given names, or ``trader_0, …`` and ``maker_0, …``; one unique name per agent."""
    traders = tuple(trader_names or ()) or tuple(f"trader_{i}" for i in range(n_traders))
    makers = tuple(maker_names or ()) or tuple(f"maker_{i}" for i in range(n_makers))
    everyone = traders + makers
    if len(traders) != n_traders or len(makers) != n_makers or len(set(everyone)) != len(everyone):
        raise ValueError(f"agent names {everyone!r}: one unique name per agent")
    return traders, makers


def player_penalties(
    game: Any, traders: tuple[str, ...], makers: tuple[str, ...], horizon: float
) -> Iterator[tuple[str, Any, Coefficient, float]]:
    """For each trader, then each maker: (name, φ as given, φ as a checked
    :class:`Coefficient`, A as a float ≥ 0), read from the game's ``trader_running_penalty``,
    ``trader_terminal_penalty``, ``maker_running_penalty`` and ``maker_terminal_penalty``."""
    for role, names in (("trader", traders), ("maker", makers)):
        running = per_agent(
            f"{role}_running_penalty", getattr(game, f"{role}_running_penalty"), len(names)
        )
        terminal = per_agent(
            f"{role}_terminal_penalty", getattr(game, f"{role}_terminal_penalty"), len(names)
        )
        for i, (name, phi, a) in enumerate(zip(names, running, terminal, strict=True)):
            coefficient = Coefficient.build(
                f"{role}_running_penalty[{i}]", phi, horizon, finite=True
            )
            try:
                a = float(a)
            except (TypeError, ValueError):
                raise ValueError(
                    f"terminal_penalty A of {name} = {a!r}: must be a deterministic number ≥ 0"
                ) from None
            if not (math.isfinite(a) and a >= 0):
                raise ValueError(f"terminal_penalty A of {name} = {a!r}: must be ≥ 0")
            yield name, phi, coefficient, a


class TradersAndMakers:
    """Names, roles and initial inventories of a game holding ``trader_names``,
    ``maker_names``, ``trader_inventories`` and ``maker_inventories`` (traders first)."""

    trader_names: tuple[str, ...]
    maker_names: tuple[str, ...]
    trader_inventories: Any
    maker_inventories: Any

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.trader_names) + tuple(self.maker_names)

    @property
    def roles(self) -> tuple[str, ...]:
        return ("trader",) * len(self.trader_names) + ("maker",) * len(self.maker_names)

    @property
    def initial_inventories(self) -> np.ndarray:
        return np.concatenate(
            [np.asarray(self.trader_inventories, float), np.asarray(self.maker_inventories, float)]
        )
