"""Validation of scenario fields (bottom layer: imports nothing of the simulator).

Each helper returns the normalised value or raises ``ValueError`` naming the field path
(``market.max_spread``, ``traders[1].terminal_penalty``), the value and what is allowed. The
scenario's specs (:mod:`simulator.scenario`, and each mechanism's spec in
:mod:`simulator.mechanisms`) validate their fields with them.
"""

from __future__ import annotations

import math
from typing import Any

MAX_MAGNITUDE = 1e15
"""Largest magnitude of a finite scenario number. float64 keeps 15–16 significant digits, so
beyond this a lot or a tick added to an inventory or a price is lost, and the products the
engine forms (price × volume, A·Q², φ·Q²·T) run towards overflow."""

MIN_MAGNITUDE = 1e-15
"""Smallest magnitude of a non-zero scenario number (a smaller one is written as 0): below it
divisions by it (dt = T/n, 1/β, 1/γ) overflow and sums with numbers of order 1 ignore it."""


def check_magnitude(path: str, value: Any, x: float) -> float:
    """``x`` if it is 0, ±inf or has a magnitude in [MIN_MAGNITUDE, MAX_MAGNITUDE]; else a
    ``ValueError`` naming ``path``, ``value`` and the bounds."""
    if math.isfinite(x) and x != 0.0 and not MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE:
        raise ValueError(
            f"{path} = {value!r} is not allowed; a number's magnitude must be 0 or lie in "
            f"[{MIN_MAGNITUDE:g}, {MAX_MAGNITUDE:g}] (float64 cannot simulate with it: "
            "overflow or lost precision); rescale the units"
        )
    return x


def number(
    path: str,
    value: Any,
    *,
    low: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
) -> float:
    """``value`` as a float, checking its type and ``value >= low`` (``> low`` if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path} = {value!r} must be a number (int or float)")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{path} = {value!r} must be a finite number")
    check_magnitude(path, value, x)
    if low is not None and (x <= low if strict else x < low):
        op = ">" if strict else ">="
        raise ValueError(f"{path} = {value!r} is not allowed; it must be {op} {low:g}")
    return x


def integer(path: str, value: Any, *, low: int) -> int:
    """``value`` as an int, checking its type and ``value >= low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path} = {value!r} must be an integer")
    if value < low:
        raise ValueError(f"{path} = {value!r} is not allowed; it must be an integer >= {low}")
    return int(value)


def choice(path: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{path} = {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def rate_profile(path: str, value: Any) -> float | tuple[float, ...]:
    """A non-negative constant, or a non-empty tuple (piecewise-constant profile)."""
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"{path} = {value!r} must be a number or a non-empty list of numbers")
        return tuple(number(f"{path}[{i}]", v, low=0.0) for i, v in enumerate(value))
    return number(path, value, low=0.0)


def set_field(obj: Any, name: str, value: Any) -> None:
    """Set a field of a frozen dataclass in its ``__post_init__`` (the normalised value)."""
    object.__setattr__(obj, name, value)
