"""Bone properties onto a tetrahedral mesh from a CT, in the Bonemat manner: E integrated over each element.

At the points of a quadrature rule in every element (P1 or P2, curved P2 mapped as
the solver maps it) the HU are interpolated trilinearly between voxel centres; the
calibration and the density conversion (both linear) give the law's density there,
the law its modulus (floored), and the element's modulus is the volume-weighted
mean of those point moduli, (1/V)∫E dV: Bonemat's "E integration" (Taddei et al.,
Med Eng Phys 29 (2007) 973-979), not the modulus at the element's mean HU. Because
the chain HU → ρ is linear, interpolating HU or ρ is the same; E is not interpolated.
The yield strength is integrated the same way. Optionally the moduli are binned into
N materials (equal-width bins of E; each bin takes the volume-weighted mean modulus
of its elements).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femvalid._arrays import readonly
from femvalid.errors import InputError
from femvalid.fem.elements import shape_functions, shape_gradients
from femvalid.fem.quadrature import tet_rule
from femvalid.imaging.laws import Calibration, Conversion, DensityLaw, conversion
from femvalid.imaging.volume import CTVolume
from femvalid.meshing.volume_mesh import jacobian_determinants

__all__ = ["MappedMaterial", "map_material", "quadrature_points", "DEFAULT_DEGREE"]

#: Polynomial degree of the per-element rule (4: 27 points per element, the conical product of 3-point rules).
DEFAULT_DEGREE = 4
_CHUNK = 20_000


@dataclass(frozen=True, eq=False)
class MappedMaterial:
    """Per-element bone properties mapped from a CT (the Model takes the first two).

    Attributes
    ----------
    youngs_modulus_MPa, poisson_ratio : ndarray (m,)
        E (binned when ``bins`` was given) and ν per element.
    density_g_cm3 : ndarray (m,)
        Element mean of the law's density (its type: ``law.density``).
    hu_mean : ndarray (m,)
        Element mean HU.
    yield_strength_MPa : ndarray (m,)
        Element mean compressive yield strength (law, or E·ε_y for a yield-strain law).
    yield_strain_compression : ndarray (m,)
        yield_strength / E of the element.
    material_ids : ndarray (m,) or None
        Bin of each element when binned; ``bin_moduli_MPa`` their moduli.
    fraction_below_range : float
        Volume fraction of the sample points below the law's ``density_min`` (floored).
    """

    youngs_modulus_MPa: np.ndarray
    poisson_ratio: np.ndarray
    density_g_cm3: np.ndarray
    hu_mean: np.ndarray
    yield_strength_MPa: np.ndarray
    yield_strain_compression: np.ndarray
    law: DensityLaw
    calibration: Calibration
    conversion: Conversion
    floor: object = "range"
    degree: int = DEFAULT_DEGREE
    points_per_element: int = 0
    material_ids: np.ndarray | None = None
    bin_moduli_MPa: np.ndarray | None = None
    fraction_below_range: float = 0.0
    integrated: str = "E: (1/V) integral of E(rho(HU(x))) over each element, HU trilinear between voxel centres"
    notes: tuple = ()
    _unbinned: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        for name in ("youngs_modulus_MPa", "poisson_ratio", "density_g_cm3", "hu_mean", "yield_strength_MPa",
                     "yield_strain_compression"):
            object.__setattr__(self, name, readonly(getattr(self, name), np.float64))

    @property
    def unbinned_modulus_MPa(self) -> np.ndarray:
        """The integrated element moduli before binning."""
        return self.youngs_modulus_MPa if self._unbinned is None else self._unbinned

    def to_dict(self) -> dict:
        """A summary for results.json: the law, calibration, conversion and the spread of E."""
        E = self.youngs_modulus_MPa
        return {
            "law": self.law.to_dict(), "calibration": self.calibration.to_dict(),
            "conversion": self.conversion.describe(), "floor": self.floor, "integrated": self.integrated,
            "quadrature_degree": self.degree, "points_per_element": self.points_per_element,
            "bins": None if self.bin_moduli_MPa is None else len(self.bin_moduli_MPa),
            "E_min_MPa": float(E.min()), "E_median_MPa": float(np.median(E)), "E_max_MPa": float(E.max()),
            "fraction_below_law_range": self.fraction_below_range, "notes": list(self.notes),
        }


def quadrature_points(mesh, degree: int = DEFAULT_DEGREE, start: int = 0, stop: int | None = None):
    """Points (c, q, 3) mm and weights |det J|·w (c, q) mm³ of elements [start, stop) of ``mesh``."""
    ref, w = tet_rule(degree)
    N = shape_functions(mesh.order, ref)
    grads = shape_gradients(mesh.order, ref)
    elements = mesh.elements[start:stop]
    x = mesh.nodes[elements]  # (c, n, 3)
    points = np.einsum("qn,cnd->cqd", N, x)
    weights = np.abs(jacobian_determinants(mesh.nodes, elements, grads)) * w
    return points, weights


def map_material(mesh, volume: CTVolume, calibration: Calibration, law: DensityLaw, convention: str = "LPS",
                 degree: int = DEFAULT_DEGREE, floor="range", nu: float | None = None, bins: int | None = None,
                 source: str = "bone") -> MappedMaterial:
    """Map the CT onto ``mesh`` (whose nodes are in patient ``convention``, mm).

    Parameters
    ----------
    calibration : Calibration
        HU → density of its type; converted to the law's type by :func:`femvalid.imaging.laws.conversion`.
    law : DensityLaw
    degree : int
        Degree of the per-element quadrature rule (several sample points per element).
    floor : "range" or float
        See :meth:`DensityLaw.modulus_MPa`.
    nu : float, optional
        Poisson's ratio (default: the law's).
    bins : int, optional
        Bin the moduli into this many materials.

    Raises
    ------
    InputError
        Part of the mesh lies outside the CT volume (naming the share and the boxes).
    """
    convert = conversion(calibration.density, law.density)
    m = len(mesh.elements)
    E = np.empty(m)
    rho = np.empty(m)
    hu_mean = np.empty(m)
    strength = np.empty(m)
    below = 0.0
    total = 0.0
    outside = 0
    q = len(tet_rule(degree)[1])
    for start in range(0, m, _CHUNK):
        points, weights = quadrature_points(mesh, degree, start, start + _CHUNK)
        flat = points.reshape(-1, 3)
        hu, inside = volume.sample_hu(flat, convention)
        outside += int((~inside).sum())
        density = convert(calibration.density_of(hu)).reshape(weights.shape)
        modulus = law.modulus_MPa(density, floor)
        sigma = law.yield_strength_MPa(density, modulus)
        V = weights.sum(axis=1)
        E[start:start + _CHUNK] = (weights * modulus).sum(axis=1) / V
        rho[start:start + _CHUNK] = (weights * density).sum(axis=1) / V
        hu_mean[start:start + _CHUNK] = (weights * hu.reshape(weights.shape)).sum(axis=1) / V
        strength[start:start + _CHUNK] = (weights * sigma).sum(axis=1) / V
        if law.density_min is not None:
            below += float(weights[density < law.density_min].sum())
        total += float(V.sum())
    if outside:
        share = outside / (m * q)
        lo, hi = volume.bounds(convention)
        mlo, mhi = mesh.nodes.min(axis=0), mesh.nodes.max(axis=0)
        raise InputError(source, f"{100 * share:.3g} % of the vertebra's sample points lie outside the CT volume "
                                 f"(scan {_box(lo, hi)} mm, vertebra {_box(mlo, mhi)} mm, {convention}): the CT must "
                                 "cover the whole vertebra")
    nu = law.nu if nu is None else float(nu)
    strain = strength / E  # of the integrated (unbinned) modulus: a yield-strain law gives its strain back
    unbinned, ids, bin_moduli = None, None, None
    if bins:
        unbinned = E.copy()
        volumes = mesh.element_volumes
        edges = np.linspace(E.min(), E.max(), int(bins) + 1)
        ids = np.clip(np.digitize(E, edges[1:-1]), 0, int(bins) - 1)
        weight = np.bincount(ids, weights=volumes, minlength=int(bins))
        moduli = np.bincount(ids, weights=volumes * E, minlength=int(bins)) / np.where(weight > 0, weight, 1.0)
        used = np.unique(ids)
        remap = np.full(int(bins), -1)
        remap[used] = np.arange(len(used))
        ids, bin_moduli = remap[ids], moduli[used]
        E = bin_moduli[ids]
    notes = []
    if below > 0:
        notes.append(f"{100 * below / total:.3g} % of the volume is below {law.key}'s density range "
                     f"(rho < {law.density_min:g} g/cm3, {law.density}): floored ({floor})")
    return MappedMaterial(E, np.full(m, nu), rho, hu_mean, strength, strain, law, calibration, convert, floor,
                          degree, q, ids, bin_moduli, below / total if total else 0.0, notes=tuple(notes),
                          _unbinned=unbinned)


def _box(lo, hi) -> str:
    return "[" + ", ".join(f"{a:.4g}..{b:.4g}" for a, b in zip(lo, hi)) + "]"
