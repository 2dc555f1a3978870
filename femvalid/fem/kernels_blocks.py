"""BSR kernels unrolled for fixed block shapes (written by ``python -m femvalid.fem.kernels_generate``; do not edit).

Same arithmetic as the generic kernels of :mod:`femvalid.fem.kernels_numba` (each row
summed block by block, within a block column by column, as scipy does), written out
for the block shapes of femvalid's hierarchies: 3×3 (P1/P2 matrices, block Jacobi),
3×6 and 6×3 (first prolongator and restriction), 6×6 (coarse levels), and the block
products of the Galerkin operators.
"""

import numpy as np
from numba import prange

from femvalid.fem.kernels_numba import _kernel

__all__ = ["MV", "CHEB_FIRST", "CHEB_STEP", "SPGEMM"]


@_kernel
def mv_3x3(chunks, indptr, indices, data, x, y, b, mode, zero):
    """y = A x (mode 0), y + A x (1) or b − A x (2), 3×3 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            s0 = zero
            s1 = zero
            s2 = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = 3 * indices[jj]
                x0 = x[j + 0]
                x1 = x[j + 1]
                x2 = x[j + 2]
                s0 = s0 + data[jj, 0, 0] * x0
                s0 = s0 + data[jj, 0, 1] * x1
                s0 = s0 + data[jj, 0, 2] * x2
                s1 = s1 + data[jj, 1, 0] * x0
                s1 = s1 + data[jj, 1, 1] * x1
                s1 = s1 + data[jj, 1, 2] * x2
                s2 = s2 + data[jj, 2, 0] * x0
                s2 = s2 + data[jj, 2, 1] * x1
                s2 = s2 + data[jj, 2, 2] * x2
            k = 3 * i
            if mode == 0:
                y[k + 0] = s0
                y[k + 1] = s1
                y[k + 2] = s2
            elif mode == 1:
                y[k + 0] = y[k + 0] + s0
                y[k + 1] = y[k + 1] + s1
                y[k + 2] = y[k + 2] + s2
            else:
                y[k + 0] = b[k + 0] - s0
                y[k + 1] = b[k + 1] - s1
                y[k + 2] = b[k + 2] - s2


@_kernel
def mv_3x6(chunks, indptr, indices, data, x, y, b, mode, zero):
    """y = A x (mode 0), y + A x (1) or b − A x (2), 3×6 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            s0 = zero
            s1 = zero
            s2 = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = 6 * indices[jj]
                x0 = x[j + 0]
                x1 = x[j + 1]
                x2 = x[j + 2]
                x3 = x[j + 3]
                x4 = x[j + 4]
                x5 = x[j + 5]
                s0 = s0 + data[jj, 0, 0] * x0
                s0 = s0 + data[jj, 0, 1] * x1
                s0 = s0 + data[jj, 0, 2] * x2
                s0 = s0 + data[jj, 0, 3] * x3
                s0 = s0 + data[jj, 0, 4] * x4
                s0 = s0 + data[jj, 0, 5] * x5
                s1 = s1 + data[jj, 1, 0] * x0
                s1 = s1 + data[jj, 1, 1] * x1
                s1 = s1 + data[jj, 1, 2] * x2
                s1 = s1 + data[jj, 1, 3] * x3
                s1 = s1 + data[jj, 1, 4] * x4
                s1 = s1 + data[jj, 1, 5] * x5
                s2 = s2 + data[jj, 2, 0] * x0
                s2 = s2 + data[jj, 2, 1] * x1
                s2 = s2 + data[jj, 2, 2] * x2
                s2 = s2 + data[jj, 2, 3] * x3
                s2 = s2 + data[jj, 2, 4] * x4
                s2 = s2 + data[jj, 2, 5] * x5
            k = 3 * i
            if mode == 0:
                y[k + 0] = s0
                y[k + 1] = s1
                y[k + 2] = s2
            elif mode == 1:
                y[k + 0] = y[k + 0] + s0
                y[k + 1] = y[k + 1] + s1
                y[k + 2] = y[k + 2] + s2
            else:
                y[k + 0] = b[k + 0] - s0
                y[k + 1] = b[k + 1] - s1
                y[k + 2] = b[k + 2] - s2


