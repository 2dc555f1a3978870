"""Vectorised assembly of isotropic linear elasticity on P1/P2 tetrahedra.

Degrees of freedom are node-major (u_x, u_y, u_z of node 0, then node 1, ...), so
the stiffness matrix is built directly as 3×3 block sparse (BSR): one block per
pair of nodes that share an element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from femvalid.fem.elements import shape_gradients
from femvalid.fem.quadrature import tet_rule

__all__ = ["ElementGeometry", "element_geometry", "lame", "assemble_stiffness", "CHUNK"]

#: Elements per batch: bounds the memory of the batched element matrices.
CHUNK = 20_000


@dataclass(frozen=True, eq=False)
class ElementGeometry:
    """Physical shape-function gradients and integration weights at quadrature points.

    Attributes
    ----------
    grads : ndarray (m, q, n, 3)
        dN/dx at each quadrature point, 1/mm.
    weights : ndarray (m, q)
        Quadrature weight × det J, mm³ (sums to the element volume).
    """

    grads: np.ndarray
    weights: np.ndarray


def quadrature_degree(order: int) -> int:
    """Degree that integrates B^T D B exactly on straight elements (2 (p−1))."""
    return max(1, 2 * (order - 1))


def element_geometry(nodes: np.ndarray, elements: np.ndarray, order: int) -> ElementGeometry:
    """Gradients and weights for ``elements`` (m, n) of the given order."""
    points, w = tet_rule(quadrature_degree(order))
    ref = shape_gradients(order, points)  # (q, n, 3)
    x = nodes[elements]  # (m, n, 3)
    jac = np.einsum("mnk,qnl->mqkl", x, ref)  # dx_k/dξ_l
    det = np.linalg.det(jac)
    if np.any(det <= 0):
        raise ValueError(f"{int((det <= 0).any(axis=1).sum())} elements are inverted (det J ≤ 0)")
    inv = np.linalg.inv(jac)  # dξ_l/dx_k
    grads = np.einsum("qnl,mqlk->mqnk", ref, inv)
    return ElementGeometry(grads, det * w)


def lame(youngs_modulus_MPa, poisson_ratio):
    """Lamé constants (λ, μ) in MPa."""
    E, nu = np.asarray(youngs_modulus_MPa, float), np.asarray(poisson_ratio, float)
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


def element_stiffness(geometry: ElementGeometry, lam: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Element matrices as blocks (m, n, n, 3, 3), N/mm, for λ, μ per element (MPa)."""
    G, w = geometry.grads, geometry.weights
    Gw = G * w[..., None, None]
    # K_ab,ij = ∫ λ ∂_i N_a ∂_j N_b + μ ∂_j N_a ∂_i N_b + μ δ_ij ∇N_a·∇N_b
    lam_part = np.einsum("mqai,mqbj->mabij", Gw, G)
    k = lam[:, None, None, None, None] * lam_part
    k += mu[:, None, None, None, None] * lam_part.transpose(0, 1, 2, 4, 3)
    dots = np.einsum("mqak,mqbk->mab", Gw, G)
    k += (mu[:, None, None] * dots)[..., None, None] * np.eye(3)
    return k


def assemble_stiffness(
    nodes: np.ndarray, elements: np.ndarray, order: int, youngs_modulus_MPa, poisson_ratio
) -> sp.bsr_matrix:
    """Global stiffness (3N × 3N, N/mm) as BSR with 3×3 blocks.

    ``youngs_modulus_MPa`` and ``poisson_ratio`` are scalars or one value per element,
    so several bodies of different materials can share one system.
    """
    m, n = elements.shape
    lam, mu = lame(np.broadcast_to(youngs_modulus_MPa, m), np.broadcast_to(poisson_ratio, m))
    N = len(nodes)
    rows = np.repeat(elements, n, axis=1).ravel()
    cols = np.tile(elements, (1, n)).ravel()
    keys = rows * N + cols
    unique, inverse = np.unique(keys, return_inverse=True)
    nnzb = len(unique)
    data = np.zeros((nnzb, 3, 3))
    per_element = n * n
    for start in range(0, m, CHUNK):
        stop = min(start + CHUNK, m)
        geometry = element_geometry(nodes, elements[start:stop], order)
        blocks = element_stiffness(geometry, lam[start:stop], mu[start:stop]).reshape(-1, 3, 3)
        slot = inverse[start * per_element : stop * per_element]
        for i in range(3):
            for j in range(3):
                data[:, i, j] += np.bincount(slot, weights=blocks[:, i, j], minlength=nnzb)
    block_rows = unique // N
    indices = (unique % N).astype(np.int32)
    indptr = np.searchsorted(block_rows, np.arange(N + 1)).astype(np.int32)
    return sp.bsr_matrix((data, indices, indptr), shape=(3 * N, 3 * N))
