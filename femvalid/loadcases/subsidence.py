"""ASTM F2267-style subsidence of an implant into polyurethane foam blocks, as a Model.

``blocks = "both"``: the implant sits between two foam blocks; the inferior block's
base is fixed and a rigid platen pushes the superior block's far face.
``blocks = "bottom"``: one block under the implant, the rigid platen on the
implant's superior face. Each block mates with the implant's fitted bearing plane
(:mod:`femvalid.loadcases.bearing`, as the F2077 blocks do), centred under the contact
face's centroid or ``offset_mm`` from it, and is meshed to carry the implant's
contact triangles (:func:`femvalid.meshing.blocks.fitted_block`): implant and block
meet node to node. ``interface = "tied"`` bonds the pairs; ``"frictionless"`` shares
their normal displacement only and lets them separate (unilateral contact).

Stiffnesses: Kd of the implant between rigid blocks (the axial compression case with
the same fixture options, reused), Ks of the whole construct on foam, and the foam's
share by springs in series, Kp = Ks·Kd/(Kd − Ks); subsidence = force / Kp.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from femvalid.errors import JobError
from femvalid.fem.loads import boundary_faces_of
from femvalid.fem.model import Fixture, LoadState, Model, NodePairs
from femvalid.fem.static import solve
from femvalid.loadcases.axial import analyse_axial_compression
from femvalid.loadcases.bone import bone_block_mesh
from femvalid.loadcases.loadcase import LoadCase, subsidence_keys
from femvalid.loadcases.registry import register_loadcase_type
from femvalid.loadcases.rigid import platen_setup, travel_columns
from femvalid.meshing import VolumeMesh
from femvalid.meshing.blocks import fitted_block
from femvalid.post.analysis import CaseAnalysis, field_output, fixture_record, solver_info, stress_qoi
from femvalid.post.contact import contact_pressure
from femvalid.post.stress import principal_stresses, stress_field

__all__ = ["analyse_subsidence", "subsidence_model"]

IMPLANT, INFERIOR_BLOCK, SUPERIOR_BLOCK = 0, 1, 2
REGION_NAMES = {IMPLANT: "implant", INFERIOR_BLOCK: "inferior block", SUPERIOR_BLOCK: "superior block"}
LOAD = "load"


def _block_frame(normal: np.ndarray, along: np.ndarray) -> np.ndarray:
    """Columns e1 (``along`` projected into the face), e2, ζ = ``normal`` (into the block), right-handed."""
    e1 = along - (along @ normal) * normal
    e1 /= np.linalg.norm(e1)
    return np.column_stack([e1, np.cross(normal, e1), normal])


def _size(mesh) -> float:
    if np.isfinite(mesh.size_mm):
        return float(mesh.size_mm)
    c = mesh.nodes[mesh.corners]
    return float(np.linalg.norm(c[:, 1] - c[:, 0], axis=1).mean())


def subsidence_model(mesh, material, case: LoadCase, source: str = "job") -> tuple[Model, dict]:
    """The implant on its foam block(s): the Model, and the parts its quantities need."""
    from femvalid.loadcases.bearing import face_area, faces_of_order

    foam = case.block_material
    setup = platen_setup(mesh, case, source)
    size = _size(mesh)
    sides = ("inferior", "superior") if case.blocks == "both" else ("inferior",)
    offset = np.array([*case.options.get("offset_mm", (0.0, 0.0)), 0.0])
    nodes, elements, regions = [mesh.nodes], [mesh.elements], [np.full(len(mesh.elements), IMPLANT)]
    count = len(mesh.nodes)
    interfaces, faces_of, frames, block_meshes = [], {}, {}, {}
    for region, side in zip((INFERIOR_BLOCK, SUPERIOR_BLOCK), sides):
        plane = setup.planes[side]
        frame = _block_frame(plane.normal, setup.frame[:, 0])
        origin = setup.centroids[side]
        _, _, faces = face_area(mesh, setup.nodes[side])
        faces_of[side], frames[side] = faces, frame
        centre = -(frame[:, :2].T @ offset)  # the footprint's centroid sits offset_mm from the block's centre
        if case.bone is not None:
            block, bone_E, bone_nu, bone_strength, held, bone_record = bone_block_mesh(
                mesh, case, frame, origin, faces, size, source)
        else:
            block = fitted_block(mesh.nodes, faces, frame, origin, case.block_size_mm, centre, size, mesh.order, source)
        block_meshes[side] = block.quality.surface_reason if block.quality is not None else ""
        contact_faces = faces_of_order(mesh, faces)
        block, face_nodes, match = _pair_nodes(mesh, contact_faces, block, size, side, source)
        interfaces.append(NodePairs(f"{side} interface", face_nodes, count + match, plane.normal,
                                    "tied" if case.interface == "tied" else "frictionless", faces=contact_faces))
        nodes.append(block.nodes)
        elements.append(block.elements + count)
        regions.append(np.full(len(block.elements), region))
        count += len(block.nodes)
    nodes, elements, regions = np.vstack(nodes), np.vstack(elements), np.concatenate(regions)
    combined = VolumeMesh(nodes, elements, regions, size_mm=mesh.size_mm)
    if case.bone is not None:
        bone = regions == INFERIOR_BLOCK
        E = np.where(regions == IMPLANT, material.youngs_modulus_MPa, 0.0)
        nu = np.where(regions == IMPLANT, material.poisson_ratio, 0.0)
        strength = np.zeros(len(regions))
        E[bone], nu[bone], strength[bone] = bone_E, bone_nu, bone_strength
    else:
        E = np.where(regions == IMPLANT, material.youngs_modulus_MPa, foam.youngs_modulus_MPa)
        nu = np.where(regions == IMPLANT, material.poisson_ratio, foam.poisson_ratio)
        strength = np.where(regions == IMPLANT, 0.0, foam.compressive_strength_MPa or foam.yield_MPa or 0.0)

    thickness = case.block_size_mm[2]
    node_region = regions_of_nodes(elements, regions, len(nodes))
    n_inf = setup.planes["inferior"].normal
    far_inf = (nodes - setup.centroids["inferior"]) @ n_inf
    if case.bone is not None:
        base = len(mesh.nodes) + held  # the bone block follows the implant's nodes
    else:
        base = np.flatnonzero((node_region == INFERIOR_BLOCK) & (far_inf >= thickness - 1e-9 * thickness))
    if case.blocks == "both":
        n_sup = setup.planes["superior"].normal
        far_sup = (nodes - setup.centroids["superior"]) @ n_sup
        platen = np.flatnonzero((node_region == SUPERIOR_BLOCK) & (far_sup >= thickness - 1e-9 * thickness))
        platen_normal = n_sup
    else:
        platen, platen_normal = setup.nodes["superior"], setup.planes["superior"].normal
    d = setup.axis
    line = -d
    centre = nodes[platen].mean(axis=0)
    motion = travel_columns(case, setup, line)
    forces = np.zeros(motion.shape[1])
    forces[0] = case.force_N
    fixtures = [
        Fixture("base", base, nodes[base].mean(axis=0), "bonded", -n_inf, frame=frames["inferior"]),
        Fixture("platen", platen, centre + case.ball_height_mm * d, case.platens, platen_normal, motion=motion,
                frame=setup.frame, origin=centre),
    ]
    sliding = case.interface == "frictionless"
    if sliding and (case.blocks == "both" or case.platens == "frictionless"):
        # Nothing holds the implant in the blocks' plane but friction, which there is none of.
        fixtures.append(Fixture("implant stops", setup.nodes["inferior"], setup.centroids["inferior"], "stops",
                                n_inf, stops=True))
    if sliding and case.blocks == "both" and case.platens == "frictionless":
        top = np.flatnonzero(node_region == SUPERIOR_BLOCK)
        fixtures.append(Fixture("block stops", platen if len(platen) else top, centre, "stops", platen_normal,
                                stops=True))
    model = Model(combined, E, nu, tuple(fixtures), tuple(interfaces),
                  (LoadState(LOAD, {"platen": forces}),),
                  region_names={k: v for k, v in REGION_NAMES.items() if k <= len(sides)},
                  node_sets={"interface_inferior": interfaces[0].slaves, "block_base": base, "platen": platen})
    return model, {"setup": setup, "faces": faces_of, "line": line, "strength": strength,
                   "bone": bone_record if case.bone is not None else None, "block_meshes": block_meshes}


def _pair_nodes(mesh, contact_faces: np.ndarray, block: VolumeMesh, size: float, side: str, source: str):
    """Pair the implant's contact-face nodes with the block's: corners by position, mid-side nodes by edge.

    A quadratic implant's mid-side nodes on the footprint's outline sit on the curved
    STL surface, off the straight mid-point where the block put its own: the block's
    mid-side node of the same edge moves there, so the two faces coincide exactly.
    Returns (block, implant nodes, their block nodes).
    """
    corners = np.unique(contact_faces[:, :3])
    distance, match = cKDTree(block.nodes).query(mesh.nodes[corners])
    if distance.max() > 1e-7 * size:
        raise JobError(source, f"the {side} block's mesh does not carry the implant's footprint "
                               f"({int((distance > 1e-7 * size).sum())} corner nodes unmatched)")
    if mesh.order == 1:
        return block, corners, match
    partner = np.full(len(block.nodes), -1)
    partner[match] = corners  # block corner → implant corner
    implant_mid = {}
    for a, b, m in np.concatenate([contact_faces[:, [0, 1, 3]], contact_faces[:, [1, 2, 4]],
                                   contact_faces[:, [2, 0, 5]]]).tolist():
        implant_mid[(min(a, b), max(a, b))] = m
    slaves, masters = list(corners), list(match)
    nodes = block.nodes.copy()
    edges = np.concatenate([block.elements[:, [a, b, m]] for a, b, m in
                            ((0, 1, 4), (1, 2, 5), (0, 2, 6), (0, 3, 7), (1, 3, 8), (2, 3, 9))])
    on_face = (partner[edges[:, 0]] >= 0) & (partner[edges[:, 1]] >= 0)
    seen = set()
    for a, b, m in edges[on_face].tolist():
        key = (min(partner[a], partner[b]), max(partner[a], partner[b]))
        if key in implant_mid and m not in seen:
            seen.add(m)
            nodes[m] = mesh.nodes[implant_mid[key]]
            slaves.append(implant_mid[key])
            masters.append(m)
    block = VolumeMesh(nodes, block.elements, size_mm=block.size_mm, quality=block.quality)
    return block, np.array(slaves), np.array(masters)


def analyse_subsidence(mesh, material, case: LoadCase, source: str = "job") -> CaseAnalysis:
    """Solve the subsidence case on the implant ``mesh`` and compute its quantities of interest."""
    model, parts = subsidence_model(mesh, material, case, source)
    setup, line = parts["setup"], parts["line"]
    solution = solve(model, source=source)
    nodes, elements, regions = model.mesh.nodes, model.mesh.elements, model.mesh.regions
    displacement, reactions = solution.displacement[LOAD], solution.reactions[LOAD]
    travel = float(solution.fixture_motion[LOAD]["platen"][:3] @ line)
    inferior = model.interfaces[0]
    in_contact = solution.contact.get(inferior.name, np.ones(len(inferior.slaves), bool))
    interface_force = float((reactions[inferior.slaves] @ -line).sum())  # along the load line, as the platen's
    if abs(interface_force - case.force_N) > 1e-5 * case.force_N:
        raise JobError(source, f"the interface carries {interface_force:.6g} N of the {case.force_N:g} N applied")

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
    warnings = list(solution.warnings) + warnings
    warnings.append(f"implant stresses on {'bone' if case.bone is not None else 'foam'} peak along the edge of "
                    "the contact face, a singular line whose "
                    "stresses grow with refinement; judge implant strength by the axial compression case")
    # Contact pressure on the footprint, per node, from the pairs' normal forces (positive in compression).
    normal_force = np.zeros(len(nodes))
    normal_force[inferior.slaves] = -(reactions[inferior.slaves] @ inferior.normal)
    p2_faces = _footprint_faces(model.mesh, inferior.slaves, len(mesh.nodes))
    pressure = contact_pressure(nodes, p2_faces, normal_force)
    pressure[inferior.masters] = pressure[inferior.slaves]  # the block's face carries the same map
    touching = np.zeros(len(nodes), bool)
    touching[inferior.slaves[in_contact]] = True
    footprint = p2_faces[touching[p2_faces[:, :3]].all(axis=1)]
    contact_area = float(_face_areas(nodes, footprint).sum())
    block = ~implant
    strength = parts["strength"]  # per element, MPa: the foam's, or the bone's mapped from the CT
    what = "bone" if case.bone is not None else "foam"
    compressive = -principal_stresses(stresses.stress[block])[..., 2]
    beyond = compressive > strength[block][:, None]
    overstressed = float(stresses.weights[block][beyond & (strength[block][:, None] > 0)].sum())
    if overstressed > 0:
        warnings.append(
            f"{overstressed:.4g} mm³ of {what} is compressed beyond its {'local ' if case.bone else ''}strength: the "
            f"{what} would crush there, and this linear model no longer describes the test"
        )
    # The strength under each footprint node: the weakest block element that holds its partner.
    local = np.full(len(nodes), np.inf)
    block_elements = np.flatnonzero(block)
    np.minimum.at(local, elements[block_elements].ravel(), np.repeat(strength[block_elements], elements.shape[1]))
    local[inferior.slaves] = local[inferior.masters]
    tributary = _tributary_areas(nodes, footprint, len(nodes))
    over = float(tributary[(pressure > local) & np.isfinite(local)].sum()) / contact_area if contact_area else 0.0
    relative = displacement[inferior.slaves] - displacement[inferior.masters]
    sliding = relative - np.outer(relative @ inferior.normal, inferior.normal)
    qoi = {
        "force_N": case.force_N,
        "stiffness_N_per_mm": ks,
        "displacement_mm": case.force_N / ks,
        "displacement_max_mm": float(np.linalg.norm(displacement[: len(mesh.nodes)], axis=1).max()),
        "reaction_force_N": float(solution.fixture_reaction[LOAD]["base"][:3] @ -line),
        "reaction_moment_Nmm": float(np.linalg.norm(solution.fixture_reaction[LOAD]["base"][3:])),
        "volume_mm3": mesh.volume,
        **stress_values,
        "bearing_angle_deg": setup.faces.angle_deg,
        "device_stiffness_N_per_mm": kd,
        "system_stiffness_N_per_mm": ks,
        "subsidence_stiffness_N_per_mm": kp,
        "subsidence_mm": case.force_N / kp,
        "interface_force_N": interface_force,
        "contact_area_mm2": contact_area,
        "contact_pressure_mean_MPa": interface_force / contact_area,
        "contact_pressure_max_MPa": float(pressure.max()),
        "block_von_mises_max_MPa": float(vm[block].max()),
        "block_overstressed_volume_mm3": overstressed,
        "footprint_overstressed_fraction": over,
        "interface_sliding_max_mm": float(np.linalg.norm(sliding, axis=1).max()),
    }
    if case.platen_rotation == "free":
        qoi["platen_rotation_deg"] = float(np.degrees(np.linalg.norm(solution.fixture_motion[LOAD]["platen"][3:])))
    if case.interface == "frictionless" and not in_contact.all():
        warnings.append(f"the implant lifts off the block at {int((~in_contact).sum())} of {len(in_contact)} "
                        f"interface nodes; contact area {contact_area:.4g} mm²")
    for side, note in parts["block_meshes"].items():
        if "flat tetrahedron" in note:
            warnings.append(f"the {side} block's mesh is {note.rsplit('; ', 1)[-1]}: subsidence may read up to "
                            "about 1 % low (the grading's gain on a punch)")
    warnings.append("contact_pressure_max_MPa is the pressure at the footprint's edge, where a stiff implant on "
                    "foam makes it singular: an indicator that grows with refinement, not a converged value")
    marker = np.zeros(len(nodes), np.int8)
    marker[inferior.slaves] = 1
    marker[inferior.masters] = 1
    if len(model.interfaces) > 1:
        marker[model.interfaces[1].slaves] = marker[model.interfaces[1].masters] = 2
    point_data, cell_data = field_output(displacement, reactions, stresses, interface=marker,
                                         contact_pressure_MPa=pressure)
    if parts["bone"] is not None:  # the CT-mapped modulus each element was given, for ParaView and the report
        cell_data["youngs_modulus_MPa"] = np.asarray(model.youngs_modulus_MPa, float)
    info = solver_info(solution)
    info["fixtures"] = fixture_record(model, solution, LOAD)
    info["device_solver"] = device.solver
    if parts["bone"] is not None:
        info["bone"] = parts["bone"]
    info["block_meshes"] = parts["block_meshes"]
    info["contact_steps"] = solution.contact_steps
    info["interface_nodes_in_contact"] = int(in_contact.sum())
    return CaseAnalysis(qoi, info, point_data, cell_data, warnings, model.mesh)


def _footprint_faces(mesh, slaves: np.ndarray, implant_nodes: int) -> np.ndarray:
    """The implant's boundary faces (P1 or P2) on the interface."""
    on = np.zeros(len(mesh.nodes), bool)
    on[slaves] = True
    implant = mesh.elements[mesh.regions == IMPLANT]
    faces = boundary_faces_of(implant)
    return faces[on[faces].all(axis=1)]


def _face_areas(nodes, faces):
    c = nodes[faces[:, :3]]
    return 0.5 * np.linalg.norm(np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]), axis=1)


def _tributary_areas(nodes, faces, count) -> np.ndarray:
    """A third of each face's area to each of its corners (mm²): the area each corner node's pressure stands for."""
    areas = np.zeros(count)
    np.add.at(areas, faces[:, :3].ravel(), np.repeat(_face_areas(nodes, faces) / 3.0, 3))
    return areas


def regions_of_nodes(elements: np.ndarray, regions: np.ndarray, count: int) -> np.ndarray:
    """Region of each node (the region of any element that uses it)."""
    out = np.full(count, -1)
    out[elements.ravel()] = np.repeat(regions, elements.shape[1])
    return out


register_loadcase_type("subsidence", analyse_subsidence,
                       keys={"blocks", "block_material", "block_size", "interface", "offset_mm", "bone"},
                       parse=subsidence_keys, fields=("blocks", "block_material", "block_size_mm", "interface", "bone"),
                       takes_base=True,
                       description="ASTM F2267 subsidence into foam blocks")
