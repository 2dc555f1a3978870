"""ASTM F2077's fixtures: two rigid blocks that mate with the device, as a Model.

The blocks meet the device at its bearing faces (:mod:`femvalid.loadcases.bearing`):
``fixture = "fitted"`` mates each block with its fitted plane, ``"flat"`` puts the
blocks normal to the load axis, touching the extreme points. Contact nodes lie
within ``contact_tolerance`` of a block's face. The inferior block is fixed. The
superior block is a rigid body whose reference point moves along the columns the
load-case type allows (the load line, and with ``platen_rotation = "free"`` the three
rotations about a spherical joint ``ball_height_mm`` above the superior contact
face's area centroid, on the load axis); the type gives the generalised forces.
``bonded`` blocks move their contact nodes in every component, ``frictionless`` ones
in the component normal to the block's face only, with three point stops on the
inferior block against sliding and spinning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from femvalid.errors import InputError, JobError
from femvalid.fem.model import Fixture, LoadState, Model
from femvalid.fem.static import solve
from femvalid.loadcases.bearing import (
    BearingFaces,
    Plane,
    contact_nodes,
    face_area,
    faces_of_order,
    fit_bearing_faces,
    load_axis_frame,
    projected_area,
)
from femvalid.post.analysis import CaseAnalysis, field_output, fixture_record, solver_info, stress_qoi
from femvalid.post.stress import stress_field

__all__ = ["PlatenSetup", "platen_setup", "rigid_model", "analyse_rigid", "rotation_columns", "travel_columns", "resisted_compliance", "LOAD"]

#: The load state every rigid-fixture type solves.
LOAD = "load"
#: A contact area under this share of the bearing face's projected area is warned about.
CONTACT_AREA_SHARE = 0.5
#: Contact nodes farther than this share of the mesh size from a block's face are more than a thin layer.
THIN_LAYER_SHARE = 0.02
#: The stops or actuator carrying more than this share of the force sideways is warned about.
LATERAL_FORCE_SHARE = 0.01


def rotation_columns(frame: np.ndarray, axes=(0, 1, 2)) -> np.ndarray:
    """Motion columns (6, k): unit rotations about the frame's ``axes``."""
    out = np.zeros((6, len(axes)))
    for j, a in enumerate(axes):
        out[3:, j] = frame[:, a]
    return out


@dataclass(frozen=True, eq=False)
class PlatenSetup:
    """Where the two blocks meet the device."""

    faces: BearingFaces
    frame: np.ndarray  # columns e1, e2, d (load axis)
    planes: dict  # "inferior", "superior" → Plane of the block's face
    nodes: dict  # → contact nodes
    areas: dict  # → contact area, mm²
    centroids: dict  # → contact face's area centroid, mm
    projected: dict  # → bearing face's projected area, mm²
    warnings: tuple = ()
    contact_faces: dict = None  # → the contact face's corner triangles

    @property
    def axis(self) -> np.ndarray:
        return self.frame[:, 2]


def _mesh_size(mesh) -> float:
    if np.isfinite(mesh.size_mm):
        return float(mesh.size_mm)
    c = mesh.nodes[mesh.corners]
    return float(np.linalg.norm(c[:, 1] - c[:, 0], axis=1).mean())


def platen_setup(mesh, case, source: str = "load case", tolerance_mm: float | None = None) -> PlatenSetup:
    """Fit the bearing faces, place the blocks (fitted or flat) and find the contact nodes."""
    bearing = fit_bearing_faces(mesh, source)
    d = bearing.load_axis
    frame = load_axis_frame(d)
    if case.fixture == "fitted":
        planes = {"inferior": bearing.inferior, "superior": bearing.superior}
    else:
        planes = {side: Plane(n, float((mesh.nodes @ n).max())) for side, n in (("inferior", -d), ("superior", d))}
    tolerance = case.contact_tolerance_mm if tolerance_mm is None else tolerance_mm
    nodes, areas, centroids, projected, faces = {}, {}, {}, {}, {}
    for side, plane in planes.items():
        nodes[side] = contact_nodes(mesh.nodes, plane, tolerance)
        if len(nodes[side]) < 3:
            raise InputError(source, f"fewer than 3 nodes within contact_tolerance {tolerance:g} mm of the {side} "
                                     "block; is the superior face along +z?")
        areas[side], centroids[side], faces[side] = face_area(mesh, nodes[side])
        centroids[side] = centroids[side] + plane.distance(centroids[side][None])[0] * plane.normal  # onto the face
        projected[side] = projected_area(mesh, plane.normal)
    if np.intersect1d(nodes["inferior"], nodes["superior"]).size:
        raise InputError(source, f"contact_tolerance {tolerance:g} mm is so large that one node touches both blocks")
    warnings = []
    for side in planes:
        if areas[side] < CONTACT_AREA_SHARE * projected[side]:
            warnings.append(
                f"the {side} block touches {areas[side]:.4g} mm² of a bearing face whose projected area is "
                f"{projected[side]:.4g} mm² (contact_tolerance {tolerance:g} mm, fixture {case.fixture}): "
                "the device is held at a fraction of its face; check the fixture, or use fixture = \"flat\" "
                "for a toothed face on purpose")
    return PlatenSetup(bearing, frame, planes, nodes, areas, centroids, projected, tuple(warnings), faces)


