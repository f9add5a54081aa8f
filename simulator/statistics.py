"""Confidence intervals for Monte Carlo means, and paired differences on common random numbers.

Every profile of a comparison is simulated with the same seed, so path m of one profile sees the
same reference-price increments, noise and Poisson streams as path m of every other profile
(randomness is keyed by path blocks, :mod:`simulator.processes`). A difference of two profiles is
therefore estimated path by path, ``d_m = X_m − Y_m``, and its interval uses the standard
deviation of ``d``: much narrower than two independent intervals when X and Y move together,
and exactly zero when a profile is compared with itself.

Intervals are Student-t intervals ``mean ± t_{1−α/2, M−1}·s/√M`` (exact for normal samples,
asymptotically valid by the central limit theorem).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import t as student_t

LEVEL = 0.95
"""Confidence level of every interval in a comparison."""


def half_width(samples: np.ndarray, level: float = LEVEL) -> float:
    """Half-width ``t_{(1+level)/2, M−1}·s/√M`` of the confidence interval of the mean of
    ``samples`` (M ≥ 2 values); 0 when all samples are equal."""
    x = np.asarray(samples, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"samples has shape {x.shape}; a confidence interval needs >= 2 values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level!r}; allowed: a number in (0, 1)")
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        return 0.0
    return float(student_t.ppf(0.5 + level / 2, x.size - 1)) * sd / math.sqrt(x.size)


def mean_ci(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """``(mean, half-width)`` of the confidence interval of the mean of ``samples``."""
    x = np.asarray(samples, dtype=float)
    return float(x.mean()), half_width(x, level)


def paired_ci(x: np.ndarray, y: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """``(mean of x − y, half-width)`` for samples paired path by path (common random numbers)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in shape: {x.shape} vs {y.shape}")
    return mean_ci(x - y, level)
