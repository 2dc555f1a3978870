"""NAFEMS LE10: thick elliptic plate under 1 MPa pressure; target σyy = −5.38 MPa at D.

Quarter model in mm: an elliptic annulus (inner semi-axes 2000 × 1000, outer
3250 × 2750) 600 thick (z from −300 to 300), E = 210 GPa, ν = 0.3. Symmetry on
x = 0 and y = 0; the outer curved face is held in x and y, and its mid-plane line
(z = 0) in z; 1 MPa pressure on the upper face. Point D = (2000, 0, 300), on the
inner ellipse where y is the tangential direction.
The plate is built in two layers so that the mesh has nodes on the mid-plane.
Reference: NAFEMS, "The Standard NAFEMS Benchmarks", TNSB Rev. 3 (1990), test LE10.
"""

from __future__ import annotations

import numpy as np

from femvalid._gmsh import gmsh_session
from femvalid.fem.assembly import lame
from femvalid.fem.constraints import Constraints
from femvalid.fem.elements import reference_nodes, shape_gradients
from femvalid.fem.loads import boundary_faces_of, pressure_forces
from femvalid.fem.system import solve_elasticity

__all__ = ["le10", "LE10_TARGET_MPa"]

LE10_TARGET_MPa = -5.38
E, NU = 210000.0, 0.3
_GMSH_TET10_TO_VTK = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 8])


def _mesh(size_mm: float):
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        outer = occ.addDisk(0, 0, -300, 3250, 2750)
        inner = occ.addDisk(0, 0, -300, 2000, 1000)
        ring, _ = occ.cut([(2, outer)], [(2, inner)])
        quarter = occ.addRectangle(0, 0, -300, 4000, 4000)
        face, _ = occ.intersect(ring, [(2, quarter)])
        lower = [d for d in occ.extrude(face, 0, 0, 300) if d[0] == 3]
        upper = [d for d in occ.extrude(occ.copy(face), 0, 0, 300) if d[0] == 3]
        occ.translate(upper, 0, 0, 300)
        occ.fragment(lower, upper)
        occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", size_mm)
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        _, conn = gmsh.model.mesh.getElementsByType(11)
        index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
        index[tags.astype(np.int64)] = np.arange(len(tags))
        elements = index[conn.astype(np.int64)].reshape(-1, 10)[:, _GMSH_TET10_TO_VTK]
        used, compact = np.unique(elements, return_inverse=True)
        return coords.reshape(-1, 3)[used], compact.reshape(-1, 10)


def _nodal_stress(nodes, elements, u, node):
    """Stress at ``node`` averaged over the elements around it (MPa)."""
    lam, mu = lame(E, NU)
    rows, local = np.nonzero(elements == node)
    ref = reference_nodes(2)
    stresses = []
    for e, k in zip(rows, local):
        grads = shape_gradients(2, ref[k][None])[0]
        jac = nodes[elements[e]].T @ grads
        g = grads @ np.linalg.inv(jac)
        grad_u = u[elements[e]].T @ g
        strain = 0.5 * (grad_u + grad_u.T)
        stresses.append(2 * mu * strain + lam * np.trace(strain) * np.eye(3))
    return np.mean(stresses, axis=0)


def le10(size_mm: float = 150.0) -> dict:
    """σyy at D with quadratic tetrahedra of the given size (mm)."""
    nodes, elements = _mesh(size_mm)
    x, y, z = nodes.T
    tol = 1e-6 * 3250
    outer = np.abs((x / 3250) ** 2 + (y / 2750) ** 2 - 1) < 1e-6
    dofs = np.unique(np.concatenate([
        3 * np.flatnonzero(np.abs(x) < tol),
        3 * np.flatnonzero(np.abs(y) < tol) + 1,
        3 * np.flatnonzero(outer), 3 * np.flatnonzero(outer) + 1,
        3 * np.flatnonzero(outer & (np.abs(z) < tol)) + 2,
    ]))
    faces = boundary_faces_of(elements)
    top = faces[np.all(np.abs(z[faces] - 300) < tol, axis=1)]
    loads = pressure_forces(nodes, top, 1.0)
    solution = solve_elasticity(nodes, elements, E, NU, Constraints(dofs, np.zeros(len(dofs))), loads=loads)
    d = int(np.argmin(np.linalg.norm(nodes - [2000.0, 0.0, 300.0], axis=1)))
    sigma = _nodal_stress(nodes, elements, solution.displacement, d)
    return {"sigma_yy_at_D_MPa": float(sigma[1, 1]), "target_MPa": LE10_TARGET_MPa,
            "elements": int(len(elements)), "dofs": int(3 * len(nodes)), "size_mm": size_mm,
            "solver": solution.report.method, "iterations": solution.report.iterations}