def rigid_model(mesh, material, case, setup: PlatenSetup, motion: np.ndarray, forces: np.ndarray) -> Model:
    """The device between its two blocks; the superior one moves along ``motion`` (6, k) under ``forces`` (k,)."""
    d = setup.axis
    kind = case.platens
    superior_point = setup.centroids["superior"] + case.ball_height_mm * d
    # Frictionless blocks only push: the device may lift off them (tipping about a ball, leaning in shear).
    sliding = kind == "frictionless"
    faces = {side: faces_of_order(mesh, setup.contact_faces[side]) if sliding else None for side in setup.nodes}
    inferior = Fixture("inferior", setup.nodes["inferior"], setup.centroids["inferior"], kind,
                       setup.planes["inferior"].normal, stops=sliding, frame=setup.frame,
                       origin=setup.centroids["inferior"], unilateral=sliding, faces=faces["inferior"])
    superior = Fixture("superior", setup.nodes["superior"], superior_point, kind, setup.planes["superior"].normal,
                       motion=motion, frame=setup.frame, origin=setup.centroids["superior"], unilateral=sliding,
                       faces=faces["superior"])
    return Model(mesh, material.youngs_modulus_MPa, material.poisson_ratio, (inferior, superior),
                 loads=(LoadState(LOAD, {"superior": np.asarray(forces, float)}),),
                 node_sets={"contact_inferior": setup.nodes["inferior"], "contact_superior": setup.nodes["superior"]})


def resisted_compliance(C: np.ndarray) -> np.ndarray:
    """The inverse of the condensed stiffness on the motions the device resists (zero elsewhere)."""
    resisted = np.abs(np.diag(C)) > 1e-9 * np.abs(np.diag(C)).max()
    out = np.zeros_like(C)
    out[np.ix_(resisted, resisted)] = np.linalg.inv(C[np.ix_(resisted, resisted)])
    return out


