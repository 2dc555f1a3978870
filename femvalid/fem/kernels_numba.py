"""The numba (CPU) implementation of :mod:`femvalid.fem.kernels`.

Every kernel is deterministic: a product's row is summed by one thread in the stored
block order (scipy's order: block by block, and within a block column by column, so
results match scipy's BSR product to the last bit where both sum in float32 or
float64), and a reduction is summed in fixed chunks of :data:`REDUCTION_CHUNK`
entries whose partial sums are added in chunk order, whatever the number of threads.
No atomics. Rows are split into :data:`ROW_CHUNKS` chunks of about equal stored
blocks, a fixed split of the matrix, not of the thread count.

Compiled code is cached (``cache=True``) in ``NUMBA_CACHE_DIR``, which
:mod:`femvalid.fem.kernels` points under femvalid's cache folder before numba is
imported, so a run does not pay the compilation (several seconds) again.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

__all__ = ["REDUCTION_CHUNK", "ROW_CHUNKS", "SERIAL_BELOW", "row_chunks", "bsr_mv", "cheb_first", "cheb_step", "dot", "cg_update_xr", "cg_update_p", "cast",
           "bsr_spgemm_symbolic", "bsr_spgemm_numeric", "spgemm"]

#: Entries per partial sum of a reduction (dot products, norms).
REDUCTION_CHUNK = 4096
#: Row chunks of a matrix (work units of the parallel loops).
ROW_CHUNKS = 256
#: ... of a sparse matrix product (each chunk has a work array as long as the result's block columns).
SPGEMM_CHUNKS = 16

_OPTIONS = dict(cache=True, nogil=True)
#: Work (stored matrix entries, or vector entries) below which the serial build of a kernel runs:
#: the same arithmetic without starting threads.
SERIAL_BELOW = 200_000


def _kernel(f):
    """f as a kernel: the parallel build, with the serial one as ``.serial`` (both compiled on first use)."""
    parallel = _compile(f, True)
    parallel.serial = _compile(f, False)
    return parallel


def _compile(f, parallel: bool):
    name = f.__name__ if parallel else f"{f.__name__}_serial"
    g = types.FunctionType(f.__code__, f.__globals__, name, f.__defaults__, f.__closure__)
    g.__qualname__ = name  # numba's cache files are named by it
    g.__doc__ = f.__doc__
    return njit(parallel=parallel, **_OPTIONS)(g)


def row_chunks(indptr: np.ndarray, chunks: int = ROW_CHUNKS) -> np.ndarray:
    """Row boundaries (k + 1,) that split the rows into chunks of about equal stored blocks."""
    rows = len(indptr) - 1
    targets = np.linspace(0, indptr[-1], min(chunks, max(rows, 1)) + 1)
    bounds = np.searchsorted(indptr, targets, side="left")
    bounds[0], bounds[-1] = 0, rows
    return np.unique(bounds).astype(np.int64)


# --- block sparse products ------------------------------------------------------------------------------
# mode 0: y = A x;  mode 1: y = y + A x;  mode 2: y = b − A x (b given)


@_kernel
def bsr_mv(chunks, indptr, indices, data, x, y, b, mode, zero):
    """The product for any block shape R × C (at most 8 rows a block)."""
    R = data.shape[1]
    C = data.shape[2]
    for c in prange(len(chunks) - 1):
        s = np.empty(8, data.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            for r in range(R):
                s[r] = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = C * indices[jj]
                for r in range(R):
                    t = s[r]
                    for q in range(C):
                        t = t + data[jj, r, q] * x[j + q]
                    s[r] = t
            k = R * i
            if mode == 0:
                for r in range(R):
                    y[k + r] = s[r]
            elif mode == 1:
                for r in range(R):
                    y[k + r] = y[k + r] + s[r]
            else:
                for r in range(R):
                    y[k + r] = b[k + r] - s[r]


# --- Chebyshev smoothing (see femvalid.fem.smoothers) ------------------------------------------------------
# First step:  r = b − A x (x ≠ 0) or b (x = 0);  d = (D⁻¹ r) / θ;  x = x + d.
# Later steps: r = r − A d;  d' = c₁ d + c₂ D⁻¹ r;  x = x + d'   (one pass; d' in its own buffer).


@_kernel
def cheb_first(chunks, dinv, r, x, d, theta, zero_x):
    """d = (D⁻¹ r) / θ and x = d (``zero_x``) or x + d; any diagonal block size (r is given)."""
    B = dinv.shape[1]
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            k = B * i
            for a in range(B):
                t = dinv[i, a, 0] * r[k]
                for q in range(1, B):
                    t = t + dinv[i, a, q] * r[k + q]
                t = t / theta
                d[k + a] = t
                if zero_x:
                    x[k + a] = t
                else:
                    x[k + a] = x[k + a] + t


@_kernel
def cheb_step(chunks, indptr, indices, data, dinv, r, d, d_next, x, c1, c2, zero):
    """One fused Chebyshev step, any square block size (at most 8): r −= A d; d' = c₁ d + c₂ D⁻¹ r; x += d'."""
    B = data.shape[1]
    for c in prange(len(chunks) - 1):
        s = np.empty(8, data.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            for a in range(B):
                s[a] = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = B * indices[jj]
                for a in range(B):
                    t = s[a]
                    for q in range(B):
                        t = t + data[jj, a, q] * d[j + q]
                    s[a] = t
            k = B * i
            for a in range(B):
                r[k + a] = r[k + a] - s[a]
            for a in range(B):
                t = dinv[i, a, 0] * r[k]
                for q in range(1, B):
                    t = t + dinv[i, a, q] * r[k + q]
                dn = d[k + a] * c1 + c2 * t
                d_next[k + a] = dn
                x[k + a] = x[k + a] + dn


# --- vectors --------------------------------------------------------------------------------------------


@_kernel
def dot(x, y):
    """Σ x_i y_i in float64, by fixed chunks summed in order."""
    n = len(x)
    count = (n + REDUCTION_CHUNK - 1) // REDUCTION_CHUNK
    partial = np.empty(count)
    for c in prange(count):
        s = 0.0
        for i in range(c * REDUCTION_CHUNK, min(n, (c + 1) * REDUCTION_CHUNK)):
            s += np.float64(x[i]) * np.float64(y[i])
        partial[c] = s
    total = 0.0
    for c in range(count):
        total += partial[c]
    return total


@_kernel
def cg_update_xr(x, r, p, q, alpha):
    """x += α p; r −= α q; returns r·r (fixed chunks)."""
    n = len(x)
    count = (n + REDUCTION_CHUNK - 1) // REDUCTION_CHUNK
    partial = np.empty(count)
    for c in prange(count):
        s = 0.0
        for i in range(c * REDUCTION_CHUNK, min(n, (c + 1) * REDUCTION_CHUNK)):
            x[i] = x[i] + alpha * p[i]
            v = r[i] - alpha * q[i]
            r[i] = v
            s += v * v
        partial[c] = s
    total = 0.0
    for c in range(count):
        total += partial[c]
    return total


@_kernel
def cg_update_p(p, z, beta):
    """p = β p + z."""
    n = len(p)
    count = (n + REDUCTION_CHUNK - 1) // REDUCTION_CHUNK
    for c in prange(count):
        for i in range(c * REDUCTION_CHUNK, min(n, (c + 1) * REDUCTION_CHUNK)):
            p[i] = p[i] * beta + z[i]


@_kernel
def cast(x, y):
    """y = x converted to y's precision."""
    n = len(x)
    count = (n + REDUCTION_CHUNK - 1) // REDUCTION_CHUNK
    for c in prange(count):
        for i in range(c * REDUCTION_CHUNK, min(n, (c + 1) * REDUCTION_CHUNK)):
            y[i] = x[i]


