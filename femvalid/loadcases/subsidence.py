"""ASTM F2267-style subsidence of an implant into polyurethane foam blocks.

``blocks = "both"``: the implant sits between two foam blocks; the inferior block's
base is fixed and a rigid platen pushes the superior block's top face.
``blocks = "bottom"``: one block under the implant, the rigid platen on the
implant's superior face. The implant's contact nodes are tied to the block faces by
interpolation (multi-point constraints), so the blocks are meshed on their own.

Stiffnesses: Kd of the implant between rigid platens (the axial compression case,
reused), Ks of the whole construct on foam, and the foam's share by springs in
series, Kp = Ks·Kd/(Kd − Ks); subsidence = force / Kp.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from femvalid.errors import InputError, JobError
from femvalid.fem.constraints import Constraints
from femvalid.fem.elements import triangle_shape_functions
from femvalid.fem.loads import boundary_faces_of
from femvalid.fem.system import EQUILIBRIUM_RTOL, solve_elasticity
from femvalid.fem.tie import tie_to_faces
from femvalid.geometry.implants import box_surface
from femvalid.loadcases.axial import UNIT_TRAVEL_MM, analyse_axial_compression, find_platen_contacts
from femvalid.loadcases.loadcase import LoadCase
from femvalid.meshing import MeshSettings, VolumeMesh, mesh_surface
from femvalid.post.analysis import CaseAnalysis, field_output, solver_info, stress_qoi
from femvalid.post.stress import principal_stresses, stress_field

__all__ = ["analyse_subsidence", "foam_block", "contact_pressure"]

IMPLANT, INFERIOR_BLOCK, SUPERIOR_BLOCK = 0, 1, 2

# Dunavant's 7-point rule on the reference triangle (degree 5), weights summing to 1/2.
_A1, _B1, _A2, _B2 = 0.059715871789770, 0.470142064105115, 0.797426985353087, 0.101286507323456
_TRI7_POINTS = np.array([[1 / 3, 1 / 3], [_B1, _B1], [_A1, _B1], [_B1, _A1], [_B2, _B2], [_A2, _B2], [_B2, _A2]])
_TRI7_WEIGHTS = 0.5 * np.array([0.225, *[0.132394152788506] * 3, *[0.125939180544827] * 3])


def _faces_at(mesh_nodes, elements, z, tolerance):
    faces = boundary_faces_of(elements)
    on_plane = np.all(np.abs(mesh_nodes[faces[:, :3], 2] - z) <= tolerance, axis=1)
    return faces[on_plane]


def _face_areas(nodes, faces):
    c = nodes[faces[:, :3]]
    return 0.5 * np.linalg.norm(np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]), axis=1)


def foam_block(case: LoadCase, footprint: np.ndarray, centre_xy, z_face: float, below: bool,
               size_mm: float, order: int, source: str) -> VolumeMesh:
    """Mesh one block, its face at ``z_face``, refined under the footprint (xmin, ymin, xmax, ymax)."""
    bx, by, thickness = case.block_size_mm
    (x0, y0, x1, y1), (cx, cy) = footprint, centre_xy
    if bx < x1 - x0 or by < y1 - y0:
        raise InputError(source, f"block_size {bx:g} × {by:g} mm is smaller than the implant's footprint "
                                 f"{x1 - x0:.3g} × {y1 - y0:.3g} mm")
    z0, z1 = (z_face - thickness, z_face) if below else (z_face, z_face + thickness)
    coarse = max(size_mm, min(4.0 * size_mm, thickness / 3.0))
    margin = 2.0 * size_mm
    # Under a punch the stress falls off over about its half-width: refine that deep.
    depth = min(thickness, max(0.5 * min(x1 - x0, y1 - y0), 2.0 * size_mm))
    fine_z = (z_face - depth, z_face) if below else (z_face, z_face + depth)
    settings = MeshSettings(
        coarse, order,
        refine_box_mm=(x0 - margin, y0 - margin, fine_z[0], x1 + margin, y1 + margin, fine_z[1]),
        refine_size_mm=size_mm, refine_transition_mm=2.0 * coarse,
    )
    return mesh_surface(box_surface((cx - bx / 2, cy - by / 2, z0), (cx + bx / 2, cy + by / 2, z1)), settings,
                        source=f"{source} foam block")


def contact_pressure(nodes: np.ndarray, faces: np.ndarray, nodal_force_z: np.ndarray) -> np.ndarray:
    """Pressure (MPa, per node) from the interface's nodal forces ``nodal_force_z`` (N).

    p = f / m with m the HRZ-lumped interface mass (the diagonal of M_ab = ∫ N_a N_b dA,
    scaled to sum to the area): positive for P1 and P2 faces, and free of the
    oscillations that inverting the consistent M gives next to the singular edge of
    a stiff punch.
    """
    order = 1 if faces.shape[1] == 3 else 2
    N, dN = triangle_shape_functions(order, _TRI7_POINTS)
    x = nodes[faces]
    tangents = np.einsum("kni,qnj->kqij", x, dN)
    jac = np.linalg.norm(np.cross(tangents[..., 0], tangents[..., 1]), axis=2)  # (k, q)
    local = np.einsum("kq,q,qa,qb->kab", jac, _TRI7_WEIGHTS, N, N)
    diagonal = np.einsum("kaa->ka", local)
    lumped = diagonal * (local.sum(axis=(1, 2)) / diagonal.sum(axis=1))[:, None]
    mass = np.bincount(faces.ravel(), weights=lumped.ravel(), minlength=len(nodes))
    pressure = np.zeros(len(nodes))
    used = mass > 0
    pressure[used] = nodal_force_z[used] / mass[used]
    return pressure


def analyse_subsidence(mesh, material, case: LoadCase, source: str = "job") -> CaseAnalysis:
    """Solve the subsidence case on the implant ``mesh`` and compute its quantities of interest."""
    foam = case.block_material
    tol = case.contact_tolerance_mm
    contacts = find_platen_contacts(mesh.nodes, tol, source)
    z_bottom, z_top = mesh.nodes[:, 2].min(), mesh.nodes[:, 2].max()
    bottom_faces = _faces_at(mesh.nodes, mesh.elements, z_bottom, tol)
    areas = _face_areas(mesh.nodes, bottom_faces)
    centre = (mesh.nodes[bottom_faces[:, :3]].mean(axis=1)[:, :2] * areas[:, None]).sum(axis=0) / areas.sum()
    xy = mesh.nodes[contacts.bottom, :2]
    footprint = np.concatenate([xy.min(axis=0), xy.max(axis=0)])
    edges = np.linalg.norm(mesh.nodes[bottom_faces[:, [0, 1, 2]]] - mesh.nodes[bottom_faces[:, [1, 2, 0]]], axis=2)
    size = mesh.size_mm if np.isfinite(mesh.size_mm) else float(edges.mean())

    blocks = [foam_block(case, footprint, centre, z_bottom, True, size, mesh.order, source)]
    if case.blocks == "both":
        top_xy = mesh.nodes[contacts.top, :2]
        blocks.append(foam_block(case, np.concatenate([top_xy.min(axis=0), top_xy.max(axis=0)]), centre, z_top,
                                 False, size, mesh.order, source))
    nodes, elements, regions, offsets = [mesh.nodes], [mesh.elements], [np.full(len(mesh.elements), IMPLANT)], [0]
    offset = len(mesh.nodes)
    for region, block in zip((INFERIOR_BLOCK, SUPERIOR_BLOCK), blocks):
        offsets.append(offset)
        nodes.append(block.nodes)
        elements.append(block.elements + offset)
        regions.append(np.full(len(block.elements), region))
        offset += len(block.nodes)
    nodes, elements, regions = np.vstack(nodes), np.vstack(elements), np.concatenate(regions)
    combined = VolumeMesh(nodes, elements, regions, size_mm=mesh.size_mm)
    E = np.where(regions == IMPLANT, material.youngs_modulus_MPa, foam.youngs_modulus_MPa)
    nu = np.where(regions == IMPLANT, material.poisson_ratio, foam.poisson_ratio)

    # Ties: implant contact nodes (slaves) onto the blocks' faces.
    slave_dofs, ties, master_faces = [], [], []
    inferior_block_elements = elements[regions == INFERIOR_BLOCK]
    try:
        interfaces = [(contacts.bottom, inferior_block_elements, z_bottom)]
        if case.blocks == "both":
            interfaces.append((contacts.top, elements[regions == SUPERIOR_BLOCK], z_top))
        for implant_nodes, block_elements, z in interfaces:
            master_faces.append(_faces_at(nodes, block_elements, z, 1e-9))
            dofs, T = tie_to_faces(nodes, implant_nodes, master_faces[-1], tolerance_mm=tol, source=source)
            slave_dofs.append(dofs)
            ties.append(T)
    except ValueError as exc:
        raise InputError(source, str(exc)) from None

    # Fixed base of the inferior block; the rigid platen on top (superior block or implant).
    base = np.flatnonzero((regions_of_nodes(elements, regions, len(nodes)) == INFERIOR_BLOCK)
                          & (nodes[:, 2] <= z_bottom - case.block_size_mm[2] + 1e-9))
    if case.blocks == "both":
        platen = np.flatnonzero(nodes[:, 2] >= z_top + case.block_size_mm[2] - 1e-9)
    else:
        platen = contacts.top
    fixed = (3 * base[:, None] + np.arange(3)).ravel()
    moved = [3 * platen + 2] if case.platens == "frictionless" else [3 * platen, 3 * platen + 1, 3 * platen + 2]
    moved_values = [np.full(len(platen), -UNIT_TRAVEL_MM)] if case.platens == "frictionless" else \
        [np.zeros(len(platen)), np.zeros(len(platen)), np.full(len(platen), -UNIT_TRAVEL_MM)]
    constraints = Constraints(np.concatenate([fixed, *moved]), np.concatenate([np.zeros(len(fixed)), *moved_values]),
                              np.concatenate(slave_dofs), sp.vstack(ties).tocsr())
    # The blocks' tied faces are where titanium meets foam: solved exactly within AMG-CG.
    interface_nodes = np.unique(np.concatenate([f.ravel() for f in master_faces]))
    solution = solve_elasticity(nodes, elements, E, nu, constraints, source=source, interface_nodes=interface_nodes)

    unit_force = -solution.reactions[platen, 2].sum()
    if not unit_force > 0:
        raise JobError(source, "the construct offers no resistance to the platen")
    scale = case.force_N / unit_force
    displacement, reactions = solution.displacement * scale, solution.reactions * scale
    interface_force = reactions[contacts.bottom, 2].sum()
    if abs(interface_force - case.force_N) > EQUILIBRIUM_RTOL * case.force_N * 10:
        raise JobError(source, f"the tie carries {interface_force:.6g} N of the {case.force_N:g} N applied")

    device = analyse_axial_compression(mesh, material, replace(case, type="axial_compression"), source)
    kd = device.qoi["stiffness_N_per_mm"]
    ks = unit_force / UNIT_TRAVEL_MM
    if not ks < kd:
        raise JobError(source, f"the construct on foam ({ks:.6g} N/mm) is not softer than the implant alone "
                               f"({kd:.6g} N/mm); the foam is too stiff to separate its share")
    kp = ks * kd / (kd - ks)

    stresses = stress_field(nodes, elements, displacement, E, nu)
    implant = regions == IMPLANT
    vm = stresses.von_mises
    stress_values, warnings = stress_qoi(vm[implant], stresses.weights[implant], case.force_N, material.yield_MPa)
    warnings.append("implant stresses on foam peak along the tied edge of the contact face, a singular line whose "
                    "stresses grow with refinement; judge implant strength by the axial compression case")
    pressure = contact_pressure(nodes, bottom_faces, reactions[:, 2])
    contact_area = float(areas.sum())
    block = ~implant
    strength = foam.compressive_strength_MPa or foam.yield_MPa
    compressive = -principal_stresses(stresses.stress[block])[..., 2]
    overstressed = float(stresses.weights[block][compressive > strength].sum()) if strength else 0.0
    if overstressed > 0:
        warnings.append(
            f"{overstressed:.4g} mm³ of foam is compressed beyond its strength ({strength:g} MPa): the foam would "
            "crush there, and this linear model no longer describes the test"
        )
    qoi = {
        "force_N": case.force_N,
        "stiffness_N_per_mm": ks,
        "displacement_mm": case.force_N / ks,
        "displacement_max_mm": float(np.linalg.norm(displacement[: len(mesh.nodes)], axis=1).max()),
        "reaction_force_N": float(reactions[base, 2].sum()),
        "volume_mm3": mesh.volume,
        **stress_values,
        "device_stiffness_N_per_mm": kd,
        "system_stiffness_N_per_mm": ks,
        "subsidence_stiffness_N_per_mm": kp,
        "subsidence_mm": case.force_N / kp,
        "interface_force_N": float(interface_force),
        "contact_area_mm2": contact_area,
        "contact_pressure_mean_MPa": float(interface_force / contact_area),
        "contact_pressure_max_MPa": float(pressure.max()),
        "block_von_mises_max_MPa": float(vm[block].max()),
        "block_overstressed_volume_mm3": overstressed,
    }
    marker = np.zeros(len(nodes), np.int8)
    marker[contacts.bottom], marker[contacts.top] = 1, 2
    point_data, cell_data = field_output(displacement, reactions, stresses, interface=marker,
                                         contact_pressure_MPa=pressure)
    info = solver_info(solution)
    info["device_solver"] = device.solver
    return CaseAnalysis(qoi, info, point_data, cell_data, warnings, combined)


def regions_of_nodes(elements: np.ndarray, regions: np.ndarray, count: int) -> np.ndarray:
    """Region of each node (the region of any element that uses it)."""
    out = np.full(count, -1)
    out[elements.ravel()] = np.repeat(regions, elements.shape[1])
    return out
