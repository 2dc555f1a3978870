"""CT volumes and masks on a voxel grid, with the voxel-to-mm affine and its patient convention.

A volume's array is indexed ``[i, j, k]``; its ``affine`` (4 × 4) maps the voxel
index (i, j, k, 1) to patient coordinates in mm, in the convention it carries:

- ``"LPS"``: +x towards the patient's left, +y posterior, +z superior (DICOM's);
- ``"RAS"``: +x right, +y anterior, +z superior (NIfTI's).

The two differ by the sign of x and y; :meth:`CTVolume.in_convention` converts
explicitly, and nothing is converted silently. ``axis_codes`` names, in body terms
(L/R, P/A, S/I), the direction each array axis increases towards: they are the
same in either convention, which is what a report should show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femvalid._arrays import readonly

__all__ = ["CONVENTIONS", "CTVolume", "MaskVolume", "convert_points", "convention_matrix", "axis_letters"]

CONVENTIONS = ("LPS", "RAS")
_FLIP_XY = np.diag([-1.0, -1.0, 1.0, 1.0])
# Body direction of +x, +y, +z (and of −x, −y, −z) in each convention.
_LETTERS = {"LPS": ("LPS", "RAI"), "RAS": ("RAS", "LPI")}
#: An index this far outside the voxel-centre grid (voxels) still counts as inside the scanned box.
_INSIDE_TOL = 1e-6


def _check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"patient convention must be one of {', '.join(CONVENTIONS)}, not {convention!r}")
    return convention


def axis_letters(convention: str, axis: int) -> tuple[str, str]:
    """Body directions (towards −, towards +) of world axis 0, 1 or 2 in ``convention``: ("R", "L") for x in LPS."""
    positive, negative = _LETTERS[_check_convention(convention)]
    return negative[axis], positive[axis]


def convention_matrix(frm: str, to: str) -> np.ndarray:
    """The 4 × 4 map of homogeneous points from convention ``frm`` to ``to``."""
    return np.eye(4) if _check_convention(frm) == _check_convention(to) else _FLIP_XY.copy()


def convert_points(points, frm: str, to: str) -> np.ndarray:
    """Points (n, 3) mm from patient convention ``frm`` to ``to`` (LPS ↔ RAS negates x and y)."""
    points = np.asarray(points, float)
    if _check_convention(frm) == _check_convention(to):
        return points.copy()
    return points * np.array([-1.0, -1.0, 1.0])


class _Grid:
    """Geometry shared by CT volumes and masks (the array is ``self._array``)."""

    affine: np.ndarray
    convention: str

    @property
    def shape(self) -> tuple:
        return self._array.shape

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel edge lengths along i, j, k (mm)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def axis_codes(self) -> tuple:
        """Body direction (L/R, P/A, S/I) each array axis increases towards, e.g. ('L', 'P', 'S')."""
        positive, negative = _LETTERS[self.convention]
        codes = []
        for column in self.affine[:3, :3].T:
            axis = int(np.argmax(np.abs(column)))
            codes.append(positive[axis] if column[axis] > 0 else negative[axis])
        return tuple(codes)

    def _affine_in(self, convention: str) -> np.ndarray:
        return convention_matrix(self.convention, convention) @ self.affine

    def index_to_world(self, index, convention: str | None = None) -> np.ndarray:
        """Voxel indices (n, 3) → points (n, 3) mm in ``convention`` (default: the volume's)."""
        affine = self._affine_in(convention or self.convention)
        index = np.asarray(index, float).reshape(-1, 3)
        return index @ affine[:3, :3].T + affine[:3, 3]

    def world_to_index(self, points, convention: str | None = None) -> np.ndarray:
        """Points (n, 3) mm in ``convention`` → continuous voxel indices (n, 3)."""
        affine = self._affine_in(convention or self.convention)
        points = np.asarray(points, float).reshape(-1, 3)
        return np.linalg.solve(affine[:3, :3], (points - affine[:3, 3]).T).T

    def contains(self, points, convention: str | None = None) -> np.ndarray:
        """Whether each point lies in the scanned box (voxel centres ± half a voxel)."""
        index = self.world_to_index(points, convention)
        upper = np.asarray(self.shape, float) - 0.5
        return np.all((index >= -0.5 - _INSIDE_TOL) & (index <= upper + _INSIDE_TOL), axis=1)

    def bounds(self, convention: str | None = None) -> np.ndarray:
        """Axis-aligned box (2, 3) mm, in ``convention``, around the scanned region (voxel faces)."""
        n = np.asarray(self.shape, float)
        corners = np.array([[a, b, c] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5)
                            for c in (-0.5, n[2] - 0.5)])
        world = self.index_to_world(corners, convention)
        return np.vstack([world.min(axis=0), world.max(axis=0)])

    def _reorient(self, order, flips):
        order = tuple(int(a) for a in order)
        if sorted(order) != [0, 1, 2]:
            raise ValueError("order must be a permutation of (0, 1, 2)")
        flips = tuple(bool(f) for f in flips)
        array = np.transpose(self._array, order)
        P = np.zeros((4, 4))
        P[3, 3] = 1.0
        for a in range(3):  # old index along order[a] from the new index along a
            if flips[a]:
                P[order[a], a] = -1.0
                P[order[a], 3] = array.shape[a] - 1
            else:
                P[order[a], a] = 1.0
        for a in range(3):
            if flips[a]:
                array = np.flip(array, axis=a)
        return np.ascontiguousarray(array), self.affine @ P


