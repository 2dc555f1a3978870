"""Figures for the report, as PNG bytes: pyvista off-screen and matplotlib (Agg)."""

from __future__ import annotations

import io
import os

import numpy as np

__all__ = ["field_figure", "surface_figure", "bar_chart", "lattice_figure"]


def _pyvista():
    if not os.environ.get("DISPLAY"):
        # No screen: render straight to an off-screen (OSMesa) window.
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
    import pyvista

    pyvista.OFF_SCREEN = True
    return pyvista


def _screenshot(plotter) -> bytes:
    image = plotter.screenshot(return_img=True)
    plotter.close()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    buffer = io.BytesIO()
    pyplot.imsave(buffer, image, format="png")
    return buffer.getvalue()


def surface_figure(vertices: np.ndarray, faces: np.ndarray, title: str) -> bytes:
    """The implant's STL surface, mm."""
    pv = _pyvista()
    mesh = pv.PolyData(vertices, np.hstack([np.full((len(faces), 1), 3), faces]).ravel())
    plotter = pv.Plotter(off_screen=True, window_size=(640, 420))
    plotter.add_mesh(mesh, color="#b8c4d6", smooth_shading=False, show_edges=False)
    plotter.add_text(title, font_size=10)
    plotter.show_axes()
    plotter.view_isometric()
    return _screenshot(plotter)


def field_figure(vtu_path, field: str, title: str, region: int | None = 0, warp_to_mm: float = 0.0) -> bytes:
    """A cell field (e.g. von Mises, MPa) on the (optionally deformed) body of ``region``."""
    pv = _pyvista()
    grid = pv.read(str(vtu_path))
    if region is not None and "region" in grid.cell_data:
        grid = grid.extract_cells(np.flatnonzero(grid.cell_data["region"] == region))
    if warp_to_mm and "displacement_mm" in grid.point_data:
        u = np.linalg.norm(grid.point_data["displacement_mm"], axis=1).max()
        if u > 0:
            grid = grid.warp_by_vector("displacement_mm", factor=warp_to_mm / u)
    plotter = pv.Plotter(off_screen=True, window_size=(640, 420))
    plotter.add_mesh(grid, scalars=field, cmap="turbo", show_scalar_bar=True, scalar_bar_args={"title": field})
    plotter.add_text(title, font_size=10)
    plotter.view_isometric()
    return _screenshot(plotter)


def bar_chart(labels: list[str], values: list[float], ylabel: str, title: str) -> bytes:
    """A bar chart comparing revisions."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 3.2), dpi=100)
    axes.bar(labels, values, color="#4a78b0")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def lattice_figure(series: list[dict], bands: dict[str, tuple[float, float]], title: str) -> bytes:
    """Effective modulus E* (MPa) against relative density, log–log, with bone bands shaded.

    Each entry of ``series`` is one lattice design: ``label``, ``density`` and
    ``modulus_MPa`` (one marker per job), and optionally ``fit``, a Gibson–Ashby fit
    (C, n, density_min, density_max, solid_modulus_MPa) drawn as the line
    E* = Es·C·ρ^n over its density range (not drawn where Es is None). ``bands`` maps
    a kind of bone (labelled "<name> bone") to its (low, high) modulus range in MPa.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import FormatStrFormatter

    figure, axes = pyplot.subplots(figsize=(6.4, 4.6), dpi=100, layout="constrained")
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^vP*Xh<>"
    moduli = [e for s in series for e in s["modulus_MPa"]]
    densities = [d for s in series for d in s["density"]]
    for i, s in enumerate(series):
        colour = colours[i % len(colours)]
        label = s["label"].replace("$", r"\$")  # a user's name, not mathtext
        fit = s.get("fit")
        if fit:
            label += f": C = {fit['C']:.3g}, n = {fit['n']:.2f}"
            if fit.get("solid_modulus_MPa"):
                rho = np.geomspace(fit["density_min"], fit["density_max"], 50)
                line = fit["solid_modulus_MPa"] * fit["C"] * rho ** fit["n"]
                axes.plot(rho, line, color=colour, linewidth=1.5)
                moduli += [float(line[0]), float(line[-1])]
        axes.plot(s["density"], s["modulus_MPa"], linestyle="none", marker=markers[i % len(markers)], color=colour,
                  label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    # Keep the bands in view: the point of the figure is where the lattices lie against bone.
    low = min(moduli + [lo for lo, _ in bands.values()])
    high = max(moduli + [hi for _, hi in bands.values()])
    axes.set_ylim(low / 2, high * 2)
    if densities:
        top = max(densities)
        axes.set_xlim(min(densities) / 1.25, min(top * 1.25, max(top * 1.05, 1.0)))
    for (name, (lo, hi)), shade in zip(bands.items(), ("#f3d9b1", "#c9d9ec", "#d8ecc9", "#e6d0ea")):
        axes.axhspan(lo, hi, color=shade, alpha=0.6, zorder=0, linewidth=0)
        axes.text(0.99, (lo * hi) ** 0.5, f"{name} bone", transform=axes.get_yaxis_transform(), ha="right",
                  va="center", fontsize=8, color="#555")
    axes.set_xlabel("relative density ρ*/ρs")
    axes.set_ylabel("effective modulus E* (MPa)")
    axes.set_title(title.replace("$", r"\$"))
    axes.grid(True, which="both", linewidth=0.3, alpha=0.5)
    axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    if densities and max(densities) / min(densities) < 20:  # within about a decade: label the minor ticks too
        axes.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    if series:
        figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(series), 2), frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()
