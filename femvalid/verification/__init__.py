"""Verification: analytical benchmarks, code-to-code comparison, convergence."""

from femvalid.verification.gci import GCIResult, gci, representative_size
from femvalid.verification.sfepy_engine import EngineComparison, compare_with_sfepy

__all__ = ["EngineComparison", "GCIResult", "compare_with_sfepy", "gci", "representative_size"]