def _check_affine(affine) -> np.ndarray:
    affine = np.asarray(affine, float)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError("affine must be a finite 4 x 4 matrix")
    if not np.allclose(affine[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError("affine's last row must be (0, 0, 0, 1)")
    if abs(np.linalg.det(affine[:3, :3])) <= 0.0:
        raise ValueError("affine is singular")
    return affine


@dataclass(frozen=True, eq=False)
class CTVolume(_Grid):
    """A CT volume in Hounsfield units, immutable.

    Attributes
    ----------
    hu : ndarray (ni, nj, nk), float32 (float64 where given so)
        HU per voxel (stored pixel × RescaleSlope + RescaleIntercept for DICOM).
    affine : ndarray (4, 4)
        Voxel index (i, j, k, 1) → patient coordinates, mm, in ``convention``.
    convention : {"LPS", "RAS"}
    source : str
        The file or folder it came from (or the generator that made it).
    notes : tuple of str
        What reading it decided (series chosen, units taken), for the report.
    """

    hu: np.ndarray
    affine: np.ndarray
    convention: str = "LPS"
    source: str = "<memory>"
    notes: tuple = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        given = np.asarray(self.hu)
        hu = readonly(given, np.float64 if given.dtype == np.float64 else np.float32)
        if hu.ndim != 3 or min(hu.shape) < 1:
            raise ValueError("a CT volume is a 3-D array")
        object.__setattr__(self, "hu", hu)
        object.__setattr__(self, "affine", readonly(_check_affine(self.affine), np.float64))
        object.__setattr__(self, "convention", _check_convention(self.convention))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def _array(self) -> np.ndarray:
        return self.hu

    def in_convention(self, convention: str) -> "CTVolume":
        """The same volume with its affine expressed in ``convention`` (the voxels do not move)."""
        if _check_convention(convention) == self.convention:
            return self
        return CTVolume(self.hu, self._affine_in(convention), convention, self.source,
                        self.notes + (f"affine converted {self.convention} -> {convention}",))

    def reoriented(self, order=(0, 1, 2), flips=(False, False, False)) -> "CTVolume":
        """The same image (every voxel at the same place in mm) stored with its axes permuted by
        ``order`` and then reversed where ``flips``: an orientation-changed copy."""
        array, affine = self._reorient(order, flips)
        return CTVolume(array, affine, self.convention, self.source, self.notes)

    def sample_hu(self, points, convention: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """HU at points (n, 3) mm (in ``convention``, default the volume's), trilinear between voxel
        centres (constant within the outer half voxel); and whether each point is inside the scan."""
        from scipy.ndimage import map_coordinates

        index = self.world_to_index(points, convention)
        values = map_coordinates(self.hu, index.T, output=np.float64, order=1, mode="nearest", prefilter=False)
        return values, self.contains(points, convention)


@dataclass(frozen=True, eq=False)
class MaskVolume(_Grid):
    """A binary mask (the vertebra) on a voxel grid, with its affine and convention."""

    mask: np.ndarray
    affine: np.ndarray
    convention: str = "LPS"
    source: str = "<memory>"
    notes: tuple = ()

    def __post_init__(self):
        mask = readonly(self.mask, np.bool_)
        if mask.ndim != 3:
            raise ValueError("a mask is a 3-D array")
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "affine", readonly(_check_affine(self.affine), np.float64))
        object.__setattr__(self, "convention", _check_convention(self.convention))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def _array(self) -> np.ndarray:
        return self.mask

    def in_convention(self, convention: str) -> "MaskVolume":
        if _check_convention(convention) == self.convention:
            return self
        return MaskVolume(self.mask, self._affine_in(convention), convention, self.source,
                          self.notes + (f"affine converted {self.convention} -> {convention}",))

    def reoriented(self, order=(0, 1, 2), flips=(False, False, False)) -> "MaskVolume":
        array, affine = self._reorient(order, flips)
        return MaskVolume(array, affine, self.convention, self.source, self.notes)
