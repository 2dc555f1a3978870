"""A solved load case: quantities of interest, fields, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femvalid.post.stress import principal_stresses, stress_field, volume_stats

__all__ = ["CaseAnalysis", "stress_qoi", "SINGULAR_PEAK_RATIO"]

#: A max von Mises this many times the p99 is flagged as a (mesh-dependent) stress singularity.
SINGULAR_PEAK_RATIO = 1.5


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


@dataclass(frozen=True, eq=False)
class CaseAnalysis:
    """Everything a load case produced for one mesh (scaled to the requested force)."""

    qoi: dict
    solver: dict
    point_data: dict
    cell_data: dict
    warnings: list = field(default_factory=list)

    @classmethod
    def build(cls, mesh, material, case, solution, scale, qoi, contacts) -> "CaseAnalysis":
        displacement = solution.displacement * scale
        stresses = stress_field(mesh.nodes, mesh.elements, displacement, material.youngs_modulus_MPa,
                                material.poisson_ratio)
        vm = stresses.von_mises
        extra, warnings = stress_qoi(vm, stresses.weights, case.force_N, material.yield_MPa)
        qoi = {**qoi, **extra}
        mean_stress = stresses.element_mean()
        principal = principal_stresses(mean_stress)
        contact = np.zeros(len(mesh.nodes), np.int8)
        contact[contacts.bottom], contact[contacts.top] = 1, 2
        point_data = {
            "displacement_mm": displacement,
            "displacement_magnitude_mm": np.linalg.norm(displacement, axis=1),
            "reaction_force_N": solution.reactions * scale,
            "platen_contact": contact,
        }
        cell_data = {
            "von_mises_MPa": (vm * stresses.weights).sum(axis=1) / stresses.weights.sum(axis=1),
            "von_mises_max_MPa": vm.max(axis=1),
            "principal_stress_1_MPa": principal[:, 0],
            "principal_stress_2_MPa": principal[:, 1],
            "principal_stress_3_MPa": principal[:, 2],
            "stress_MPa": mean_stress.reshape(-1, 9),
        }
        solver = {
            **solution.report.to_dict(),
            "assembly_seconds": solution.assembly_seconds,
            "equilibrium_error": solution.imbalance,
        }
        return cls(qoi, solver, point_data, cell_data, warnings)
