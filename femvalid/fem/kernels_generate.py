"""Writes femvalid/fem/kernels_blocks.py: BSR kernels unrolled for the block shapes of the hierarchy.

    python -m femvalid.fem.kernels_generate

numba compiles loops over a block's rows and columns with run-time bounds into scalar
code (a 6×6-block product ran at 2.5 GB/s); written out for fixed shapes they run at
memory speed. The generated file is committed, so numba can cache its kernels.
"""

from pathlib import Path

SHAPES = [(3, 3), (3, 6), (6, 3), (6, 6)]
SQUARE = [3, 6]
#: (R, K, C): R×K blocks times K×C blocks (A·T, R·A, (RA)·P of the first level; coarse levels; p-multigrid).
PRODUCTS = [(3, 3, 6), (6, 3, 3), (6, 3, 6), (6, 6, 6), (3, 3, 3)]
out = ['''"""BSR kernels unrolled for fixed block shapes (written by ``python -m femvalid.fem.kernels_generate``; do not edit).

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
''']
def mv(R, C):
    L = [f"\n\n@_kernel\ndef mv_{R}x{C}(chunks, indptr, indices, data, x, y, b, mode, zero):",
         f'    """y = A x (mode 0), y + A x (1) or b − A x (2), {R}×{C} blocks."""',
         "    for c in prange(len(chunks) - 1):",
         "        for i in range(chunks[c], chunks[c + 1]):"]
    L += [f"            s{r} = zero" for r in range(R)]
    L += ["            for jj in range(indptr[i], indptr[i + 1]):", f"                j = {C} * indices[jj]"]
    L += [f"                x{q} = x[j + {q}]" for q in range(C)]
    for r in range(R):
        L += [f"                s{r} = s{r} + data[jj, {r}, {q}] * x{q}" for q in range(C)]
    L += [f"            k = {R} * i", "            if mode == 0:"]
    L += [f"                y[k + {r}] = s{r}" for r in range(R)]
    L += ["            elif mode == 1:"]
    L += [f"                y[k + {r}] = y[k + {r}] + s{r}" for r in range(R)]
    L += ["            else:"]
    L += [f"                y[k + {r}] = b[k + {r}] - s{r}" for r in range(R)]
    return L
def first(B):
    L = [f"\n\n@_kernel\ndef cheb_first_{B}(chunks, dinv, r, x, d, theta, zero_x):",
         f'    """d = (D⁻¹ r) / θ; x = d (``zero_x``) or x + d; {B}×{B} diagonal blocks."""',
         "    for c in prange(len(chunks) - 1):",
         "        for i in range(chunks[c], chunks[c + 1]):",
         f"            k = {B} * i"]
    L += [f"            r{q} = r[k + {q}]" for q in range(B)]
    for a in range(B):
        L += [f"            t = dinv[i, {a}, 0] * r0"]
        L += [f"            t = t + dinv[i, {a}, {q}] * r{q}" for q in range(1, B)]
        L += ["            t = t / theta", f"            d[k + {a}] = t",
              "            if zero_x:", f"                x[k + {a}] = t", "            else:", f"                x[k + {a}] = x[k + {a}] + t"]
    return L
def step(B):
    L = [f"\n\n@_kernel\ndef cheb_step_{B}(chunks, indptr, indices, data, dinv, r, d, d_next, x, c1, c2, zero):",
         f'    """r −= A d; d\' = c₁ d + c₂ D⁻¹ r; x += d\' in one pass; {B}×{B} blocks."""',
         "    for c in prange(len(chunks) - 1):",
         "        for i in range(chunks[c], chunks[c + 1]):"]
    L += [f"            s{r} = zero" for r in range(B)]
    L += ["            for jj in range(indptr[i], indptr[i + 1]):", f"                j = {B} * indices[jj]"]
    L += [f"                x{q} = d[j + {q}]" for q in range(B)]
    for r in range(B):
        L += [f"                s{r} = s{r} + data[jj, {r}, {q}] * x{q}" for q in range(B)]
    L += [f"            k = {B} * i"]
    for q in range(B):
        L += [f"            r{q} = r[k + {q}] - s{q}", f"            r[k + {q}] = r{q}"]
    for a in range(B):
        L += [f"            t = dinv[i, {a}, 0] * r0"]
        L += [f"            t = t + dinv[i, {a}, {q}] * r{q}" for q in range(1, B)]
        L += [f"            dn = d[k + {a}] * c1 + c2 * t", f"            d_next[k + {a}] = dn", f"            x[k + {a}] = x[k + {a}] + dn"]
    return L
def numeric(R, K, C):
    return [f"\n\n@_kernel\ndef spgemm_{R}x{K}x{C}(chunks, a_ptr, a_idx, a_data, b_ptr, b_idx, b_data, c_ptr, c_idx, b_cols):",
            f'    """Blocks of A·B, {R}×{K} times {K}×{C} blocks (as kernels_numba.bsr_spgemm_numeric)."""',
            f"    out = np.zeros((len(c_idx), {R}, {C}), a_data.dtype)",
            "    for c in prange(len(chunks) - 1):",
            "        where = np.full(b_cols, -1, np.int64)",
            "        for i in range(chunks[c], chunks[c + 1]):",
            "            for ss in range(c_ptr[i], c_ptr[i + 1]):",
            "                where[c_idx[ss]] = ss",
            "            for jj in range(a_ptr[i], a_ptr[i + 1]):",
            "                j = a_idx[jj]",
            "                for kk in range(b_ptr[j], b_ptr[j + 1]):",
            "                    s = where[b_idx[kk]]",
            f"                    for r in range({R}):",
            f"                        for q in range({C}):",
            "                            t = out[s, r, q]",
            *[f"                            t = t + a_data[jj, r, {m}] * b_data[kk, {m}, q]" for m in range(K)],
            "                            out[s, r, q] = t",
            "    return out"]


body = []
for R, C in SHAPES: body += mv(R, C)
for B in SQUARE: body += first(B) + step(B)
for R, K, C in PRODUCTS: body += numeric(R, K, C)
out.append("\n".join(body)[1:])
out.append("\n\n#: Kernels by block shape (compiled on first use; ``.serial`` is the one-thread build).")
out.append("MV = {" + ", ".join(f"({R}, {C}): mv_{R}x{C}" for R, C in SHAPES) + "}")
out.append("CHEB_FIRST = {" + ", ".join(f"{B}: cheb_first_{B}" for B in SQUARE) + "}")
out.append("CHEB_STEP = {" + ", ".join(f"{B}: cheb_step_{B}" for B in SQUARE) + "}")
out.append("SPGEMM = {" + ", ".join(f"({R}, {K}, {C}): spgemm_{R}x{K}x{C}" for R, K, C in PRODUCTS) + "}\n")


if __name__ == "__main__":
    target = Path(__file__).with_name("kernels_blocks.py")
    target.write_text("\n".join(out))
    print(f"written: {target}")