def travel_columns(case, setup: PlatenSetup, line: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """The superior block's motion columns: the load line, then ``extra``, then the ball's rotations if free."""
    columns = [np.concatenate([line, np.zeros(3)])[:, None]]
    if extra is not None:
        columns.append(extra)
    if case.platen_rotation == "free":
        used = set()
        if extra is not None:
            used = {a for a in range(3) if any(abs(extra[3:, j] @ setup.frame[:, a]) > 0.5 for j in range(extra.shape[1]))}
        columns.append(rotation_columns(setup.frame, [a for a in range(3) if a not in used]))
    return np.hstack(columns)


def analyse_rigid(mesh, material, case, motion: np.ndarray, forces: np.ndarray, line: np.ndarray,
                  source: str = "job", setup: PlatenSetup | None = None,
                  fatigue: bool = True) -> tuple[CaseAnalysis, dict]:
    """Solve the device between its blocks; the common quantities of interest and the solution's parts.

    ``line`` is the unit direction the superior block pushes the device along (the
    load line); travel, force and stiffness are measured along it. With the case's
    ``fatigue_ratio`` (and ``fatigue``), the fatigue quantities at the force are added.
    """
    setup = setup or platen_setup(mesh, case, source)
    model = rigid_model(mesh, material, case, setup, motion, forces)
    solution = solve(model, source=source)
    u, reactions = solution.displacement[LOAD], solution.reactions[LOAD]
    sup_motion = solution.fixture_motion[LOAD]["superior"]
    travel = float(sup_motion[:3] @ line)
    force = float(np.asarray(forces, float)[0])
    wrench_inf = solution.fixture_reaction[LOAD]["inferior"]
    wrench_sup = solution.fixture_reaction[LOAD]["superior"]
    d = setup.axis
    E, nu = model.youngs_modulus_MPa, model.poisson_ratio
    stresses = stress_field(mesh.nodes, mesh.elements, u, E, nu)
    stress_values, warnings = stress_qoi(stresses.von_mises, stresses.weights, force, material.yield_MPa)
    lateral = wrench_inf[:3] - (wrench_inf[:3] @ d) * d
    qoi = {
        "force_N": force,
        "stiffness_N_per_mm": force / travel if force > 0 else 1.0 / resisted_compliance(solution.condensed_stiffness)[0, 0],
        "displacement_mm": travel,
        "displacement_max_mm": float(np.linalg.norm(u, axis=1).max()),
        "reaction_force_N": float(-wrench_inf[:3] @ line) if force else float(wrench_inf[:3] @ d),
        "reaction_force_superior_N": float(np.linalg.norm(wrench_sup[:3])),
        "reaction_moment_Nmm": float(np.linalg.norm(wrench_inf[3:])),
        "lateral_force_N": float(np.linalg.norm(lateral)),
        "volume_mm3": mesh.volume,
        **stress_values,
        "bearing_angle_deg": setup.faces.angle_deg,
        "contact_area_superior_mm2": setup.areas["superior"],
        "contact_area_inferior_mm2": setup.areas["inferior"],
    }
    if case.platen_rotation == "free":
        qoi["platen_rotation_deg"] = math.degrees(float(np.linalg.norm(sup_motion[3:])))
    warnings = list(setup.warnings) + list(solution.warnings) + warnings
    if case.platens == "frictionless" and force > 0 and qoi["lateral_force_N"] > LATERAL_FORCE_SHARE * force:
        warnings.append(
            f"between frictionless blocks the device would be squeezed out sideways: the stops against sliding "
            f"carry a lateral force of {qoi['lateral_force_N']:.4g} N ({100 * qoi['lateral_force_N'] / force:.1f} % "
            f"of the {force:g} N load; bearing angle {setup.faces.angle_deg:.2f}°)")
    for name, touching in solution.contact.items():
        if not touching.all():
            warnings.append(f"the device lifts off the {name} block at {int((~touching).sum())} of {len(touching)} "
                            "contact nodes (frictionless blocks only push)")
    warnings += _tolerance_warning(mesh, material, case, setup, motion, forces, line, qoi["stiffness_N_per_mm"], source)
    contact = np.zeros(len(mesh.nodes), np.int8)
    contact[setup.nodes["inferior"]], contact[setup.nodes["superior"]] = 1, 2
    point_data, cell_data = field_output(u, reactions, stresses, platen_contact=contact)
    if case.fatigue_ratio is not None and fatigue:
        add_fatigue(qoi, cell_data, case, material, stresses.stress, stresses.weights, force, "force_N")
    info = solver_info(solution)
    info["fixtures"] = fixture_record(model, solution, LOAD)
    info["load_axis"] = [float(v) for v in d]
    analysis = CaseAnalysis(qoi, info, point_data, cell_data, warnings, mesh)
    return analysis, {"model": model, "solution": solution, "setup": setup, "stresses": stresses}


def _tolerance_warning(mesh, material, case, setup, motion, forces, line, stiffness, source) -> list[str]:
    """Where contact_tolerance reaches past a thin layer of the face, say how much it changes the stiffness."""
    thin = THIN_LAYER_SHARE * _mesh_size(mesh)
    if case.contact_tolerance_mm <= thin:
        return []
    deep = {side: int((setup.planes[side].distance(mesh.nodes[setup.nodes[side]]) > thin).sum())
            for side in setup.planes}
    if not any(deep.values()):
        return []
    try:
        layer = platen_setup(mesh, case, source, tolerance_mm=thin)
        model = rigid_model(mesh, material, case, layer, motion, forces)
        solution = solve(model, source=source)
    except (InputError, JobError):
        return [f"contact_tolerance {case.contact_tolerance_mm:g} mm takes in {sum(deep.values())} nodes deeper than "
                f"{thin:.3g} mm from the blocks' faces; with a thin layer the blocks lose contact"]
    travel = float(solution.fixture_motion[LOAD]["superior"][:3] @ line)
    thin_stiffness = float(np.asarray(forces)[0]) / travel
    change = 100.0 * (stiffness - thin_stiffness) / thin_stiffness
    return [f"contact_tolerance {case.contact_tolerance_mm:g} mm takes in {deep['inferior']} + {deep['superior']} "
            f"nodes deeper than a thin layer ({thin:.3g} mm) of the blocks' faces: contact areas "
            f"{setup.areas['inferior']:.4g} / {setup.areas['superior']:.4g} mm² instead of "
            f"{layer.areas['inferior']:.4g} / {layer.areas['superior']:.4g} mm², stiffness {change:+.1f} % "
            f"({stiffness:.6g} against {thin_stiffness:.6g} N/mm)"]


def add_fatigue(qoi: dict, cell_data: dict, case, material, stress_peak, weights, load: float, load_name: str,
                static_stress=None) -> None:
    """Fatigue safety factor and runout load (:mod:`femvalid.post.fatigue`) into ``qoi``, its map into ``cell_data``.

    The cycle's peak is the case's load (``load_name`` N or N·mm); ``static_stress``
    is a constant part that does not cycle (a torsion test's axial preload).
    """
    from femvalid.post.fatigue import element_values, evaluate_fatigue, material_strengths

    result = evaluate_fatigue(stress_peak, weights, ratio=case.fatigue_ratio, load=abs(load), load_name=load_name,
                              criterion=case.fatigue_criterion, static_stress=static_stress,
                              **material_strengths(material))
    qoi.update(result.qoi)
    cell_data["fatigue_safety_factor"] = element_values(result.safety_factor, weights, "min")
