"""Deterministic time-dependent coefficients t ↦ value shared by the equilibrium solvers.

A coefficient is given as a float (constant), a tuple/list/array (piecewise constant on the equal
sub-intervals ``[jT/m, (j+1)T/m)`` of [0, T], right-continuous, last value at T: the scenario
convention read by :func:`simulator.profiles.profile_at`) or a callable ``t -> float``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.mechanisms.rules import vectorised
from simulator.profiles import profile_at

CoefficientValue = float | Callable[[float], float] | Sequence[float]


@dataclass(frozen=True)
class Coefficient:
    """A deterministic coefficient t ↦ value: constant, callable, or piecewise constant.

    Exactly one of ``constant``, ``function``, ``pieces`` is set (a one-value profile is a
    constant). Calling it on a scalar time gives a float, on an array of times an array of the
    same shape (callables are tried on the whole array, then element-wise).
    """

    name: str
    horizon: float
    constant: float | None = None
    function: Callable[[float], float] | None = None
    pieces: tuple[float, ...] | None = None

    @classmethod
    def build(
        cls, name: str, value: object, horizon: float, *, finite: bool = False
    ) -> Coefficient:
        """The coefficient ``name`` given by ``value`` on [0, ``horizon``].

        Raises ValueError naming ``name`` and ``value`` if ``value`` is neither a float, a
        callable nor a non-empty profile; with ``finite`` also if a constant or a profile value is
        not finite, or a profile is not one-dimensional.
        """
        if callable(value):
            return cls(name, horizon, function=value)
        if isinstance(value, (tuple, list, np.ndarray)):
            arr = np.asarray(value, dtype=float)
            if arr.size == 0 or (finite and (arr.ndim != 1 or not np.all(np.isfinite(arr)))):
                raise ValueError(
                    f"{name} = {value!r}: a profile must be a non-empty tuple of "
                    + ("finite floats" if finite else "floats")
                )
            pieces = tuple(float(x) for x in arr.ravel())
            if len(pieces) == 1:
                return cls(name, horizon, constant=pieces[0])
            return cls(name, horizon, pieces=pieces)
        try:
            constant = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} = {value!r}: expected a float, a callable t -> float, or a tuple of "
                "piecewise-constant values"
            ) from None
        if finite and not math.isfinite(constant):
            raise ValueError(f"{name} = {value!r}: must be finite")
        return cls(name, horizon, constant=constant)

    @property
    def is_constant(self) -> bool:
        return self.constant is not None

    @property
    def piece_count(self) -> int:
        """Number of constant pieces (1 for a constant or a callable)."""
        return 1 if self.pieces is None else len(self.pieces)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """Interior times where the coefficient may jump."""
        if self.pieces is None:
            return ()
        m = len(self.pieces)
        return tuple(self.horizon * j / m for j in range(1, m))

    def __call__(self, t: float | np.ndarray) -> float | np.ndarray:
        scalar = np.ndim(t) == 0
        if self.constant is not None:
            return self.constant if scalar else np.full(np.shape(t), self.constant)
        if self.function is not None:
            if scalar:
                return float(self.function(float(t)))  # type: ignore[arg-type]
            return vectorised(self.function)(t)
        values = profile_at(self.pieces, t, self.horizon)  # type: ignore[arg-type]
        return float(values) if scalar else values


Profile = Coefficient  # the name used where a solver's input types are called Coefficient


def check_on_grid(
    name: str | None,
    coef: Coefficient,
    horizon: float | None = None,
    lower: float = 0.0,
    strict: bool = False,
    *,
    allowed: str | None = None,
    grid: np.ndarray | None = None,
) -> None:
    """Raise ValueError naming the coefficient, its value and the first time of ``grid`` (default:
    257 equal steps of [0, ``horizon``]) where ``coef`` is non-finite or below ``lower``
    (``strict``: at or below). ``name`` and ``horizon`` default to the coefficient's own."""
    if grid is None:
        grid = np.linspace(0.0, coef.horizon if horizon is None else horizon, 257)
    values = np.asarray(coef(grid), dtype=float)
    bad = ~np.isfinite(values) | ((values <= lower) if strict else (values < lower))
    if np.any(bad):
        j = int(np.argmax(bad))
        if allowed is None:
            allowed = f"finite values {'>' if strict else '≥'} {lower:g}"
        raise ValueError(
            f"{name or coef.name} = {float(values[j])!r} at t = {grid[j]:.6g}; allowed: {allowed}"
        )
