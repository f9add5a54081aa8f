"""Policies by name, so that scenarios can say ``policy = "twap"`` or ``policy = "equilibrium"``.

This module only holds the table: plug-in modules fill it with ``@register_policy`` when they are
imported, and :mod:`policies.catalog` is the one module that imports the built-in plug-ins.
A factory receives a :class:`PolicyContext` and returns a ready :class:`~policies.base.Policy`.
Equilibrium factories solve the scenario's game once and keep the solution in ``context.cache``
so that every agent of one scenario plays the same equilibrium.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from policies.base import Policy, Role

if TYPE_CHECKING:
    from simulator.scenario import AgentSpec, Scenario


@dataclass(frozen=True)
class PolicyContext:
    """Everything a policy factory may read: the scenario, the agent, a per-build cache."""

    scenario: Scenario
    agent: AgentSpec
    cache: dict[str, Any]

    @property
    def params(self) -> Mapping[str, Any]:
        return self.agent.params


PolicyFactory = Callable[[PolicyContext], Policy]

_REGISTRY: dict[tuple[Role, str], PolicyFactory] = {}


def register_policy(role: Role, name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: make ``factory`` available to scenarios as ``policy = name`` for ``role``."""

    def decorate(factory: PolicyFactory) -> PolicyFactory:
        key = (role, name)
        if key in _REGISTRY:
            raise ValueError(f"policy {name!r} for role {role!r} is registered twice")
        _REGISTRY[key] = factory
        return factory

    return decorate


def available_policies(role: Role) -> list[str]:
    """Names registered for ``role``, sorted (import :mod:`policies.catalog` for the built-ins)."""
    return sorted(name for r, name in _REGISTRY if r == role)


def build_policy(context: PolicyContext) -> Policy:
    """Build the policy named by ``context.agent.policy``; unknown names get a clear error."""
    role, name = context.agent.role, context.agent.policy
    try:
        factory = _REGISTRY[(role, name)]
    except KeyError:
        allowed = ", ".join(available_policies(role)) or "none"
        raise ValueError(
            f"{context.agent.name}.policy = {name!r} is not a {role} policy; allowed: {allowed}"
        ) from None
    return factory(context)
