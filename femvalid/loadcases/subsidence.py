"""ASTM F2267-style subsidence of an implant into polyurethane foam blocks, as a Model.

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

from femvalid.errors import InputError, JobError
from femvalid.fem.loads import boundary_faces_of
from femvalid.fem.model import Fixture, LoadState, Model, ReactionSet, Tie
from femvalid.fem.static import solve
from femvalid.loadcases.axial import analyse_axial_compression, find_platen_contacts
from femvalid.loadcases.loadcase import LoadCase, subsidence_keys
from femvalid.loadcases.registry import register_loadcase_type
from femvalid.meshing import VolumeMesh
from femvalid.meshing.blocks import foam_block
from femvalid.post.analysis import CaseAnalysis, field_output, fixture_record, solver_info, stress_qoi
from femvalid.post.contact import contact_pressure
from femvalid.post.stress import principal_stresses, stress_field

__all__ = ["analyse_subsidence", "subsidence_model"]

IMPLANT, INFERIOR_BLOCK, SUPERIOR_BLOCK = 0, 1, 2
REGION_NAMES = {IMPLANT: "implant", INFERIOR_BLOCK: "inferior block", SUPERIOR_BLOCK: "superior block"}
LOAD = "load"


def _faces_at(mesh_nodes, elements, z, tolerance):
    faces = boundary_faces_of(elements)
    on_plane = np.all(np.abs(mesh_nodes[faces[:, :3], 2] - z) <= tolerance, axis=1)
    return faces[on_plane]


def _face_areas(nodes, faces):
    c = nodes[faces[:, :3]]
    return 0.5 * np.linalg.norm(np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]), axis=1)


def subsidence_model(mesh, material, case: LoadCase, source: str = "job") -> tuple[Model, dict]:
    """The implant on its foam block(s): the Model, and the parts its quantities need."""
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
    bx, by, _ = case.block_size_mm
    if bx < footprint[2] - footprint[0] or by < footprint[3] - footprint[1]:
        raise InputError(source, f"block_size {bx:g} × {by:g} mm is smaller than the implant's footprint "
                                 f"{footprint[2] - footprint[0]:.3g} × {footprint[3] - footprint[1]:.3g} mm")

    blocks = [foam_block(case.block_size_mm, footprint, centre, z_bottom, True, size, mesh.order, source)]
    if case.blocks == "both":
        top_xy = mesh.nodes[contacts.top, :2]
        blocks.append(foam_block(case.block_size_mm, np.concatenate([top_xy.min(axis=0), top_xy.max(axis=0)]),
                                 centre, z_top, False, size, mesh.order, source))
    nodes, elements, regions = [mesh.nodes], [mesh.elements], [np.full(len(mesh.elements), IMPLANT)]
    offset = len(mesh.nodes)
    for region, block in zip((INFERIOR_BLOCK, SUPERIOR_BLOCK), blocks):
        nodes.append(block.nodes)
        elements.append(block.elements + offset)
        regions.append(np.full(len(block.elements), region))
        offset += len(block.nodes)
    nodes, elements, regions = np.vstack(nodes), np.vstack(elements), np.concatenate(regions)
    combined = VolumeMesh(nodes, elements, regions, size_mm=mesh.size_mm)
    E = np.where(regions == IMPLANT, material.youngs_modulus_MPa, foam.youngs_modulus_MPa)
    nu = np.where(regions == IMPLANT, material.poisson_ratio, foam.poisson_ratio)

    # Ties: implant contact nodes onto the blocks' faces, where titanium meets foam.
    ties = [Tie("inferior interface", contacts.bottom, _faces_at(nodes, elements[regions == INFERIOR_BLOCK],
                                                                 z_bottom, 1e-9), tol)]
    if case.blocks == "both":
        ties.append(Tie("superior interface", contacts.top,
                        _faces_at(nodes, elements[regions == SUPERIOR_BLOCK], z_top, 1e-9), tol))
    # Fixed base of the inferior block; the rigid platen on top (superior block or implant).
    node_region = regions_of_nodes(elements, regions, len(nodes))
    base = np.flatnonzero((node_region == INFERIOR_BLOCK) & (nodes[:, 2] <= z_bottom - case.block_size_mm[2] + 1e-9))
    if case.blocks == "both":
        platen = np.flatnonzero(nodes[:, 2] >= z_top + case.block_size_mm[2] - 1e-9)
    else:
        platen = contacts.top
    down = np.array([0.0, 0.0, -1.0])
    platen_point = nodes[platen].mean(axis=0)
    fixtures = (
        Fixture("base", base, nodes[base].mean(axis=0), "bonded", -down),
        Fixture("platen", platen, platen_point, case.platens, -down, motion=np.concatenate([down, np.zeros(3)])),
    )
    model = Model(combined, E, nu, fixtures, tuple(ties), (LoadState(LOAD, {"platen": np.array([case.force_N])}),),
                  (ReactionSet("interface", contacts.bottom, np.array([*centre, z_bottom])),),
                  region_names={k: v for k, v in REGION_NAMES.items() if k <= len(blocks)},
                  node_sets={"interface_inferior": contacts.bottom, "interface_superior": contacts.top,
                             "block_base": base, "platen": platen})
    return model, {"contacts": contacts, "bottom_faces": bottom_faces, "areas": areas}


def analyse_subsidence(mesh, material, case: LoadCase, source: str = "job") -> CaseAnalysis:
    """Solve the subsidence case on the implant ``mesh`` and compute its quantities of interest."""
    foam = case.block_material
    model, parts = subsidence_model(mesh, material, case, source)
    contacts, bottom_faces, areas = parts["contacts"], parts["bottom_faces"], parts["areas"]
    solution = solve(model, source=source)
    nodes, elements, regions = model.mesh.nodes, model.mesh.elements, model.mesh.regions
    displacement, reactions = solution.displacement[LOAD], solution.reactions[LOAD]
    travel = float(-solution.fixture_motion[LOAD]["platen"][2])
    interface_force = reactions[contacts.bottom, 2].sum()
    if abs(interface_force - case.force_N) > 1e-5 * case.force_N:
        raise JobError(source, f"the tie carries {interface_force:.6g} N of the {case.force_N:g} N applied")

    device = analyse_axial_compression(mesh, material, replace(case, type="axial_compression"), source)
    kd = device.qoi["stiffness_N_per_mm"]
    ks = case.force_N / travel
    if not ks < kd:
        raise JobError(source, f"the construct on foam ({ks:.6g} N/mm) is not softer than the implant alone "
                               f"({kd:.6g} N/mm); the foam is too stiff to separate its share")
    kp = ks * kd / (kd - ks)

    stresses = stress_field(nodes, elements, displacement, model.youngs_modulus_MPa, model.poisson_ratio)
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
    base = model.fixture("base")
    qoi = {
        "force_N": case.force_N,
        "stiffness_N_per_mm": ks,
        "displacement_mm": case.force_N / ks,
        "displacement_max_mm": float(np.linalg.norm(displacement[: len(mesh.nodes)], axis=1).max()),
        "reaction_force_N": float(reactions[base.nodes, 2].sum()),
        "reaction_moment_Nmm": float(np.linalg.norm(solution.fixture_reaction[LOAD]["base"][3:])),
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
    info["fixtures"] = fixture_record(model, solution, LOAD)
    info["device_solver"] = device.solver
    return CaseAnalysis(qoi, info, point_data, cell_data, warnings, model.mesh)


def regions_of_nodes(elements: np.ndarray, regions: np.ndarray, count: int) -> np.ndarray:
    """Region of each node (the region of any element that uses it)."""
    out = np.full(count, -1)
    out[elements.ravel()] = np.repeat(regions, elements.shape[1])
    return out


register_loadcase_type("subsidence", analyse_subsidence, keys={"blocks", "block_material", "block_size", "interface"},
                       parse=subsidence_keys, fields=("blocks", "block_material", "block_size_mm", "interface"),
                       description="ASTM F2267 subsidence into foam blocks")
