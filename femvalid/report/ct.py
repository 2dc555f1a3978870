"""The CT figure of a job on the patient's vertebra: the modulus mapped from the CT in two
slices through the implant, with the implant's outline and the patient's directions.

Orientation is never guessed: the slices are drawn in the patient coordinates the job
ran in (the bone table's ``coordinates``, LPS or RAS, as results.json records them),
each axis is labelled with the body direction it runs towards (R/L, A/P, I/S), and the
caption names where the CT's own voxel axes i, j, k run. A copy of the CT stored in
another axis order, or written as NIfTI instead of DICOM, gives the same picture.

The modulus is the one the mapping integrates (:func:`femvalid.imaging.map_material`):
HU sampled trilinearly, calibrated to density, converted to the law's density type and
put through the law with its floor. Where the job's fields hold the elements' mapped
modulus (``youngs_modulus_MPa``), a third panel shows the blocks' elements cut by the
sagittal plane: what the solver was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femvalid.imaging.laws import Calibration, DensityLaw, conversion, get_law
from femvalid.imaging.volume import CTVolume, axis_letters
from femvalid.report.images import Image, encode_figure

__all__ = ["CTSlice", "modulus_slice", "ct_slice_picture", "SAMPLES"]

#: Samples along the longer side of a slice, at most (finer than the voxels where the CT is small).
SAMPLES = 360
_NAMES = "xyz"
OUTSIDE_COLOUR = "#8f8f8f"  # beyond the scanned box
_VIEWS = ((0, "sagittal"), (1, "coronal"))  # (the world axis normal to the slice, its name)


@dataclass(frozen=True)
class CTSlice:
    """The modulus (MPa) on a plane normal to world axis ``normal``, at ``at_mm`` along it.

    ``modulus_MPa[r, c]`` lies at ``h[c]`` along world axis ``h_axis`` and ``v[r]`` along
    ``v_axis`` (both ascending, mm); NaN outside the scanned box.
    """

    normal: int
    at_mm: float
    h_axis: int
    v_axis: int
    h: np.ndarray
    v: np.ndarray
    modulus_MPa: np.ndarray
    convention: str

    @property
    def extent(self) -> tuple[float, float, float, float]:
        dh, dv = self.h[1] - self.h[0], self.v[1] - self.v[0]
        return self.h[0] - dh / 2, self.h[-1] + dh / 2, self.v[0] - dv / 2, self.v[-1] + dv / 2


def modulus_slice(volume: CTVolume, calibration: Calibration, law: DensityLaw, convention: str, centre_mm,
                  normal: int, floor="range") -> CTSlice:
    """The law's modulus sampled from ``volume`` on the plane through ``centre_mm`` (in
    ``convention``) normal to world axis ``normal``; the plane's vertical axis is z
    (superior up) for the x and y normals."""
    h_axis, v_axis = [a for a in range(3) if a != normal]
    bounds = volume.bounds(convention)
    step = max(float(np.min(volume.spacing_mm)) / 2.0,
               float(max(np.ptp(bounds[:, h_axis]), np.ptp(bounds[:, v_axis]))) / SAMPLES)

    def samples(axis):
        lo, hi = bounds[:, axis]
        n = max(2, int(math.floor((hi - lo) / step)))
        return lo + (np.arange(n) + 0.5) * (hi - lo) / n

    h, v = samples(h_axis), samples(v_axis)
    points = np.zeros((len(v), len(h), 3))
    points[..., normal] = float(np.asarray(centre_mm, float)[normal])
    points[..., h_axis] = h[None, :]
    points[..., v_axis] = v[:, None]
    hu, inside = volume.sample_hu(points.reshape(-1, 3), convention)
    density = conversion(calibration.density, law.density)(calibration.density_of(hu))
    E = np.where(inside, law.modulus_MPa(density, floor), np.nan).reshape(len(v), len(h))
    return CTSlice(normal, float(points[0, 0, normal]), h_axis, v_axis, h, v, E, convention)


def _calibration(record: dict) -> Calibration:
    return Calibration(float(record["a_g_per_cm3"]), float(record["b_g_per_cm3_per_HU"]), record["density"],
                       record.get("name", ""), record.get("source", ""), record.get("r2"))


def _segments(cut) -> list[np.ndarray]:
    """The polylines of a sliced surface, as point arrays."""
    lines, points, out, i = np.asarray(cut.lines), np.asarray(cut.points), [], 0
    while i < len(lines):
        n = int(lines[i])
        out.append(points[lines[i + 1:i + 1 + n]])
        i += n + 1
    return out


def _outline(ax, surface, slice_: CTSlice, colour, style="-", width=1.3, label=None):
    if surface is None or surface.n_cells == 0:
        return
    normal = np.zeros(3)
    normal[slice_.normal] = 1.0
    origin = np.asarray(surface.center, float)
    origin[slice_.normal] = slice_.at_mm
    cut = surface.slice(normal=normal, origin=origin)
    for k, line in enumerate(_segments(cut)):
        ax.plot(line[:, slice_.h_axis], line[:, slice_.v_axis], style, color=colour, linewidth=width,
                label=label if k == 0 else None)


def _directions(ax, slice_: CTSlice, axes_label: str):
    (h_neg, h_pos), (v_neg, v_pos) = (axis_letters(slice_.convention, slice_.h_axis),
                                      axis_letters(slice_.convention, slice_.v_axis))
    ax.set_xlabel(f"{h_neg} ← {_NAMES[slice_.h_axis]} mm ({slice_.convention}) → {h_pos}", fontsize=7.5)
    ax.set_ylabel(f"{v_neg} ← {_NAMES[slice_.v_axis]} mm → {v_pos}", fontsize=7.5)
    style = dict(transform=ax.transAxes, fontsize=10, fontweight="bold", color="white",
                 bbox=dict(boxstyle="round,pad=0.15", facecolor="black", alpha=0.55, linewidth=0))
    ax.text(0.02, 0.5, h_neg, ha="left", va="center", **style)
    ax.text(0.98, 0.5, h_pos, ha="right", va="center", **style)
    ax.text(0.5, 0.98, v_pos, ha="center", va="top", **style)
    ax.text(0.5, 0.02, v_neg, ha="center", va="bottom", **style)
    ax.set_title(axes_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_aspect("equal")


def _limits(ax, slice_: CTSlice, scene):
    """The scanned box and the implant, both in view (a plan may reach beyond the scan)."""
    bounds = np.asarray(scene.implant.bounds).reshape(3, 2)
    h0, h1, v0, v1 = slice_.extent
    margin = 0.04 * max(h1 - h0, v1 - v0)
    ax.set_xlim(min(h0, bounds[slice_.h_axis, 0] - margin), max(h1, bounds[slice_.h_axis, 1] + margin))
    ax.set_ylim(min(v0, bounds[slice_.v_axis, 0] - margin), max(v1, bounds[slice_.v_axis, 1] + margin))
    ax.set_facecolor(OUTSIDE_COLOUR)


def ct_slice_picture(scene) -> Image | None:
    """Sagittal and coronal slices of the CT-mapped modulus through the implant's centre, the
    implant outlined; None for a job that is not on a CT-mapped vertebra."""
    bone = scene.solver.get("bone")
    if not bone:
        return None
    from matplotlib.colors import LogNorm

    from femvalid.imaging.io import read_ct
    from femvalid.report.pictures import _pyplot, _wrap

    path = Path(bone["ct"])
    if not path.exists():
        raise FileNotFoundError(f"the CT {path} this job mapped is no longer there")
    stored = read_ct(path)
    convention = bone.get("coordinates", "LPS")
    volume = stored.in_convention(convention)
    law = get_law(bone["law"])
    calibration = _calibration(bone["calibration"])
    centre = scene.centre
    slices = [modulus_slice(volume, calibration, law, convention, centre, normal, bone.get("floor", "range"))
              for normal, _ in _VIEWS]
    finite = np.concatenate([s.modulus_MPa[np.isfinite(s.modulus_MPa)] for s in slices])
    norm = LogNorm(max(float(finite.min()), 1e-3), max(float(finite.max()), 1e-3 * 1.01))
    elements = scene.blocks is not None and "youngs_modulus_MPa" in scene.blocks.cell_data
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(1, 3 if elements else 2, figsize=(11.0 if elements else 8.4, 4.6), dpi=100,
                                   layout="constrained")
    image = None
    for ax, s, (_, view) in zip(axes, slices, _VIEWS):
        image = ax.imshow(s.modulus_MPa, origin="lower", extent=s.extent, cmap="magma", norm=norm,
                          interpolation="nearest")
        _outline(ax, scene.blocks_surface, s, "#00e5ff", "--", 1.4, "bone block modelled (cyan)")
        _outline(ax, scene.implant_surface, s, "white", "-", 1.6, "implant (white)")
        _limits(ax, s, scene)
        _directions(ax, s, f"{view}, {_NAMES[s.normal]} = {s.at_mm:.4g} mm: modulus from the CT")
    if elements:
        ax = axes[2]
        s = slices[0]
        normal = np.zeros(3)
        normal[s.normal] = 1.0
        cut = scene.blocks.slice(normal=normal, origin=np.r_[centre[:s.normal], s.at_mm, centre[s.normal + 1:]])
        cut = cut.triangulate()
        from matplotlib.tri import Triangulation

        pts = np.asarray(cut.points)
        ax.tripcolor(Triangulation(pts[:, s.h_axis], pts[:, s.v_axis], cut.regular_faces),
                     facecolors=np.asarray(cut.cell_data["youngs_modulus_MPa"]), cmap="magma", norm=norm,
                     edgecolors="none")
        _outline(ax, scene.implant_surface, s, "black", "-", 1.6)
        _limits(ax, s, scene)
        _directions(ax, s, "sagittal: the elements' mapped modulus (the solver's input)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7, facecolor="#555555",
                  labelcolor="white", framealpha=1.0)
    bar = figure.colorbar(image, ax=list(axes), shrink=0.8, extend="neither")
    bar.set_label(f"E MPa (log scale), {law.key}: {law.formula()}", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    codes = ", ".join(stored.axis_codes)
    figure.suptitle(_wrap(
        f"CT of {scene.title}: {path.name} ({bone.get('ct_kind', 'CT')}, stored voxel axes i, j, k run towards "
        f"{codes}), drawn in {convention} patient coordinates; calibration {calibration.name}", 140), fontsize=8)
    return encode_figure(figure, photo=False)