@_kernel
def mv_6x3(chunks, indptr, indices, data, x, y, b, mode, zero):
    """y = A x (mode 0), y + A x (1) or b − A x (2), 6×3 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            s4 = zero
            s5 = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = 3 * indices[jj]
                x0 = x[j + 0]
                x1 = x[j + 1]
                x2 = x[j + 2]
                s0 = s0 + data[jj, 0, 0] * x0
                s0 = s0 + data[jj, 0, 1] * x1
                s0 = s0 + data[jj, 0, 2] * x2
                s1 = s1 + data[jj, 1, 0] * x0
                s1 = s1 + data[jj, 1, 1] * x1
                s1 = s1 + data[jj, 1, 2] * x2
                s2 = s2 + data[jj, 2, 0] * x0
                s2 = s2 + data[jj, 2, 1] * x1
                s2 = s2 + data[jj, 2, 2] * x2
                s3 = s3 + data[jj, 3, 0] * x0
                s3 = s3 + data[jj, 3, 1] * x1
                s3 = s3 + data[jj, 3, 2] * x2
                s4 = s4 + data[jj, 4, 0] * x0
                s4 = s4 + data[jj, 4, 1] * x1
                s4 = s4 + data[jj, 4, 2] * x2
                s5 = s5 + data[jj, 5, 0] * x0
                s5 = s5 + data[jj, 5, 1] * x1
                s5 = s5 + data[jj, 5, 2] * x2
            k = 6 * i
            if mode == 0:
                y[k + 0] = s0
                y[k + 1] = s1
                y[k + 2] = s2
                y[k + 3] = s3
                y[k + 4] = s4
                y[k + 5] = s5
            elif mode == 1:
                y[k + 0] = y[k + 0] + s0
                y[k + 1] = y[k + 1] + s1
                y[k + 2] = y[k + 2] + s2
                y[k + 3] = y[k + 3] + s3
                y[k + 4] = y[k + 4] + s4
                y[k + 5] = y[k + 5] + s5
            else:
                y[k + 0] = b[k + 0] - s0
                y[k + 1] = b[k + 1] - s1
                y[k + 2] = b[k + 2] - s2
                y[k + 3] = b[k + 3] - s3
                y[k + 4] = b[k + 4] - s4
                y[k + 5] = b[k + 5] - s5


@_kernel
def mv_6x6(chunks, indptr, indices, data, x, y, b, mode, zero):
    """y = A x (mode 0), y + A x (1) or b − A x (2), 6×6 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            s4 = zero
            s5 = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = 6 * indices[jj]
                x0 = x[j + 0]
                x1 = x[j + 1]
                x2 = x[j + 2]
                x3 = x[j + 3]
                x4 = x[j + 4]
                x5 = x[j + 5]
                s0 = s0 + data[jj, 0, 0] * x0
                s0 = s0 + data[jj, 0, 1] * x1
                s0 = s0 + data[jj, 0, 2] * x2
                s0 = s0 + data[jj, 0, 3] * x3
                s0 = s0 + data[jj, 0, 4] * x4
                s0 = s0 + data[jj, 0, 5] * x5
                s1 = s1 + data[jj, 1, 0] * x0
                s1 = s1 + data[jj, 1, 1] * x1
                s1 = s1 + data[jj, 1, 2] * x2
                s1 = s1 + data[jj, 1, 3] * x3
                s1 = s1 + data[jj, 1, 4] * x4
                s1 = s1 + data[jj, 1, 5] * x5
                s2 = s2 + data[jj, 2, 0] * x0
                s2 = s2 + data[jj, 2, 1] * x1
                s2 = s2 + data[jj, 2, 2] * x2
                s2 = s2 + data[jj, 2, 3] * x3
                s2 = s2 + data[jj, 2, 4] * x4
                s2 = s2 + data[jj, 2, 5] * x5
                s3 = s3 + data[jj, 3, 0] * x0
                s3 = s3 + data[jj, 3, 1] * x1
                s3 = s3 + data[jj, 3, 2] * x2
                s3 = s3 + data[jj, 3, 3] * x3
                s3 = s3 + data[jj, 3, 4] * x4
                s3 = s3 + data[jj, 3, 5] * x5
                s4 = s4 + data[jj, 4, 0] * x0
                s4 = s4 + data[jj, 4, 1] * x1
                s4 = s4 + data[jj, 4, 2] * x2
                s4 = s4 + data[jj, 4, 3] * x3
                s4 = s4 + data[jj, 4, 4] * x4
                s4 = s4 + data[jj, 4, 5] * x5
                s5 = s5 + data[jj, 5, 0] * x0
                s5 = s5 + data[jj, 5, 1] * x1
                s5 = s5 + data[jj, 5, 2] * x2
                s5 = s5 + data[jj, 5, 3] * x3
                s5 = s5 + data[jj, 5, 4] * x4
                s5 = s5 + data[jj, 5, 5] * x5
            k = 6 * i
            if mode == 0:
                y[k + 0] = s0
                y[k + 1] = s1
                y[k + 2] = s2
                y[k + 3] = s3
                y[k + 4] = s4
                y[k + 5] = s5
            elif mode == 1:
                y[k + 0] = y[k + 0] + s0
                y[k + 1] = y[k + 1] + s1
                y[k + 2] = y[k + 2] + s2
                y[k + 3] = y[k + 3] + s3
                y[k + 4] = y[k + 4] + s4
                y[k + 5] = y[k + 5] + s5
            else:
                y[k + 0] = b[k + 0] - s0
                y[k + 1] = b[k + 1] - s1
                y[k + 2] = b[k + 2] - s2
                y[k + 3] = b[k + 3] - s3
                y[k + 4] = b[k + 4] - s4
                y[k + 5] = b[k + 5] - s5


