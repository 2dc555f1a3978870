"""A notched bar against Peterson's Kt: a finite-width plate with a central hole in tension.

Geometry (mm): a strip of width W = 20 and length 2·L = 80 (L = 2·W: the hole's
disturbance decays over about one width, long before the loaded ends), with a central
circular hole of diameter d = 4 (d/W = 0.2), pulled along x by a uniform traction on
its ends. A quarter model (x ≥ 0, y ≥ 0) with symmetry on x = 0 and y = 0, and on the
plate's mid-plane z = 0 (the half thickness modelled is 1). Quadratic tetrahedra from
one layer of extruded triangles: a structured ring (d/2 ≤ ρ ≤ d) around the hole in
steps of ``size_mm`` along the arc and the radius, graded outside it; gmsh places the
hole's mid-side nodes on the circle. Halving ``size_mm`` halves every step near the
hole, so the refinement is systematic.

Through-thickness effect. Peterson's Kt is a two-dimensional (plane-stress) value.
The 3-D plate uses ν = 0: then plane stress and plane strain coincide, and the 2-D
displacement field with w = 0 is an exact 3-D solution of the traction-free plate
(σzz = λ·tr ε = 0 as λ = 0), so the 3-D model has no thickness effect at all. The
2-D Kt itself does not depend on ν: in-plane stresses of a plate loaded by tractions
only, whose hole carries no resultant force, are independent of the elastic
constants (Michell's result; Timoshenko & Goodier, Theory of Elasticity). With ν ≠ 0
a plate of finite thickness has a mid-plane Kt a few per cent at most above the
plane-stress value and a surface Kt below it (Sternberg & Sadowsky, J. Appl. Mech. 16
(1949) 27-38), which this model avoids instead of estimating.

Reference Kt (net-section nominal stress σnom = P / ((W − d)·t), i.e. the end
traction × W/(W − d)): Pilkey &
Pilkey, Peterson's Stress Concentration Factors, 3rd ed. (2008), chart 4.1, the
curve fit to Howland's series solution for the infinite strip (Phil. Trans. R. Soc.
A 229 (1930) 49-86):

    Ktn = 2 + 0.284 (1 − d/W) − 0.600 (1 − d/W)² + 1.32 (1 − d/W)³      (2.519 at d/W = 0.2)

Its own accuracy: the published fits of the same Howland values differ by 0.4 % at
d/W = 0.2 (Heywood's Ktn = 2 + (1 − d/W)³ gives 2.512; Roark's Formulas for Stress
and Strain, 7th ed., table 17.1 case 1a, Ktn = 3 − 3.13 (d/W) + 3.66 (d/W)² −
1.53 (d/W)³, gives 2.508), and Howland's table as usually quoted, Ktg = 3.14, gives
Ktn = 2.512.
So the reference is good to about ±0.4 %.

Measured (femvalid, this module; Kt vs 2.519): 0.8 mm → 2.4328 (−3.4 %), 0.4 mm →
2.4950 (−0.96 %), 0.2 mm → 2.5151 (−0.16 %), 0.1 mm → 2.5204 (+0.05 %); observed order
1.63 (0.8/0.4/0.2) and 1.92 (0.4/0.2/0.1), P2 nodal stress converging at order 2;
Richardson-extrapolated Kt 2.522 (+0.12 % on Pilkey, +0.4 % on Howland's table), so
the mesh error is about 0.2 % at 0.2 mm and 0.07 % at 0.1 mm. The checks allow 1 %.

Peak stress: σxx at the notch root node (0, d/2, 0), the P2 element stresses
evaluated *at the node* and averaged over the elements sharing it (no extrapolation;
P2 stresses are linear in each element, so the nodal value is the element's own).
The fatigue safety factor at that hot spot comes from
:func:`femvalid.post.fatigue.safety_factor_field` applied to the nodal stress tensor
for fully reversed loading (R = −1: σa = σpeak, σm = 0), against n = Se / (Kt·σnom).
"""

from __future__ import annotations

import math
import time

import numpy as np

from femvalid._gmsh import gmsh_session
from femvalid.fem.assembly import lame
from femvalid.fem.constraints import Constraints
from femvalid.fem.elements import reference_nodes, shape_gradients
from femvalid.fem.loads import boundary_faces_of, traction_forces
from femvalid.fem.system import solve_elasticity
from femvalid.post.fatigue import safety_factor_field

__all__ = ["peterson_hole_kt", "heywood_hole_kt", "roark_hole_kt", "notched_plate", "notched_plate_convergence",
           "WIDTH_MM", "HOLE_DIAMETER_MM"]

