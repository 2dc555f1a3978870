"""The report's pictures of a job, drawn off-screen: the set-up, stress on the deformed shape
in two views on a shared, robust colour scale, subsidence sections and footprint pressure,
fatigue safety factor.

3D views are rendered by pyvista (OSMesa where no display is set) into arrays and laid out
with matplotlib (titles, one colour bar per figure, labels on the set-up), then encoded by
:mod:`femvalid.report.images` (JPEG for rendered views). A colour scale ends at a robust
statistic (the volume-weighted 99.5th percentile, :data:`~femvalid.report.scene.ROBUST_PERCENT`)
and says so on the bar; values above it are drawn in a separate colour.
"""

from __future__ import annotations

import math

import numpy as np

from femvalid.report.images import Image, encode_figure
from femvalid.report.scene import ROBUST_PERCENT, JobScene, pyvista_offscreen, robust_max, surface_of

__all__ = ["setup_picture", "stress_views", "comparison_strip", "subsidence_section", "footprint_map",
           "fatigue_views", "StressScale", "stress_scale", "stress_scale_of", "stress_stats", "fatigue_scale",
           "fatigue_scale_of", "fatigue_stats"]

BACKGROUND = (255, 255, 255)
IMPLANT_COLOUR = "#b9c3d3"
CONTACT_COLOURS = {1: "#2f6fd0", 2: "#e07b1a"}
FIXTURE_COLOUR = "#8d8d8d"
FOAM_COLOUR = "#d8c596"
LOAD_COLOUR = "#d62728"
ABOVE_COLOUR = "#ff2fd8"  # above the clipped top of a scale
STRESS_CMAP = "turbo"
ISO_DIRECTION = np.array([1.0, -1.25, 0.85])

_pct = f"p{ROBUST_PERCENT:g}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _fmt(value: float) -> str:
    """Three significant digits, in fixed notation between 0.001 and a million: 1000, 5.32, 0.0412."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"
    return f"{value:.3g}"


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


# -- rendering ------------------------------------------------------------------------------


class _View:
    """An off-screen pyvista plotter that is closed after its one picture."""

    def __init__(self, size=(560, 440)):
        pv = pyvista_offscreen()
        self.pv = pv
        self.plotter = pv.Plotter(off_screen=True, window_size=size)
        self.plotter.set_background("white")
        self.plotter.enable_anti_aliasing("ssaa") if hasattr(self.plotter, "enable_anti_aliasing") else None

    def camera(self, direction, up=(0.0, 0.0, 1.0), focus=None, parallel=False, zoom=1.0):
        p = self.plotter
        direction = np.asarray(direction, float)
        up = np.asarray(up, float)
        if abs(np.dot(direction / np.linalg.norm(direction), up / np.linalg.norm(up))) > 0.99:
            up = np.array([0.0, 1.0, 0.0])
        p.view_vector(direction, viewup=up)
        if parallel:
            p.enable_parallel_projection()
        p.reset_camera()
        if zoom != 1.0:
            p.camera.zoom(zoom)

    def project(self, points) -> np.ndarray:
        """Pixel (column, row) of 3D points in the picture."""
        renderer = self.plotter.renderer
        height = self.plotter.window_size[1]
        out = []
        for x in np.atleast_2d(points):
            renderer.SetWorldPoint(float(x[0]), float(x[1]), float(x[2]), 1.0)
            renderer.WorldToDisplay()
            dx, dy, _ = renderer.GetDisplayPoint()
            out.append((dx, height - dy))
        return np.array(out)

    def image(self) -> np.ndarray:
        self.plotter.render()
        image = np.asarray(self.plotter.screenshot(return_img=True))[..., :3]
        return image

    def close(self):
        self.plotter.close()


def _crop(image: np.ndarray, margin: int = 6) -> tuple[np.ndarray, tuple[int, int]]:
    """``image`` cropped to what is not background, and the (column, row) offset removed."""
    busy = np.any(np.abs(image.astype(int) - np.array(BACKGROUND)) > 8, axis=2)
    rows, cols = np.flatnonzero(busy.any(axis=1)), np.flatnonzero(busy.any(axis=0))
    if not len(rows):
        return image, (0, 0)
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, image.shape[0])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, image.shape[1])
    return image[r0:r1, c0:c1], (c0, r0)


def _box(pv, plate):
    c = plate.corners()
    faces = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    return pv.PolyData(c, np.hstack([[4, *f] for f in faces]))


def _deformed_surface(scene: JobScene, factor: float):
    surface = scene.implant_surface.copy()
    if factor:
        deformation = scene.deformation(surface)
        surface.points = np.asarray(surface.points) + factor * deformation
    return surface


def _stress_image(scene: JobScene, field: str, clim, cmap, direction, factor, size, above=None, below=None):
    view = _View(size)
    surface = _deformed_surface(scene, factor)
    kwargs = {}
    if above:
        kwargs["above_color"] = above
    if below:
        kwargs["below_color"] = below
    view.plotter.add_mesh(surface, scalars=field, preference="cell", cmap=cmap, clim=clim, show_scalar_bar=False,
                          lighting=True, smooth_shading=False, ambient=0.3, diffuse=0.75, **kwargs)
    view.camera(direction)
    image = view.image()
    view.close()
    return _crop(image)[0]


_AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1)}


def worst_side(scene: JobScene, field: str, high_is_bad: bool = True) -> str:
    """The axis direction ("+x", "-z", ...) from which the worst-stressed surface is seen:
    the area-weighted mean outward normal of the worst 1 % of the implant's surface."""
    surface = scene.implant_surface.compute_normals(cell_normals=True, point_normals=False, auto_orient_normals=True)
    values = np.asarray(surface.cell_data[field], float)
    areas = np.abs(surface.compute_cell_sizes(length=False, area=True, volume=False)["Area"])
    score = values if high_is_bad else -values
    cut = robust_max(score, areas, 99.0)
    worst = score >= cut
    normal = (np.asarray(surface.cell_data["Normals"])[worst] * areas[worst, None]).sum(axis=0)
    if not np.any(normal):
        return "+x"
    axis = int(np.argmax(np.abs(normal)))
    return ("+" if normal[axis] > 0 else "-") + "xyz"[axis]


