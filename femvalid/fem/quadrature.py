"""Quadrature rules on the reference tetrahedron {x, y, z ≥ 0, x + y + z ≤ 1}."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import roots_jacobi

__all__ = ["tet_rule"]


@lru_cache(maxsize=None)
def tet_rule(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (q, 3) and positive weights (q,) exact for polynomials of ``degree``.

    Degrees 1 and 2 use the classical 1- and 4-point rules; higher degrees the
    collapsed (Stroud conical) product of Gauss–Jacobi rules, whose weights are all
    positive. The weights sum to 1/6, the reference volume.
    """
    if degree <= 1:
        points, weights = np.full((1, 3), 0.25), np.array([1.0 / 6.0])
    elif degree == 2:
        a, b = 0.5854101966249685, 0.1381966011250105
        points = np.array([[b, b, b], [a, b, b], [b, a, b], [b, b, a]])
        weights = np.full(4, 1.0 / 24.0)
    else:
        points, weights = _conical_product(math.ceil((degree + 1) / 2))
    points.setflags(write=False)
    weights.setflags(write=False)
    return points, weights


def _conical_product(n: int) -> tuple[np.ndarray, np.ndarray]:
    # x = u, y = v (1 − u), z = w (1 − u)(1 − v); Jacobian (1 − u)² (1 − v).
    def rule(alpha):
        t, w = roots_jacobi(n, alpha, 0.0)
        return (t + 1.0) / 2.0, w / 2.0 ** (alpha + 1)

    (u, wu), (v, wv), (w, ww) = rule(2.0), rule(1.0), rule(0.0)
    U, V, W = np.meshgrid(u, v, w, indexing="ij")
    weights = np.einsum("i,j,k->ijk", wu, wv, ww).ravel()
    points = np.stack([U, V * (1 - U), W * (1 - U) * (1 - V)], axis=-1).reshape(-1, 3)
    return points, weights