@_kernel
def cheb_first_3(chunks, dinv, r, x, d, theta, zero_x):
    """d = (D⁻¹ r) / θ; x = d (``zero_x``) or x + d; 3×3 diagonal blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            k = 3 * i
            r0 = r[k + 0]
            r1 = r[k + 1]
            r2 = r[k + 2]
            t = dinv[i, 0, 0] * r0
            t = t + dinv[i, 0, 1] * r1
            t = t + dinv[i, 0, 2] * r2
            t = t / theta
            d[k + 0] = t
            if zero_x:
                x[k + 0] = t
            else:
                x[k + 0] = x[k + 0] + t
            t = dinv[i, 1, 0] * r0
            t = t + dinv[i, 1, 1] * r1
            t = t + dinv[i, 1, 2] * r2
            t = t / theta
            d[k + 1] = t
            if zero_x:
                x[k + 1] = t
            else:
                x[k + 1] = x[k + 1] + t
            t = dinv[i, 2, 0] * r0
            t = t + dinv[i, 2, 1] * r1
            t = t + dinv[i, 2, 2] * r2
            t = t / theta
            d[k + 2] = t
            if zero_x:
                x[k + 2] = t
            else:
                x[k + 2] = x[k + 2] + t


@_kernel
def cheb_step_3(chunks, indptr, indices, data, dinv, r, d, d_next, x, c1, c2, zero):
    """r −= A d; d' = c₁ d + c₂ D⁻¹ r; x += d' in one pass; 3×3 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            s0 = zero
            s1 = zero
            s2 = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = 3 * indices[jj]
                x0 = d[j + 0]
                x1 = d[j + 1]
                x2 = d[j + 2]
                s0 = s0 + data[jj, 0, 0] * x0
                s0 = s0 + data[jj, 0, 1] * x1
                s0 = s0 + data[jj, 0, 2] * x2
                s1 = s1 + data[jj, 1, 0] * x0
                s1 = s1 + data[jj, 1, 1] * x1
                s1 = s1 + data[jj, 1, 2] * x2
                s2 = s2 + data[jj, 2, 0] * x0
                s2 = s2 + data[jj, 2, 1] * x1
                s2 = s2 + data[jj, 2, 2] * x2
            k = 3 * i
            r0 = r[k + 0] - s0
            r[k + 0] = r0
            r1 = r[k + 1] - s1
            r[k + 1] = r1
            r2 = r[k + 2] - s2
            r[k + 2] = r2
            t = dinv[i, 0, 0] * r0
            t = t + dinv[i, 0, 1] * r1
            t = t + dinv[i, 0, 2] * r2
            dn = d[k + 0] * c1 + c2 * t
            d_next[k + 0] = dn
            x[k + 0] = x[k + 0] + dn
            t = dinv[i, 1, 0] * r0
            t = t + dinv[i, 1, 1] * r1
            t = t + dinv[i, 1, 2] * r2
            dn = d[k + 1] * c1 + c2 * t
            d_next[k + 1] = dn
            x[k + 1] = x[k + 1] + dn
            t = dinv[i, 2, 0] * r0
            t = t + dinv[i, 2, 1] * r1
            t = t + dinv[i, 2, 2] * r2
            dn = d[k + 2] * c1 + c2 * t
            d_next[k + 2] = dn
            x[k + 2] = x[k + 2] + dn


