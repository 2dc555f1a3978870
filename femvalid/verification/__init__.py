"""Verification: analytical benchmarks, convergence orders, GCI."""
