"""Assemble, constrain, solve and check one linear-elastic system."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from femvalid.errors import JobError
from femvalid.fem.assembly import assemble_stiffness
from femvalid.fem.constraints import Constraints, reduce_system
from femvalid.fem.solvers import RTOL, PreparedSolver, SolveReport

__all__ = ["Solution", "solve_elasticity", "EQUILIBRIUM_RTOL"]

#: Largest accepted out-of-balance force, relative to the largest reaction or load.
EQUILIBRIUM_RTOL = 1e-6


@dataclass(frozen=True, eq=False)
class Solution:
    """Displacements (N, 3) mm and nodal reaction forces (N, 3) N of a solved system."""

    displacement: np.ndarray
    reactions: np.ndarray
    report: SolveReport
    assembly_seconds: float
    imbalance: float  # |Σ reactions + Σ loads| / max(|reaction|, |load|)


def solve_elasticity(
    nodes: np.ndarray,
    elements: np.ndarray,
    youngs_modulus_MPa,
    poisson_ratio,
    constraints: Constraints,
    loads: np.ndarray | None = None,
    method: str = "auto",
    rtol: float = RTOL,
    source: str = "solver",
    interface_nodes: np.ndarray | None = None,
) -> Solution:
    """Solve K u = F + R under ``constraints``; check the residual and equilibrium.

    Parameters
    ----------
    nodes, elements : mesh (mm), P1 or P2 tetrahedra in VTK order.
    youngs_modulus_MPa, poisson_ratio : scalar or per element.
    constraints : prescribed displacements (mm) and multi-point constraints.
    loads : ndarray (N, 3), optional
        External nodal forces, N.
    interface_nodes : ndarray, optional
        Nodes of a tied interface between a stiff and a soft body, solved exactly
        inside the AMG preconditioner (see :mod:`femvalid.fem.solvers`).

    Raises
    ------
    JobError
        The solve did not converge, or the reactions do not balance the loads.
    """
    order = 1 if elements.shape[1] == 4 else 2
    t0 = time.perf_counter()
    K = assemble_stiffness(nodes, elements, order, youngs_modulus_MPa, poisson_ratio)
    F = np.zeros(3 * len(nodes)) if loads is None else np.asarray(loads, float).ravel()
    system = reduce_system(K, F, constraints, overwrite=True)
    del K  # A is K itself where there are no multi-point constraints
    assembly_seconds = time.perf_counter() - t0
    interface = None if interface_nodes is None else (3 * np.asarray(interface_nodes)[:, None] + np.arange(3)).ravel()
    solver = PreparedSolver(system.A, nodes, method, interface, source, elements=elements)
    w, report, u, reactions, imbalance = solve_balanced(solver, system, F, rtol)
    if not imbalance <= EQUILIBRIUM_RTOL:
        raise JobError(source, f"equilibrium check failed: out-of-balance force {imbalance:.2e} of the largest "
                               f"reaction (limit {EQUILIBRIUM_RTOL:g}); solver {report.method}, residual {report.residual:.2e}")
    return Solution(u.reshape(-1, 3), reactions.reshape(-1, 3), report, assembly_seconds, imbalance)


def solve_balanced(solver: PreparedSolver, system, F, rtol: float = RTOL, column: int | None = None):
    """Solve one right-hand side of ``system`` with ``solver`` until the reactions balance.

    CG meets its tolerance against the load vector, which a stiff body pushed into a
    soft one makes much larger than the reactions: where the forces do not balance
    to :data:`EQUILIBRIUM_RTOL`, CG goes on from its answer with the tolerance they
    need, with the same preconditioner. Returns (w, report, u, reactions, imbalance).
    """
    b = system.rhs(column)
    w, report = solver.solve(b, rtol)
    u, reactions, imbalance = _balance(F, system, w, column)
    if not imbalance <= EQUILIBRIUM_RTOL and report.iterations > 1:
        first = report
        tighter = max(rtol * EQUILIBRIUM_RTOL / (10 * imbalance), 1e-14)
        w, report = solver.solve(b, tighter, x0=w)
        u, reactions, imbalance = _balance(F, system, w, column)
        report.note = (f"{report.note}; " if report.note else "") + \
            f"continued to relative residual {tighter:.1e} for equilibrium after {first.iterations} iterations"
        report.iterations += first.iterations
        report.setup_seconds += first.setup_seconds
        report.solve_seconds += first.solve_seconds
    return w, report, u, reactions, imbalance


def _balance(F, system, w, column=None):
    """Displacements, reactions and the out-of-balance force relative to the largest force."""
    u = system.expand(w, column)
    reactions = system.reactions(u, F, column)
    scale = max(np.abs(reactions).max(), np.abs(F).max(), 1e-300)
    # Every force must balance: globally, and on the unconstrained dofs.
    free_residual = np.abs(system.P.T @ reactions).max() / scale
    net = np.abs((reactions + F).reshape(-1, 3).sum(axis=0)).max() / scale
    return u, reactions, float(max(free_residual, net))
