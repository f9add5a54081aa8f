"""``marketgame compare``: equilibrium play against the scenario's heuristics, on common random
numbers, with a report; and ``marketgame sweep`` over a grid of scenario parameters.

* :mod:`.profiles` — which strategy profiles are played;
* :mod:`simulator.statistics` — confidence intervals, paired differences (shared with the Nash gap);
* :mod:`.metrics` — per-role metrics from the recorded arrays;
* :mod:`.core` — :func:`compare` and :class:`ComparisonResult` (DataFrames);
* :mod:`.verdict` — the text verdict; :mod:`.report` — HTML, Markdown, CSV and PNG writers.
"""

from simulator.compare.core import ComparisonResult, compare

__all__ = ["ComparisonResult", "compare"]
