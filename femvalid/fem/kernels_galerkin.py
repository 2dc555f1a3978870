"""The Galerkin product R·A·P in one pass (numba), without storing R·A.

pyamg forms a coarse level as ``R @ A @ P``: the product R·A, a matrix of the coarse
rows by the fine columns, is stored whole before it is multiplied by P. On the 1 M-dof
P1 benchmark it held 281 MB (single precision) at the set-up's memory peak. Here each
coarse row I of R·A is computed into a work row, its columns sorted, and multiplied by
P at once; only the coarse matrix and R·A's pattern (its indices, 4 bytes a block
against 72 for its values) are stored.

Arithmetic: the same as the two products of :func:`femvalid.fem.kernels_numba.spgemm`
(scipy's): row I of R·A accumulated over R's blocks in stored order and A's blocks of
that row in stored order, each entry over the inner index; then the product with P
over R·A's row in ascending column order and P's blocks in stored order. So the
coarse matrix is bit for bit the one of ``(R @ A) @ P`` (tests/test_kernels.py), and
each row is computed by one thread: no dependence on the thread count.

The kernel is compiled for the first level of femvalid's hierarchies, 6×3 · 3×3 · 3×6
blocks (block sizes as compile-time constants), where R·A is largest and sets the
memory peak; measured at 313 k dofs (P1) it takes 0.68–0.72 s against 0.67–0.75 s for
the two products. The coarser 6×6 levels, whose R·A is a few MB, keep the two products
(an earlier version of this kernel there took 0.8 s against 0.5 s at 1 M dofs).
"""

from __future__ import annotations

import types

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from femvalid.fem.kernels_numba import _OPTIONS, SERIAL_BELOW, SPGEMM_CHUNKS, bsr_spgemm_symbolic, row_chunks

__all__ = ["galerkin", "SHAPES"]

#: Row chunks (each has marker arrays as long as A has block columns and P has block columns).
CHUNKS = 16

# Block sizes: R is BR × BK, A is BK × BA, P is BA × BP (module constants of each compiled copy).
BR = BK = BA = BP = 0


def _numeric(chunks, r_ptr, r_idx, r_data, a_ptr, a_idx, a_data, p_ptr, p_idx, p_data,
             ra_ptr, ra_idx, c_ptr, c_idx, a_cols, p_cols, longest):
    """Blocks of R·A·P on the pattern (c_ptr, c_idx), as ``(R @ A) @ P`` computes them.

    (ra_ptr, ra_idx) is the pattern of R·A (sorted rows); its blocks live in one work row.
    """
    out = np.zeros((len(c_idx), BR, BP), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where_a = np.full(a_cols, -1, np.int64)
        where_p = np.full(p_cols, -1, np.int64)
        ra = np.empty((max(longest, 1), BR, BA), a_data.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            first = ra_ptr[i]
            n = ra_ptr[i + 1] - first
            for t in range(n):
                where_a[ra_idx[first + t]] = t
                for r in range(BR):
                    for q in range(BA):
                        ra[t, r, q] = 0
            # Row i of R·A.
            for ii in range(r_ptr[i], r_ptr[i + 1]):
                k = r_idx[ii]
                for jj in range(a_ptr[k], a_ptr[k + 1]):
                    s = where_a[a_idx[jj]]
                    for r in range(BR):
                        for q in range(BA):
                            v = ra[s, r, q]
                            for m in range(BK):
                                v = v + r_data[ii, r, m] * a_data[jj, m, q]
                            ra[s, r, q] = v
            # Row i of (R·A)·P, over R·A's blocks in ascending column order.
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where_p[c_idx[ss]] = ss
            for t in range(n):
                j = ra_idx[first + t]
                for kk in range(p_ptr[j], p_ptr[j + 1]):
                    s = where_p[p_idx[kk]]
                    for r in range(BR):
                        for q in range(BP):
                            v = out[s, r, q]
                            for m in range(BA):
                                v = v + ra[t, r, m] * p_data[kk, m, q]
                            out[s, r, q] = v
    return out


def _build(f, shape, parallel: bool):
    """f compiled with the block sizes ``shape`` = (BR, BK, BA, BP) as constants."""
    suffix = "x".join(map(str, shape)) + ("" if parallel else "_serial")
    name = f"{f.__name__}_{suffix}"
    scope = dict(f.__globals__)
    scope.update(BR=shape[0], BK=shape[1], BA=shape[2], BP=shape[3])
    g = types.FunctionType(f.__code__, scope, name, f.__defaults__, f.__closure__)
    g.__qualname__ = name  # numba's cache files are named by it
    return njit(parallel=parallel, **_OPTIONS)(g)


#: (BR, BK, BA, BP) → (numeric, numeric serial), compiled on first use.
SHAPES = {shape: (_build(_numeric, shape, True), _build(_numeric, shape, False)) for shape in [(6, 3, 3, 6)]}


def supported(R: sp.bsr_matrix, A: sp.bsr_matrix, P: sp.bsr_matrix) -> bool:
    """Can :func:`galerkin` form R·A·P (block shapes compiled, one precision, chained shapes)?"""
    shape = (R.blocksize[0], R.blocksize[1], A.blocksize[1], P.blocksize[1])
    return (shape in SHAPES and A.blocksize[0] == R.blocksize[1] and P.blocksize[0] == A.blocksize[1]
            and R.dtype == A.dtype == P.dtype and R.dtype in (np.float32, np.float64)
            and R.shape[1] == A.shape[0] and A.shape[1] == P.shape[0])


def galerkin(R: sp.bsr_matrix, A: sp.bsr_matrix, P: sp.bsr_matrix, threads: int = 0) -> sp.bsr_matrix:
    """The BSR product R·A·P, bit for bit ``(R @ A) @ P`` with sorted indices, without storing R·A."""
    if not supported(R, A, P):
        raise ValueError(f"no Galerkin kernel for blocks {R.blocksize}, {A.blocksize}, {P.blocksize} "
                         f"({R.dtype}, {A.dtype}, {P.dtype})")
    shape = (R.blocksize[0], R.blocksize[1], A.blocksize[1], P.blocksize[1])
    numeric, numeric_serial = SHAPES[shape]
    small = threads == 1 or A.indptr[-1] < SERIAL_BELOW // 9
    symbolic = bsr_spgemm_symbolic.serial if small else bsr_spgemm_symbolic
    numeric = numeric_serial if small else numeric
    a_cols = A.shape[1] // A.blocksize[1]
    p_cols = P.shape[1] // P.blocksize[1]
    # The patterns of R·A (its indices only: 4 bytes a block against 72 for its values) and R·A·P.
    ra_ptr, ra_idx = symbolic(row_chunks(R.indptr, SPGEMM_CHUNKS), R.indptr, R.indices, A.indptr, A.indices, a_cols)
    c_ptr, c_idx = symbolic(row_chunks(ra_ptr, SPGEMM_CHUNKS), ra_ptr, ra_idx, P.indptr, P.indices, p_cols)
    longest = int(np.diff(ra_ptr).max()) if len(ra_ptr) > 1 else 0
    data = numeric(row_chunks(R.indptr, CHUNKS), R.indptr, R.indices, R.data, A.indptr, A.indices, A.data,
                   P.indptr, P.indices, P.data, ra_ptr, ra_idx, c_ptr, c_idx, a_cols, p_cols, longest)
    del ra_ptr, ra_idx
    index = np.int32 if len(c_idx) < 2**31 else np.int64
    C = sp.bsr_matrix((data, c_idx.astype(index, copy=False), c_ptr.astype(index)), shape=(R.shape[0], P.shape[1]))
    C.has_sorted_indices = True
    return C
