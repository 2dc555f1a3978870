"""Verification of the rigid fixtures against closed forms: Saint-Venant torsion, a ball joint, fatigue.

Each function builds its structured mesh in code, runs it through the same path a
study does, and returns the computed and the expected numbers.
"""

from __future__ import annotations

import math

import numpy as np

from femvalid.fem.model import Fixture, LoadState, Model
from femvalid.fem.static import solve
from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
from femvalid.materials import material_from_table
from femvalid.verification.structured import box_mesh, tube_mesh

__all__ = ["tube_torsion", "eccentric_ball_joint", "prism_fatigue"]

E, NU = 110000.0, 0.3


def tube_torsion(counts=(2, 24, 6), inner_mm=4.0, outer_mm=6.0, length_mm=10.0, torque_Nmm=2000.0) -> dict:
    """A circular tube between bonded rigid plates (P2): torsional stiffness against G·J/L, N·mm/deg."""
    material = material_from_table({"E": E, "nu": NU, "yield": 880.0})
    case = loadcase_from_table({"name": "tube", "type": "torsion", "torque_Nmm": torque_Nmm, "preload_N": 0.0},
                               "torsion benchmark")
    q = LOADCASE_TYPES["torsion"](tube_mesh(inner_mm, outer_mm, length_mm, counts, 2), material, case).qoi
    J = math.pi / 2 * (outer_mm**4 - inner_mm**4)
    expected = E / (2 * (1 + NU)) * J / length_mm * math.pi / 180.0
    return {"computed": q["torsional_stiffness_Nmm_per_deg"], "expected": expected, "qoi": q}


def eccentric_ball_joint(a=6.0, b=4.0, length_mm=12.0, offset_mm=1.5, force_N=1000.0, counts=(6, 4, 8)) -> dict:
    """A prism between frictionless blocks, the force through a ball offset e from the axis (P2).

    Beam theory (exact here: the stress is linear in x): δ/F = L/(EA) + e²L/(EI) at the
    ball, and the block tilts by θ = F·e·L/(EI).
    """
    mesh = box_mesh((a, b, length_mm), counts, order=2, origin=(-a / 2, -b / 2, 0.0))
    z = mesh.nodes[:, 2]
    bottom, top = np.flatnonzero(z < 1e-9), np.flatnonzero(z > length_mm - 1e-9)
    motion = np.zeros((6, 4))
    motion[2, 0] = -1.0  # travel down the load line
    motion[3:, 1:] = np.eye(3)  # free rotations about the ball
    model = Model(mesh, E, NU, (
        Fixture("inferior", bottom, np.zeros(3), "frictionless", [0, 0, -1], stops=True),
        Fixture("superior", top, np.array([offset_mm, 0.0, length_mm]), "frictionless", [0, 0, 1], motion=motion),
    ), loads=(LoadState("load", {"superior": np.array([force_N, 0.0, 0.0, 0.0])}),))
    solution = solve(model)
    I = a**3 * b / 12.0
    motion = solution.fixture_motion["load"]["superior"]
    return {
        "compliance_mm_per_N": -motion[2] / force_N,
        "expected_compliance_mm_per_N": length_mm / (E * a * b) + offset_mm**2 * length_mm / (E * I),
        "tilt_rad": motion[4],
        "expected_tilt_rad": force_N * offset_mm * length_mm / (E * I),
        "inferior_reaction": solution.fixture_reaction["load"]["inferior"],
    }


def prism_fatigue(force_N=2000.0, ratio=10.0, endurance_MPa=300.0) -> dict:
    """A prism in uniform compression cycling between F/R and F: n = Se/σa with σa = (1 − 1/R)/2 · F/A."""
    material = material_from_table({"E": E, "nu": NU, "yield": 880.0, "ultimate": 950.0,
                                    "endurance_limit": endurance_MPa})
    case = loadcase_from_table({"name": "prism", "type": "axial_compression", "force": force_N,
                                "platens": "frictionless", "fatigue_ratio": ratio}, "fatigue benchmark")
    mesh = box_mesh((6.0, 4.0, 12.0), (3, 2, 4), order=2, origin=(-3.0, -2.0, 0.0))
    q = LOADCASE_TYPES["axial_compression"](mesh, material, case).qoi
    sigma_a = (1 - 1 / ratio) / 2 * force_N / 24.0
    return {"computed": q["fatigue_safety_factor"], "expected": endurance_MPa / sigma_a,
            "runout_N": q["predicted_runout_force_N"], "expected_runout_N": force_N * endurance_MPa / sigma_a}
