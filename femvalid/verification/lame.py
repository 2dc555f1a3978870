"""Lamé's thick-walled cylinder under internal pressure (plane strain), quarter model."""

from __future__ import annotations

import numpy as np

from femvalid._gmsh import gmsh_session
from femvalid.fem.assembly import quadrature_degree
from femvalid.fem.elements import shape_functions
from femvalid.fem.quadrature import tet_rule
from femvalid.fem.constraints import Constraints
from femvalid.fem.loads import boundary_faces_of, pressure_forces
from femvalid.fem.system import solve_elasticity
from femvalid.geometry.implants import surface_of_model
from femvalid.meshing import MeshSettings, mesh_surface
from femvalid.post.stress import stress_field

__all__ = ["lame_cylinder"]


def _quarter_tube(inner_mm, outer_mm, length_mm, resolution_mm):
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        tube = occ.cut([(3, occ.addCylinder(0, 0, 0, 0, 0, length_mm, outer_mm))],
                       [(3, occ.addCylinder(0, 0, -1, 0, 0, length_mm + 2, inner_mm))])[0]
        occ.intersect(tube, [(3, occ.addBox(0, 0, -1, outer_mm + 1, outer_mm + 1, length_mm + 2))])
        occ.synchronize()
        return surface_of_model(gmsh, resolution_mm)


def lame_cylinder(size_mm: float = 1.0, order: int = 2, inner_mm: float = 5.0, outer_mm: float = 10.0,
                  pressure_MPa: float = 10.0, E: float = 200000.0, nu: float = 0.3) -> dict:
    """Radial and hoop stress through the wall against Lamé's solution.

    Returns the largest stress error over all quadrature points relative to the
    pressure, and the radial displacement error at the bore relative to its value.
    """
    length = 2.0 * size_mm
    mesh = mesh_surface(_quarter_tube(inner_mm, outer_mm, length, 0.25 * size_mm), MeshSettings(size_mm, order))
    x = mesh.nodes
    r = np.hypot(x[:, 0], x[:, 1])
    tol = 1e-6 * outer_mm
    on_x0, on_y0 = np.flatnonzero(np.abs(x[:, 0]) < tol), np.flatnonzero(np.abs(x[:, 1]) < tol)
    ends = np.flatnonzero((x[:, 2] < tol) | (x[:, 2] > length - tol))
    dofs = np.unique(np.concatenate([3 * on_x0, 3 * on_y0 + 1, 3 * ends + 2]))
    faces = boundary_faces_of(mesh.elements)
    bore = faces[np.all(np.abs(r[faces] - inner_mm) < 1e-3 * inner_mm, axis=1)]
    loads = pressure_forces(x, bore, pressure_MPa)
    solution = solve_elasticity(x, mesh.elements, E, nu, Constraints(dofs, np.zeros(len(dofs))), loads=loads)

    a2, b2 = inner_mm**2, outer_mm**2
    A, B = pressure_MPa * a2 / (b2 - a2), pressure_MPa * a2 * b2 / (b2 - a2)
    stresses = stress_field(x, mesh.elements, solution.displacement, E, nu)
    points, _ = tet_rule(quadrature_degree(mesh.order))
    at = np.einsum("qn,mnk->mqk", shape_functions(mesh.order, points), x[mesh.elements]).reshape(-1, 3)
    rq = np.hypot(at[:, 0], at[:, 1])
    c, s = at[:, 0] / rq, at[:, 1] / rq
    sigma = stresses.stress.reshape(-1, 3, 3)
    radial_dir = np.column_stack([c, s, 0 * c])
    hoop_dir = np.column_stack([-s, c, 0 * c])
    sigma_r = np.einsum("ki,kij,kj->k", radial_dir, sigma, radial_dir)
    sigma_t = np.einsum("ki,kij,kj->k", hoop_dir, sigma, hoop_dir)
    error_r = np.abs(sigma_r - (A - B / rq**2)).max() / pressure_MPa
    error_t = np.abs(sigma_t - (A + B / rq**2)).max() / pressure_MPa
    u_exact = (1 + nu) / E * ((1 - 2 * nu) * A * inner_mm + B / inner_mm)
    bore_nodes = np.unique(bore)
    u_r = np.einsum("ki,ki->k", solution.displacement[bore_nodes, :2], x[bore_nodes, :2] / r[bore_nodes, None])
    return {
        "radial_stress_error": float(error_r),
        "hoop_stress_error": float(error_t),
        "bore_displacement_error": float(np.abs(u_r - u_exact).max() / u_exact),
        "hoop_stress_at_bore_exact_MPa": float(A + B / a2),
        "elements": int(len(mesh.elements)),
        "pressure_MPa": pressure_MPa,
    }
