"""Policies: the interface (:mod:`policies.base`), heuristics and equilibrium solvers."""

from policies.base import MarketState, Policy
from policies.registry import PolicyContext, available_policies, build_policy, register_policy

__all__ = [
    "MarketState",
    "Policy",
    "PolicyContext",
    "available_policies",
    "build_policy",
    "register_policy",
]
