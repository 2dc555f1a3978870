"""Vectorised assembly of isotropic linear elasticity on P1/P2 tetrahedra.

Degrees of freedom are node-major (u_x, u_y, u_z of node 0, then node 1, ...), so
the stiffness matrix is built directly as 3×3 block sparse (BSR): one block per
pair of nodes that share an element.

Only the blocks of distinct node pairs a < b are computed and summed (6 of 16 per
linear element, 45 of 100 per quadratic one); the diagonal blocks are summed by node
and the lower triangle is the transpose. The numpy reference finds each pair's block by
its index among the mesh's unique node pairs (a sort of 11.8 M keys at 1 M dofs); the
compiled path (:mod:`femvalid.fem.kernels_assembly`) sums each block row from the
elements at its node instead: 1.6 s against 3.0 s at 1.09 M dofs on 2 cores, the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from femvalid.fem.elements import shape_gradients
from femvalid.fem.quadrature import tet_rule

__all__ = ["ElementGeometry", "element_geometry", "lame", "assemble_stiffness", "CHUNK"]

#: Elements per batch in post-processing: bounds the memory of batched stresses.
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


def _inverse_3x3(J: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Determinants (...) and inverses (..., 3, 3) of 3×3 matrices, by cofactors.

    Batched LAPACK calls (numpy.linalg.det, inv) cost several times more on millions
    of 3×3 matrices.
    """
    a, b, c = J[..., 0, 0], J[..., 0, 1], J[..., 0, 2]
    d, e, f = J[..., 1, 0], J[..., 1, 1], J[..., 1, 2]
    g, h, i = J[..., 2, 0], J[..., 2, 1], J[..., 2, 2]
    inverse = np.empty_like(J)
    inverse[..., 0, 0], inverse[..., 1, 0], inverse[..., 2, 0] = e * i - f * h, f * g - d * i, d * h - e * g
    inverse[..., 0, 1], inverse[..., 1, 1], inverse[..., 2, 1] = c * h - b * i, a * i - c * g, b * g - a * h
    inverse[..., 0, 2], inverse[..., 1, 2], inverse[..., 2, 2] = b * f - c * e, c * d - a * f, a * e - b * d
    det = a * inverse[..., 0, 0] + b * inverse[..., 1, 0] + c * inverse[..., 2, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse /= det[..., None, None]
    return det, inverse


def element_geometry(nodes: np.ndarray, elements: np.ndarray, order: int) -> ElementGeometry:
    """Gradients and weights for ``elements`` (m, n) of the given order."""
    points, w = tet_rule(quadrature_degree(order))
    ref = shape_gradients(order, points)  # (q, n, 3)
    x = nodes[elements]  # (m, n, 3)
    jac = np.matmul(x.transpose(0, 2, 1)[:, None], ref[None])  # (m, q, 3, 3): dx_k/dξ_l
    det, inv = _inverse_3x3(jac)  # inv: dξ_l/dx_k
    if np.any(det <= 0):
        raise ValueError(f"{int((det <= 0).any(axis=1).sum())} elements are inverted (det J ≤ 0)")
    return ElementGeometry(np.matmul(ref[None], inv), det * w)


def lame(youngs_modulus_MPa, poisson_ratio):
    """Lamé constants (λ, μ) in MPa."""
    E, nu = np.asarray(youngs_modulus_MPa, float), np.asarray(poisson_ratio, float)
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


#: Node-pair entries per assembly batch: bounds the memory of the batched blocks.
PAIR_CHUNK = 1_000_000


def _block_components(Gw: np.ndarray, G: np.ndarray, a: np.ndarray, b: np.ndarray, lam, mu) -> list[np.ndarray]:
    """The nine entries K_ab,ij (i, j row-major), each (m, p), of local node pairs (a[k], b[k]); N/mm.

    K_ab,ij = Σ_q λ ∂_i N_a ∂_j N_b + μ ∂_j N_a ∂_i N_b + μ δ_ij ∇N_a·∇N_b, weights in Gw.
    Separate contiguous arrays per entry feed ``np.bincount`` without copies.
    """
    Ga, Gb = np.moveaxis(Gw[:, :, a], -1, 0), np.moveaxis(G[:, :, b], -1, 0)  # (3, m, q, p)
    outer = [[(Ga[i] * Gb[j]).sum(axis=1) for j in range(3)] for i in range(3)]
    dots = mu * (outer[0][0] + outer[1][1] + outer[2][2])
    return [lam * outer[i][j] + mu * outer[j][i] + (dots if i == j else 0.0) for i in range(3) for j in range(3)]


def assemble_stiffness(
    nodes: np.ndarray, elements: np.ndarray, order: int, youngs_modulus_MPa, poisson_ratio,
    kernel: str | None = None,
) -> sp.bsr_matrix:
    """Global stiffness (3N × 3N, N/mm) as BSR with 3×3 blocks, sorted indices.

    ``youngs_modulus_MPa`` and ``poisson_ratio`` are scalars or one value per element,
    so several bodies of different materials can share one system. ``kernel``:
    ``"numba"`` sums each block row from the elements at its node, on threads, without
    sorting node pairs (:mod:`femvalid.fem.kernels_assembly`); ``"numpy"`` sums batched
    blocks with ``np.bincount`` (the reference); None (default) takes numba where it is
    installed. Both give the same matrix to rounding (1e-14 relative, tests/test_kernels.py).
    """
    m, n = elements.shape
    lam, mu = lame(np.broadcast_to(youngs_modulus_MPa, m), np.broadcast_to(poisson_ratio, m))
    N = len(nodes)
    if kernel is None:
        import importlib.util

        kernel = "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if kernel == "numba":
        return _assemble_numba(nodes, elements, order, lam, mu)
    # Each element's nodes in ascending global order: every local pair a < b is then a
    # global pair lo < hi, whose block is the stored upper one (no transposes).
    perm = np.argsort(elements, axis=1)
    ordered = np.take_along_axis(elements, perm, axis=1)
    a, b = np.triu_indices(n, 1)
    pairs, slot = np.unique((ordered[:, a].astype(np.int64) * N + ordered[:, b]).ravel(), return_inverse=True)
    slot = slot.reshape(m, len(a))
    del ordered
    upper = np.zeros((9, len(pairs)))
    diagonal = np.zeros((9, N))
    own = np.arange(n)
    chunk = max(1, PAIR_CHUNK // len(a))
    ordered = np.take_along_axis(elements, perm, axis=1)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        geometry = element_geometry(nodes, elements[start:stop], order)
        G = np.take_along_axis(geometry.grads, perm[start:stop, None, :, None], axis=2)
        Gw = G * geometry.weights[..., None, None]
        la, mu_ = lam[start:stop, None], mu[start:stop, None]
        where = slot[start:stop].ravel()
        for c, values in enumerate(_block_components(Gw, G, a, b, la, mu_)):
            upper[c] += np.bincount(where, weights=values.ravel(), minlength=len(pairs))
        at = ordered[start:stop].ravel()
        for c, values in enumerate(_block_components(Gw, G, own, own, la, mu_)):
            diagonal[c] += np.bincount(at, weights=values.ravel(), minlength=N)
    del slot
    return _bsr_from_pairs(N, pairs, upper, diagonal)


def _assemble_numba(nodes, elements, order, lam, mu) -> sp.bsr_matrix:
    """The stiffness by :mod:`femvalid.fem.kernels_assembly` (see :func:`assemble_stiffness`)."""
    from femvalid.fem.kernels import get_backend

    backend = get_backend("numba")
    k, numba_kernels = backend.assembly, backend.k
    m, n = elements.shape
    N = len(nodes)
    serial = backend.threads == 1 or m * n < numba_kernels.SERIAL_BELOW // 9
    pick = (lambda f: f.serial) if serial else (lambda f: f)
    points, w = tet_rule(quadrature_degree(order))
    ref = np.ascontiguousarray(shape_gradients(order, points))  # (q, n, 3)
    ordered = np.empty((m, n), np.int64)
    G = np.empty((m, len(w), n, 3))
    weights = np.empty((m, len(w)))
    inverted = pick(k.element_geometry)(
        np.ascontiguousarray(nodes, dtype=float), np.ascontiguousarray(elements, dtype=np.int64), ref,
        np.ascontiguousarray(w, dtype=float), ordered, G, weights)
    if inverted:
        raise ValueError(f"{inverted} elements are inverted (det J ≤ 0)")
    ptr, entries = k.node_elements(ordered, N)
    indptr, indices = k.block_pattern(numba_kernels.row_chunks(ptr, k.PATTERN_CHUNKS), ptr, entries, ordered, N, serial)
    data = np.zeros((len(indices), 3, 3))
    chunks = numba_kernels.row_chunks(ptr)
    pick(k.gather_upper)(chunks, ptr, entries, ordered, G, weights, np.ascontiguousarray(lam, dtype=float),
                         np.ascontiguousarray(mu, dtype=float), indptr, indices, data)
    del G, weights, entries, ordered
    pick(k.fill_lower)(numba_kernels.row_chunks(indptr), indptr, indices, data)
    index = np.int32 if len(indices) < 2**31 else np.int64
    matrix = sp.bsr_matrix((data, indices, indptr.astype(index)), shape=(3 * N, 3 * N))
    matrix.has_sorted_indices = True
    return matrix


def _bsr_pattern(N: int, pairs: np.ndarray):
    """Block pattern of the symmetric matrix with node pairs ``pairs`` (lo·N + hi, sorted).

    Row r holds the transposed blocks of pairs (lo, r) in order of lo, then its diagonal
    block, then the blocks of pairs (r, hi) in order of hi: positions follow from counts,
    and only the transposed blocks need sorting (by hi, stably). Returns (indptr, indices
    (int32), diagonal_at (N,), upper_at (P,), lower_at (P,)): where each node's diagonal
    block, each pair's upper block and its transpose are stored.
    """
    lo, hi = pairs // N, pairs % N
    before, after = np.bincount(hi, minlength=N), np.bincount(lo, minlength=N)  # blocks left/right of the diagonal
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(before + 1 + after, out=indptr[1:])
    diagonal_at = indptr[:-1] + before
    P = len(pairs)
    first_after = np.cumsum(after) - after  # index in ``pairs`` of row r's first pair (r, ·)
    upper_at = diagonal_at[lo] + 1 + (np.arange(P) - first_after[lo])
    by_hi = np.argsort(hi, kind="stable")
    row = hi[by_hi]
    lower_at = np.empty(P, np.int64)
    lower_at[by_hi] = indptr[row] + (np.arange(P) - (np.cumsum(before) - before)[row])
    indices = np.empty(2 * P + N, np.int32)
    indices[diagonal_at], indices[upper_at], indices[lower_at] = np.arange(N), hi, lo
    return indptr.astype(np.int32), indices, diagonal_at, upper_at, lower_at


def _bsr_from_pairs(N: int, pairs: np.ndarray, upper: np.ndarray, diagonal: np.ndarray) -> sp.bsr_matrix:
    """The symmetric BSR matrix with ``diagonal`` blocks, ``upper`` at the pairs (lo, hi) and their transposes.

    ``pairs`` (lo·N + hi, sorted) and the blocks' nine entries ``upper`` (9, P) and
    ``diagonal`` (9, N); the pattern is :func:`_bsr_pattern`'s.
    """
    indptr, indices, diagonal_at, upper_at, lower_at = _bsr_pattern(N, pairs)
    data = np.empty((len(indices), 3, 3))
    data[diagonal_at] = diagonal.T.reshape(-1, 3, 3)
    blocks = upper.T.reshape(-1, 3, 3)
    data[upper_at] = blocks
    data[lower_at] = blocks.transpose(0, 2, 1)
    matrix = sp.bsr_matrix((data, indices, indptr), shape=(3 * N, 3 * N))
    matrix.has_sorted_indices = True
    return matrix
