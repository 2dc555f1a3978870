"""Block Gauss–Seidel on several vectors in one sweep (numba): the candidate improvement of the set-up.

Before aggregation, pyamg relaxes the rigid-body modes B (n × 6) by one symmetric
block Gauss–Seidel sweep on A B = 0 (``improve_candidates``, :data:`femvalid.fem.solvers.IMPROVE_CANDIDATES`),
column by column: twelve passes over the level matrix. The kernel here sweeps all
columns at once, so the matrix is read twice (forward, backward) instead of twelve
times, with pyamg's arithmetic for each column (``amg_core.block_gauss_seidel``: the
off-diagonal block products v = A_ij x_j, each summed over the block's columns in
order, added to the row sum in stored order, then x_i = D_i⁻¹ (b_i − sum)), so the
result is pyamg's to the last bit (tests/test_kernels.py). Gauss–Seidel is sequential
by nature: one thread, whatever the thread count.
"""

from __future__ import annotations

import numpy as np

from femvalid.fem.kernels_numba import _OPTIONS, njit

__all__ = ["block_gauss_seidel_columns", "improved_candidates"]


@njit(**_OPTIONS)
def block_gauss_seidel_columns(indptr, indices, data, dinv, X, start, stop, step, zero):
    """One block Gauss–Seidel sweep over rows start, start + step, ... (not stop) of A X = 0, in place.

    ``X`` (n, k) in the matrix's precision, C order; ``dinv`` (N, 3, 3) the inverted
    diagonal blocks. The columns are the innermost loop (contiguous in X).
    """
    k = X.shape[1]
    s0 = np.empty(k, data.dtype)
    s1 = np.empty(k, data.dtype)
    s2 = np.empty(k, data.dtype)
    i = start
    while i != stop:
        for c in range(k):
            s0[c] = zero
            s1[c] = zero
            s2[c] = zero
        for jj in range(indptr[i], indptr[i + 1]):
            j = indices[jj]
            if j == i:
                continue
            a00, a01, a02 = data[jj, 0, 0], data[jj, 0, 1], data[jj, 0, 2]
            a10, a11, a12 = data[jj, 1, 0], data[jj, 1, 1], data[jj, 1, 2]
            a20, a21, a22 = data[jj, 2, 0], data[jj, 2, 1], data[jj, 2, 2]
            for c in range(k):
                x0, x1, x2 = X[3 * j, c], X[3 * j + 1, c], X[3 * j + 2, c]
                s0[c] += ((zero + a00 * x0) + a01 * x1) + a02 * x2
                s1[c] += ((zero + a10 * x0) + a11 * x1) + a12 * x2
                s2[c] += ((zero + a20 * x0) + a21 * x1) + a22 * x2
        d00, d01, d02 = dinv[i, 0, 0], dinv[i, 0, 1], dinv[i, 0, 2]
        d10, d11, d12 = dinv[i, 1, 0], dinv[i, 1, 1], dinv[i, 1, 2]
        d20, d21, d22 = dinv[i, 2, 0], dinv[i, 2, 1], dinv[i, 2, 2]
        for c in range(k):
            r0, r1, r2 = zero - s0[c], zero - s1[c], zero - s2[c]  # b − sum with b = 0
            X[3 * i, c] = ((zero + d00 * r0) + d01 * r1) + d02 * r2
            X[3 * i + 1, c] = ((zero + d10 * r0) + d11 * r1) + d12 * r2
            X[3 * i + 2, c] = ((zero + d20 * r0) + d21 * r1) + d22 * r2
        i += step


def improved_candidates(A, B: np.ndarray, sweeps: int = 1) -> np.ndarray:
    """B after ``sweeps`` symmetric block Gauss–Seidel sweeps on A B = 0 (pyamg's candidate improvement)."""
    from pyamg.util.utils import get_block_diag

    R = A.blocksize[0]
    if R != 3:
        raise ValueError("the candidate sweep kernel takes 3 × 3 blocks")
    dinv = np.ascontiguousarray(get_block_diag(A, blocksize=R, inv_flag=True), dtype=A.dtype)
    X = np.array(B, dtype=A.dtype, order="C")
    X = X.reshape(A.shape[0], -1)
    data = np.ascontiguousarray(A.data)
    zero = A.dtype.type(0)
    N = A.shape[0] // R
    for _ in range(sweeps):
        block_gauss_seidel_columns(A.indptr, A.indices, data, dinv, X, 0, N, 1, zero)
        block_gauss_seidel_columns(A.indptr, A.indices, data, dinv, X, N - 1, -1, -1, zero)
    return X
