"""The tidy path table every §3–§5 solution returns (one row per time and agent)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def tidy_path(
    time: np.ndarray,
    names: tuple[str, ...],
    roles: tuple[str, ...],
    inventory: np.ndarray,
    adjoint: np.ndarray,
    rate: np.ndarray,
    ask: np.ndarray,
    bid: np.ndarray,
) -> pd.DataFrame:
    """Columns time, agent, role, inventory, adjoint, rate (traders), ask/bid_spread (makers).

    ``inventory``/``adjoint`` are (K, n) with traders first; ``rate`` (K, NT), ``ask``/``bid``
    (K, NM); a trader's spreads and a maker's rate are NaN.
    """
    k1, n, nt = time.size, len(names), rate.shape[-1]
    full = {}
    for key, arr, cols in (
        ("rate", rate, slice(0, nt)),
        ("ask", ask, slice(nt, n)),
        ("bid", bid, slice(nt, n)),
    ):
        out = np.full((k1, n), np.nan)
        out[:, cols] = arr
        full[key] = out
    return pd.DataFrame(
        {
            "time": np.repeat(time, n),
            "agent": np.tile(np.asarray(names, dtype=object), k1),
            "role": np.tile(np.asarray(roles, dtype=object), k1),
            "inventory": inventory.ravel(),
            "adjoint": adjoint.ravel(),
            "rate": full["rate"].ravel(),
            "ask_spread": full["ask"].ravel(),
            "bid_spread": full["bid"].ravel(),
        }
    )
