"""Noise traders: exogenous buy and sell flows (rates a, b or κ(L)); accounting only."""

from __future__ import annotations

from agents.base import AccountingAgent


class NoiseTrader(AccountingAgent):
    """The aggregate noise flow. Objective: X_T + P_T·Q_T (S_T in §2), no penalties."""

    role = "noise"
    policy_name = "noise"
