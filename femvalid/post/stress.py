"""Stresses at quadrature points, von Mises, principal stresses, volume statistics."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from femvalid.fem.assembly import CHUNK, element_geometry, lame, quadrature_degree

__all__ = ["StressField", "stress_field", "von_mises", "principal_stresses", "weighted_percentile", "volume_stats"]


@dataclass(frozen=True, eq=False)
class StressField:
    """Cauchy stress at the quadrature points of every element.

    Attributes
    ----------
    stress : ndarray (m, q, 3, 3)
        Stress tensors, MPa.
    weights : ndarray (m, q)
        Volume each point represents, mm³.
    """

    stress: np.ndarray
    weights: np.ndarray

    @property
    def von_mises(self) -> np.ndarray:
        """(m, q) von Mises stress, MPa."""
        return von_mises(self.stress)

    def element_mean(self) -> np.ndarray:
        """Volume-averaged stress tensor per element (m, 3, 3), MPa."""
        w = self.weights / self.weights.sum(axis=1, keepdims=True)
        return np.einsum("mq,mqij->mij", w, self.stress)


def stress_field(nodes, elements, displacement, youngs_modulus_MPa, poisson_ratio,
                 kernel: str | None = None) -> StressField:
    """Stress (MPa) from displacements (N, 3) mm at each element's quadrature points.

    ``kernel``: ``"numba"`` (default where installed) computes them in one compiled
    pass over the elements, on threads (0.29 s → 0.05 s at 527 k P1 elements, 2 cores);
    ``"numpy"`` in batches (the reference, the same stresses to rounding).
    """
    m = len(elements)
    order = 1 if elements.shape[1] == 4 else 2
    lam, mu = lame(np.broadcast_to(youngs_modulus_MPa, m), np.broadcast_to(poisson_ratio, m))
    if kernel is None:
        kernel = "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if kernel == "numba":
        return _stress_field_numba(nodes, elements, displacement, order, lam, mu)
    parts, weights = [], []
    for start in range(0, m, CHUNK):
        el = elements[start : start + CHUNK]
        g = element_geometry(nodes, el, order)
        grad_u = np.matmul(displacement[el].transpose(0, 2, 1)[:, None], g.grads)  # (m, q, 3, 3): du_i/dx_j
        stress = mu[start : start + CHUNK, None, None, None] * (grad_u + grad_u.transpose(0, 1, 3, 2))  # 2 μ ε
        volumetric = lam[start : start + CHUNK, None] * (grad_u[..., 0, 0] + grad_u[..., 1, 1] + grad_u[..., 2, 2])
        for i in range(3):
            stress[..., i, i] += volumetric  # λ tr ε
        parts.append(stress)
        weights.append(g.weights)
    return StressField(np.concatenate(parts), np.concatenate(weights))


def _stress_field_numba(nodes, elements, displacement, order, lam, mu) -> StressField:
    from femvalid.fem.elements import shape_gradients
    from femvalid.fem.kernels import get_backend
    from femvalid.fem.quadrature import tet_rule

    backend = get_backend("numba")
    points, w = tet_rule(quadrature_degree(order))
    ref = np.ascontiguousarray(shape_gradients(order, points))
    m = len(elements)
    stress, weights = np.empty((m, len(w), 3, 3)), np.empty((m, len(w)))
    kernel = backend.assembly.element_stresses
    if backend.threads == 1 or elements.size < backend.k.SERIAL_BELOW // 9:
        kernel = kernel.serial
    inverted = kernel(np.ascontiguousarray(nodes, dtype=float), np.ascontiguousarray(elements, dtype=np.int64), ref,
                      np.ascontiguousarray(w, dtype=float), np.ascontiguousarray(lam, dtype=float),
                      np.ascontiguousarray(mu, dtype=float),
                      np.ascontiguousarray(displacement, dtype=float).reshape(-1, 3), stress, weights)
    if inverted:
        raise ValueError(f"{inverted} elements are inverted (det J ≤ 0)")
    return StressField(stress, weights)


def von_mises(stress: np.ndarray) -> np.ndarray:
    """von Mises equivalent stress (MPa) of symmetric stress tensors (..., 3, 3)."""
    xx, yy, zz = stress[..., 0, 0], stress[..., 1, 1], stress[..., 2, 2]
    xy, yz, zx = stress[..., 0, 1], stress[..., 1, 2], stress[..., 2, 0]
    return np.sqrt(0.5 * ((xx - yy) ** 2 + (yy - zz) ** 2 + (zz - xx) ** 2) + 3.0 * (xy**2 + yz**2 + zx**2))


def principal_stresses(stress: np.ndarray) -> np.ndarray:
    """Principal stresses (..., 3), MPa, largest (most tensile) first."""
    return np.linalg.eigvalsh(stress)[..., ::-1]


def weighted_percentile(values: np.ndarray, weights: np.ndarray, percent: float) -> float:
    """The value below which ``percent`` % of the total weight (volume) lies."""
    order = np.argsort(values, axis=None)
    v, w = values.ravel()[order], weights.ravel()[order]
    cumulative = np.cumsum(w)
    index = np.searchsorted(cumulative, percent / 100.0 * cumulative[-1])
    return float(v[min(index, len(v) - 1)])


def volume_stats(values: np.ndarray, weights: np.ndarray, prefix: str, unit: str) -> dict:
    """max, p99, p95 and volume-weighted mean of a field, keys ``<prefix>_<stat>_<unit>``."""
    return {
        f"{prefix}_max_{unit}": float(values.max()),
        f"{prefix}_p99_{unit}": weighted_percentile(values, weights, 99.0),
        f"{prefix}_p95_{unit}": weighted_percentile(values, weights, 95.0),
        f"{prefix}_mean_{unit}": float((values * weights).sum() / weights.sum()),
    }