WIDTH_MM, HOLE_DIAMETER_MM, HALF_LENGTH_MM, THICKNESS_MM = 20.0, 4.0, 40.0, 1.0
E_MPA = 110000.0
RING = 2.0  # the structured ring around the hole reaches RING × its radius
GROWTH = 3.0  # outside it the size grows by GROWTH × the size at the hole per hole radius of distance
_GMSH_TET10_TO_VTK = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 8])


def peterson_hole_kt(d_over_w: float) -> float:
    """Net-section Ktn of a central hole in a strip in tension, Pilkey & Pilkey chart 4.1 (Howland)."""
    s = 1.0 - d_over_w
    return 2.0 + 0.284 * s - 0.600 * s**2 + 1.32 * s**3


def heywood_hole_kt(d_over_w: float) -> float:
    """Heywood's net-section Ktn = 2 + (1 − d/W)³ (Designing by Photoelasticity, 1952)."""
    return 2.0 + (1.0 - d_over_w) ** 3


def roark_hole_kt(d_over_w: float) -> float:
    """Roark's net-section Kt, table 17.1 case 1a (7th ed.)."""
    return 3.0 - 3.13 * d_over_w + 3.66 * d_over_w**2 - 1.53 * d_over_w**3


def _mesh(size_mm: float, far_mm: float = 4.0):
    """Quarter plate with the hole, one layer of tets through the half thickness, P2 (VTK order).

    A ring r ≤ ρ ≤ RING·r around the hole is meshed structured (transfinite: equal
    steps of about ``size_mm`` along the arc and the radius), so that refinement is
    systematic where Kt is decided; outside it the size grows as
    h·(1 + GROWTH·distance/r) up to ``far_mm``, again self-similar in h.
    """
    r, ring_r = 0.5 * HOLE_DIAMETER_MM, RING * 0.5 * HOLE_DIAMETER_MM
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        quarter = [(2, occ.addRectangle(0, 0, 0, HALF_LENGTH_MM, 0.5 * WIDTH_MM))]
        ring, _ = occ.intersect(occ.cut([(2, occ.addDisk(0, 0, 0, ring_r, ring_r))],
                                        [(2, occ.addDisk(0, 0, 0, r, r))])[0],
                                [(2, occ.addRectangle(0, 0, 0, ring_r, ring_r))])
        rest, _ = occ.cut(quarter, [(2, occ.addDisk(0, 0, 0, ring_r, ring_r))])
        faces, _ = occ.fragment(ring, rest)
        occ.synchronize()
        mesh = gmsh.model.mesh
        ring_face = min((t for _, t in faces), key=lambda t: occ.getMass(2, t))
        n_arc = int(math.ceil(0.5 * math.pi * r / size_mm - 1e-9))
        n_radial = int(math.ceil((ring_r - r) / size_mm - 1e-9))
        outer_arc = []
        for _, curve in gmsh.model.getBoundary([(2, ring_face)], oriented=False):
            rho = np.hypot(*occ.getCenterOfMass(1, curve)[:2])
            on_axis = min(np.abs(occ.getCenterOfMass(1, curve)[:2])) < 1e-9 * ring_r
            mesh.setTransfiniteCurve(curve, (n_radial if on_axis else n_arc) + 1)
            if not on_axis and rho > r:
                outer_arc.append(curve)
        mesh.setTransfiniteSurface(ring_face, "Alternate")
        field = mesh.field
        distance = field.add("Distance")
        field.setNumbers(distance, "CurvesList", outer_arc)
        field.setNumber(distance, "Sampling", 200)
        threshold = field.add("Threshold")
        field.setNumber(threshold, "InField", distance)
        field.setNumber(threshold, "SizeMin", size_mm)
        field.setNumber(threshold, "SizeMax", far_mm)
        field.setNumber(threshold, "DistMin", 0.0)
        field.setNumber(threshold, "DistMax", (far_mm - size_mm) * r / (GROWTH * size_mm))
        field.setAsBackgroundMesh(threshold)
        for option in ("MeshSizeFromPoints", "MeshSizeFromCurvature", "MeshSizeExtendFromBoundary"):
            gmsh.option.setNumber(f"Mesh.{option}", 0)
        occ.extrude(faces, 0, 0, THICKNESS_MM, numElements=[1])
        occ.synchronize()
        mesh.generate(3)
        mesh.setOrder(2)
        tags, coords, _ = mesh.getNodes()
        _, conn = mesh.getElementsByType(11)
        index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
        index[tags.astype(np.int64)] = np.arange(len(tags))
        elements = index[conn.astype(np.int64)].reshape(-1, 10)[:, _GMSH_TET10_TO_VTK]
        used, compact = np.unique(elements, return_inverse=True)
        return coords.reshape(-1, 3)[used], compact.reshape(-1, 10)


