"""Consistency: the repetition vector by exact rational arithmetic (vrprune.rates, which
the runtime shares without importing the solver)."""

from __future__ import annotations

from ..rates import balance_rates
from ..rates import solve_balance as repetition_vector

__all__ = ["balance_rates", "repetition_vector"]
