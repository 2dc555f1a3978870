"""Method of manufactured solutions for linear elasticity on a cube.

The exact field is u = φ (1, 1, 1) with φ = A sin(kx) sin(ky) sin(kz) (mm); its body
force f = −div σ(u) = −[(λ + μ) H(φ) + μ Δφ I] (1, 1, 1) is applied, the exact values
are prescribed on the boundary, and the L2 and energy-norm errors are measured on
three meshes. Theory: L2 order p + 1 and energy order p for elements of degree p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femvalid.fem.assembly import lame
from femvalid.fem.constraints import Constraints
from femvalid.fem.elements import shape_functions, shape_gradients
from femvalid.fem.loads import body_forces, boundary_faces_of
from femvalid.fem.quadrature import tet_rule
from femvalid.fem.system import solve_elasticity
from femvalid.geometry.implants import box_surface
from femvalid.meshing import MeshSettings, mesh_surface

__all__ = ["ConvergenceStudy", "manufactured_convergence"]

E, NU, A, K = 1000.0, 0.3, 0.01, 2.0
ONES = np.ones(3)


def _phi(x):
    s, c = np.sin(K * x), np.cos(K * x)
    value = A * s[:, 0] * s[:, 1] * s[:, 2]
    grad = A * K * np.column_stack([c[:, 0] * s[:, 1] * s[:, 2], s[:, 0] * c[:, 1] * s[:, 2], s[:, 0] * s[:, 1] * c[:, 2]])
    hess = np.empty((len(x), 3, 3))
    for i in range(3):
        for j in range(3):
            if i == j:
                hess[:, i, j] = -K * K * value
            else:
                k = 3 - i - j
                hess[:, i, j] = A * K * K * c[:, i] * c[:, j] * s[:, k]
    return value, grad, hess


def exact_displacement(x):
    return _phi(x)[0][:, None] * ONES


def body_force(x):
    lam, mu = lame(E, NU)
    value, _, hess = _phi(x)
    laplacian = -3 * K * K * value
    return -((lam + mu) * hess @ ONES + mu * laplacian[:, None] * ONES)


@dataclass(frozen=True)
class ConvergenceStudy:
    """Errors on successively finer meshes and the observed orders (least-squares slopes)."""

    element_order: int
    sizes_mm: tuple
    l2_errors: tuple
    energy_errors: tuple
    l2_order: float
    energy_order: float


def _errors(nodes, elements, u):
    order = 1 if elements.shape[1] == 4 else 2
    points, weights = tet_rule(6)
    N, dN = shape_functions(order, points), shape_gradients(order, points)
    x = nodes[elements]
    jac = np.einsum("mnk,qnl->mqkl", x, dN)
    det = np.linalg.det(jac)
    grads = np.einsum("qnl,mqlk->mqnk", dN, np.linalg.inv(jac))
    at = np.einsum("qn,mnk->mqk", N, x).reshape(-1, 3)
    uh = np.einsum("qn,mni->mqi", N, u[elements]).reshape(-1, 3)
    grad_uh = np.einsum("mni,mqnj->mqij", u[elements], grads).reshape(-1, 3, 3)
    _, grad_phi, _ = _phi(at)
    grad_exact = ONES[None, :, None] * grad_phi[:, None, :]  # du_i/dx_j = dφ/dx_j
    w = (det * weights).ravel()
    l2 = np.sqrt((w * ((uh - exact_displacement(at)) ** 2).sum(axis=1)).sum())
    e = grad_uh - grad_exact
    strain = 0.5 * (e + e.transpose(0, 2, 1))
    lam, mu = lame(E, NU)
    density = lam * np.trace(strain, axis1=1, axis2=2) ** 2 + 2 * mu * (strain**2).sum(axis=(1, 2))
    return l2, np.sqrt((w * density).sum())


def manufactured_convergence(element_order: int, sizes_mm=(0.4, 0.2, 0.1)) -> ConvergenceStudy:
    """Solve the manufactured problem on a unit cube (mm) at each size and measure the orders."""
    cube = box_surface((0, 0, 0), (1, 1, 1))
    hs, l2s, energies = [], [], []
    for size in sizes_mm:
        mesh = mesh_surface(cube, MeshSettings(size, element_order))
        boundary = np.unique(boundary_faces_of(mesh.elements))
        dofs = (3 * boundary[:, None] + np.arange(3)).ravel()
        values = exact_displacement(mesh.nodes[boundary]).ravel()
        loads = body_forces(mesh.nodes, mesh.elements, body_force, degree=6)
        solution = solve_elasticity(mesh.nodes, mesh.elements, E, NU, Constraints(dofs, values), loads=loads)
        l2, energy = _errors(mesh.nodes, mesh.elements, solution.displacement)
        hs.append((1.0 / len(mesh.elements)) ** (1 / 3))
        l2s.append(l2)
        energies.append(energy)
    log_h = np.log(hs)
    return ConvergenceStudy(element_order, tuple(hs), tuple(l2s), tuple(energies),
                            float(np.polyfit(log_h, np.log(l2s), 1)[0]), float(np.polyfit(log_h, np.log(energies), 1)[0]))
