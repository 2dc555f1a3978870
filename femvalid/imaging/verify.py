"""Verification of the CT → modulus → stiffness chain against closed forms, on phantoms made in code.

- :func:`uniform_cylinder`: a cylinder in a uniform-HU phantom. Every element's mapped E
  equals the law at that HU, and the axial stiffness between frictionless platens is
  E·A/L (uniform uniaxial stress is exact for any ν).
- :func:`element_integrals`: on a linear-HU phantom the mapped modulus of each element
  against the exact element mean of E(ρ(x)), by the Hermite–Genocchi formula: for ρ
  linear on a tetrahedron with vertex values ρ0..ρ3, the mean of f(ρ) over it is
  ∫ f(t) M(t) dt, M the quadratic B-spline density on the knots ρ0..ρ3 (Curry &
  Schoenberg 1966), integrated here by adaptive 1-D quadrature.
- :func:`gradient_prism`: HU linear along the axis; the stiffness against the series
  formula 1/K = ∫ dz / (E(z)·A) (ν = 0, where uniaxial stress is the exact 3-D solution).
- :func:`axial_stiffness`: the FE stiffness of a prism or cylinder along z with per-element E.
"""

from __future__ import annotations

import math

import numpy as np

from femvalid.fem.model import Fixture, LoadState, Model
from femvalid.fem.static import solve
from femvalid.imaging.laws import Calibration, DensityLaw, conversion, get_calibration, get_law
from femvalid.imaging.mapping import DEFAULT_DEGREE, map_material
from femvalid.imaging.phantoms import linear_phantom, uniform_phantom
from femvalid.verification.structured import box_mesh, structured_mesh

__all__ = ["axial_stiffness", "cylinder_mesh", "uniform_cylinder", "element_integrals", "exact_element_mean",
           "series_stiffness", "gradient_prism"]

FORCE_N = 1000.0


def axial_stiffness(mesh, youngs_modulus_MPa, poisson_ratio, force_N: float = FORCE_N) -> float:
    """Stiffness (N/mm) of a body along z between frictionless rigid platens at its lowest and highest z."""
    z = mesh.nodes[:, 2]
    lo, hi = z.min(), z.max()
    tol = 1e-9 * max(1.0, hi - lo)
    bottom, top = np.flatnonzero(z < lo + tol), np.flatnonzero(z > hi - tol)
    centre = mesh.nodes[top].mean(axis=0)
    motion = np.zeros((6, 1))
    motion[2, 0] = -1.0
    model = Model(mesh, youngs_modulus_MPa, poisson_ratio, (
        Fixture("inferior", bottom, np.array([centre[0], centre[1], lo]), "frictionless", [0, 0, -1], stops=True),
        Fixture("superior", top, centre, "frictionless", [0, 0, 1], motion=motion),
    ), loads=(LoadState("load", {"superior": np.array([force_N])}),))
    solution = solve(model, source="imaging verification")
    travel = -solution.fixture_motion["load"]["superior"][2]
    return force_N / travel


def cylinder_mesh(radius_mm: float, length_mm: float, counts=(6, 6, 8), order: int = 2, z0_mm: float = 0.0,
                  curved: bool = False):
    """A structured cylinder along z (the square grid mapped onto the disc), faceted unless ``curved``
    (P2 mid-side nodes on the circle)."""
    def mapping(p):
        u, v = 2.0 * p[:, 0] - 1.0, 2.0 * p[:, 1] - 1.0
        x = u * np.sqrt(1.0 - v * v / 2.0)
        y = v * np.sqrt(1.0 - u * u / 2.0)
        return np.column_stack([radius_mm * x, radius_mm * y, z0_mm + p[:, 2] * length_mm])

    return structured_mesh(counts, mapping, order, size_mm=float(length_mm / counts[2]), curved=curved)


def _law(law) -> DensityLaw:
    return get_law(law) if isinstance(law, str) else law


def _calibration(calibration) -> Calibration:
    return get_calibration(calibration) if isinstance(calibration, str) else calibration


def uniform_cylinder(hu: float = 250.0, law="morgan2003-vertebra", calibration="synthetic-apparent",
                     radius_mm: float = 6.0, length_mm: float = 12.0, counts=(6, 6, 6), order: int = 2) -> dict:
    """A cylinder in a uniform phantom: per-element E against the law at ``hu``; K against E·A/L."""
    law, calibration = _law(law), _calibration(calibration)
    volume = uniform_phantom(hu, shape=(18, 18, 16), spacing_mm=1.0, origin_mm=(-8.5, -8.5, -1.5))
    mesh = cylinder_mesh(radius_mm, length_mm, counts, order)
    material = map_material(mesh, volume, calibration, law)
    rho = conversion(calibration.density, law.density)(calibration.density_of(hu))
    E = float(law.modulus_MPa(rho))
    K = axial_stiffness(mesh, material.youngs_modulus_MPa, material.poisson_ratio)
    area = mesh.volume / length_mm
    return {"E_law_MPa": E, "E_mapped_max_deviation": float(np.max(np.abs(material.youngs_modulus_MPa / E - 1.0))),
            "stiffness_N_per_mm": K, "expected_stiffness_N_per_mm": E * area / length_mm,
            "area_mm2": area, "exact_disc_area_mm2": math.pi * radius_mm**2, "elements": len(mesh.elements)}


