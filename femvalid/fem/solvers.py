"""Linear solvers: CG preconditioned by smoothed-aggregation AMG, and a direct one.

Solvers are looked up by name in :data:`SOLVERS`; ``"auto"`` picks the direct
solver for small systems (SuperLU's fill-in grows badly past about 50 k dofs) and
AMG-CG otherwise. When CG stagnates, as AMG was seen to on thin struts and strong
stiffness contrasts, the direct solver takes over where it fits; an unconverged
answer is never returned.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femvalid.errors import JobError

__all__ = ["SolveReport", "solve", "rigid_body_modes", "SOLVERS", "DIRECT_MAX_DOFS"]

#: "auto" solves directly up to this many dofs.
DIRECT_MAX_DOFS = 30_000
#: A stagnated CG falls back to the direct solver up to this many dofs.
FALLBACK_MAX_DOFS = 400_000
RTOL = 1e-10


@dataclass
class SolveReport:
    """How a linear system was solved (seconds wall time)."""

    method: str
    dofs: int
    iterations: int
    residual: float  # ||b − A x|| / ||b||
    setup_seconds: float
    solve_seconds: float
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def rigid_body_modes(nodes: np.ndarray) -> np.ndarray:
    """The six rigid-body displacement fields (3N, 6): three translations, three rotations."""
    x = nodes - nodes.mean(axis=0)
    N = len(nodes)
    B = np.zeros((N, 3, 6))
    B[:, 0, 0] = B[:, 1, 1] = B[:, 2, 2] = 1.0
    # rotation about x: (0, −z, y); about y: (z, 0, −x); about z: (−y, x, 0)
    B[:, 1, 3], B[:, 2, 3] = -x[:, 2], x[:, 1]
    B[:, 0, 4], B[:, 2, 4] = x[:, 2], -x[:, 0]
    B[:, 0, 5], B[:, 1, 5] = -x[:, 1], x[:, 0]
    return B.reshape(3 * N, 6)


def _residual(A, x, b) -> float:
    norm = np.linalg.norm(b)
    return float(np.linalg.norm(b - A @ x) / norm) if norm > 0 else 0.0


def _direct(A, b, nodes=None, rtol=RTOL):
    t0 = time.perf_counter()
    lu = spla.splu(sp.csc_matrix(A))
    t1 = time.perf_counter()
    x = lu.solve(b)
    t2 = time.perf_counter()
    return x, SolveReport("direct-superlu", len(b), 1, _residual(A, x, b), t1 - t0, t2 - t1)


def _amg_cg(A, b, nodes=None, rtol=RTOL, maxiter=400):
    import pyamg

    t0 = time.perf_counter()
    B = rigid_body_modes(nodes) if nodes is not None else None
    # Sparse LU on the coarsest level: pyamg's default dense pseudo-inverse took seconds there.
    ml = pyamg.smoothed_aggregation_solver(sp.bsr_matrix(A, blocksize=(3, 3)), B=B, symmetry="symmetric",
                                           max_coarse=1000, coarse_solver="splu")
    t1 = time.perf_counter()
    history: list[float] = []
    x = ml.solve(b, tol=rtol, accel="cg", maxiter=maxiter, residuals=history)
    t2 = time.perf_counter()
    return x, SolveReport("cg-amg-sa", len(b), max(len(history) - 1, 0), _residual(A, x, b), t1 - t0, t2 - t1)


SOLVERS = {"direct": _direct, "cg-amg": _amg_cg}


def solve(A, b, nodes=None, method: str = "auto", rtol: float = RTOL, source: str = "solver"):
    """Solve A x = b; returns (x, SolveReport).

    Parameters
    ----------
    A : sparse SPD matrix (3N × 3N, N/mm)
    b : ndarray (3N,)
    nodes : ndarray (N, 3), optional
        Node coordinates (mm) for the AMG near-null space (rigid-body modes).
    method : {"auto", "direct", "cg-amg"}

    Raises
    ------
    JobError
        The solve did not reach the tolerance (and no fallback could).
    """
    if method == "auto":
        method = "direct" if len(b) <= DIRECT_MAX_DOFS else "cg-amg"
    if method not in SOLVERS:
        raise ValueError(f"unknown solver {method!r}; known: {', '.join(SOLVERS)}")
    x, report = SOLVERS[method](A, b, nodes=nodes, rtol=rtol)
    if method == "cg-amg" and not report.residual <= 10 * rtol:
        if len(b) > FALLBACK_MAX_DOFS:
            raise JobError(source, f"CG with AMG stagnated at relative residual {report.residual:.2e} "
                                   f"after {report.iterations} iterations; the system is too large for the direct fallback")
        stalled = report
        x, report = _direct(A, b)
        report.note = f"CG with AMG stagnated at {stalled.residual:.2e} after {stalled.iterations} iterations; solved directly"
        report.setup_seconds += stalled.setup_seconds + stalled.solve_seconds
    if not np.all(np.isfinite(x)) or not report.residual <= max(1e3 * rtol, 1e-8):
        raise JobError(source, f"linear solve failed: relative residual {report.residual:.2e} ({report.method})")
    return x, report
