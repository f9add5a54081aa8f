"""Piecewise-constant time profiles on equal sub-intervals of [0, T] (bottom layer).

A profile is a constant or a sequence of m values, value j holding on ``[jT/m, (j+1)T/m)``
(right-continuous, last value at T). The engine reads it on its grid with the integer rule
⌊k·m/n⌋ (:func:`profile_on_grid`); solvers read it at arbitrary times (:func:`profile_at`); the
two agree at every grid time (:func:`profile_index`). Imports numpy only, so that scenarios,
the engine and the solvers can all use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def profile_index(t: ArrayLike, horizon: float, pieces: int) -> np.ndarray:
    """The piece of a profile on ``pieces`` equal sub-intervals of [0, T] in force at time ``t``.

    Pieces are closed on the left: a time on a breakpoint belongs to the piece that starts there.
    Grid times t_k = k·T/n computed in floating point can land a few ulps below the breakpoint
    they stand for, so times within 1e-12 of a piece's length below a breakpoint count as on it
    (rounding is ~1e-16·pieces there); this agrees with the engine's integer rule ⌊k·pieces/n⌋ at
    every grid time. A left limit f(t⁻) must therefore be read at least that far below t.
    """
    j = np.floor(np.asarray(t, dtype=float) / horizon * pieces + 1e-12)
    return np.clip(j, 0, pieces - 1).astype(int)


def profile_at(
    profile: float | Sequence[float], t: ArrayLike, horizon: float
) -> float | np.ndarray:
    """A rate profile (constant, or piecewise constant on equal sub-intervals) at time(s) ``t``."""
    if np.ndim(profile) == 0:
        return float(profile) if np.ndim(t) == 0 else np.full(np.shape(t), float(profile))
    values = np.asarray(profile, dtype=float)
    return values[profile_index(t, horizon, values.size)]


def profile_on_grid(profile: float | tuple[float, ...], steps: int) -> np.ndarray:
    """A rate profile at the grid times t_k, k = 0..steps−1 (integer arithmetic: piece
    ⌊k·len/steps⌋)."""
    if not isinstance(profile, tuple):
        return np.full(steps, float(profile))
    values = np.asarray(profile, dtype=float)
    return values[(np.arange(steps) * len(values)) // steps]