def exact_element_mean(f, values) -> float:
    """Mean of f(ℓ) over a tetrahedron on which ℓ is linear with vertex values ``values`` (Hermite–Genocchi)."""
    from scipy.integrate import quad
    from scipy.interpolate import BSpline

    t = np.sort(np.asarray(values, float))
    width = t[-1] - t[0]
    if width <= 1e-14 * max(1.0, abs(t[-1])):
        return float(f(t[0]))
    basis = BSpline.basis_element(t, extrapolate=False)
    density = lambda s: 3.0 * np.nan_to_num(basis(s)) / width  # noqa: E731
    inner = sorted(set(t[1:-1]) - {t[0], t[-1]})
    value, _ = quad(lambda s: f(s) * density(s), t[0], t[-1], points=inner or None, epsabs=0.0, epsrel=1e-13,
                    limit=200)
    return float(value)


def _linear_case(hu0, gradient, law, calibration, shape, spacing, origin):
    law, calibration = _law(law), _calibration(calibration)
    volume = linear_phantom(hu0, gradient, shape=shape, spacing_mm=spacing, origin_mm=origin)
    convert = conversion(calibration.density, law.density)
    rho_of = lambda x: convert(calibration.density_of(hu0 + np.asarray(x) @ np.asarray(gradient, float)))  # noqa: E731
    return law, calibration, volume, rho_of


def element_integrals(hu0: float = 200.0, gradient_hu_per_mm=(3.0, -2.0, 8.0), law="morgan2003-vertebra",
                      calibration="synthetic-apparent", degree: int = DEFAULT_DEGREE, counts=(3, 3, 4),
                      size_mm=(6.0, 6.0, 8.0)) -> dict:
    """Mapped modulus per element against the exact element integral on a linear-gradient phantom."""
    law, calibration, volume, rho_of = _linear_case(hu0, gradient_hu_per_mm, law, calibration, (16, 16, 16), 1.0,
                                                    (-7.5, -7.5, -7.5))
    mesh = box_mesh(size_mm, counts, order=1, origin=-0.5 * np.asarray(size_mm))
    material = map_material(mesh, volume, calibration, law, degree=degree)
    E = lambda r: float(law.modulus_MPa(r))  # noqa: E731
    exact = np.array([exact_element_mean(E, rho_of(mesh.nodes[element])) for element in mesh.corners])
    centroid = np.array([E(float(rho_of(mesh.nodes[element].mean(axis=0)))) for element in mesh.corners])
    mapped = material.youngs_modulus_MPa
    return {"max_relative_error": float(np.max(np.abs(mapped / exact - 1.0))),
            "centroid_max_relative_error": float(np.max(np.abs(centroid / exact - 1.0))),
            "elements": len(exact), "points_per_element": material.points_per_element,
            "mapped_MPa": mapped, "exact_MPa": exact}


def series_stiffness(law: DensityLaw, rho0: float, rho1: float, length_mm: float, area_mm2: float) -> float:
    """K of a bar whose law density runs linearly from ρ0 to ρ1 along its length: 1/K = ∫ dz / (E(z)·A)."""
    if law.density_min is not None and min(rho0, rho1) < law.density_min:
        raise ValueError("the density range reaches below the law's range (the floor would apply)")
    slope = (rho1 - rho0) / length_mm
    pieces = law.modulus
    if len(pieces) == 1 and slope != 0:
        p = pieces[0]
        if p.a == 0 and p.c != 1:
            compliance = (rho1 ** (1 - p.c) - rho0 ** (1 - p.c)) / ((1 - p.c) * p.b * slope)
        elif p.c == 1:
            compliance = math.log((p.a + p.b * rho1) / (p.a + p.b * rho0)) / (p.b * slope)
        else:
            compliance = None
        if compliance is not None:
            return area_mm2 / compliance
    from scipy.integrate import quad

    compliance, _ = quad(lambda z: 1.0 / float(law.modulus_MPa(rho0 + slope * z)), 0.0, length_mm, epsrel=1e-13)
    return area_mm2 / compliance


def gradient_prism(hu0: float = 150.0, hu_per_mm: float = 10.0, law="morgan2003-vertebra",
                   calibration="synthetic-apparent", size_mm=(6.0, 6.0, 20.0), counts=(3, 3, 20), order: int = 1,
                   degree: int = DEFAULT_DEGREE, volume=None) -> dict:
    """HU = hu0 + hu_per_mm·z on a prism z ∈ [0, L] (ν = 0): FE stiffness against the series formula.

    ``volume`` replaces the generated phantom (an orientation-flipped copy, a file read back).
    """
    law, calibration = _law(law), _calibration(calibration)
    if volume is None:
        volume = linear_phantom(hu0, (0.0, 0.0, hu_per_mm), shape=(10, 10, 24), spacing_mm=1.0,
                                origin_mm=(-4.5, -4.5, -1.5))
    a, b, L = size_mm
    mesh = box_mesh(size_mm, counts, order=order, origin=(-a / 2, -b / 2, 0.0))
    material = map_material(mesh, volume, calibration, law, degree=degree, nu=0.0)
    K = axial_stiffness(mesh, material.youngs_modulus_MPa, material.poisson_ratio)
    convert = conversion(calibration.density, law.density)
    rho = lambda z: float(convert(calibration.density_of(hu0 + hu_per_mm * z)))  # noqa: E731
    expected = series_stiffness(law, rho(0.0), rho(L), L, a * b)
    return {"stiffness_N_per_mm": K, "expected_stiffness_N_per_mm": expected,
            "relative_error": K / expected - 1.0, "elements": len(mesh.elements),
            "E_range_MPa": (float(material.youngs_modulus_MPa.min()), float(material.youngs_modulus_MPa.max()))}
