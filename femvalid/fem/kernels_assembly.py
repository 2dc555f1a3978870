"""Element assembly of isotropic elasticity into BSR, in parallel and deterministic (numba).

:func:`femvalid.fem.assembly.assemble_stiffness` with ``kernel="numba"`` runs five passes:

1. :func:`element_geometry` (parallel over elements): each element's nodes sorted by
   global number, its shape-function gradients G = ref J⁻¹ (J by cofactors) in that
   order and the weights w det J at every quadrature point;
2. :func:`node_elements`: the elements at each node, in element order (a counting sort);
3. :func:`block_pattern` (parallel over rows): each block row's columns, the nodes that
   share an element with it, sorted;
4. :func:`gather_upper` (parallel over rows): block row r sums, element by element in
   element order, the blocks K_rc, c ≥ r, of the elements at r;
5. :func:`fill_lower` (parallel over rows): each block below the diagonal is its
   mirror's transpose.

Each block is summed by one thread in element order, whatever the number of threads,
and its arithmetic is the one the serial kernel used (the same products in the same
order), so the matrix is the same to the last bit as that kernel's. No node-pair keys
are sorted: at 1.09 M dofs (1.97 M P1 elements, 2 cores) the sort of 11.8 M pair keys
(``np.unique``) and the serial element loop it fed took 3.0 s; the passes here take
1.6 s (on the mesher's numbering, :mod:`femvalid.fem.ordering`; 2.6 s on gmsh's).

:func:`element_stresses` is the post-processing pass: stresses at the quadrature points.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from femvalid.fem.kernels_numba import _kernel, njit, _OPTIONS

__all__ = ["element_geometry", "node_elements", "block_pattern", "gather_upper", "fill_lower", "element_stresses", "ELEMENT_CHUNKS", "PATTERN_CHUNKS"]

#: Element chunks of the geometry pass (work units; each has its own work arrays).
ELEMENT_CHUNKS = 256
#: Row chunks of the pattern pass: each has a marker array as long as the matrix has block rows.
PATTERN_CHUNKS = 16


@njit(**_OPTIONS)
def _inverse_jacobian(nodes, elements, ref, e, q, J, inv):
    """Write dξ/dx of element e at quadrature point q into ``inv`` (J by cofactors, J in ``J``); returns det J."""
    n = elements.shape[1]
    J[:] = 0.0
    for a in range(n):
        node = elements[e, a]
        for k in range(3):
            xk = nodes[node, k]
            for l in range(3):
                J[k, l] += xk * ref[q, a, l]
    A, B, C = J[0, 0], J[0, 1], J[0, 2]
    D, E, F = J[1, 0], J[1, 1], J[1, 2]
    Gg, H, I = J[2, 0], J[2, 1], J[2, 2]
    c00, c10, c20 = E * I - F * H, F * Gg - D * I, D * H - E * Gg
    c01, c11, c21 = C * H - B * I, A * I - C * Gg, B * Gg - A * H
    c02, c12, c22 = B * F - C * E, C * D - A * F, A * E - B * D
    det = A * c00 + B * c10 + C * c20
    inv[0, 0], inv[1, 0], inv[2, 0] = c00 / det, c10 / det, c20 / det
    inv[0, 1], inv[1, 1], inv[2, 1] = c01 / det, c11 / det, c21 / det
    inv[0, 2], inv[1, 2], inv[2, 2] = c02 / det, c12 / det, c22 / det
    return det


@_kernel
def element_geometry(nodes, elements, ref, weights, ordered, G, w):
    """Fill ``ordered`` (m, n), ``G`` (m, q, n, 3) 1/mm and ``w`` (m, q) mm³; returns the number of
    inverted elements (det J ≤ 0 at a quadrature point).

    ``ordered[e]`` is element e's nodes in ascending global order, and G[e, q, s] the
    gradient of the shape function of node ``ordered[e, s]``.
    """
    m, n = elements.shape
    nq = ref.shape[0]
    bounds = np.linspace(0, m, min(ELEMENT_CHUNKS, max(m, 1)) + 1).astype(np.int64)
    bad = np.zeros(len(bounds) - 1, np.int64)
    for c in prange(len(bounds) - 1):
        perm = np.empty(n, np.int64)
        J = np.empty((3, 3))
        inv = np.empty((3, 3))
        for e in range(bounds[c], bounds[c + 1]):
            for s in range(n):  # insertion sort of the element's local nodes by global number
                v = elements[e, s]
                t = s
                while t > 0 and elements[e, perm[t - 1]] > v:
                    perm[t] = perm[t - 1]
                    t -= 1
                perm[t] = s
            for s in range(n):
                ordered[e, s] = elements[e, perm[s]]
            inverted = False
            for q in range(nq):
                det = _inverse_jacobian(nodes, elements, ref, e, q, J, inv)
                if not det > 0:
                    inverted = True
                for s in range(n):
                    a = perm[s]
                    for k in range(3):
                        t = 0.0
                        for l in range(3):
                            t += ref[q, a, l] * inv[l, k]
                        G[e, q, s, k] = t
                w[e, q] = det * weights[q]
            if inverted:
                bad[c] += 1
    return bad.sum()


@njit(**_OPTIONS)
def node_elements(ordered, N):
    """(ptr (N + 1,), entries): the elements at node v are entries[ptr[v]:ptr[v + 1]] // n, in
    element order, with the node's position in ``ordered[e]`` as entries % n."""
    m, n = ordered.shape
    ptr = np.zeros(N + 1, np.int64)
    for e in range(m):
        for s in range(n):
            ptr[ordered[e, s] + 1] += 1
    for v in range(N):
        ptr[v + 1] += ptr[v]
    fill = ptr[:-1].copy()
    entries = np.empty(m * n, np.int64)
    for e in range(m):
        for s in range(n):
            v = ordered[e, s]
            entries[fill[v]] = e * n + s
            fill[v] += 1
    return ptr, entries


