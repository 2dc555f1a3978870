"""Element quality: scaled Jacobian, SICN, aspect ratio, volume error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MeshQuality",
    "scaled_jacobian",
    "aspect_ratio",
    "SICN_MIN",
    "SICN_WARN",
    "VOLUME_TOLERANCE",
]

#: Elements at or below this minimum SICN are inverted or near-degenerate: an error.
SICN_MIN = 1e-3
#: Elements below this are poor but usable: a warning.
SICN_WARN = 0.1
#: Largest accepted relative difference between mesh and STL volume.
VOLUME_TOLERANCE = 0.005

_BINS = np.linspace(0.0, 1.0, 11)


def _corner_edges(corners: np.ndarray) -> np.ndarray:
    """Edge vectors (m, 4 corners, 3 edges, 3) leaving each corner of each tet."""
    others = np.array([[1, 2, 3], [2, 0, 3], [0, 1, 3], [1, 0, 2]])  # right-handed for a positive tet
    return corners[:, others] - corners[:, :, None, :]


def scaled_jacobian(corners: np.ndarray) -> np.ndarray:
    """Minimum scaled Jacobian of straight tets (m, 4, 3): 1 regular, ≤ 0 inverted."""
    e = _corner_edges(corners)
    det = np.einsum("mcj,mcj->mc", e[:, :, 0], np.cross(e[:, :, 1], e[:, :, 2]))
    lengths = np.linalg.norm(e, axis=3).prod(axis=2)
    return np.sqrt(2.0) * (det / np.maximum(lengths, 1e-300)).min(axis=1)


def aspect_ratio(corners: np.ndarray) -> np.ndarray:
    """Aspect ratio L_max / (2√6 r_in) of straight tets (m, 4, 3): 1 for a regular tet."""
    i, j = np.triu_indices(4, 1)
    longest = np.linalg.norm(corners[:, i] - corners[:, j], axis=2).max(axis=1)
    a, b, c, d = (corners[:, k] for k in range(4))
    volume = np.abs(np.einsum("mj,mj->m", b - a, np.cross(c - a, d - a))) / 6.0
    faces = [(b, c, d), (a, c, d), (a, b, d), (a, b, c)]
    area = sum(0.5 * np.linalg.norm(np.cross(q - p, r - p), axis=1) for p, q, r in faces)
    inradius = 3.0 * volume / np.maximum(area, 1e-300)
    return longest / np.maximum(2.0 * np.sqrt(6.0) * inradius, 1e-300)


@dataclass(frozen=True, eq=False)
class MeshQuality:
    """Quality of a tetrahedral mesh (volumes mm³).

    ``sicn`` (gmsh's signed inverse condition number), ``scaled_jacobian`` and
    ``aspect_ratio`` are of the straight corner tets; for quadratic elements
    ``jacobian_ratio`` is the smallest det J at the nodes over the straight tet's
    (1 straight, ≤ 0 tangled by the curved boundary). ``surface`` is the boundary
    mesh used, "keep" (the STL's triangles), "remesh" or "contour" (the STL resampled
    at the mesh size first, :mod:`femvalid.geometry.resample`), and ``surface_reason``
    why; ``gmsh_seconds`` is gmsh's time, s, to prepare the surfaces ("geometry":
    classify and rebuild them, or take the STL's triangles) and to mesh ("mesh").
    ``resampling`` is the resampling's record (``Resampling.to_dict``: its volume
    error, Hausdorff distance, sampled distances both ways) when it was used.
    """

    sicn: np.ndarray
    scaled_jacobian: np.ndarray
    aspect_ratio: np.ndarray
    volume_mm3: float
    reference_volume_mm3: float
    jacobian_ratio: np.ndarray | None = None
    straightened_midside_nodes: int = 0
    surface: str = "remesh"
    surface_reason: str = ""
    gmsh_seconds: dict | None = None
    resampling: dict | None = None

    @property
    def volume_error(self) -> float:
        """(mesh − STL) / STL volume."""
        return (self.volume_mm3 - self.reference_volume_mm3) / self.reference_volume_mm3

    def problems(self) -> list[str]:
        """Reasons this mesh must not be used (empty when it is fine)."""
        out = []
        bad = int((self.sicn <= SICN_MIN).sum())
        if bad:
            inverted = int((self.sicn <= 0).sum())
            out.append(
                f"{bad} elements with near-zero quality (min SICN {self.sicn.min():.3g}, "
                f"{inverted} inverted); try another --size"
            )
        if self.jacobian_ratio is not None and (self.jacobian_ratio <= SICN_MIN).any():
            out.append(
                f"{int((self.jacobian_ratio <= SICN_MIN).sum())} quadratic elements are tangled by "
                "their curved faces; try a smaller --size"
            )
        if abs(self.volume_error) > VOLUME_TOLERANCE:
            out.append(
                f"mesh volume {self.volume_mm3:.6g} mm³ differs from the STL's "
                f"{self.reference_volume_mm3:.6g} mm³ by {100 * self.volume_error:+.2f} % "
                f"(limit ±{100 * VOLUME_TOLERANCE:.1f} %); try a smaller --size"
            )
        return out

    def warnings(self) -> list[str]:
        out = []
        poor = int((self.sicn < SICN_WARN).sum())
        if poor:
            out.append(f"{poor} elements with poor quality (SICN < {SICN_WARN})")
        r = self.resampling
        if r and r["hausdorff_mm"] > r["voxel_mm"]:
            out.append(
                f"the resampled surface is up to {r['hausdorff_mm']:.3g} mm from the STL "
                f"({r['hausdorff_to_voxel']:.1f} × the {r['voxel_mm']:g} mm size): features thinner than the size "
                "are lost or bridged there; a smaller --size resolves them"
            )
        if self.straightened_midside_nodes:
            out.append(
                f"{self.straightened_midside_nodes} boundary mid-side nodes left on the straight edge "
                "(placing them on the STL would tangle their elements)"
            )
        return out

    def to_dict(self) -> dict:
        counts, _ = np.histogram(np.clip(self.sicn, 0, 1), bins=_BINS)
        return {
            "elements": int(len(self.sicn)),
            "sicn_min": float(self.sicn.min()),
            "sicn_mean": float(self.sicn.mean()),
            "sicn_histogram": {"bin_edges": _BINS.round(2).tolist(), "counts": counts.tolist()},
            "scaled_jacobian_min": float(self.scaled_jacobian.min()),
            "aspect_ratio_max": float(self.aspect_ratio.max()),
            "aspect_ratio_mean": float(self.aspect_ratio.mean()),
            "jacobian_ratio_min": None if self.jacobian_ratio is None else float(self.jacobian_ratio.min()),
            "straightened_midside_nodes": self.straightened_midside_nodes,
            "volume_mm3": self.volume_mm3,
            "reference_volume_mm3": self.reference_volume_mm3,
            "volume_error_percent": 100.0 * self.volume_error,
            "surface": self.surface,
            "surface_reason": self.surface_reason,
            **({"resampling": self.resampling} if self.resampling is not None else {}),
        }