# -- colour scales --------------------------------------------------------------------------


class StressScale:
    """A colour scale shared by a group of jobs: 0 to the largest of their robust tops."""

    def __init__(self, field: str, top: float, peak: float, jobs: int, label: str, cmap: str = STRESS_CMAP,
                 low: float = 0.0, reverse_note: str = ""):
        self.field, self.top, self.peak, self.jobs, self.label, self.cmap, self.low = field, top, peak, jobs, label, cmap, low
        self.note = reverse_note
        self.over = ABOVE_COLOUR

    @property
    def clim(self):
        return (self.low, self.top if self.top > self.low else self.low + 1.0)

    def caption(self) -> str:
        shared = f", shared by the {self.jobs} jobs shown" if self.jobs > 1 else ""
        if self.note and self.note.startswith("="):  # a scale of its own (fatigue)
            return self.note[1:].replace("{shared}", shared)
        text = (f"{self.label}; scale clipped at the volume-weighted {_pct} = {_fmt(self.top)}{shared} (largest "
                f"element value {_fmt(self.peak)}, magenta above the scale)")
        return text + (f"; {self.note}" if self.note else "")


def stress_stats(scene: JobScene, field: str = "von_mises_MPa") -> tuple[float, float]:
    """(volume-weighted p99.5, peak) of an implant field."""
    return scene.robust_implant_max(field), float(np.max(scene.implant.cell_data[field]))


def stress_scale_of(stats: list[tuple[float, float]], field: str = "von_mises_MPa",
                    label: str = "von Mises MPa") -> StressScale:
    """The shared scale of jobs with these :func:`stress_stats`: 0 to the largest p99.5."""
    return StressScale(field, max(t for t, _ in stats), max(p for _, p in stats), len(stats), label)


def stress_scale(scenes: list[JobScene], field: str = "von_mises_MPa", label: str = "von Mises MPa") -> StressScale:
    """The shared von Mises scale of ``scenes``: 0 to the largest volume-weighted p99.5."""
    return stress_scale_of([stress_stats(s, field) for s in scenes], field, label)


def fatigue_stats(scene: JobScene) -> tuple[float, float]:
    """(volume-weighted 1st percentile, lowest element value) of the fatigue safety factor."""
    n = scene.implant.cell_data["fatigue_safety_factor"]
    return robust_max(n, scene.implant_volumes, 1.0), float(np.min(n))


