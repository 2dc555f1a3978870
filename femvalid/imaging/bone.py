"""The patient's vertebra as a block: a study file's ``bone`` table → checked inputs → a meshed,
CT-mapped VolumeMesh.

``bone = { ct = "ct/" or "ct.nii.gz", surface = "vertebra.stl" or mask = "mask.nii.gz",
law = "morgan2003-vertebra", calibration = ... }`` with, optionally,
``coordinates`` ("LPS", default, or "RAS": the patient convention of the surface STL,
of the implant STL and of the mesh returned), ``mask_label`` (the vertebra's label in a
label map), ``nu``, ``floor`` ("range" or a modulus in MPa), ``bins`` (N materials) and
``quadrature_degree``. Paths are relative to the study file's folder.

:func:`bone_inputs_from_table` checks the table (exit status 2 on any fault, naming
the key); :func:`bone_block` reads the CT, contours the mask (or reads the STL),
checks that the CT covers the vertebra, meshes it like any STL and maps E and ν.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femvalid.errors import GeometryError, InputError
from femvalid.imaging.io import ct_kind, read_ct, read_mask
from femvalid.imaging.laws import Calibration, DensityLaw, calibration_from_table, get_law
from femvalid.imaging.mapping import DEFAULT_DEGREE, MappedMaterial, map_material
from femvalid.imaging.nifti import is_nifti
from femvalid.imaging.volume import CONVENTIONS, CTVolume

__all__ = ["BoneInputs", "BoneBlock", "BONE_KEYS", "bone_inputs_from_table", "load_bone_surface", "bone_block",
           "map_bone"]

BONE_KEYS = ("ct", "surface", "mask", "mask_label", "law", "calibration", "coordinates", "nu", "floor", "bins",
             "quadrature_degree")
MAX_BINS = 1000


@dataclass(frozen=True)
class BoneInputs:
    """A checked ``bone`` table: absolute paths, the law and the calibration resolved."""

    ct: Path
    ct_kind: str  # "dicom" or "nifti"
    law: DensityLaw
    calibration: Calibration
    surface: Path | None = None
    mask: Path | None = None
    mask_label: int | None = None
    coordinates: str = "LPS"
    nu: float | None = None
    floor: object = "range"
    bins: int | None = None
    quadrature_degree: int = DEFAULT_DEGREE
    origin: str = "bone"

    def files(self) -> tuple[Path, ...]:
        """Every file read: the CT (each file of a DICOM folder, sorted) and the mask or surface."""
        ct = (tuple(sorted(p for p in self.ct.iterdir() if p.is_file() and not p.name.startswith(".")))
              if self.ct_kind == "dicom" else (self.ct,))  # the files the DICOM reader reads
        return ct + tuple(p for p in (self.mask, self.surface) if p is not None)

    def to_dict(self) -> dict:
        return {"ct": str(self.ct), "ct_kind": self.ct_kind, "surface": None if self.surface is None else str(self.surface),
                "mask": None if self.mask is None else str(self.mask), "mask_label": self.mask_label,
                "law": self.law.key, "calibration": self.calibration.to_dict(), "coordinates": self.coordinates,
                "nu": self.nu if self.nu is not None else self.law.nu, "floor": self.floor, "bins": self.bins,
                "quadrature_degree": self.quadrature_degree}


def _resolve(value, key: str, base: Path, origin: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise InputError(origin, f"bone.{key} must be a path (relative to the study file), got {value!r}")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else Path(base) / path).absolute()  # results.json names it wherever read


def bone_inputs_from_table(table, base: str | Path, origin: str = "bone") -> BoneInputs:
    """Check a study file's ``bone`` table; paths relative to ``base`` (the study file's folder).

    Raises
    ------
    InputError
        (exit status 2) unknown keys; a missing ct, law or calibration; both or neither of
        surface and mask; a path that does not exist or is of the wrong kind; an unknown
        law or calibration; bad numbers.
    """
    if not isinstance(table, dict):
        raise InputError(origin, f"bone must be a table {{ ct = ..., surface = ... or mask = ..., law = ..., "
                                 f"calibration = ... }}, got {table!r}")
    unknown = sorted(set(table) - set(BONE_KEYS))
    if unknown:
        raise InputError(origin, f"unknown bone key(s) {', '.join(unknown)}; allowed: {', '.join(BONE_KEYS)}")
    for key in ("ct", "law", "calibration"):
        if key not in table:
            raise InputError(origin, f"bone needs {key}")
    base = Path(base)
    ct = _resolve(table["ct"], "ct", base, origin)
    kind = ct_kind(ct, f"{origin}.ct")
    if ("surface" in table) == ("mask" in table):
        raise InputError(origin, "bone needs the vertebra as surface = \"...stl\" or as mask = \"...nii.gz\" (one of them)")
    surface = mask = None
    if "surface" in table:
        surface = _resolve(table["surface"], "surface", base, origin)
        if surface.suffix.lower() != ".stl" or not surface.is_file():
            raise InputError(f"{origin}.surface", f"{surface}: {'not an STL file' if surface.is_file() else 'no such file'}")
    else:
        mask = _resolve(table["mask"], "mask", base, origin)
        if not is_nifti(mask) or not mask.is_file():
            raise InputError(f"{origin}.mask", f"{mask}: {'not a NIfTI file (.nii, .nii.gz)' if mask.is_file() else 'no such file'}")
    label = table.get("mask_label")
    if label is not None:
        if mask is None:
            raise InputError(origin, "mask_label goes with mask")
        if isinstance(label, bool) or not isinstance(label, int):
            raise InputError(origin, f"mask_label must be an integer label, got {label!r}")
    law = get_law(table["law"], f"{origin}.law")
    calibration = calibration_from_table(table["calibration"], f"{origin}.calibration")
    coordinates = table.get("coordinates", "LPS")
    if coordinates not in CONVENTIONS:
        raise InputError(origin, f"coordinates must be one of {', '.join(CONVENTIONS)} (the patient convention of the "
                                 f"STL files), got {coordinates!r}")
    nu = table.get("nu")
    if nu is not None and (isinstance(nu, bool) or not isinstance(nu, (int, float)) or not -1.0 < nu < 0.5):
        raise InputError(origin, f"nu must be a Poisson's ratio in (-1, 0.5), got {nu!r}")
    floor = table.get("floor", "range")
    if not (floor == "range" or (not isinstance(floor, bool) and isinstance(floor, (int, float))
                                 and math.isfinite(floor) and floor > 0)):
        raise InputError(origin, f"floor must be \"range\" or a positive modulus in MPa, got {floor!r}")
    bins = table.get("bins")
    if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS):
        raise InputError(origin, f"bins must be a whole number of materials from 1 to {MAX_BINS}, got {bins!r}")
    degree = table.get("quadrature_degree", DEFAULT_DEGREE)
    if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 12:
        raise InputError(origin, f"quadrature_degree must be a whole number from 1 to 12, got {degree!r}")
    return BoneInputs(ct, kind, law, calibration, surface, mask, label, coordinates,
                      None if nu is None else float(nu), floor if floor == "range" else float(floor), bins, degree,
                      origin)


def load_bone_surface(inputs: BoneInputs):
    """The vertebra's checked, closed surface in ``inputs.coordinates`` and its check report.

    A mask is contoured (:func:`femvalid.imaging.contour.mask_surface`) and then checked
    as an STL would be.
    """
    from femvalid.geometry.checks import CheckReport, check_surface, load_surface
    from femvalid.imaging.contour import mask_surface

    if inputs.surface is not None:
        return load_surface(inputs.surface)
    mask = read_mask(inputs.mask, inputs.mask_label)
    surface = mask_surface(mask, inputs.coordinates, source=str(inputs.mask))
    report = CheckReport(path=str(inputs.mask), format="contoured mask")
    try:
        surface = check_surface(surface, report)
    except GeometryError as exc:
        raise GeometryError(inputs.mask, f"the contoured mask is not a valid solid: {exc.reason}") from None
    return surface, report


def _check_overlap(volume: CTVolume, surface, inputs: BoneInputs) -> None:
    inside = volume.contains(surface.vertices, inputs.coordinates)
    if inside.all():
        return
    lo, hi = volume.bounds(inputs.coordinates)
    slo, shi = surface.bounds
    boxes = (f"CT [{', '.join(f'{a:.4g}..{b:.4g}' for a, b in zip(lo, hi))}] mm, vertebra "
             f"[{', '.join(f'{a:.4g}..{b:.4g}' for a, b in zip(slo, shi))}] mm, {inputs.coordinates}")
    if not inside.any():
        raise InputError(inputs.origin, f"the CT volume does not overlap the vertebra ({boxes}); check that the surface "
                                        f"and the CT come from the same scan and the coordinates key "
                                        f"({inputs.coordinates})")
    raise InputError(inputs.origin, f"{100 * (1 - inside.mean()):.3g} % of the vertebra's surface lies outside the CT "
                                    f"volume ({boxes}): the CT must cover the whole vertebra")


@dataclass(frozen=True, eq=False)
class BoneBlock:
    """The vertebra meshed and mapped: hand ``mesh``, ``youngs_modulus_MPa`` and ``poisson_ratio`` to the Model.

    ``mesh`` is in the patient convention ``coordinates`` (the STL files'), mm; ``volume``
    is the CT in that convention; ``material`` holds density, yield strength and the
    mapping's record.
    """

    mesh: object
    youngs_modulus_MPa: np.ndarray
    poisson_ratio: np.ndarray
    material: MappedMaterial
    volume: CTVolume
    surface: object
    inputs: BoneInputs
    notes: tuple = ()
    warnings: tuple = field(default_factory=tuple)

    @property
    def coordinates(self) -> str:
        return self.inputs.coordinates

    def to_dict(self) -> dict:
        """For results.json's ``inputs``: what was read, how it was oriented, how E was mapped."""
        return {"bone": self.inputs.to_dict(), "ct_source": self.volume.source, "ct_shape": list(self.volume.shape),
                "ct_spacing_mm": [float(s) for s in self.volume.spacing_mm],
                "ct_axis_codes": "".join(self.volume.axis_codes), "coordinates": self.inputs.coordinates,
                "mapping": self.material.to_dict(), "notes": list(self.notes)}


def map_bone(mesh, inputs: BoneInputs, volume: CTVolume | None = None) -> MappedMaterial:
    """Map ``inputs``' CT onto any ``mesh`` in ``inputs.coordinates`` (for a block meshed elsewhere)."""
    volume = read_ct(inputs.ct) if volume is None else volume
    return map_material(mesh, volume, inputs.calibration, inputs.law, inputs.coordinates, inputs.quadrature_degree,
                        inputs.floor, inputs.nu, inputs.bins, inputs.origin)


def bone_block(inputs: BoneInputs, size_mm: float | None = None, order: int = 1, timeout_s: float = 600.0,
               source: str | None = None) -> BoneBlock:
    """Read the CT and the vertebra, mesh the vertebra (gmsh, ``size_mm``, P1 or P2) and map E and ν.

    ``size_mm`` defaults to the surface's :func:`femvalid.meshing.default_size_mm`.

    Raises
    ------
    InputError
        Bad CT or mask (see the readers), a surface outside the CT volume.
    GeometryError
        The surface (or the contoured mask) is not a valid closed solid.
    MeshingError
        gmsh failed (exit status 3).
    """
    from femvalid.meshing import MeshSettings, default_size_mm, mesh_surface

    volume = read_ct(inputs.ct).in_convention(inputs.coordinates)
    surface, report = load_bone_surface(inputs)
    _check_overlap(volume, surface, inputs)
    size = float(size_mm) if size_mm is not None else default_size_mm(surface)
    mesh = mesh_surface(surface, MeshSettings(size, order, timeout_s), source or str(inputs.surface or inputs.mask))
    material = map_bone(mesh, inputs, volume)
    notes = list(volume.notes) + [
        f"vertebra and implant taken in {inputs.coordinates} patient coordinates (bone.coordinates); CT axes "
        f"{''.join(volume.axis_codes)}",
        f"vertebra from {'mask ' + str(inputs.mask) + ' (contoured)' if inputs.mask else 'surface ' + str(inputs.surface)}",
        *material.notes]
    return BoneBlock(mesh, material.youngs_modulus_MPa, material.poisson_ratio, material, volume, surface, inputs,
                     tuple(notes), tuple(report.warnings))
