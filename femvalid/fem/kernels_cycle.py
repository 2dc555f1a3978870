"""Multigrid cycles and CG on a kernel backend (:mod:`femvalid.fem.kernels`).

:class:`KernelCycle` runs the cycle of pyamg's multilevel solver (pre-smoothing,
restriction, one or two coarse visits, prolongation, post-smoothing; the coarsest
level solved by pyamg's own coarse solver) with the Chebyshev smoothers of
:mod:`femvalid.fem.smoothers`, on levels copied from a pyamg hierarchy: the same
preconditioner as ``cg-amg``'s, in femvalid's kernels. It leaves out the two
residual norms pyamg computes around every preconditioner application.

A p-multigrid level (:func:`p_level`) can stand on top: Chebyshev on the P2 matrix,
restriction to the vertex (P1) problem by the P2 shape functions' values at the
vertices (a mid-side node's value is the mean of its edge's two vertices), and the
AMG W-cycle of that P1 problem below.

:func:`cg` is pyamg's preconditioned CG (same recurrences, same stopping test
‖r‖ < rtol ‖b‖, the residual recomputed every eighth iteration), its vector updates
fused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from femvalid.fem.kernels import Backend, BsrMatrix
from femvalid.fem.smoothers import DEGREE, RATIO, chebyshev_setup

__all__ = ["KernelLevel", "KernelCycle", "cg", "p_prolongator", "p_level"]


@dataclass(eq=False)
class KernelLevel:
    """One level: its matrix and Chebyshev smoother, the transfer to the next level, work vectors."""

    A: BsrMatrix
    dinv: object  # (n, b, b) inverse diagonal blocks
    theta: float
    steps: list
    P: BsrMatrix | None = None
    R: BsrMatrix | None = None
    visits: int = 2  # how often the next level is visited (2: W-cycle)
    vectors: dict = field(default_factory=dict)


def _level(backend: Backend, A: sp.bsr_matrix, dtype, degree: int, ratio: float) -> KernelLevel:
    A = sp.bsr_matrix(A).astype(dtype) if A.dtype != dtype else A
    Dinv, theta, steps = chebyshev_setup(A, degree, ratio)
    level = KernelLevel(backend.matrix(A), backend.asarray(Dinv.data, dtype), theta, steps)
    n = A.shape[0]
    level.vectors = {name: backend.zeros(n, dtype) for name in ("x", "b", "r", "d", "dn", "res")}
    return level


class KernelCycle:
    """A multigrid preconditioner on a backend: ``apply(r, z)`` sets z ≈ A⁻¹ r (float64 in and out).

    Parameters
    ----------
    backend : the kernel backend.
    ml : a pyamg multilevel solver whose levels but the coarsest get Chebyshev smoothing.
    dtype : the precision the cycle runs in (the hierarchy's).
    top : list of KernelLevel, optional
        Levels above ``ml``'s first (p-multigrid), each with P and R to the next.
    """

    def __init__(self, backend: Backend, ml, dtype=np.float32, top: list[KernelLevel] | None = None,
                 degree: int = DEGREE, ratio: float = RATIO, cycle: str = "W"):
        self.backend, self.dtype = backend, np.dtype(dtype)
        self.levels: list[KernelLevel] = list(top or [])
        for k, level in enumerate(ml.levels[:-1]):
            kl = _level(backend, level.A, self.dtype, degree, ratio)
            kl.P = backend.matrix(sp.bsr_matrix(level.P), self.dtype)
            kl.R = backend.matrix(sp.bsr_matrix(level.R), self.dtype)
            kl.visits = 2 if cycle == "W" else 1
            self.levels.append(kl)
        coarse = ml.levels[-1].A
        self._coarse_A = coarse
        self._coarse_solver = ml.coarse_solver
        n = coarse.shape[0]
        self._coarse = {"x": backend.zeros(n, self.dtype), "b": backend.zeros(n, self.dtype)}
        self.shape = (self.levels[0].A.shape if self.levels else coarse.shape)

    def _coarse_solve(self):
        be = self.backend
        x = self._coarse_solver(self._coarse_A, be.to_host(self._coarse["b"]))
        be.copy(be.asarray(np.asarray(x).ravel(), self.dtype), self._coarse["x"])

    def _vectors(self, k: int) -> dict:
        return self.levels[k].vectors if k < len(self.levels) else self._coarse

    def _smooth(self, level: KernelLevel, zero_x: bool) -> None:
        be, v = self.backend, level.vectors
        if zero_x:
            be.copy(v["b"], v["r"])
        else:
            be.matvec(level.A, v["x"], v["r"], 2, v["b"])
        be.chebyshev_first(level.A, level.dinv, v["r"], v["x"], v["d"], level.theta, zero_x)
        d, dn = v["d"], v["dn"]
        for c1, c2 in level.steps:
            be.chebyshev_step(level.A, level.dinv, v["r"], d, dn, v["x"], c1, c2)
            d, dn = dn, d
        v["d"], v["dn"] = d, dn

    def _cycle(self, k: int, zero_x: bool) -> None:
        be, level = self.backend, self.levels[k]
        v = level.vectors
        self._smooth(level, zero_x)
        be.matvec(level.A, v["x"], v["res"], 2, v["b"])
        below = self._vectors(k + 1)
        be.matvec(level.R, v["res"], below["b"], 0)
        if k + 1 == len(self.levels):
            self._coarse_solve()
        else:
            for visit in range(level.visits):
                self._cycle(k + 1, zero_x=visit == 0)
        be.matvec(level.P, below["x"], v["x"], 1)
        self._smooth(level, zero_x=False)

    def apply(self, r, z) -> None:
        """z = M r (float64 vectors of the backend)."""
        be = self.backend
        top = self._vectors(0)
        be.cast(r, top["b"])
        if self.levels:
            self._cycle(0, zero_x=True)
        else:
            self._coarse_solve()
        be.cast(top["x"], z)


def cg(backend: Backend, A: BsrMatrix, b, x0=None, rtol: float = 1e-10, maxiter: int = 400, M=None):
    """Preconditioned CG on the backend (float64); returns (x, iterations, converged).

    ``M(r, z)`` writes the preconditioned residual into z. pyamg's recurrences and
    stopping test: ‖r‖ < rtol ‖b‖ (‖b‖ = 1 where b = 0), r recomputed as b − A x at
    iterations 0, 8, 16, ...
    """
    be = backend
    n = A.shape[0]
    b = be.asarray(b, np.float64)
    x = be.zeros(n, np.float64) if x0 is None else be.asarray(np.array(x0, dtype=np.float64))
    r, z, q = be.empty(n, np.float64), be.empty(n, np.float64), be.empty(n, np.float64)
    if x0 is None:
        be.copy(b, r)
    else:
        be.matvec(A, x, r, 2, b)
    normb = np.sqrt(be.dot(b, b)) or 1.0
    target = rtol * normb
    if np.sqrt(be.dot(r, r)) < target:
        return x, 0, True
    M(r, z)
    p = z.copy()
    rz = be.dot(r, z)
    it = 0
    while it < maxiter:
        be.matvec(A, p, q, 0)
        pAp = be.dot(q, p)
        if not pAp > 0:  # breakdown (indefinite or a zero direction)
            return x, it, False
        alpha = rz / pAp
        if it % 8 and it > 0:
            rr = be.cg_update_xr(x, r, p, q, alpha)
        else:
            be.cg_update_xr(x, r, p, q, alpha)  # x += α p (r is recomputed)
            be.matvec(A, x, r, 2, b)
            rr = be.dot(r, r)
        M(r, z)
        rz_old, rz = rz, be.dot(r, z)
        if not rz > 0:
            return x, it + 1, np.sqrt(rr) < target
        be.cg_update_p(p, z, rz / rz_old)
        it += 1
        if np.sqrt(rr) < target:
            return x, it, True
    return x, it, False


def p_prolongator(elements: np.ndarray, n_nodes: int, free: np.ndarray | None = None):
    """P2 → P1 (vertex) interpolation at node level: (vertices, T (n_nodes × n_vertices) CSR).

    A vertex takes its own value; a mid-side node the mean of its edge's two vertices
    (the P1 field's value at the mid-side node). Node order: VTK quadratic tetrahedra
    (four vertices, then the mid-side nodes of edges 01, 12, 02, 03, 13, 23).
    """
    from femvalid.fem.elements import TET10_EDGES

    vertices = np.unique(elements[:, :4])
    index = np.full(n_nodes, -1, np.int64)
    index[vertices] = np.arange(len(vertices))
    mid = elements[:, 4:].ravel()
    ends = np.array(TET10_EDGES)  # (6, 2) local vertices of each mid-side node
    a = index[elements[:, ends[:, 0]]].ravel()
    b = index[elements[:, ends[:, 1]]].ravel()
    mid, first = np.unique(mid, return_index=True)
    rows = np.concatenate([vertices, mid, mid])
    cols = np.concatenate([np.arange(len(vertices)), a[first], b[first]])
    vals = np.concatenate([np.ones(len(vertices)), np.full(2 * len(mid), 0.5)])
    T = sp.csr_matrix((vals, (rows, cols)), shape=(n_nodes, len(vertices)))
    T.sort_indices()
    return vertices, T


def p_level(backend: Backend, A: sp.bsr_matrix, elements: np.ndarray, dtype=np.float32,
            degree: int = DEGREE, ratio: float = RATIO):
    """The P2 level of a p-multigrid cycle and its vertex (P1) Galerkin problem.

    Returns (level, A1 (float64 BSR, Pᵀ A P), vertices): the level's P and R map
    between A's dofs and the vertices' (3 per node, the same interpolation for each
    component); A1 is the coarse problem for an AMG hierarchy.
    """
    n_nodes = A.shape[0] // 3
    vertices, T = p_prolongator(elements, n_nodes)
    A = sp.bsr_matrix(A, blocksize=(3, 3))
    # The node-level interpolation with each entry a 3×3 block t·I: BSR (3n × 3m).
    blocks = T.data[:, None, None] * np.eye(3)
    P = sp.bsr_matrix((blocks, T.indices, T.indptr), shape=(3 * n_nodes, 3 * len(vertices)))
    R = P.T.tobsr(blocksize=(3, 3))
    R.sort_indices()
    A1 = backend.product(backend.product(R, A), P)
    level = _level(backend, A, np.dtype(dtype), degree, ratio)
    level.P, level.R = backend.matrix(P, dtype), backend.matrix(R, dtype)
    level.visits = 1
    return level, A1, vertices
