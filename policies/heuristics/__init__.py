"""Baseline heuristics: closed-form single-agent policies to compare with the equilibria.

Importing this package registers (``@register_policy``):

* traders (:mod:`.execution`): ``twap``, ``almgren_chriss``, ``participation``;
* makers (:mod:`.market_making`): ``constant_spread``, ``inventory_skew``,
  ``avellaneda_stoikov``, ``gueant_lehalle_fernandez_tapia``.
"""

from policies.heuristics import execution, market_making
from policies.heuristics.execution import (
    AlmgrenChriss,
    Participation,
    Twap,
    almgren_chriss_cost,
    almgren_chriss_decay,
    almgren_chriss_schedule,
)
from policies.heuristics.market_making import (
    AvellanedaStoikov,
    ConstantSpread,
    GueantLehalleFernandezTapia,
    InventorySkew,
    avellaneda_stoikov_quotes,
    gueant_lehalle_fernandez_tapia_quotes,
)

__all__ = [
    "AlmgrenChriss",
    "AvellanedaStoikov",
    "ConstantSpread",
    "GueantLehalleFernandezTapia",
    "InventorySkew",
    "Participation",
    "Twap",
    "almgren_chriss_cost",
    "almgren_chriss_decay",
    "almgren_chriss_schedule",
    "avellaneda_stoikov_quotes",
    "execution",
    "gueant_lehalle_fernandez_tapia_quotes",
    "market_making",
]
