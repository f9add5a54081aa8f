"""Small dense linear algebra on one BLAS thread.

The solvers' matrices are small (2×2 … a few hundred square): a multi-threaded BLAS spends more
time waking and synchronising its threads than computing. Solver entry points
run under :func:`single_threaded`, which limits every loaded BLAS (numpy's and scipy's) to one
thread for the duration of the call and restores the caller's setting afterwards; the
environment (``OPENBLAS_NUM_THREADS`` …) is left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so the controller below sees it)
from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable[..., Any])
_controller: ThreadpoolController | None = None


def single_threaded(fn: F) -> F:
    """Decorator: run ``fn`` with every BLAS limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _controller
        if _controller is None:  # created on first use, after the BLAS libraries are loaded
            _controller = ThreadpoolController()
        with _controller.limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
