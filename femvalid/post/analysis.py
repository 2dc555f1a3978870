"""A solved load case: quantities of interest, fields, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femvalid.post.stress import StressField, principal_stresses, volume_stats

__all__ = ["CaseAnalysis", "stress_qoi", "field_output", "solver_info", "fixture_record", "SINGULAR_PEAK_RATIO"]

#: A max von Mises this many times the p99 is flagged as a (mesh-dependent) stress singularity.
SINGULAR_PEAK_RATIO = 1.5


@dataclass(frozen=True, eq=False)
class CaseAnalysis:
    """Everything a load case produced for one mesh (scaled to the requested force)."""

    qoi: dict
    solver: dict
    point_data: dict
    cell_data: dict
    warnings: list = field(default_factory=list)
    mesh: object = None  # the mesh the fields live on (implant and, for subsidence, blocks)


def stress_qoi(von_mises: np.ndarray, weights: np.ndarray, force_N: float, yield_MPa: float | None) -> tuple[dict, list]:
    """von Mises statistics (MPa), safety factor and first-yield force, with warnings."""
    qoi = volume_stats(von_mises, weights, "von_mises", "MPa")
    warnings = []
    peak, p99 = qoi["von_mises_max_MPa"], qoi["von_mises_p99_MPa"]
    if yield_MPa:
        qoi["safety_factor_yield"] = yield_MPa / p99 if p99 > 0 else float("inf")
        qoi["first_yield_force_N"] = force_N * yield_MPa / peak if peak > 0 else float("inf")
    if p99 > 0 and peak > SINGULAR_PEAK_RATIO * p99:
        warnings.append(
            f"peak von Mises {peak:.4g} MPa is {peak / p99:.1f}× the 99th percentile: a stress concentration at a "
            "sharp corner or clamped edge, where the peak does not converge with refinement; judge by p99"
        )
    return qoi, warnings


def field_output(displacement: np.ndarray, reactions: np.ndarray, stresses: StressField, **extra_point) -> tuple[dict, dict]:
    """Point and cell fields for fields.vtu (mm, N, MPa)."""
    vm = stresses.von_mises
    mean_stress = stresses.element_mean()
    principal = principal_stresses(mean_stress)
    point_data = {
        "displacement_mm": displacement,
        "displacement_magnitude_mm": np.linalg.norm(displacement, axis=1),
        "reaction_force_N": reactions,
        **extra_point,
    }
    cell_data = {
        "von_mises_MPa": (vm * stresses.weights).sum(axis=1) / stresses.weights.sum(axis=1),
        "von_mises_max_MPa": vm.max(axis=1),
        "principal_stress_1_MPa": principal[:, 0],
        "principal_stress_2_MPa": principal[:, 1],
        "principal_stress_3_MPa": principal[:, 2],
        "stress_MPa": mean_stress.reshape(-1, 9),
    }
    return point_data, cell_data


def solver_info(solution) -> dict:
    """What results.json records of a solve."""
    info = {**solution.report.to_dict(), "assembly_seconds": solution.assembly_seconds,
            "equilibrium_error": solution.imbalance}
    if hasattr(solution, "fields_solved"):
        info["unit_fields_solved"], info["unit_fields_reused"] = solution.fields_solved, solution.fields_reused
    return info


def fixture_record(model, solution, load: str) -> dict:
    """Each fixture's reference point (mm), motion (mm, rad) and reaction (N, N·mm) under one load state."""
    out = {}
    for f in model.fixtures:
        motion, wrench = solution.fixture_motion[load][f.name], solution.fixture_reaction[load][f.name]
        out[f.name] = {
            "kind": f.kind,
            "contact_nodes": int(len(f.nodes)),
            "reference_point_mm": [float(v) for v in f.reference_point],
            "translation_mm": [float(v) for v in motion[:3]],
            "rotation_rad": [float(v) for v in motion[3:]],
            "force_N": [float(v) for v in wrench[:3]],
            "moment_Nmm": [float(v) for v in wrench[3:]],
        }
    return out
