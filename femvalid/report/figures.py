"""Figures for the report, as PNG bytes: pyvista off-screen and matplotlib (Agg)."""

from __future__ import annotations

import io
import os

import numpy as np

__all__ = ["field_figure", "surface_figure", "bar_chart"]


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
