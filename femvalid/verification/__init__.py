"""Verification: analytical benchmarks, code-to-code comparison, convergence."""

from femvalid.verification.sfepy_engine import EngineComparison, compare_with_sfepy

__all__ = ["EngineComparison", "compare_with_sfepy"]
