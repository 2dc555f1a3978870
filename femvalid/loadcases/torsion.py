"""ASTM F2077 torsion: an axial preload and a torque about the load axis.

The superior block moves along the load axis under ``preload_N`` and turns about it
under ``torque_Nmm``; its other motions are held, or with ``platen_rotation =
"free"`` the two rotations normal to the load axis are free (a gimbal at the
ball). The torsional stiffness is the torque per degree of rotation about the load
axis with the preload's motion free of force.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from femvalid.fem.model import LoadState
from femvalid.fem.static import solve
from femvalid.post.stress import stress_field

from femvalid.loadcases.loadcase import TORQUE_RANGE_NMM, FORCE_RANGE_N, _finite
from femvalid.loadcases.registry import register_loadcase_type
from femvalid.loadcases.rigid import (
    add_fatigue,
    analyse_rigid,
    platen_setup,
    resisted_compliance,
    rotation_columns,
    travel_columns,
)

__all__ = ["analyse_torsion"]


def analyse_torsion(mesh, material, case, source: str = "job"):
    setup = platen_setup(mesh, case, source)
    line = -setup.axis
    motion = travel_columns(case, setup, line, extra=rotation_columns(setup.frame, [2]))
    forces = np.zeros(motion.shape[1])
    forces[0], forces[1] = case.force_N, case.torque_Nmm
    analysis, parts = analyse_rigid(mesh, material, case, motion, forces, line, source, setup, fatigue=False)
    solution = parts["solution"]
    rotation = float(solution.fixture_motion["load"]["superior"][3:] @ setup.axis)
    compliance = resisted_compliance(solution.condensed_stiffness)  # the other motions free of force
    qoi = analysis.qoi
    qoi["torque_Nmm"] = case.torque_Nmm
    qoi["rotation_deg"] = math.degrees(rotation)
    qoi["torsional_stiffness_Nmm_per_deg"] = math.radians(1.0) / compliance[1, 1]
    peak = qoi["von_mises_max_MPa"]
    if material.yield_MPa and peak > 0:
        qoi["first_yield_torque_Nmm"] = case.torque_Nmm * material.yield_MPa / peak
    if case.fatigue_ratio is not None:
        # The torque cycles; the preload stays (the unit fields are reused: no new solve).
        model = parts["model"]
        torque_only = replace(model, loads=(LoadState("torque", {"superior": forces * (np.arange(len(forces)) == 1)}),))
        u = solve(torque_only, source=source).displacement["torque"]
        stresses = parts["stresses"]
        cyclic = stress_field(mesh.nodes, mesh.elements, u, model.youngs_modulus_MPa, model.poisson_ratio).stress
        add_fatigue(qoi, analysis.cell_data, case, material, cyclic, stresses.weights, case.torque_Nmm, "torque_Nmm",
                    static_stress=stresses.stress - cyclic)
    return analysis


def _parse(table, fail, origin) -> dict:
    if "torque_Nmm" not in table:
        fail("missing 'torque_Nmm' (the torque about the load axis, N·mm)")
    torque = table["torque_Nmm"]
    if not _finite(torque) or not TORQUE_RANGE_NMM[0] <= abs(torque) <= TORQUE_RANGE_NMM[1]:
        fail(f"'torque_Nmm' must be a torque about the load axis of {TORQUE_RANGE_NMM[0]:g} to "
             f"{TORQUE_RANGE_NMM[1]:g} N·mm in magnitude, got {torque!r}")
    preload = table.get("preload_N", table.get("force"))
    if "preload_N" in table and "force" in table and table["force"] != table["preload_N"]:
        fail("give the axial preload as 'preload_N' (or 'force'), not both")
    if preload is None:
        fail("missing 'preload_N' (the axial preload, N; F2077 torsion holds the device under compression)")
    if not _finite(preload) or not (preload == 0 or FORCE_RANGE_N[0] <= preload <= FORCE_RANGE_N[1]):
        fail(f"'preload_N' must be 0 or a compressive force of {FORCE_RANGE_N[0]:g} to {FORCE_RANGE_N[1]:g} N, "
             f"got {preload!r}")
    return {"torque_Nmm": float(torque), "force_N": float(preload)}


register_loadcase_type("torsion", analyse_torsion, keys={"preload_N", "torque_Nmm"}, parse=_parse,
                       fields=("torque_Nmm",), description="ASTM F2077 static torsion")
