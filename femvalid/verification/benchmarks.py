"""The code-verification benchmarks run by ``femvalid verify``.

Each benchmark returns one or more checks: expected value, computed value, error,
tolerance, pass/fail and runtime. They are looked up by name in BENCHMARKS; a
``quick`` flag picks the ones (and sizes) that finish in under two minutes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Check", "BENCHMARKS", "run_benchmarks"]


@dataclass
class Check:
    """One verified number."""

    benchmark: str
    quantity: str
    expected: float
    computed: float
    error: float
    tolerance: float
    passed: bool
    seconds: float = 0.0
    reference: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _check(benchmark, quantity, expected, computed, tolerance, reference, relative=True, **details):
    error = abs(computed - expected) / (abs(expected) if relative else 1.0)
    return Check(benchmark, quantity, float(expected), float(computed), float(error), tolerance,
                 bool(error <= tolerance), reference=reference, details=details)


def mms(quick: bool):
    from femvalid.verification.mms import manufactured_convergence

    out = []
    for order in (1, 2):
        study = manufactured_convergence(order, (0.2, 0.1, 0.05))
        ref = "theory: L2 order p + 1, energy order p (scikit-fem tests/test_convergence.py pattern)"
        info = {"sizes_mm": study.sizes_mm, "l2_errors": study.l2_errors, "energy_errors": study.energy_errors}
        out.append(_check(f"mms-p{order}", "L2 displacement order", order + 1, study.l2_order, 0.1, ref, False, **info))
        out.append(_check(f"mms-p{order}", "energy-norm order", order, study.energy_order, 0.1, ref, False, **info))
    return out


def prism(quick: bool):
    from femvalid.geometry.implants import prism_surface
    from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
    from femvalid.materials import material_from_table
    from femvalid.meshing import MeshSettings, mesh_surface

    sides, radius, length, E = 5, 5.0, 8.0, 110000.0
    area = 0.5 * sides * radius**2 * np.sin(2 * np.pi / sides)
    case = loadcase_from_table({"name": "p", "type": "axial_compression", "force": 1000.0, "platens": "frictionless"}, "prism")
    out = []
    for order in (1, 2):
        mesh = mesh_surface(prism_surface(sides, radius, length), MeshSettings(1.5, order))
        qoi = LOADCASE_TYPES["axial_compression"](mesh, material_from_table({"E": E, "nu": 0.3}), case).qoi
        ref = "exact: a frictionless prism has stiffness E·A/L and σzz = −F/A"
        out.append(_check(f"prism-p{order}", "stiffness N/mm", E * area / length, qoi["stiffness_N_per_mm"], 1e-6, ref))
        out.append(_check(f"prism-p{order}", "von Mises p99 MPa", 1000.0 / area, qoi["von_mises_p99_MPa"], 1e-6, ref))
    return out


def lame(quick: bool):
    from femvalid.verification.lame import lame_cylinder

    r = lame_cylinder(size_mm=0.6, order=2)
    ref = "Lamé thick-walled cylinder, plane strain (Timoshenko & Goodier, Theory of Elasticity, §33)"
    return [
        _check("lame", "max radial stress error / pressure", 0.0, r["radial_stress_error"], 0.025, ref, False, **r),
        _check("lame", "max hoop stress error / pressure", 0.0, r["hoop_stress_error"], 0.025, ref, False, **r),
        _check("lame", "bore radial displacement, relative error", 0.0, r["bore_displacement_error"], 1e-3, ref, False, **r),
    ]


def sfepy(quick: bool):
    from femvalid.geometry import InterbodyCage
    from femvalid.materials import get_material
    from femvalid.meshing import MeshSettings, mesh_surface
    from femvalid.verification.sfepy_engine import compare_with_sfepy

    mesh = mesh_surface(InterbodyCage().surface(), MeshSettings(2.0, 1))
    c = compare_with_sfepy(mesh, get_material("ti6al4v-am"))
    ref = "SfePy solving the same model with its direct solver"
    return [
        _check("sfepy", "stiffness, relative difference", 0.0, c.stiffness_difference, 1e-8, ref, False, **c.to_dict()),
        _check("sfepy", "displacement, max relative difference", 0.0, c.displacement_difference, 1e-8, ref, False),
    ]


def sfepy_fitted(quick: bool):
    import math

    from femvalid.materials import get_material
    from femvalid.meshing import VolumeMesh
    from femvalid.verification.sfepy_engine import compare_fitted_with_sfepy
    from femvalid.verification.structured import wedge_mesh

    mesh = wedge_mesh(20.0, 10.0, 8.0, 6.0, (6, 3, 3), order=2)
    a = math.radians(15.0)  # tilted about x by 15°: the fitted blocks follow it
    R = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    c = compare_fitted_with_sfepy(VolumeMesh(mesh.nodes @ R.T, mesh.elements), get_material("ti6al4v-am"))
    ref = "SfePy, direct solver, on a 6° wedge tilted 15° between fitted bonded blocks"
    return [
        _check("sfepy-fitted", "stiffness, relative difference", 0.0, c.stiffness_difference, 1e-8, ref, False,
               **c.to_dict()),
        _check("sfepy-fitted", "displacement, max relative difference", 0.0, c.displacement_difference, 1e-8, ref,
               False),
    ]


def torsion_tube(quick: bool):
    from femvalid.verification.fixtures import tube_torsion

    r = tube_torsion((2, 24, 6) if quick else (3, 36, 8))
    ref = "Saint-Venant torsion of a circular tube, K = G·J/L (exact for a circular section)"
    return [_check("torsion-tube", "torsional stiffness N·mm/deg (P2)", r["expected"], r["computed"], 5e-3, ref)]


def ball_joint(quick: bool):
    from femvalid.verification.fixtures import eccentric_ball_joint

    r = eccentric_ball_joint()
    ref = "beam theory, exact for a prism under axial force and bending: δ/F = L/EA + e²L/EI, θ = FeL/EI"
    return [
        _check("ball-joint", "compliance at the ball mm/N", r["expected_compliance_mm_per_N"],
               r["compliance_mm_per_N"], 1e-8, ref),
        _check("ball-joint", "block tilt rad", r["expected_tilt_rad"], r["tilt_rad"], 1e-8, ref),
    ]


def fatigue_prism(quick: bool):
    from femvalid.verification.fixtures import prism_fatigue

    r = prism_fatigue()
    ref = "hand formula: R = 10, σa = 0.45·F/A, compressive mean without credit, n = Se/σa (Shigley §6-12)"
    return [
        _check("fatigue-prism", "fatigue safety factor", r["expected"], r["computed"], 1e-6, ref),
        _check("fatigue-prism", "predicted runout force N", r["expected_runout_N"], r["runout_N"], 1e-6, ref),
    ]


def notch_kt(quick: bool):
    from femvalid.verification.notch import HOLE_DIAMETER_MM, WIDTH_MM, notched_plate_convergence

    r = notched_plate_convergence((0.8, 0.4, 0.2) if quick else (0.4, 0.2, 0.1))
    fine = r["fine"]
    ref = ("Peterson's Stress Concentration Factors (Pilkey & Pilkey, 3rd ed., 2008) chart 4.1, central hole in a "
           "strip in tension (fit to Howland 1930, about ±0.4 % at d/W = 0.2): Ktn = 2 + 0.284(1 − d/W) − "
           "0.600(1 − d/W)² + 1.32(1 − d/W)³; P2 stress at the notch-root node, ν = 0 (no thickness effect)")
    info = {"sizes_mm": r["sizes_mm"], "kt": r["kt"], "kt_errors": r["kt_errors"],
            "dofs": [run["dofs"] for run in r["runs"]], "d_over_w": HOLE_DIAMETER_MM / WIDTH_MM,
            "nominal": "net section"}
    return [
        _check("notch-kt", f"Kt at the notch root, finest mesh ({r['sizes_mm'][-1]:g} mm)", r["kt_expected"],
               fine["kt"], 0.01, ref, **info),
        _check("notch-kt", "observed order of Kt (P2 nodal stress, 2 expected)", 2.0, r["observed_order"], 0.5,
               ref, False, **info),
        _check("notch-kt", "hot-spot fatigue safety factor, R = −1: Se/(Kt·σnom)", fine["expected_safety_factor"],
               fine["hot_spot_safety_factor"], 0.01, ref + "; n from femvalid.post.fatigue per point, Goodman",
               size_mm=fine["size_mm"], endurance_limit_MPa=fine["endurance_limit_MPa"],
               nominal_stress_MPa=fine["nominal_MPa"], hot_spot_von_mises_MPa=fine["hot_spot_von_mises_MPa"]),
    ]


def ct_mapping(quick: bool):
    """The CT → modulus → stiffness chain on phantoms made in code (femvalid.imaging.verify)."""
    from femvalid.imaging.phantoms import linear_phantom
    from femvalid.imaging.verify import element_integrals, gradient_prism, uniform_cylinder

    law = "morgan2003-vertebra"
    uniform = uniform_cylinder(law=law)
    integrals = element_integrals(law=law)
    graded = gradient_prism(law=law, counts=(3, 3, 20))
    # The same phantom stored with its axes permuted and reversed: the same body, the same answer.
    stored = linear_phantom(150.0, (0.0, 0.0, 10.0), shape=(10, 10, 24), spacing_mm=1.0,
                            origin_mm=(-4.5, -4.5, -1.5)).reoriented((2, 0, 1), (True, False, True))
    flipped = gradient_prism(law=law, counts=(3, 3, 20), volume=stored.in_convention("RAS"))
    ref_law = f"{law} (Morgan et al. 2003) through the synthetic calibration"
    return [
        _check("ct-uniform", "mapped E / law E at the phantom's HU", 1.0, 1.0 + uniform["E_mapped_max_deviation"],
               1e-12, "uniform HU: every element's integrated E is the law's value; " + ref_law, False),
        _check("ct-uniform", "stiffness N/mm of a uniform-HU cylinder", uniform["expected_stiffness_N_per_mm"],
               uniform["stiffness_N_per_mm"], 1e-9, "E·A/L between frictionless platens (uniaxial stress, exact "
               "for any ν), A the meshed section", elements=uniform["elements"]),
        _check("ct-element-integral", "mapped E against the exact element mean (max relative error)", 0.0,
               integrals["max_relative_error"], 1e-9, "linear-HU phantom: the element mean of E(ρ(x)) by the "
               "Hermite–Genocchi formula (Curry & Schoenberg 1966), adaptive 1-D quadrature", False,
               elements=integrals["elements"], points_per_element=integrals["points_per_element"],
               centroid_sampling_error=integrals["centroid_max_relative_error"]),
        _check("ct-gradient", "stiffness N/mm of a prism with HU linear along its axis",
               graded["expected_stiffness_N_per_mm"], graded["stiffness_N_per_mm"], 1e-3,
               "series formula 1/K = ∫ dz / (E(z)·A), ν = 0 (second order in the layer height: 4.6e-4 at 20 "
               "layers)", elements=graded["elements"]),
        _check("ct-orientation", "stiffness N/mm from a copy stored permuted, reversed and in RAS",
               graded["stiffness_N_per_mm"], flipped["stiffness_N_per_mm"], 1e-9,
               "the same phantom in another storage order and patient convention must give the same answer"),
    ]


def celik(quick: bool):
    from femvalid.verification.gci import gci, representative_size

    r = gci([6.063, 5.972, 5.863], [representative_size(1.0, n, 2) for n in (18000, 8000, 4500)])
    ref = "Celik et al., J. Fluids Eng. 130 (2008) 078001, worked example"
    return [
        _check("gci-celik", "observed order", 1.53, r.order, 0.005, ref, False),
        _check("gci-celik", "extrapolated value", 6.1685, r.extrapolated, 5e-4, ref, False),
        _check("gci-celik", "GCI_fine %", 2.2, r.gci_fine_percent, 0.05, ref, False),
    ]


def sneddon(quick: bool):
    from femvalid.geometry.implants import prism_surface
    from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
    from femvalid.materials import get_material, material_from_table
    from femvalid.meshing import MeshSettings, mesh_surface

    if quick:
        return []
    a, foam = 5.0, get_material("pu-foam-15")
    nu = foam.poisson_ratio
    punch = material_from_table({"E": 1000 * foam.youngs_modulus_MPa, "nu": 0.3})
    expected = 2 * a * foam.youngs_modulus_MPa / (1 - nu**2)
    mossakovskii = (1 - nu) * np.log(3 - 4 * nu) / (1 - 2 * nu)
    mesh = mesh_surface(prism_surface(48, a, 4.0), MeshSettings(1.0, 2))
    ref = ("Sneddon rigid flat punch K = 2aE/(1 − ν²), Int J Eng Sci 3 (1965); a bonded punch is stiffer by "
           "Mossakovskii's (1 − ν) ln(3 − 4ν)/(1 − 2ν); FE values extrapolated to second order in 1/block size")
    widths = (20.0, 40.0, 80.0)
    checks = []
    for interface, target in (("frictionless", expected), ("tied", mossakovskii * expected)):
        kp = []
        for width in widths:
            case = loadcase_from_table({"name": "s", "type": "subsidence", "force": 100.0, "blocks": "bottom",
                                        "block_size": [width, width, width / 2], "interface": interface}, "sneddon")
            kp.append(LOADCASE_TYPES["subsidence"](mesh, punch, case).qoi["subsidence_stiffness_N_per_mm"])
        first = [2 * kp[1] - kp[0], 2 * kp[2] - kp[1]]
        checks.append(_check(f"sneddon-{interface}", "subsidence stiffness N/mm (extrapolated)", target,
                             (4 * first[1] - first[0]) / 3, 0.005, ref, block_widths_mm=list(widths),
                             subsidence_stiffness_N_per_mm=kp))
    return checks


def nafems_le10(quick: bool):
    from femvalid.verification.le10 import LE10_TARGET_MPa, le10

    r = le10(size_mm=150.0)
    ref = "NAFEMS LE10 thick plate pressure benchmark, σyy at D = −5.38 MPa (TNSB Rev. 3, 1990)"
    return [_check("le10", "σyy at D, MPa (P2)", LE10_TARGET_MPa, r["sigma_yy_at_D_MPa"], 0.02, ref, **r)]


BENCHMARKS = {"mms": mms, "prism": prism, "lame": lame, "le10": nafems_le10, "sneddon": sneddon, "sfepy": sfepy,
              "sfepy-fitted": sfepy_fitted, "torsion-tube": torsion_tube, "ball-joint": ball_joint,
              "fatigue-prism": fatigue_prism, "notch-kt": notch_kt, "ct-mapping": ct_mapping, "gci-celik": celik}


def run_benchmarks(quick: bool = False, progress=None) -> list[Check]:
    """Run every benchmark; returns all checks with their runtimes."""
    checks = []
    for name, benchmark in BENCHMARKS.items():
        if progress:
            progress(name)
        started = time.perf_counter()
        results = benchmark(quick)
        for check in results:
            check.seconds = (time.perf_counter() - started) / len(results)
        checks += results
    return checks