def fatigue_scale(scenes: list[JobScene]) -> StressScale:
    """Fatigue safety factor: 0 to max(2, twice the smallest p1 of n), red where low."""
    return fatigue_scale_of([fatigue_stats(s) for s in scenes])


def fatigue_scale_of(stats: list[tuple[float, float]]) -> StressScale:
    """The fatigue scale of jobs with these :func:`fatigue_stats`."""
    smallest = min(p for p, _ in stats)
    top = max(2.0, 2.0 * smallest) if math.isfinite(smallest) else 2.0
    peak = min(low for _, low in stats)
    scenes = stats
    note = (f"=fatigue safety factor n (volume-weighted 1st percentile {_fmt(smallest)} at the lowest); scale 0 "
            f"to {_fmt(top)}{{shared}}, dark green above; lowest element value {_fmt(peak)}; black line: n = 1")
    scale = StressScale("fatigue_safety_factor", top, peak, len(scenes), "fatigue safety factor n", cmap="RdYlGn",
                        reverse_note=note)
    scale.over = None  # safe: the top colour
    return scale


def _colourbar(figure, axes_or_cax, scale: StressScale, extend="max", marks=(), orientation="vertical"):
    pyplot = _pyplot()
    from matplotlib.colors import Normalize

    cmap = pyplot.get_cmap(scale.cmap)
    cmap = cmap.with_extremes(over=scale.over or cmap(1.0))
    mappable = pyplot.cm.ScalarMappable(norm=Normalize(*scale.clim), cmap=cmap)
    bar = figure.colorbar(mappable, cax=axes_or_cax, extend=extend, orientation=orientation)
    for value, text in marks:
        if scale.clim[0] <= value <= scale.clim[1]:
            (bar.ax.axhline if orientation == "vertical" else bar.ax.axvline)(value, color="black", linewidth=1.5)
            if text:
                bar.ax.text(1.05 if orientation == "vertical" else value, value if orientation == "vertical" else 1.1,
                            text, transform=bar.ax.get_yaxis_transform() if orientation == "vertical" else
                            bar.ax.get_xaxis_transform(), fontsize=7, va="center")
    return bar


def _pad(images: list[np.ndarray]) -> list[np.ndarray]:
    """The images centred on white canvases of one shape (the largest aspect among them)."""
    aspect = max(im.shape[0] / im.shape[1] for im in images)
    out = []
    for im in images:
        h, w = im.shape[:2]
        height, width = max(h, int(round(w * aspect))), w
        if height == h:
            width = max(w, int(round(h / aspect)))
        canvas = np.full((height, width, 3), 255, np.uint8)
        r, c = (height - h) // 2, (width - w) // 2
        canvas[r:r + h, c:c + w] = im[..., :3]
        out.append(canvas)
    return out