@njit(**_OPTIONS)
def _row_columns(r, ptr, entries, ordered, marker, out):
    """Write block row r's distinct columns (unsorted) into ``out``; returns their count."""
    n = ordered.shape[1]
    k = 0
    for j in range(ptr[r], ptr[r + 1]):
        e = entries[j] // n
        for t in range(n):
            v = ordered[e, t]
            if marker[v] != r:
                marker[v] = r
                out[k] = v
                k += 1
    return k


# Two kernels rather than one with a count-or-fill switch: the merged one raised the 1.09 M-dof
# benchmark's memory peak (in the AMG set-up, after assembly) from 1.18 to 1.24 KB/dof.
@_kernel
def _row_counts(chunks, ptr, entries, ordered, counts):
    N = len(counts)
    for c in prange(len(chunks) - 1):
        marker = np.full(N, -1, np.int32)
        out = np.empty(N if N < 4096 else 4096, np.int64)
        for r in range(chunks[c], chunks[c + 1]):
            if ordered.shape[1] * (ptr[r + 1] - ptr[r]) > len(out):
                out = np.empty(ordered.shape[1] * (ptr[r + 1] - ptr[r]), np.int64)
            counts[r] = _row_columns(r, ptr, entries, ordered, marker, out)


@_kernel
def _row_fill(chunks, ptr, entries, ordered, indptr, indices):
    N = len(indptr) - 1
    for c in prange(len(chunks) - 1):
        marker = np.full(N, -1, np.int32)
        out = np.empty(N if N < 4096 else 4096, np.int64)
        for r in range(chunks[c], chunks[c + 1]):
            if ordered.shape[1] * (ptr[r + 1] - ptr[r]) > len(out):
                out = np.empty(ordered.shape[1] * (ptr[r + 1] - ptr[r]), np.int64)
            k = _row_columns(r, ptr, entries, ordered, marker, out)
            start = indptr[r]
            for i in range(k):  # insertion sort: a row has a few dozen columns
                v = out[i]
                t = i
                while t > 0 and indices[start + t - 1] > v:
                    indices[start + t] = indices[start + t - 1]
                    t -= 1
                indices[start + t] = v


def block_pattern(chunks, ptr, entries, ordered, N: int, serial: bool):
    """(indptr (N + 1,) int64, indices int32): the sorted block columns of every block row."""
    counts = np.empty(N, np.int64)
    (_row_counts.serial if serial else _row_counts)(chunks, ptr, entries, ordered, counts)
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int32)
    (_row_fill.serial if serial else _row_fill)(chunks, ptr, entries, ordered, indptr, indices)
    return indptr, indices