def _nodal_stress(nodes, elements, u, node, E, nu):
    """Stress (3, 3) MPa at ``node``: each P2 element's stress at the node, averaged."""
    lam, mu = lame(E, nu)
    rows, local = np.nonzero(elements == node)
    grads_all = shape_gradients(2, reference_nodes(2))
    stresses = []
    for e, k in zip(rows, local):
        grads = grads_all[k]
        g = grads @ np.linalg.inv(nodes[elements[e]].T @ grads)
        strain = 0.5 * (u[elements[e]].T @ g + (u[elements[e]].T @ g).T)
        stresses.append(2 * mu * strain + lam * np.trace(strain) * np.eye(3))
    return np.mean(stresses, axis=0)


def notched_plate(size_mm: float, nominal_MPa: float = 100.0, nu: float = 0.0, endurance_limit_MPa: float = 500.0,
                  ultimate_MPa: float = 860.0) -> dict:
    """Solve the quarter plate with element size ``size_mm`` at the hole; Kt and the hot-spot fatigue factor.

    ``nominal_MPa`` is the net-section stress σnom; the end traction is σnom·(W − d)/W.
    Se and Su default to ti6al4v-wrought's library values (MPa).
    """
    started = time.perf_counter()
    nodes, elements = _mesh(size_mm)
    x, y, z = nodes.T
    tol = 1e-7 * HALF_LENGTH_MM
    dofs = np.unique(np.concatenate([3 * np.flatnonzero(np.abs(x) < tol), 3 * np.flatnonzero(np.abs(y) < tol) + 1,
                                     3 * np.flatnonzero(np.abs(z) < tol) + 2]))
    faces = boundary_faces_of(elements)
    end = faces[np.all(np.abs(x[faces] - HALF_LENGTH_MM) < tol, axis=1)]
    gross = nominal_MPa * (WIDTH_MM - HOLE_DIAMETER_MM) / WIDTH_MM
    loads = traction_forces(nodes, end, [gross, 0.0, 0.0])
    solution = solve_elasticity(nodes, elements, E_MPA, nu, Constraints(dofs, np.zeros(len(dofs))), loads=loads,
                                source="notched plate")
    root = int(np.argmin(np.linalg.norm(nodes - [0.0, 0.5 * HOLE_DIAMETER_MM, 0.0], axis=1)))
    sigma = _nodal_stress(nodes, elements, solution.displacement, root, E_MPA, nu)
    n, sa, _ = safety_factor_field(sigma[None], -1.0, criterion="goodman", endurance_limit=endurance_limit_MPa,
                                   ultimate=ultimate_MPa, material="notched plate")
    kt_expected = peterson_hole_kt(HOLE_DIAMETER_MM / WIDTH_MM)
    return {
        "size_mm": size_mm,
        "nominal_MPa": nominal_MPa,
        "endurance_limit_MPa": endurance_limit_MPa,
        "kt": float(sigma[0, 0] / nominal_MPa),
        "kt_expected": kt_expected,
        "peak_stress_MPa": float(sigma[0, 0]),
        "hot_spot_von_mises_MPa": float(sa[0]),
        "hot_spot_safety_factor": float(n[0]),
        "expected_safety_factor": endurance_limit_MPa / (kt_expected * nominal_MPa),
        "root_node_mm": nodes[root].tolist(),
        "elements": int(len(elements)),
        "dofs": int(3 * len(nodes)),
        "seconds": time.perf_counter() - started,
    }


def notched_plate_convergence(sizes_mm=(0.4, 0.2, 0.1), **kwargs) -> dict:
    """Kt on successively refined meshes (sizes at the hole, mm, coarse to fine) and the observed order.

    The observed order p = ln((K1 − K2)/(K2 − K3)) / ln(r) needs three sizes with a
    constant ratio r; with fewer it is nan.
    """
    runs = [notched_plate(h, **kwargs) for h in sizes_mm]
    kt = [r["kt"] for r in runs]
    order = math.nan
    if len(kt) == 3:
        ratio = sizes_mm[0] / sizes_mm[1]
        d1, d2 = kt[0] - kt[1], kt[1] - kt[2]
        if d1 * d2 > 0 and abs(sizes_mm[1] / sizes_mm[2] - ratio) < 1e-9 * ratio:
            order = math.log(d1 / d2) / math.log(ratio)
    return {"sizes_mm": list(sizes_mm), "kt": kt, "kt_expected": runs[-1]["kt_expected"],
            "kt_errors": [k / runs[-1]["kt_expected"] - 1.0 for k in kt], "observed_order": order,
            "fine": runs[-1], "runs": runs}