@_kernel
def cheb_first_6(chunks, dinv, r, x, d, theta, zero_x):
    """d = (D⁻¹ r) / θ; x = d (``zero_x``) or x + d; 6×6 diagonal blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            k = 6 * i
            r0 = r[k + 0]
            r1 = r[k + 1]
            r2 = r[k + 2]
            r3 = r[k + 3]
            r4 = r[k + 4]
            r5 = r[k + 5]
            t = dinv[i, 0, 0] * r0
            t = t + dinv[i, 0, 1] * r1
            t = t + dinv[i, 0, 2] * r2
            t = t + dinv[i, 0, 3] * r3
            t = t + dinv[i, 0, 4] * r4
            t = t + dinv[i, 0, 5] * r5
            t = t / theta
            d[k + 0] = t
            if zero_x:
                x[k + 0] = t
            else:
                x[k + 0] = x[k + 0] + t
            t = dinv[i, 1, 0] * r0
            t = t + dinv[i, 1, 1] * r1
            t = t + dinv[i, 1, 2] * r2
            t = t + dinv[i, 1, 3] * r3
            t = t + dinv[i, 1, 4] * r4
            t = t + dinv[i, 1, 5] * r5
            t = t / theta
            d[k + 1] = t
            if zero_x:
                x[k + 1] = t
            else:
                x[k + 1] = x[k + 1] + t
            t = dinv[i, 2, 0] * r0
            t = t + dinv[i, 2, 1] * r1
            t = t + dinv[i, 2, 2] * r2
            t = t + dinv[i, 2, 3] * r3
            t = t + dinv[i, 2, 4] * r4
            t = t + dinv[i, 2, 5] * r5
            t = t / theta
            d[k + 2] = t
            if zero_x:
                x[k + 2] = t
            else:
                x[k + 2] = x[k + 2] + t
            t = dinv[i, 3, 0] * r0
            t = t + dinv[i, 3, 1] * r1
            t = t + dinv[i, 3, 2] * r2
            t = t + dinv[i, 3, 3] * r3
            t = t + dinv[i, 3, 4] * r4
            t = t + dinv[i, 3, 5] * r5
            t = t / theta
            d[k + 3] = t
            if zero_x:
                x[k + 3] = t
            else:
                x[k + 3] = x[k + 3] + t
            t = dinv[i, 4, 0] * r0
            t = t + dinv[i, 4, 1] * r1
            t = t + dinv[i, 4, 2] * r2
            t = t + dinv[i, 4, 3] * r3
            t = t + dinv[i, 4, 4] * r4
            t = t + dinv[i, 4, 5] * r5
            t = t / theta
            d[k + 4] = t
            if zero_x:
                x[k + 4] = t
            else:
                x[k + 4] = x[k + 4] + t
            t = dinv[i, 5, 0] * r0
            t = t + dinv[i, 5, 1] * r1
            t = t + dinv[i, 5, 2] * r2
            t = t + dinv[i, 5, 3] * r3
            t = t + dinv[i, 5, 4] * r4
            t = t + dinv[i, 5, 5] * r5
            t = t / theta
            d[k + 5] = t
            if zero_x:
                x[k + 5] = t
            else:
                x[k + 5] = x[k + 5] + t


@_kernel
def cheb_step_6(chunks, indptr, indices, data, dinv, r, d, d_next, x, c1, c2, zero):
    """r −= A d; d' = c₁ d + c₂ D⁻¹ r; x += d' in one pass; 6×6 blocks."""
    for c in prange(len(chunks) - 1):
        for i in range(chunks[c], chunks[c + 1]):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            s4 = zero
            s5 = zero
            for jj in range(indptr[i], indptr[i + 1]):
                j = 6 * indices[jj]
                x0 = d[j + 0]
                x1 = d[j + 1]
                x2 = d[j + 2]
                x3 = d[j + 3]
                x4 = d[j + 4]
                x5 = d[j + 5]
                s0 = s0 + data[jj, 0, 0] * x0
                s0 = s0 + data[jj, 0, 1] * x1
                s0 = s0 + data[jj, 0, 2] * x2
                s0 = s0 + data[jj, 0, 3] * x3
                s0 = s0 + data[jj, 0, 4] * x4
                s0 = s0 + data[jj, 0, 5] * x5
                s1 = s1 + data[jj, 1, 0] * x0
                s1 = s1 + data[jj, 1, 1] * x1
                s1 = s1 + data[jj, 1, 2] * x2
                s1 = s1 + data[jj, 1, 3] * x3
                s1 = s1 + data[jj, 1, 4] * x4
                s1 = s1 + data[jj, 1, 5] * x5
                s2 = s2 + data[jj, 2, 0] * x0
                s2 = s2 + data[jj, 2, 1] * x1
                s2 = s2 + data[jj, 2, 2] * x2
                s2 = s2 + data[jj, 2, 3] * x3
                s2 = s2 + data[jj, 2, 4] * x4
                s2 = s2 + data[jj, 2, 5] * x5
                s3 = s3 + data[jj, 3, 0] * x0
                s3 = s3 + data[jj, 3, 1] * x1
                s3 = s3 + data[jj, 3, 2] * x2
                s3 = s3 + data[jj, 3, 3] * x3
                s3 = s3 + data[jj, 3, 4] * x4
                s3 = s3 + data[jj, 3, 5] * x5
                s4 = s4 + data[jj, 4, 0] * x0
                s4 = s4 + data[jj, 4, 1] * x1
                s4 = s4 + data[jj, 4, 2] * x2
                s4 = s4 + data[jj, 4, 3] * x3
                s4 = s4 + data[jj, 4, 4] * x4
                s4 = s4 + data[jj, 4, 5] * x5
                s5 = s5 + data[jj, 5, 0] * x0
                s5 = s5 + data[jj, 5, 1] * x1
                s5 = s5 + data[jj, 5, 2] * x2
                s5 = s5 + data[jj, 5, 3] * x3
                s5 = s5 + data[jj, 5, 4] * x4
                s5 = s5 + data[jj, 5, 5] * x5
            k = 6 * i
            r0 = r[k + 0] - s0
            r[k + 0] = r0
            r1 = r[k + 1] - s1
            r[k + 1] = r1
            r2 = r[k + 2] - s2
            r[k + 2] = r2
            r3 = r[k + 3] - s3
            r[k + 3] = r3
            r4 = r[k + 4] - s4
            r[k + 4] = r4
            r5 = r[k + 5] - s5
            r[k + 5] = r5
            t = dinv[i, 0, 0] * r0
            t = t + dinv[i, 0, 1] * r1
            t = t + dinv[i, 0, 2] * r2
            t = t + dinv[i, 0, 3] * r3
            t = t + dinv[i, 0, 4] * r4
            t = t + dinv[i, 0, 5] * r5
            dn = d[k + 0] * c1 + c2 * t
            d_next[k + 0] = dn
            x[k + 0] = x[k + 0] + dn
            t = dinv[i, 1, 0] * r0
            t = t + dinv[i, 1, 1] * r1
            t = t + dinv[i, 1, 2] * r2
            t = t + dinv[i, 1, 3] * r3
            t = t + dinv[i, 1, 4] * r4
            t = t + dinv[i, 1, 5] * r5
            dn = d[k + 1] * c1 + c2 * t
            d_next[k + 1] = dn
            x[k + 1] = x[k + 1] + dn
            t = dinv[i, 2, 0] * r0
            t = t + dinv[i, 2, 1] * r1
            t = t + dinv[i, 2, 2] * r2
            t = t + dinv[i, 2, 3] * r3
            t = t + dinv[i, 2, 4] * r4
            t = t + dinv[i, 2, 5] * r5
            dn = d[k + 2] * c1 + c2 * t
            d_next[k + 2] = dn
            x[k + 2] = x[k + 2] + dn
            t = dinv[i, 3, 0] * r0
            t = t + dinv[i, 3, 1] * r1
            t = t + dinv[i, 3, 2] * r2
            t = t + dinv[i, 3, 3] * r3
            t = t + dinv[i, 3, 4] * r4
            t = t + dinv[i, 3, 5] * r5
            dn = d[k + 3] * c1 + c2 * t
            d_next[k + 3] = dn
            x[k + 3] = x[k + 3] + dn
            t = dinv[i, 4, 0] * r0
            t = t + dinv[i, 4, 1] * r1
            t = t + dinv[i, 4, 2] * r2
            t = t + dinv[i, 4, 3] * r3
            t = t + dinv[i, 4, 4] * r4
            t = t + dinv[i, 4, 5] * r5
            dn = d[k + 4] * c1 + c2 * t
            d_next[k + 4] = dn
            x[k + 4] = x[k + 4] + dn
            t = dinv[i, 5, 0] * r0
            t = t + dinv[i, 5, 1] * r1
            t = t + dinv[i, 5, 2] * r2
            t = t + dinv[i, 5, 3] * r3
            t = t + dinv[i, 5, 4] * r4
            t = t + dinv[i, 5, 5] * r5
            dn = d[k + 5] * c1 + c2 * t
            d_next[k + 5] = dn
            x[k + 5] = x[k + 5] + dn


@_kernel
def spgemm_3x3x6(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):
    """Blocks of A·B, 3×3 times 3×6 blocks (as kernels_numba.bsr_spgemm_numeric)."""
    out = np.zeros((len(c_idx), 3, 6), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where[c_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    s = where[b_idx[kk]]
                    for r in range(3):
                        for q in range(6):
                            t = out[s, r, q]
                            t = t + a_data[jj, r, 0] * b_data[kk, 0, q]
                            t = t + a_data[jj, r, 1] * b_data[kk, 1, q]
                            t = t + a_data[jj, r, 2] * b_data[kk, 2, q]
                            out[s, r, q] = t
    return out


@_kernel
def spgemm_6x3x3(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):
    """Blocks of A·B, 6×3 times 3×3 blocks (as kernels_numba.bsr_spgemm_numeric)."""
    out = np.zeros((len(c_idx), 6, 3), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where[c_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    s = where[b_idx[kk]]
                    for r in range(6):
                        for q in range(3):
                            t = out[s, r, q]
                            t = t + a_data[jj, r, 0] * b_data[kk, 0, q]
                            t = t + a_data[jj, r, 1] * b_data[kk, 1, q]
                            t = t + a_data[jj, r, 2] * b_data[kk, 2, q]
                            out[s, r, q] = t
    return out


@_kernel
def spgemm_6x3x6(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):
    """Blocks of A·B, 6×3 times 3×6 blocks (as kernels_numba.bsr_spgemm_numeric)."""
    out = np.zeros((len(c_idx), 6, 6), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where[c_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    s = where[b_idx[kk]]
                    for r in range(6):
                        for q in range(6):
                            t = out[s, r, q]
                            t = t + a_data[jj, r, 0] * b_data[kk, 0, q]
                            t = t + a_data[jj, r, 1] * b_data[kk, 1, q]
                            t = t + a_data[jj, r, 2] * b_data[kk, 2, q]
                            out[s, r, q] = t
    return out


@_kernel
def spgemm_6x6x6(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):
    """Blocks of A·B, 6×6 times 6×6 blocks (as kernels_numba.bsr_spgemm_numeric)."""
    out = np.zeros((len(c_idx), 6, 6), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where[c_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    s = where[b_idx[kk]]
                    for r in range(6):
                        for q in range(6):
                            t = out[s, r, q]
                            t = t + a_data[jj, r, 0] * b_data[kk, 0, q]
                            t = t + a_data[jj, r, 1] * b_data[kk, 1, q]
                            t = t + a_data[jj, r, 2] * b_data[kk, 2, q]
                            t = t + a_data[jj, r, 3] * b_data[kk, 3, q]
                            t = t + a_data[jj, r, 4] * b_data[kk, 4, q]
                            t = t + a_data[jj, r, 5] * b_data[kk, 5, q]
                            out[s, r, q] = t
    return out


@_kernel
def spgemm_3x3x3(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):
    """Blocks of A·B, 3×3 times 3×3 blocks (as kernels_numba.bsr_spgemm_numeric)."""
    out = np.zeros((len(c_idx), 3, 3), a_data.dtype)
    for c in prange(len(chunks) - 1):
        where = np.full(b_cols, -1, np.int64)
        for i in range(chunks[c], chunks[c + 1]):
            for ss in range(c_ptr[i], c_ptr[i + 1]):
                where[c_idx[ss]] = ss
            for jj in range(a_ptr[i], a_ptr[i + 1]):
                j = a_idx[jj]
                for kk in range(b_ptr[j], b_ptr[j + 1]):
                    s = where[b_idx[kk]]
                    for r in range(3):
                        for q in range(3):
                            t = out[s, r, q]
                            t = t + a_data[jj, r, 0] * b_data[kk, 0, q]
                            t = t + a_data[jj, r, 1] * b_data[kk, 1, q]
                            t = t + a_data[jj, r, 2] * b_data[kk, 2, q]
                            out[s, r, q] = t
    return out


#: Kernels by block shape (compiled on first use; ``.serial`` is the one-thread build).
MV = {(3, 3): mv_3x3, (3, 6): mv_3x6, (6, 3): mv_6x3, (6, 6): mv_6x6}
CHEB_FIRST = {3: cheb_first_3, 6: cheb_first_6}
CHEB_STEP = {3: cheb_step_3, 6: cheb_step_6}
SPGEMM = {(3, 3, 6): spgemm_3x3x6, (6, 3, 3): spgemm_6x3x3, (6, 3, 6): spgemm_6x3x6, (6, 6, 6): spgemm_6x6x6, (3, 3, 3): spgemm_3x3x3}