@_kernel
def gather_upper(chunks, ptr, entries, ordered, G, w, lam, mu, indptr, indices, data):
    """Sum into ``data`` (zeros) each row's blocks on and above the diagonal, N/mm.

    For node r at position a of element e's sorted nodes and a column node at
    position b ≥ a: K_ab,ij = Σ_q w (λ ∂_i N_a ∂_j N_b + μ ∂_j N_a ∂_i N_b + μ δ_ij ∇N_a·∇N_b).
    """
    n = ordered.shape[1]
    nq = G.shape[1]
    for c in prange(len(chunks) - 1):
        K = np.empty((3, 3))
        for r in range(chunks[c], chunks[c + 1]):
            row_end = indptr[r + 1]
            for j in range(ptr[r], ptr[r + 1]):
                e = entries[j] // n
                a = entries[j] % n
                la = lam[e]
                mu_ = mu[e]
                pos = indptr[r]
                for b in range(a, n):
                    col = ordered[e, b]
                    while pos < row_end and indices[pos] != col:  # columns ascend with b
                        pos += 1
                    K[:] = 0.0
                    for q in range(nq):
                        dot = 0.0
                        for k in range(3):
                            dot += G[e, q, a, k] * G[e, q, b, k]
                        for i in range(3):
                            for jj in range(3):
                                v = la * G[e, q, a, i] * G[e, q, b, jj] + mu_ * G[e, q, a, jj] * G[e, q, b, i]
                                if i == jj:
                                    v += mu_ * dot
                                K[i, jj] += w[e, q] * v
                    for i in range(3):
                        for jj in range(3):
                            data[pos, i, jj] += K[i, jj]


@_kernel
def fill_lower(chunks, indptr, indices, data):
    """Each block (r, c), c < r, becomes the transpose of block (c, r) (found by bisection in row c)."""
    for ch in prange(len(chunks) - 1):
        for r in range(chunks[ch], chunks[ch + 1]):
            for p in range(indptr[r], indptr[r + 1]):
                c = indices[p]
                if c >= r:
                    break
                lo = indptr[c]
                hi = indptr[c + 1]
                while lo < hi:
                    mid = (lo + hi) // 2
                    if indices[mid] < r:
                        lo = mid + 1
                    else:
                        hi = mid
                for i in range(3):
                    for j in range(3):
                        data[p, j, i] = data[lo, i, j]


@_kernel
def element_stresses(nodes, elements, ref, weights, lam, mu, displacement, stress, w):
    """Fill ``stress`` (m, q, 3, 3) MPa, σ = λ tr ε I + 2 μ ε, and ``w`` (m, q) mm³ from the
    displacements (N, 3) mm, at the quadrature points of ``ref`` (q, n, 3); returns the
    number of inverted elements (det J ≤ 0 at a quadrature point)."""
    m, n = elements.shape
    nq = ref.shape[0]
    bounds = np.linspace(0, m, min(ELEMENT_CHUNKS, max(m, 1)) + 1).astype(np.int64)
    bad = np.zeros(len(bounds) - 1, np.int64)
    for c in prange(len(bounds) - 1):
        J = np.empty((3, 3))
        inv = np.empty((3, 3))
        gu = np.empty((3, 3))
        for e in range(bounds[c], bounds[c + 1]):
            inverted = False
            for q in range(nq):
                det = _inverse_jacobian(nodes, elements, ref, e, q, J, inv)
                if not det > 0:
                    inverted = True
                gu[:] = 0.0
                for a in range(n):
                    node = elements[e, a]
                    for k in range(3):
                        g = 0.0
                        for l in range(3):
                            g += ref[q, a, l] * inv[l, k]
                        for i in range(3):
                            gu[i, k] += displacement[node, i] * g  # du_i/dx_k
                volumetric = lam[e] * (gu[0, 0] + gu[1, 1] + gu[2, 2])
                for i in range(3):
                    for j in range(3):
                        stress[e, q, i, j] = mu[e] * (gu[i, j] + gu[j, i])
                    stress[e, q, i, i] += volumetric
                w[e, q] = det * weights[q]
            if inverted:
                bad[c] += 1
    return bad.sum()