# --- Galerkin products ----------------------------------------------------------------------------------


@_kernel
def bsr_spgemm_symbolic(chunks, a_ptr, a_idx, b_ptr, b_idx, b_cols):
    """Block pattern of A·B (block rows of A × block columns of B): (indptr, indices sorted per row)."""
    rows = len(a_ptr) - 1
    counts = np.zeros(rows + 1, np.int64)
    for c in prange(len(chunks) - 1):
        mark = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            n = 0
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    k = b_idx[kk]
                    if mark[k] != i:
                        mark[k] = i
                        n += 1
            counts[i + 1] = n
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[-1], np.int32)
    for c in prange(len(chunks) - 1):
        mark = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            n = indptr[i]
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    k = b_idx[kk]
                    if mark[k] != i:
                        mark[k] = i
                        indices[n] = k
                        n += 1
            indices[indptr[i]:n].sort()
    return indptr, indices


@_kernel
def bsr_spgemm_numeric(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):
    """Blocks of A·B on the pattern (c_ptr, c_idx), any block shapes.

    Every entry is accumulated as scipy's bsr_matmat does: over A's blocks in stored
    order, B's blocks of that row in stored order, and within a block product over the
    inner index, each product added to the running entry.
    """
    R = a_data.shape[1]
    K = a_data.shape[2]
    C = b_data.shape[2]
    out = np.zeros((len(c_idx), R, C), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where[c_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    s = where[b_idx[kk]]
                    for r in range(R):
                        for q in range(C):
                            t = out[s, r, q]
                            for m in range(K):
                                t = t + a_data[jj, r, m] * b_data[kk, m, q]
                            out[s, r, q] = t
    return out


def spgemm(A, B, numeric=None):
    """The BSR product A·B (scipy's block shapes and, entry by entry, its arithmetic), indices sorted per row.

    ``numeric``: the numeric kernel (by default the generic one).
    """
    import scipy.sparse as sp

    cols = B.shape[1] // B.blocksize[1]
    # Few chunks: each needs a marker array as long as B has block columns.
    chunks = row_chunks(A.indptr, SPGEMM_CHUNKS)
    symbolic = bsr_spgemm_symbolic if A.indptr[-1] >= SERIAL_BELOW // 9 else bsr_spgemm_symbolic.serial
    c_ptr, c_idx = symbolic(chunks, A.indptr, A.indices, B.indptr, B.indices, cols)
    kernel = numeric or bsr_spgemm_numeric
    if A.indptr[-1] < SERIAL_BELOW // 9:
        kernel = kernel.serial
    data = kernel(chunks, A.indptr, A.indices, A.data, B.indptr, B.indices, B.data, c_ptr, c_idx, cols)
    index = np.int32 if len(c_idx) < 2**31 else np.int64
    matrix = sp.bsr_matrix((data, c_idx.astype(index, copy=False), c_ptr.astype(index)),
                           shape=(A.shape[0], B.shape[1]))
    matrix.has_sorted_indices = True
    return matrix
