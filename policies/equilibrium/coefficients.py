"""Deterministic time-dependent coefficients t ↦ value shared by the equilibrium solvers.

A coefficient is given as a float (constant), an explicit :class:`Profile` (piecewise constant
on the equal sub-intervals ``[jT/m, (j+1)T/m)`` of [0, T], right-continuous, last value at T: the
scenario convention read by :func:`simulator.profiles.profile_at`) or a callable ``t -> float``.

A bare sequence is refused: in the solvers' signatures a sequence means one value per agent
(penalties, initial inventories, the temporary impacts βⁱ), so a time profile must say so,
``Profile([0.1, 0.2, 0.3])``, and ``permanent_impact=[0.1, 0.2, 0.3]`` with three traders is an
error, not a guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.mechanisms.rules import vectorised
from simulator.profiles import profile_at


@dataclass(frozen=True, init=False)
class Profile:
    """An explicit time profile: ``values[j]`` holds on ``[jT/m, (j+1)T/m)`` (m values)."""

    values: tuple[float, ...]

    def __init__(self, values: Sequence[float]) -> None:
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"Profile({values!r}): a profile is a non-empty sequence of finite numbers"
            )
        object.__setattr__(self, "values", tuple(float(x) for x in arr))


CoefficientValue = float | Callable[[float], float] | Profile


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
        callable nor a :class:`Profile` (a bare sequence included: see the module docstring);
        with ``finite`` also if a constant is not finite.
        """
        if isinstance(value, Coefficient):
            return value
        if callable(value):
            return cls(name, horizon, function=value)
        if isinstance(value, (tuple, list)) or np.ndim(value) > 0:
            raise ValueError(
                f"{name} = {value!r} is a sequence; {name} is a coefficient of time, not one "
                f"value per agent: pass a float, a callable t -> float, or an explicit time "
                f"profile Profile({np.ravel(value).tolist()!r}) (piecewise constant on equal "
                "sub-intervals of [0, T])"
            )
        if isinstance(value, Profile):
            pieces = value.values
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


def split_temporary_impact(value: object, traders: int) -> tuple[object, np.ndarray | None]:
    """``temporary_impact`` as (β(t), s): trader i pays βⁱ(t) = β(t)·sⁱ.

    A float, callable or :class:`Profile` is shared (s = None); a sequence is one βⁱ > 0 per
    trader (the individual λⁱ of §3), returned as β ≡ 1 and s = βⁱ. Equal βⁱ are the shared β
    (s = None): the traders are then alike and every result is that of the shared β, bit for bit.
    Raises ValueError naming ``temporary_impact`` (and the index) on a wrong length, a
    non-finite or a non-positive value.
    """
    if isinstance(value, Profile) or not isinstance(value, (list, tuple, np.ndarray)):
        return value, None
    try:
        beta = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"temporary_impact = {value!r}; allowed: one number βⁱ > 0 per trader"
        ) from None
    if beta.ndim != 1 or len(beta) != traders:
        raise ValueError(
            f"temporary_impact has {beta.size} values {np.asarray(value).tolist()!r}; allowed: "
            f"a scalar or one value per trader ({traders})"
        )
    bad = ~np.isfinite(beta) | (beta <= 0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(
            f"temporary_impact[{i}] = {float(beta[i])!r}; allowed: finite βⁱ > 0 (Assumption "
            "2.4, Definition 3.2; a time profile shared by all traders is Profile([...]))"
        )
    if np.all(beta == beta[0]):
        return float(beta[0]), None
    return 1.0, beta
