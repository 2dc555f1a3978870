"""Dirichlet and linear multi-point constraints, eliminated symmetrically.

All constraints are written as u = P w + u0: free degrees of freedom are kept
(identity rows of P), prescribed ones are fixed in u0, and each slave degree of
freedom follows its masters, u_s = T u_m (a row of T in P). The reduced system
Pᵀ K P w = Pᵀ (F − K u0) stays symmetric positive definite and keeps the size and
3×3 block structure of K: constrained unknowns of w get a unit-scaled diagonal and
zero right-hand side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Constraints", "ReducedSystem", "reduce_system"]


@dataclass(frozen=True, eq=False)
class Constraints:
    """Prescribed displacements and multi-point constraints on global dofs.

    Attributes
    ----------
    dofs, values : ndarray
        Prescribed dof indices (3·node + component) and their displacements, mm.
    slaves : ndarray
        Dofs that follow others: u[slaves] = T @ u.
    T : sparse matrix (len(slaves), ndof) or None
        Interpolation weights onto master dofs (masters must not be slaves).
    """

    dofs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    slaves: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    T: sp.spmatrix | None = None

    def __post_init__(self):
        dofs = np.asarray(self.dofs, np.int64)
        if len(np.unique(dofs)) != len(dofs):
            raise ValueError("a dof is prescribed twice")
        if self.T is not None and np.isin(self.slaves, dofs).any():
            raise ValueError("a slave dof is also prescribed")
        object.__setattr__(self, "dofs", dofs)
        object.__setattr__(self, "values", np.broadcast_to(np.asarray(self.values, float), dofs.shape).copy())
        object.__setattr__(self, "slaves", np.asarray(self.slaves, np.int64))


@dataclass(frozen=True, eq=False)
class ReducedSystem:
    A: sp.bsr_matrix
    b: np.ndarray
    P: sp.csr_matrix
    u0: np.ndarray

    def expand(self, w: np.ndarray) -> np.ndarray:
        """Full displacement vector u = P w + u0 (mm)."""
        return self.P @ w + self.u0


def reduce_system(K: sp.spmatrix, F: np.ndarray, constraints: Constraints) -> ReducedSystem:
    """Eliminate ``constraints`` from K u = F, keeping symmetry and the block size."""
    n = K.shape[0]
    constrained = np.zeros(n, bool)
    constrained[constraints.dofs] = True
    constrained[constraints.slaves] = True
    free = sp.diags((~constrained).astype(float), format="csr")
    P = free
    u0 = np.zeros(n)
    u0[constraints.dofs] = constraints.values
    if constraints.T is not None and len(constraints.slaves):
        T = sp.csr_matrix(constraints.T)
        if np.isin(T.indices, constraints.slaves).any():
            raise ValueError("a master dof is itself a slave")
        rows = sp.csr_matrix((np.ones(len(constraints.slaves)), (constraints.slaves, np.arange(len(constraints.slaves)))),
                             shape=(n, len(constraints.slaves)))
        spread = rows @ T  # n × n, slave rows hold T
        P = (free + spread @ free).tocsr()
        u0 = u0 + spread @ u0
    Kc = K.tocsr()
    A = (P.T @ Kc @ P).tocsr()
    diagonal = Kc.diagonal()
    scale = float(diagonal[diagonal > 0].mean()) if np.any(diagonal > 0) else 1.0
    A = A + sp.diags(constrained * scale, format="csr")
    b = P.T @ (F - Kc @ u0)
    return ReducedSystem(A=A.tobsr(blocksize=(3, 3)), b=b, P=P, u0=u0)
