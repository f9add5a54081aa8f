"""Reading and validating a heuristic's ``params`` (shared by the heuristic factories).

Errors name the field the way a scenario file spells it (``traders[0].params.participation``),
the offending value and the allowed range, e.g.::

    ValueError: traders[0] ('seller').params.participation = 1.5 is not allowed; expected a
    number in (0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from policies.registry import PolicyContext
from simulator.validation import check_magnitude


def _place(context: PolicyContext) -> tuple[str, int]:
    """The agent's group (``traders`` or ``makers``) and its index there."""
    places = context.cache.get("_places")  # built once per scenario build, shared by agents
    if places is None:
        places = context.cache["_places"] = {
            a.name: (group, i)
            for group in ("traders", "makers")
            for i, a in enumerate(getattr(context.scenario, group))
        }
    return places[context.agent.name]


def where(context: PolicyContext) -> str:
    """``traders[i] ('name')`` or ``makers[j] ('name')``: the agent as the scenario lists it."""
    group, i = _place(context)
    return f"{group}[{i}] ({context.agent.name!r})"


def index(context: PolicyContext) -> int:
    """The agent's index among the scenario's traders (or makers)."""
    return _place(context)[1]


def check_keys(context: PolicyContext, allowed: Iterable[str]) -> None:
    """Reject parameter names the policy does not read (catches typos such as ``skwe``)."""
    allowed = sorted(allowed)
    unknown = sorted(set(context.params) - set(allowed))
    if unknown:
        names = ", ".join(allowed) or "none"
        raise ValueError(
            f"{where(context)}.params has unknown key(s) {unknown} for policy "
            f"{context.agent.policy!r}; allowed: {names}"
        )


def _interval(
    low: float = -math.inf, high: float = math.inf, open_low: bool = False, open_high: bool = True
) -> str:
    lo = "-∞" if low == -math.inf else f"{low:g}"
    hi = "∞" if high == math.inf else f"{high:g}"
    return f"{'(' if open_low or low == -math.inf else '['}{lo}, {hi}{')' if open_high else ']'}"


def check_number(
    field: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    open_low: bool = False,
    open_high: bool = True,
    note: str = "",
) -> float:
    """Return ``float(value)`` if it lies in the interval, else raise a ``ValueError`` naming it.

    ``open_high=True`` with ``high = ∞`` (the default) excludes ``inf``; pass ``open_high=False``
    to admit ``inf`` (e.g. an infinite terminal penalty). NaN and non-numbers are always refused.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        allowed = _interval(low, high, open_low, open_high)
        raise ValueError(f"{field} = {value!r} is not a number; expected a number in {allowed}")
    x = float(value)
    ok = (
        not math.isnan(x)
        and (x > low if open_low else x >= low)
        and (x < high if open_high else x <= high)
    )
    if not ok:
        allowed = _interval(low, high, open_low, open_high)
        raise ValueError(
            f"{field} = {value!r} is not allowed; expected a number in {allowed}"
            + (f" ({note})" if note else "")
        )
    return check_magnitude(field, value, x)


def param(
    context: PolicyContext,
    key: str,
    default: Any = None,
    *,
    default_from: str = "",
    why_required: str = "",
    **bounds: Any,
) -> float:
    """``context.params[key]`` (or ``default``) validated by :func:`check_number`.

    ``default_from`` names where a scenario-derived default comes from (e.g.
    ``market.temporary_impact``) so that an invalid default is reported against that field, with a
    hint to override it. A missing key without default raises a ``ValueError`` saying that the key
    is required (and ``why_required``, if given).
    """
    field = f"{where(context)}.params.{key}"
    if key in context.params:
        return check_number(field, context.params[key], **bounds)
    if default is None:
        raise ValueError(
            f"{field} is required by policy {context.agent.policy!r} "
            f"(a number in {_interval(**bounds)})" + (f": {why_required}" if why_required else "")
        )
    if default_from:
        note = f"default of {field}; set it explicitly"
        return check_number(default_from, default, note=note, **bounds)
    return check_number(field, default, **bounds)


def flag(context: PolicyContext, key: str, default: bool) -> bool:
    """A boolean parameter (``true`` / ``false`` in TOML)."""
    value = context.params.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(
            f"{where(context)}.params.{key} = {value!r} is not allowed; expected true or false"
        )
    return value
