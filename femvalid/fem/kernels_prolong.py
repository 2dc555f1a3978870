"""The smoothed prolongator in one pass (numba): P = T − (ω/ρ) D⁻¹ A T without a copy of D⁻¹A.

pyamg's Jacobi prolongation smoothing (``jacobi_prolongation_smoother``, point
diagonal, one step) builds D⁻¹A as a scaled copy of A, scales that copy again by ω/ρ
(a second copy), multiplies it by the tentative prolongator T and subtracts the
product from T: at 1 M dofs two transient single-precision copies of the fine matrix
(210 MB each) and three passes over it. As AMGCL does, the kernel here computes each
row of P directly from A's row, D⁻¹'s entries and T's rows; ρ, the spectral radius of
D⁻¹A, comes from pyamg's own Arnoldi estimate run on the operator x ↦ D⁻¹(A x) (no
matrix is formed), from femvalid's fixed start vector (solvers.py). Measured at 313 k
dofs (P1): 0.23–0.27 s against pyamg's 0.26–0.33 s with the kernels' products.

Not taken from AMGCL: its Gershgorin bound on ρ in place of Arnoldi. It overestimates ρ,
so the prolongator is smoothed less: on the benchmark and implant meshes CG needed
10 → 12, 11 → 16, 12 → 14, 10 → 14, 11 → 13, 11 → 12 and 12 → 13 iterations.

Arithmetic: each entry is rounded as pyamg's path rounds it: (d_r · a_rm) then ω/ρ times
that, products with T's entries added over A's blocks in stored order, T's blocks in
stored order and within a block over the inner index (scipy's order), then T − U.
The same inputs give pyamg's P (tests/test_kernels.py compares them); every row is
computed by one thread, so the bits do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import prange

from femvalid.fem.kernels_numba import SERIAL_BELOW, _kernel, row_chunks

__all__ = ["smoothed_prolongator", "scaled_matvec", "JacobiOperator"]

#: Row chunks of the prolongator kernels (each has a marker array as long as T has block columns).
CHUNKS = 16


@_kernel
def _pattern(chunks, a_ptr, a_idx, t_ptr, t_idx, t_cols):
    """Block pattern of T + A·T: (indptr, indices sorted per row)."""
    rows = len(a_ptr) - 1
    counts = np.zeros(rows + 1, np.int64)
    for c in prange(len(chunks) - 1):
        mark = np.full(t_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            n = 0
            for kk in range(t_ptr[i], t_ptr[i + 1]):
                k = t_idx[kk]
                if mark[k] != i:
                    mark[k] = i
                    n += 1
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(t_ptr[j], t_ptr[j + 1]):
                    k = t_idx[kk]
                    if mark[k] != i:
                        mark[k] = i
                        n += 1
            counts[i + 1] = n
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[-1], np.int32)
    for c in prange(len(chunks) - 1):
        mark = np.full(t_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            n = indptr[i]
            for kk in range(t_ptr[i], t_ptr[i + 1]):
                k = t_idx[kk]
                if mark[k] != i:
                    mark[k] = i
                    indices[n] = k
                    n += 1
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(t_ptr[j], t_ptr[j + 1]):
                    k = t_idx[kk]
                    if mark[k] != i:
                        mark[k] = i
                        indices[n] = k
                        n += 1
            indices[indptr[i]:n].sort()
    return indptr, indices


@_kernel
def _numeric(chunks, a_ptr, a_idx, a_data, dinv, scale, t_ptr, t_idx, t_data, p_ptr, p_idx, t_cols):
    """Blocks of P = T − scale · D⁻¹ A T on the pattern (p_ptr, p_idx); D⁻¹ the point diagonal ``dinv``."""
    R = a_data.shape[1]
    K = a_data.shape[2]
    C = t_data.shape[2]
    out = np.zeros((len(p_idx), R, C), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(t_cols, -1, np.int64)
        a = np.empty((R, K), a_data.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(p_ptr[i], p_ptr[i + 1]):
                where[p_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                for r in range(R):
                    d = dinv[R * i + r]
                    for m in range(K):
                        a[r, m] = scale * (d * a_data[jj, r, m])
                j = a_idx[jj]
                for kk in range(t_ptr[j], t_ptr[j + 1]):
                    s = where[t_idx[kk]]
                    for r in range(R):
                        for q in range(C):
                            t = out[s, r, q]
                            for m in range(K):
                                t = t + a[r, m] * t_data[kk, m, q]
                            out[s, r, q] = t
            # P = T − U: −U where T has no block, T − U where it has.
            for ss in range(p_ptr[i], p_ptr[i + 1]):
                for r in range(R):
                    for q in range(C):
                        out[ss, r, q] = -out[ss, r, q]
            for kk in range(t_ptr[i], t_ptr[i + 1]):
                s = where[t_idx[kk]]
                for r in range(R):
                    for q in range(C):
                        out[s, r, q] = t_data[kk, r, q] + out[s, r, q]
    return out


@_kernel
def _scaled_mv(chunks, indptr, indices, data, dinv, x, y):
    """y = (D⁻¹A) x with each entry d_r · a_rm rounded first (as a row-scaled copy of A would be)."""
    R = data.shape[1]
    C = data.shape[2]
    for c in prange(len(chunks) - 1):
        s = np.empty(8, data.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            for r in range(R):
                s[r] = 0
            for jj in range(indptr[i], indptr[i + 1]):
                j = C * indices[jj]
                for r in range(R):
                    d = dinv[R * i + r]
                    t = s[r]
                    for q in range(C):
                        t = t + (d * data[jj, r, q]) * x[j + q]
                    s[r] = t
            for r in range(R):
                y[R * i + r] = s[r]


@_kernel
def _numeric_3(chunks, a_ptr, a_idx, a_data, dinv, scale, t_ptr, t_idx, t_data, p_ptr, p_idx, t_cols):
    """:func:`_numeric` for 3×3 blocks of A (T's blocks 3 × C), the inner loops of fixed length."""
    C = t_data.shape[2]
    out = np.zeros((len(p_idx), 3, C), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(t_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(p_ptr[i], p_ptr[i + 1]):
                where[p_idx[ss]] = ss
            d0, d1, d2 = dinv[3 * i], dinv[3 * i + 1], dinv[3 * i + 2]
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                a00 = scale * (d0 * a_data[jj, 0, 0])
                a01 = scale * (d0 * a_data[jj, 0, 1])
                a02 = scale * (d0 * a_data[jj, 0, 2])
                a10 = scale * (d1 * a_data[jj, 1, 0])
                a11 = scale * (d1 * a_data[jj, 1, 1])
                a12 = scale * (d1 * a_data[jj, 1, 2])
                a20 = scale * (d2 * a_data[jj, 2, 0])
                a21 = scale * (d2 * a_data[jj, 2, 1])
                a22 = scale * (d2 * a_data[jj, 2, 2])
                j = a_idx[jj]
                for kk in range(t_ptr[j], t_ptr[j + 1]):
                    s = where[t_idx[kk]]
                    for q in range(C):
                        t0, t1, t2 = t_data[kk, 0, q], t_data[kk, 1, q], t_data[kk, 2, q]
                        out[s, 0, q] = ((out[s, 0, q] + a00 * t0) + a01 * t1) + a02 * t2
                        out[s, 1, q] = ((out[s, 1, q] + a10 * t0) + a11 * t1) + a12 * t2
                        out[s, 2, q] = ((out[s, 2, q] + a20 * t0) + a21 * t1) + a22 * t2
            for ss in range(p_ptr[i], p_ptr[i + 1]):
                for r in range(3):
                    for q in range(C):
                        out[ss, r, q] = -out[ss, r, q]
            for kk in range(t_ptr[i], t_ptr[i + 1]):
                s = where[t_idx[kk]]
                for r in range(3):
                    for q in range(C):
                        out[s, r, q] = t_data[kk, r, q] + out[s, r, q]
    return out


@_kernel
def _scaled_mv_3(chunks, indptr, indices, data, dinv, x, y):
    """:func:`_scaled_mv` for 3×3 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            d0, d1, d2 = dinv[3 * i], dinv[3 * i + 1], dinv[3 * i + 2]
            s0 = s1 = s2 = data.dtype.type(0)
            for jj in range(indptr[i], indptr[i + 1]):
                j = 3 * indices[jj]
                x0, x1, x2 = x[j], x[j + 1], x[j + 2]
                s0 = ((s0 + (d0 * data[jj, 0, 0]) * x0) + (d0 * data[jj, 0, 1]) * x1) + (d0 * data[jj, 0, 2]) * x2
                s1 = ((s1 + (d1 * data[jj, 1, 0]) * x0) + (d1 * data[jj, 1, 1]) * x1) + (d1 * data[jj, 1, 2]) * x2
                s2 = ((s2 + (d2 * data[jj, 2, 0]) * x0) + (d2 * data[jj, 2, 1]) * x1) + (d2 * data[jj, 2, 2]) * x2
            y[3 * i], y[3 * i + 1], y[3 * i + 2] = s0, s1, s2


def _point_inverse_diagonal(A: sp.bsr_matrix) -> np.ndarray:
    """1 / diag(A) in A's precision, 0 where the diagonal is 0 (pyamg's get_diagonal(inv=True))."""
    d = A.diagonal()
    inv = np.zeros_like(d)
    nonzero = d != 0
    inv[nonzero] = 1.0 / d[nonzero]
    return np.ascontiguousarray(inv, dtype=A.dtype)


def _serial_if_small(kernel, work: int, threads: int):
    return kernel.serial if threads == 1 or work < SERIAL_BELOW else kernel


def scaled_matvec(A: sp.bsr_matrix, dinv: np.ndarray, x: np.ndarray, threads: int = 0) -> np.ndarray:
    """(D⁻¹A) x for a BSR A (at most 8 rows a block) and the point inverse diagonal ``dinv``."""
    x = np.ascontiguousarray(x, dtype=A.dtype)
    y = np.empty(A.shape[0], A.dtype)
    kernel = _serial_if_small(_scaled_mv_3 if A.blocksize == (3, 3) else _scaled_mv, A.data.size, threads)
    kernel(row_chunks(A.indptr), A.indptr, A.indices, A.data, dinv, x, y)
    return y


class JacobiOperator:
    """D⁻¹A as an operator for pyamg's spectral-radius estimate (``matvec`` or ``@`` on (n,) or (n, 1) vectors)."""

    def __init__(self, A: sp.bsr_matrix, dinv: np.ndarray, threads: int = 0):
        self.A, self.dinv, self.threads = A, dinv, threads
        self.shape, self.dtype = A.shape, A.dtype

    def matvec(self, x):
        x = np.asarray(x)
        y = scaled_matvec(self.A, self.dinv, x.ravel(), self.threads)
        return y.reshape(x.shape)

    __matmul__ = matvec


def smoothed_prolongator(A: sp.bsr_matrix, T: sp.bsr_matrix, omega: float = 4.0 / 3.0, rho=None,
                         threads: int = 0, radius=None) -> sp.bsr_matrix:
    """P = T − (ω/ρ) D⁻¹ A T (D the point diagonal of A), in A's precision, indices sorted.

    ``rho``: the spectral radius of D⁻¹A; by default ``radius(JacobiOperator)``, ``radius``
    defaulting to pyamg's ``approximate_spectral_radius``.
    """
    A = A if sp.issparse(A) and A.format == "bsr" else sp.bsr_matrix(A)
    T = T if sp.issparse(T) and T.format == "bsr" else sp.bsr_matrix(T)
    if T.dtype != A.dtype:
        T = T.astype(A.dtype)
    if A.blocksize[1] != T.blocksize[0] or A.blocksize[0] != A.blocksize[1]:
        raise ValueError(f"block sizes {A.blocksize} and {T.blocksize} do not chain")
    dinv = _point_inverse_diagonal(A)
    if rho is None:
        if radius is None:
            from pyamg.util.linalg import approximate_spectral_radius as radius
        rho = radius(JacobiOperator(A, dinv, threads))
    scale = A.dtype.type(A.dtype.type(omega) / A.dtype.type(rho))
    if not np.isfinite(scale):
        raise ValueError(f"spectral radius {rho!r} of D⁻¹A gives no smoothing weight")
    cols = T.shape[1] // T.blocksize[1]
    chunks = row_chunks(A.indptr, CHUNKS)
    small = threads == 1 or A.indptr[-1] < SERIAL_BELOW // 9
    pattern = _pattern.serial if small else _pattern
    numeric = _numeric_3 if A.blocksize == (3, 3) else _numeric
    numeric = numeric.serial if small else numeric
    p_ptr, p_idx = pattern(chunks, A.indptr, A.indices, T.indptr, T.indices, cols)
    data = numeric(chunks, A.indptr, A.indices, A.data, dinv, scale, T.indptr, T.indices, T.data, p_ptr, p_idx, cols)
    # Blocks that came out all zero (the zeroed couplings of constrained rows) are dropped, as
    # scipy's subtraction T − U drops them: they would cost time in every product with P.
    keep = np.any(data != 0, axis=(1, 2))
    if not keep.all():
        rows = np.repeat(np.arange(len(p_ptr) - 1), np.diff(p_ptr))[keep]
        p_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(p_ptr) - 1))])
        p_idx, data = p_idx[keep], data[keep]
    index = np.int32 if len(p_idx) < 2**31 else np.int64
    # The container of T (pyamg's hierarchy holds sparse arrays), as pyamg's T − U would give.
    container = T._bsr_container if hasattr(T, "_bsr_container") else sp.bsr_matrix
    P = container((data, p_idx.astype(index, copy=False), p_ptr.astype(index)), shape=(A.shape[0], T.shape[1]))
    P.has_sorted_indices = True
    return P