def _panel_figure(panels: list[tuple[np.ndarray, str]], scale: StressScale, title: str, columns: int,
                  marks=(), extend="max", panel_inches=3.0):
    """Panels in a grid over one horizontal colour bar whose label states the scale."""
    pyplot = _pyplot()
    rows = math.ceil(len(panels) / columns)
    images = _pad([p[0] for p in panels])
    aspect = images[0].shape[0] / images[0].shape[1]
    width = panel_inches * columns
    title = _wrap(title, int(width * 16))
    caption = _wrap(scale.caption(), int(width * 17 * (columns if columns <= 3 else math.ceil(2 * columns / 3)) / columns))
    height = panel_inches * aspect * rows + 0.3 * rows + 0.75 + 0.15 * (title.count("\n") + caption.count("\n"))
    figure = pyplot.figure(figsize=(width, height), dpi=100, layout="constrained")
    figure.get_layout_engine().set(h_pad=0.02, w_pad=0.02, hspace=0.02, wspace=0.01)
    grid = figure.add_gridspec(rows + 1, columns, height_ratios=[panel_inches * aspect] * rows + [0.12])
    for i, (image, (_, label)) in enumerate(zip(images, panels)):
        ax = figure.add_subplot(grid[i // columns, i % columns])
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(label, fontsize=7.5)
    span = columns if columns <= 3 else math.ceil(2 * columns / 3)
    first = (columns - span) // 2
    cax = figure.add_subplot(grid[rows, first:first + span] if columns > 1 else grid[rows, 0])
    bar = _colourbar(figure, cax, scale, extend=extend, marks=marks, orientation="horizontal")
    bar.set_label(caption, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=8)
    return figure


# -- the set-up -----------------------------------------------------------------------------


def _load_arrow(scene: JobScene, top_plate):
    """(tail, tip) of the load arrow along the load line, ending on the loaded fixture."""
    load = scene.load_vectors()
    if not load or not np.any(load["force"]):
        return None
    f = load["force"] / np.linalg.norm(load["force"])
    p = load["point"]
    length = 0.55 * scene.size_mm
    if top_plate is None:
        return p - f * length, p
    n = top_plate.normal
    c_far = top_plate.centre + top_plate.thickness * n
    denominator = n @ f
    tip = p
    if abs(denominator) > 0.2:
        s = ((p - c_far) @ n) / denominator  # p - s f lies on the far face
        tip = p - s * f if s > 0 else p
    else:
        tip = c_far
    return tip - f * length, tip


def _torque_arc(pv, centre, axis, radius, torque):
    from femvalid.report.scene import _in_plane_axes

    u, v = _in_plane_axes(axis)
    theta = np.linspace(0.15 * np.pi, 1.65 * np.pi, 60)
    if torque < 0:
        theta = theta[::-1]
    points = centre + radius * (np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v)
    arc = pv.Spline(points, 60).tube(radius=0.03 * radius)
    tangent = points[-1] - points[-2]
    tangent /= np.linalg.norm(tangent)
    head = pv.Cone(center=points[-1] + tangent * 0.12 * radius, direction=tangent, height=0.3 * radius,
                   radius=0.12 * radius, resolution=24)
    return arc, head, points[len(points) // 2]


def setup_picture(scene: JobScene) -> Image:
    """The set-up: the implant with its contact faces coloured, the fixtures as translucent
    boxes (the foam blocks for subsidence), the load arrow along the load line, the torque
    for torsion, labelled."""
    pyplot = _pyplot()
    from matplotlib.patches import Patch

    view = _View((720, 560))
    pv = view.pv
    p = view.plotter
    surface = scene.implant_surface.copy()
    surface.cell_data["contact"] = scene.face_marks(surface)
    from matplotlib.colors import ListedColormap

    p.add_mesh(surface, scalars="contact", preference="cell", cmap=ListedColormap(
        [IMPLANT_COLOUR, CONTACT_COLOURS[1], CONTACT_COLOURS[2]]), clim=(-0.5, 2.5), show_scalar_bar=False,
        lighting=True, ambient=0.35, diffuse=0.7)
    labels = []
    plates = scene.plates
    for plate in plates:
        box = _box(pv, plate)
        p.add_mesh(box, color=FIXTURE_COLOUR, opacity=0.22, lighting=False)
        p.add_mesh(box.extract_all_edges(), color="#555555", line_width=1.2)
        labels.append((plate.far_point() + 0.5 * plate.half[0] * plate.u, plate.label))
    if scene.blocks is not None:
        p.add_mesh(scene.blocks_surface, color=FOAM_COLOUR, opacity=0.28, lighting=True)
        p.add_mesh(scene.blocks_surface.extract_feature_edges(60.0), color="#7a6a40", line_width=1.2)
        b = np.asarray(scene.blocks.bounds).reshape(3, 2)
        labels.append((np.array([b[0, 0], b[1, 0], b[2, 0] + 0.2 * (b[2, 1] - b[2, 0])]),
                       f"{scene.block_material_name.split('(')[0].strip()} block"))
    top = next((pl for pl in plates if pl.name in ("superior", "platen")), None)
    arrow = _load_arrow(scene, top)
    load = scene.load_vectors()
    lc = scene.loadcase
    if arrow is not None:
        tail, tip = arrow
        length = float(np.linalg.norm(tip - tail))
        p.add_mesh(pv.Arrow(start=tail, direction=tip - tail, scale=length, tip_length=0.22, tip_radius=0.07,
                            shaft_radius=0.025), color=LOAD_COLOUR, lighting=True, ambient=0.4)
        force = float(np.linalg.norm(load["force"]))
        text = f"F = {_fmt(force)} N"
        if scene.type == "compression_shear":
            text += f", {lc.get('angle_deg', 45):g}° to the load axis"
        labels.append((tail, text))
        axis = scene.load_axis
        a0 = tip - axis * 0.15 * scene.size_mm
        p.add_mesh(pv.Line(tip + axis * 0.65 * scene.size_mm, a0), color="#333333", line_width=1.5)
    if load and load.get("torque"):
        centre = (top.far_point() if top is not None else load["point"]) + scene.load_axis * 0.12 * scene.size_mm
        radius = 0.28 * scene.size_mm
        arc, head, middle = _torque_arc(pv, centre, scene.load_axis, radius, load["torque"])
        p.add_mesh(arc, color=LOAD_COLOUR)
        p.add_mesh(head, color=LOAD_COLOUR)
        labels.append((middle, f"T = {_fmt(abs(load['torque']))} N·mm"))
    if lc.get("platen_rotation") == "free" and load:
        joint = load["point"]
        p.add_mesh(pv.Sphere(radius=0.035 * scene.size_mm, center=joint), color="#222222")
        labels.append((joint, "spherical joint" if scene.type != "torsion" else "gimbal"))
    view.camera(ISO_DIRECTION)
    image = view.image()
    anchors = view.project(np.array([a for a, _ in labels])) if labels else np.zeros((0, 2))
    view.close()
    image, (c0, r0) = _crop(image, margin=30)
    inches = (image.shape[1] / 100 + 0.8, image.shape[0] / 100 + 0.95)
    figure = pyplot.figure(figsize=inches, dpi=100)
    ax = figure.add_axes([0.4 / inches[0], 0.5 / inches[1], image.shape[1] / 100 / inches[0],
                          image.shape[0] / 100 / inches[1]])
    ax.imshow(image)
    ax.set_axis_off()
    for (x, y), (_, text) in zip(anchors, labels):
        ax.annotate(text, (x - c0, y - r0), fontsize=7.5, xytext=(8, 8), textcoords="offset points",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#999999", "alpha": 0.85},
                    annotation_clip=False)
    handles = [Patch(color=IMPLANT_COLOUR, label="implant")]
    if scene.contact_field:
        word = "interface" if scene.contact_field == "interface" else "contact face"
        handles += [Patch(color=CONTACT_COLOURS[1], label=f"inferior {word}"),
                    Patch(color=CONTACT_COLOURS[2], label=f"superior {word}")]
    handles.append(Patch(facecolor=FIXTURE_COLOUR, alpha=0.4, label="rigid fixture"))
    if scene.blocks is not None:
        handles.append(Patch(facecolor=FOAM_COLOUR, alpha=0.6, label="block (meshed)"))
    handles.append(Patch(color=LOAD_COLOUR, label="load on the part"))
    figure.legend(handles=handles, loc="lower center", ncols=min(len(handles), 3), fontsize=7.5, frameon=False)
    figure.suptitle(_wrap(f"Set-up: {scene.title} ({_describe(scene)})", int(figure.get_figwidth() * 15)),
                    fontsize=8.5)
    return encode_figure(figure, photo=True)


def _describe(scene: JobScene) -> str:
    lc = scene.loadcase
    kind = scene.type.replace("_", " ")
    parts = [kind]
    if scene.type == "subsidence":
        parts.append(f"blocks {lc.get('blocks', 'both')}, interface {lc.get('interface', 'tied')}")
    else:
        parts.append(f"platens {lc.get('platens', '')}, fixture {lc.get('fixture', '')}, "
                     f"rotation {lc.get('platen_rotation', '')}")
    return "; ".join(p for p in parts if p)


# -- stress ---------------------------------------------------------------------------------


def _side_name(side: str) -> str:
    return {"+z": "from above (+z)", "-z": "from below (−z)"}.get(side, f"from the {side} side")


def stress_views(scene: JobScene, scale: StressScale, size=(460, 380)) -> Image:
    """von Mises on the deformed shape (rigid motion removed, exaggerated): isometric and
    from the side where the surface is most stressed, on ``scale``."""
    factor = scene.warp_factor()
    side = worst_side(scene, scale.field)
    panels = [(_stress_image(scene, scale.field, scale.clim, scale.cmap, ISO_DIRECTION, factor, size,
                             above=ABOVE_COLOUR), "isometric"),
              (_stress_image(scene, scale.field, scale.clim, scale.cmap, _AXES[side], factor, size,
                             above=ABOVE_COLOUR), f"most stressed face, seen {_side_name(side)}")]
    q = scene.qoi
    stats = ", ".join(f"{k} {_fmt(q[f'von_mises_{k}_MPa'])}" for k in ("p99", "max") if f"von_mises_{k}_MPa" in q)
    title = (f"von Mises stress MPa, {scene.title}: {stats}; deformed shape ×{_fmt(factor)} "
             "(rigid motion removed)" if factor else f"von Mises stress MPa, {scene.title}: {stats}")
    figure = _panel_figure(panels, scale, title, columns=2)
    return encode_figure(figure, photo=True)


def comparison_strip(scenes, scale: StressScale, labels: list[str], title: str) -> Image:
    """One isometric panel per job (revisions, family members) on one shared scale; ``scenes``
    may be any iterable (a generator reading one job at a time)."""
    count = len(labels)
    columns = min(count, 4 if count <= 8 else 6)
    size = (420, 340) if count <= 8 else (300, 250)
    panels = []
    for scene, label in zip(scenes, labels):
        factor = scene.warp_factor()
        image = _stress_image(scene, scale.field, scale.clim, scale.cmap, ISO_DIRECTION, factor, size,
                              above=ABOVE_COLOUR)
        q = scene.qoi
        extra = f": p99 {_fmt(q['von_mises_p99_MPa'])}" if "von_mises_p99_MPa" in q else ""
        panels.append((image, f"{label}{extra}"))
    inches = 2.4 if count == 1 else 3.0 if count <= 8 else 2.2
    figure = _panel_figure(panels, scale, title, columns=columns, panel_inches=inches)
    return encode_figure(figure, photo=True)


def fatigue_views(scene: JobScene, scale: StressScale, size=(460, 380)) -> Image:
    """The fatigue safety factor n on the surface: isometric and from the side where it is lowest."""
    side = worst_side(scene, "fatigue_safety_factor", high_is_bad=False)
    panels = [(_stress_image(scene, scale.field, scale.clim, scale.cmap, ISO_DIRECTION, 0.0, size), "isometric"),
              (_stress_image(scene, scale.field, scale.clim, scale.cmap, _AXES[side], 0.0, size),
               f"lowest safety factor, seen {_side_name(side)}")]
    q = scene.qoi
    lc = scene.loadcase
    stats = f"n (p1) = {_fmt(q['fatigue_safety_factor'])}" if "fatigue_safety_factor" in q else ""
    title = (f"Fatigue safety factor, {scene.title}: {stats}; R = {lc.get('fatigue_ratio')}, "
             f"{lc.get('fatigue_criterion', '')}; n < 1: fails before run-out")
    figure = _panel_figure(panels, scale, title, columns=2, marks=[(1.0, "")])
    return encode_figure(figure, photo=True)


# -- subsidence -----------------------------------------------------------------------------


def _plane_axes(scene: JobScene):
    """(e, w, d): the section's normal e (the implant's narrower horizontal direction), the
    horizontal direction w in the section, and the load axis d."""
    from femvalid.report.scene import _in_plane_axes

    d = scene.load_axis
    u, v = _in_plane_axes(d)
    points = np.asarray(scene.implant_surface.points)
    rel = points - points.mean(axis=0)
    cov = np.cov(np.c_[rel @ u, rel @ v].T)
    values, vectors = np.linalg.eigh(cov)
    long = vectors[:, 1]
    w = long[0] * u + long[1] * v
    e = np.cross(w, d)
    return e / np.linalg.norm(e), w / np.linalg.norm(w), d


def subsidence_section(scene: JobScene) -> Image:
    """The blocks cut through the footprint: compressive stress −σ3 in the foam, with the
    foam's compressive strength as a contour; the implant's section grey."""
    pyplot = _pyplot()
    from matplotlib.colors import Normalize
    from matplotlib.tri import Triangulation

    e, w, d = _plane_axes(scene)
    centre = scene.centre
    strength = scene.block_strength_MPa
    grid = scene.grid.copy()
    grid.cell_data["compressive_MPa"] = -np.asarray(grid.cell_data["principal_stress_3_MPa"])
    blocks = scene.blocks.copy()
    blocks.cell_data["compressive_MPa"] = -np.asarray(blocks.cell_data["principal_stress_3_MPa"])
    top = max(robust_max(blocks.cell_data["compressive_MPa"], scene.block_volumes), 1.25 * (strength or 0.0))
    peak = float(np.max(blocks.cell_data["compressive_MPa"]))
    cut = grid.slice(normal=e, origin=centre).triangulate()
    xy = np.c_[(np.asarray(cut.points) - centre) @ w, (np.asarray(cut.points) - centre) @ d]
    tri = cut.regular_faces
    region = np.asarray(cut.cell_data["region"])
    value = np.asarray(cut.cell_data["compressive_MPa"])
    figure, ax = pyplot.subplots(figsize=(7.2, 5.6), dpi=100, layout="constrained")
    scale = StressScale("compressive_MPa", top, peak, 1, "compressive stress in the block −σ3 MPa")
    cmap = pyplot.get_cmap("viridis").with_extremes(over=ABOVE_COLOUR)
    scale.cmap = "viridis"
    foam = region != 0
    t_foam = Triangulation(xy[:, 0], xy[:, 1], tri[foam])
    art = ax.tripcolor(t_foam, facecolors=value[foam], cmap=cmap, norm=Normalize(0.0, top), edgecolors="none")
    if (~foam).any():
        ax.tripcolor(Triangulation(xy[:, 0], xy[:, 1], tri[~foam]), facecolors=np.zeros((~foam).sum()),
                     cmap=pyplot.get_cmap("Greys"), vmin=-1, vmax=3, edgecolors="none")
    if strength:
        point_blocks = blocks.cell_data_to_point_data()
        cut_blocks = point_blocks.slice(normal=e, origin=centre).triangulate()
        if cut_blocks.n_cells:
            pxy = np.c_[(np.asarray(cut_blocks.points) - centre) @ w, (np.asarray(cut_blocks.points) - centre) @ d]
            values = np.asarray(cut_blocks.point_data["compressive_MPa"])
            if values.max() > strength:
                ax.tricontour(Triangulation(pxy[:, 0], pxy[:, 1], cut_blocks.regular_faces), values,
                              levels=[strength], colors="white", linewidths=1.4)
    ax.set_aspect("equal")
    ax.set_xlabel("mm along the section", fontsize=7.5)
    ax.set_ylabel("mm along the load axis", fontsize=7.5)
    ax.tick_params(labelsize=7)
    bar = figure.colorbar(art, ax=ax, extend="max", shrink=0.75, orientation="horizontal", aspect=40)
    if strength and strength <= top:
        bar.ax.axvline(strength, color="black", linewidth=1.5)
    caption = scale.caption()
    if strength:
        caption += f"; white contour and black mark: the foam's compressive strength {_fmt(strength)} MPa"
    bar.set_label(_wrap(caption, 120), fontsize=7)
    bar.ax.tick_params(labelsize=7)
    overstressed = scene.qoi.get("block_overstressed_volume_mm3")
    extra = f"; {_fmt(overstressed)} mm³ of foam above its strength" if overstressed is not None else ""
    ax.set_title(_wrap(f"Section through the footprint (normal to the implant's narrower side), {scene.title}: "
                       f"compressive stress in the blocks, implant grey{extra}", 110), fontsize=8)
    return encode_figure(figure, photo=False)


def _footprint_triangles(scene: JobScene, k: int):
    surface = scene.implant_surface
    if "interface" not in surface.point_data or "contact_pressure_MPa" not in surface.point_data:
        return None
    marks = scene.face_marks(surface)
    keep = np.flatnonzero(marks == k)
    if not len(keep):
        return None
    return surface, surface.regular_faces[keep]


def footprint_map(scene: JobScene) -> Image | None:
    """The contact pressure on the footprint seen from above, with the block's compressive
    strength as a contour; None when the job has no interface pressure."""
    pyplot = _pyplot()
    from matplotlib.colors import Normalize
    from matplotlib.tri import Triangulation
    from femvalid.report.scene import _in_plane_axes

    d = scene.load_axis
    u, v = _in_plane_axes(d)
    strength = scene.block_strength_MPa
    maps = []
    for k, name in ((1, "inferior"), (2, "superior")):
        found = _footprint_triangles(scene, k)
        if found is None:
            continue
        surface, tri = found
        pressure = np.asarray(surface.point_data["contact_pressure_MPa"], float)
        if not np.any(pressure[tri] != 0):
            continue
        maps.append((name, surface, tri, pressure))
    if not maps:
        return None
    tops, peaks = [], []
    for _, surface, tri, pressure in maps:
        x = np.asarray(surface.points)
        c = x[tri]
        area = 0.5 * np.linalg.norm(np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]), axis=1)
        tops.append(robust_max(pressure[tri].ravel(), np.repeat(area / 3.0, 3)))
        peaks.append(float(pressure[np.unique(tri)].max()))
    robust = max(tops)
    scale = StressScale("contact_pressure_MPa", robust, max(peaks), 1, "contact pressure MPa (tension shown as 0)",
                        cmap="viridis")
    if strength:  # what matters is the pressure against the foam's strength: 0 to twice it
        top = 2.0 * strength
        scale.note = (f"=contact pressure MPa (tension shown as 0); scale 0 to twice the block's compressive strength "
                      f"= {_fmt(top)} (area-weighted {_pct} {_fmt(robust)}, largest nodal value {_fmt(max(peaks))}, "
                      "magenta above the scale)")
    else:
        top = robust
    scale.top = top
    extent = np.asarray(scene.implant_surface.points) @ np.c_[u, v]
    aspect = float(np.ptp(extent[:, 1]) / max(np.ptp(extent[:, 0]), 1e-9))
    panel = 4.6 if len(maps) == 1 else 3.8
    figure, axes = pyplot.subplots(1, len(maps), figsize=(max(5.6, panel * len(maps)), panel * min(aspect, 1.2) + 1.9),
                                   dpi=100, layout="constrained", squeeze=False)
    cmap = pyplot.get_cmap("viridis").with_extremes(over=ABOVE_COLOUR)
    outline = scene.implant_surface
    ox = np.asarray(outline.points)
    art = None
    for ax, (name, surface, tri, pressure) in zip(axes[0], maps):
        x = np.asarray(surface.points)
        xy = np.c_[x @ u, x @ v]
        oxy = np.c_[ox @ u, ox @ v]
        ax.tripcolor(Triangulation(oxy[:, 0], oxy[:, 1], outline.regular_faces), facecolors=np.zeros(outline.n_cells),
                     cmap=pyplot.get_cmap("Greys"), vmin=-1, vmax=6, edgecolors="none")
        used = np.unique(tri)
        t = Triangulation(xy[:, 0], xy[:, 1], tri)
        art = ax.tripcolor(t, np.clip(pressure, 0.0, None), shading="gouraud", cmap=cmap, norm=Normalize(0.0, top))
        if strength and pressure[used].max() > strength:
            ax.tricontour(t, pressure, levels=[strength], colors="white", linewidths=1.3)
        ax.set_aspect("equal")
        ax.set_title(f"{name} interface, seen from above", fontsize=8)
        ax.set_xlabel("mm", fontsize=7)
        ax.tick_params(labelsize=7)
    bar = figure.colorbar(art, ax=axes[0].tolist(), extend="max", shrink=0.8, orientation="horizontal", aspect=40)
    caption = scale.caption()
    if strength:
        caption += f"; white contour and black mark: the {scene.block_material_name.split('(')[0].strip()}'s " \
                   f"compressive strength {_fmt(strength)} MPa"
        if strength <= top:
            bar.ax.axvline(strength, color="black", linewidth=1.5)
    bar.set_label(_wrap(caption, int(figure.get_figwidth() * 17)), fontsize=7)
    bar.ax.tick_params(labelsize=7)
    share = scene.qoi.get("footprint_overstressed_fraction")
    extra = f" ({100 * share:.3g} % of the footprint above the strength)" if share is not None else ""
    figure.suptitle(_wrap(f"Footprint pressure, {scene.title}{extra}", int(figure.get_figwidth() * 16)), fontsize=8)
    figure.get_layout_engine().set(h_pad=0.08)
    return encode_figure(figure, photo=False)


def body_surface(body):
    return surface_of(body)
