"""Memory budget of a run: estimate before allocating, refuse with the estimate if it cannot fit.

:func:`available_memory` reads what the system can still give (``MemAvailable`` on Linux);
:func:`check_memory` raises :class:`InsufficientMemoryError` — a ``MemoryError`` whose message
gives the estimate, the available memory and what to change — when an estimate exceeds
:data:`USABLE_FRACTION` of it. Imports nothing but the standard library (solvers use it too).
"""

from __future__ import annotations

import os

USABLE_FRACTION = 0.8
"""Share of the available memory a run may plan to use (the rest: Python, libraries, slack)."""


class InsufficientMemoryError(MemoryError):
    """A run or a solve whose estimated memory exceeds what the machine can give."""


def available_memory() -> int | None:
    """Bytes the system can give without swapping (``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    """``1.5 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_memory(need: float, what: str, change: str) -> None:
    """Raise :class:`InsufficientMemoryError` if ``need`` bytes (``what``: the breakdown) exceed
    :data:`USABLE_FRACTION` of the available memory; ``change`` says what to reduce."""
    avail = available_memory()
    if avail is None or need <= USABLE_FRACTION * avail:
        return
    raise InsufficientMemoryError(
        f"{what} needs about {human_bytes(need)} of memory, but {human_bytes(avail)} is "
        f"available; {change}"
    )
