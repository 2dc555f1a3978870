"""Lattice variants: Gibson–Ashby fits of relative modulus against relative density, bone bands.

A ``lattice_compression`` job reports ``relative_density`` (ρ*/ρs, solid volume over
bounding-box volume), ``effective_modulus_MPa`` (E*), ``relative_modulus`` (E*/Es) and
``solid_modulus_MPa`` (Es). In a study each lattice type is one design and each density
one revision of it; fitting E*/Es = C·(ρ*/ρs)^n over the revisions of a design tells a
stretch-dominated lattice (n ≈ 1) from a bending-dominated one (n ≈ 2) (Gibson & Ashby,
Cellular Solids, 2nd ed., 1997; Deshpande, Ashby & Fleck, Acta Mater. 49 (2001) 1035).
"""

from __future__ import annotations

import math

import numpy as np

from femvalid._csvtext import csv_text

__all__ = ["gibson_ashby_fits", "gibson_ashby_csv", "lattice_points", "BONE_BANDS_MPA", "bone_band"]

#: Elastic modulus ranges of bone, MPa, as (low, high). Typical ranges quoted in the
#: literature: cancellous (trabecular) bone varies with anatomic site and apparent
#: density from about 0.1 to 2 GPa (e.g. Morgan, Bayraktar & Keaveny, J. Biomech. 36
#: (2003) 897; Gibson & Ashby, Cellular Solids, 1997); cortical bone about 12–20 GPa
#: (e.g. Reilly & Burstein, J. Biomech. 8 (1975) 393: femoral cortical bone, about
#: 17 GPa longitudinally, 11.5 GPa transversely). A lattice whose effective modulus lies
#: in the band of the bone it replaces shields that bone less from stress.
BONE_BANDS_MPA = {
    "cancellous": (100.0, 2000.0),
    "cortical": (12000.0, 20000.0),
}

FIT_FIELDS = ("design", "loadcase", "points", "density_min", "density_max", "C", "C_std", "n", "n_std",
              "r_squared", "solid_modulus_MPa")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _solid_modulus(qoi: dict):
    """Es of a job: reported, or E*/(E*/Es) where only those are; None if neither."""
    if _positive(qoi.get("solid_modulus_MPa")):
        return float(qoi["solid_modulus_MPa"])
    if _positive(qoi.get("effective_modulus_MPa")) and _positive(qoi.get("relative_modulus")):
        return float(qoi["effective_modulus_MPa"]) / float(qoi["relative_modulus"])
    return None


def lattice_points(results) -> list:
    """The ok jobs with a positive, finite ``relative_density`` and ``relative_modulus``, in order."""
    return [r for r in results if r.status == "ok"
            and _positive(r.qoi.get("relative_density")) and _positive(r.qoi.get("relative_modulus"))]


def gibson_ashby_fits(results) -> list[dict]:
    """Fit E*/Es = C·(ρ*/ρs)^n per (design, load case) over its lattice jobs.

    Only ok jobs whose ``qoi`` has both ``relative_density`` and ``relative_modulus``,
    finite and > 0, are used; a group needs at least two distinct densities (repeated
    densities are kept as replicate points). The fit is ordinary least squares on
    log(E*/Es) = log C + n·log ρ (natural logs). Each dict holds: design, loadcase,
    points (jobs used), density_min, density_max, C, C_std, n, n_std, r_squared and
    solid_modulus_MPa (the group's Es when all its jobs share one, else None; the fit
    itself is in relative terms and does not need it).

    Standard errors are the usual OLS ones: s² = SSR/(m − 2) times (XᵀX)⁻¹, with
    C_std = C·std(log C) by the delta method. With exactly two points the line passes
    through both and no degree of freedom is left to estimate the scatter: C_std and
    n_std are then None. r_squared is None when every point has the same E*/Es (no
    variance to explain). Groups come in the order their first job appears.
    """
    groups: dict[tuple, list] = {}
    for r in lattice_points(results):
        groups.setdefault((r.design, r.loadcase), []).append(r)
    fits = []
    for (design, loadcase), jobs in groups.items():
        rho = np.array([float(r.qoi["relative_density"]) for r in jobs])
        rel = np.array([float(r.qoi["relative_modulus"]) for r in jobs])
        if len(np.unique(rho)) < 2:
            continue
        x, y = np.log(rho), np.log(rel)
        X = np.column_stack([np.ones_like(x), x])
        XtX_inv = np.linalg.inv(X.T @ X)
        beta = XtX_inv @ (X.T @ y)
        residual = y - X @ beta
        ssr = float(residual @ residual)
        sst = float(((y - y.mean()) ** 2).sum())
        m = len(jobs)
        log_c, n = float(beta[0]), float(beta[1])
        c = math.exp(log_c)
        c_std = n_std = None
        if m > 2:
            s2 = ssr / (m - 2)
            c_std = c * math.sqrt(max(s2 * XtX_inv[0, 0], 0.0))
            n_std = math.sqrt(max(s2 * XtX_inv[1, 1], 0.0))
        solids = [_solid_modulus(r.qoi) for r in jobs]
        solid = solids[0] if solids[0] is not None and all(
            s is not None and math.isclose(s, solids[0], rel_tol=1e-9) for s in solids) else None
        fits.append({"design": design, "loadcase": loadcase, "points": m,
                     "density_min": float(rho.min()), "density_max": float(rho.max()),
                     "C": c, "C_std": c_std, "n": n, "n_std": n_std,
                     "r_squared": (1.0 - ssr / sst) if sst > 0 else None, "solid_modulus_MPa": solid})
    return fits


def gibson_ashby_csv(fits: list[dict]) -> str:
    """The fits as CSV: a header and one line per fit; an empty cell where a value is None."""
    return csv_text(FIT_FIELDS, ([fit.get(k) for k in FIT_FIELDS] for fit in fits))


def bone_band(modulus_MPa: float) -> str:
    """Where an elastic modulus (MPa) lies against :data:`BONE_BANDS_MPA`; band edges count as inside.

    >>> [bone_band(e) for e in (50.0, 1000.0, 5000.0, 17000.0, 110000.0)]
    ['below cancellous', 'cancellous', 'between', 'cortical', 'above cortical']
    """
    if not math.isfinite(modulus_MPa):
        raise ValueError(f"modulus must be finite, not {modulus_MPa!r}")
    (c_lo, c_hi), (k_lo, k_hi) = BONE_BANDS_MPA["cancellous"], BONE_BANDS_MPA["cortical"]
    if modulus_MPa < c_lo:
        return "below cancellous"
    if modulus_MPa <= c_hi:
        return "cancellous"
    if modulus_MPa < k_lo:
        return "between"
    if modulus_MPa <= k_hi:
        return "cortical"
    return "above cortical"
