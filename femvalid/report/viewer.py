"""A job's interactive 3D viewer: one self-contained, offline HTML page.

The page is trame-vtk's standalone vtk.js viewer (``trame_vtk/tools/static_viewer.html``,
the viewer pyvista's ``export_html`` writes) with the scene embedded, serialised by
trame-vtk's own serialisers, so nothing is fetched at view time. femvalid adds a small
panel: a field selector (one actor per field, sharing the geometry, so each extra field
costs one array), a colour legend with the field's range, a clipping plane (axis and
position) and a camera reset.

The display surface is the implant's (and the blocks') boundary, linear triangles, with
the fields as float32. Above :data:`MAX_TRIANGLES` triangles a surface is decimated
(element fields are averaged to the nodes first), which bounds the page's size; the page
and the report say so.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from femvalid._files import atomic_path
from femvalid.report.scene import ROBUST_PERCENT, JobScene, pyvista_offscreen, robust_max

__all__ = ["write_viewer", "ViewerInfo", "MAX_TRIANGLES", "viewer_available"]

#: A body's display surface above this many triangles is decimated to it.
MAX_TRIANGLES = 150_000


@dataclass(frozen=True)
class ViewerInfo:
    """What was written: the page, its size in bytes, triangles shown, whether decimated."""

    path: Path
    bytes: int
    triangles: int
    decimated: bool
    fields: tuple[str, ...]


def viewer_available() -> str | None:
    """None when the viewer can be written, else why not (trame-vtk missing)."""
    try:
        from trame_vtk.modules.vtk import serializers  # noqa: F401
        from trame_vtk.tools import vtksz2html  # noqa: F401
    except ImportError as exc:
        return f"trame-vtk is not installed ({exc}); pip install 'femvalid[viewer]'"
    return None


def _cmap_stops(cmap: str, count: int = 9) -> list[str]:
    import matplotlib

    colours = matplotlib.colormaps[cmap]
    return [matplotlib.colors.to_hex(colours(x)) for x in np.linspace(0.0, 1.0, count)]


def _fields(scene: JobScene, body, volumes, blocks: bool) -> list[dict]:
    """The fields shown for a body: key, label, association, range, colour map."""
    out = []
    cell, point = body.cell_data, body.point_data

    def add(key, label, where, lo, hi, cmap, note=""):
        if hi <= lo:
            hi = lo + (abs(lo) or 1.0) * 1e-3
        out.append({"key": key, "label": label, "where": where, "min": float(lo), "max": float(hi), "cmap": cmap,
                    "note": note})

    pct = f"p{ROBUST_PERCENT:g}"
    if "von_mises_MPa" in cell:
        vm = np.asarray(cell["von_mises_MPa"])
        add("von_mises_MPa", "von Mises MPa", "cell", 0.0, robust_max(vm, volumes), "turbo",
            f"scale 0 to {pct}; peak {vm.max():.4g}")
    if "displacement_magnitude_mm" in point:
        add("displacement_magnitude_mm", "displacement mm", "point", 0.0,
            float(np.max(point["displacement_magnitude_mm"])), "viridis", "magnitude, true scale")
    for key, label in (("principal_stress_1_MPa", "max principal stress MPa"),
                       ("principal_stress_3_MPa", "min principal stress MPa")):
        if key in cell:
            v = np.asarray(cell[key])
            lo, hi = -robust_max(-v, volumes), robust_max(v, volumes)
            bound = max(abs(lo), abs(hi))
            add(key, label, "cell", -bound, bound, "coolwarm", f"scale ±{pct}")
    if "fatigue_safety_factor" in cell and not blocks:
        n = np.asarray(cell["fatigue_safety_factor"])
        p1 = robust_max(n, volumes, 1.0)
        add("fatigue_safety_factor", "fatigue safety factor", "cell", 0.0, max(2.0, 2.0 * p1), "RdYlGn",
            f"p1 {p1:.3g}; n < 1 fails before run-out")
    if "contact_pressure_MPa" in point:
        p = np.asarray(point["contact_pressure_MPa"])
        on = p != 0
        if on.any():
            add("contact_pressure_MPa", "contact pressure MPa", "point", 0.0, robust_max(p[on]), "inferno",
                f"scale 0 to {pct} of the interface nodes")
    if not blocks and scene.contact_field:
        out.append({"key": "contact_faces", "label": "contact faces", "where": "cell", "min": -0.5, "max": 2.5,
                    "cmap": "contact", "note": "blue inferior, orange superior"})
    return out


def _display_surface(scene: JobScene, body, budget: int):
    """(surface, decimated): ``body``'s boundary, decimated to ``budget`` triangles if above it."""
    from femvalid.report.scene import surface_of

    surface = surface_of(body)
    if body is scene.implant and scene.contact_field:
        surface.cell_data["contact_faces"] = scene.face_marks(surface).astype(np.float32)
    if surface.n_cells <= budget:
        return surface, False
    points = surface.cell_data_to_point_data(pass_cell_data=False)
    reduced = points.decimate_pro(1.0 - budget / surface.n_cells, preserve_topology=True)
    return reduced, True


def _float32(surface):
    surface.points = np.asarray(surface.points, np.float32)
    for data in (surface.point_data, surface.cell_data):
        for name in list(data.keys()):
            values = np.asarray(data[name])
            if values.dtype.kind in "fiu" and values.dtype != np.float32:
                data[name] = values.astype(np.float32)
    return surface


def _scene_state(plotter) -> dict:
    """The vtk.js scene of ``plotter``'s render window and its arrays, as the viewer reads it."""
    from trame_vtk.modules.vtk.serializers import (
        SynchronizationContext,
        extract_array_hash,
        initialize_serializers,
        reference_id,
        serialize,
    )

    initialize_serializers()
    context = SynchronizationContext()
    window = plotter.ren_win
    renderer = window.GetRenderers().GetFirstRenderer()
    camera = renderer.GetActiveCamera()
    state = serialize(None, window, "femvalid-view", context, 1)
    state["extra"] = {"vtkRefId": reference_id(window), "centerOfRotation": camera.GetFocalPoint(),
                      "camera": reference_id(camera)}
    hashes = {}
    for entry in extract_array_hash(state):
        key = entry["hash"]
        hashes[key] = dict(**entry, content=context.get_cached_data_array(key, False))
    return {"hashes": hashes, "scene": state}


def write_viewer(scene: JobScene, target: Path, max_triangles: int = MAX_TRIANGLES) -> ViewerInfo:
    """Write the viewer page of ``scene`` to ``target`` (atomically); returns what was written."""
    reason = viewer_available()
    if reason:
        raise RuntimeError(reason)
    pv = pyvista_offscreen()
    from matplotlib.colors import ListedColormap

    from femvalid.report.pictures import CONTACT_COLOURS, IMPLANT_COLOUR

    bodies = [("implant", scene.implant, scene.implant_volumes, False)]
    if scene.blocks is not None:
        bodies.append(("blocks", scene.blocks, scene.block_volumes, True))
    plotter = pv.Plotter(off_screen=True, window_size=(800, 600))
    plotter.set_background("white")
    fields: dict[str, dict] = {}
    actors = []
    triangles, decimated = 0, False
    for body_name, body, volumes, is_block in bodies:
        surface, reduced = _display_surface(scene, body, max_triangles)
        surface = _float32(surface)
        triangles += surface.n_cells
        decimated |= reduced
        for field in _fields(scene, body, volumes, is_block):
            key = field["key"]
            data = surface.cell_data if key in surface.cell_data else surface.point_data
            if key not in data:
                continue
            where = "cell" if data is surface.cell_data else "point"
            cmap = (ListedColormap([IMPLANT_COLOUR, CONTACT_COLOURS[1], CONTACT_COLOURS[2]])
                    if field["cmap"] == "contact" else field["cmap"])
            mesh = surface.copy(deep=False)
            actor = plotter.add_mesh(mesh, scalars=key, preference=where, cmap=cmap,
                                     clim=(field["min"], field["max"]), show_scalar_bar=False,
                                     opacity=0.35 if is_block else 1.0, smooth_shading=False)
            entry = fields.setdefault(key, {**{k: field[k] for k in ("key", "label", "note")},
                                            "colours": (_cmap_stops(field["cmap"]) if field["cmap"] != "contact"
                                                        else [IMPLANT_COLOUR, CONTACT_COLOURS[1],
                                                              CONTACT_COLOURS[2]]),
                                            "ranges": {}, "actors": [], "blocks": []})
            entry["ranges"][body_name] = [field["min"], field["max"]]
            (entry["blocks"] if is_block else entry["actors"]).append(len(actors))
            actors.append({"body": body_name, "field": key, "array": key})
    if scene.blocks is not None:  # blocks in one plain colour for the fields they lack
        surface, _ = _display_surface(scene, scene.blocks, max_triangles)
        surface = _float32(surface)
        plotter.add_mesh(surface, color="#d8c596", opacity=0.3, scalars=None, show_scalar_bar=False)
        actors.append({"body": "blocks", "field": "", "array": ""})
    plotter.view_vector((1.0, -1.25, 0.85), viewup=(0.0, 0.0, 1.0))
    plotter.reset_camera()
    first = next(iter(fields))
    if len(plotter.renderer.actors) != len(actors):
        raise RuntimeError(f"viewer scene: {len(plotter.renderer.actors)} actors drawn for {len(actors)} listed")
    # Every actor stays visible here (the serialiser leaves out hidden ones); the page's
    # script shows the chosen field's once the scene is loaded.
    state = _scene_state(plotter)
    plotter.close()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.json", json.dumps(state, separators=(",", ":")))
    bounds = np.vstack([np.asarray(b.bounds).reshape(3, 2) for _, b, _, _ in bodies])
    meta = {"title": scene.title, "fields": list(fields.values()), "actors": actors, "first": first,
            "bounds": [[float(bounds[i::3, 0].min()), float(bounds[i::3, 1].max())] for i in range(3)],
            "triangles": triangles, "decimated": decimated, "blocks": scene.blocks is not None}
    page = _page(buffer.getvalue(), meta)
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return ViewerInfo(target, target.stat().st_size, triangles, decimated, tuple(fields))


def _page(vtksz: bytes, meta: dict) -> str:
    from trame_vtk.tools.vtksz2html import HTML_VIEWER_PATH

    template = HTML_VIEWER_PATH.read_text(encoding="utf-8")
    # The bundle adds favicons from vtk.js's web site: the page must fetch nothing.
    template = re.sub(r"`https?://[^`]*favicon[^`]*`", '"data:,"', template)
    template = template.replace("<head>", '<head>\n<link rel="icon" href="data:,">', 1)
    data = base64.b64encode(vtksz).decode()
    loader = ('<div class="content" id="femvalid-view" style="position:fixed;top:0;left:0;right:0;bottom:0"></div>\n'
              "<script>\nfunction loadDataSet() {\n  const container = document.querySelector('.content') || "
              f"document.querySelector('body');\n  const base64Str = \"{data}\";\n  "
              "OfflineLocalView.load(container, { base64Str });\n}\n</script>\n")
    meta_json = json.dumps(meta).replace("</", "<\\/")
    panel = _PANEL.replace("__META__", meta_json)
    head = template.index("</body>")
    page = template[:head] + loader + panel + template[head:]
    title = f"<title>femvalid viewer: {escape(meta['title'])}</title>"
    start, end = page.index("<title>"), page.index("</title>") + len("</title>")
    return page[:start] + title + page[end:]


_PANEL = r"""<style>
#femvalid-panel{position:fixed;top:8px;left:8px;z-index:20;background:rgba(255,255,255,.92);border:1px solid #bbb;
border-radius:6px;padding:8px 10px;font:12px sans-serif;max-width:300px;color:#222}
#femvalid-panel h1{font-size:13px;margin:0 0 6px}#femvalid-panel button{margin:2px 2px 2px 0;font-size:11px;
cursor:pointer;border:1px solid #888;background:#f4f4f4;border-radius:3px;padding:2px 5px}
#femvalid-panel button.active{background:#4a78b0;color:#fff;border-color:#4a78b0}
#femvalid-legend .bar{height:12px;border:1px solid #888;margin:4px 0 1px}
#femvalid-legend .ends{display:flex;justify-content:space-between}#femvalid-panel .note{color:#555;font-size:11px}
#femvalid-panel fieldset{border:0;padding:0;margin:6px 0 0}
</style>
<div id="femvalid-panel" role="region" aria-label="viewer controls">
<h1 id="femvalid-title"></h1>
<div id="femvalid-fields" role="group" aria-label="field"></div>
<div id="femvalid-legend"><div class="bar"></div><div class="ends"><span class="lo"></span><span class="hi"></span></div>
<div class="note"></div></div>
<fieldset><label><input type="checkbox" id="femvalid-clip"> clip</label>
<select id="femvalid-clip-axis" aria-label="clip normal"><option>x</option><option>y</option><option>z</option></select>
<input type="range" id="femvalid-clip-at" min="0" max="1000" value="500" aria-label="clip position"></fieldset>
<fieldset id="femvalid-blocks-row"><label><input type="checkbox" id="femvalid-blocks" checked> blocks</label></fieldset>
<button id="femvalid-reset">reset view</button>
<div class="note" id="femvalid-size"></div>
</div>
<script>
(function () {
  const META = __META__;
  const state = {field: META.first, clip: false, axis: 0, at: 0.5, blocks: true};
  window.femvalidViewer = {ready: false, field: null, meta: META};
  document.getElementById('femvalid-title').textContent = META.title;
  document.getElementById('femvalid-size').textContent = META.triangles.toLocaleString() + ' triangles' +
    (META.decimated ? ' (decimated for display; element values averaged to the nodes)' : '');
  if (!META.blocks) document.getElementById('femvalid-blocks-row').style.display = 'none';
  const plane = {normal: [1, 0, 0], origin: [0, 0, 0], isA: (name) => name === 'vtkPlane',
    getNormalByReference() { return this.normal; }, getOriginByReference() { return this.origin; },
    getMTime() { return 0; }};
  let view = null;
  function actorsOf(renderer) { return renderer.getActors(); }
  function apply() {
    if (!view) return;
    const field = META.fields.find((f) => f.key === state.field);
    const blockFields = new Set(META.fields.filter((f) => f.blocks.length).map((f) => f.key));
    view.actors.forEach((actor, i) => {
      const info = META.actors[i] || {};
      let on = info.field === state.field;
      if (info.body === 'blocks') {
        on = state.blocks && (info.field === state.field || (info.field === '' && !blockFields.has(state.field)));
      }
      actor.setVisibility(on);
      const mapper = actor.getMapper();
      mapper.removeAllClippingPlanes();
      if (state.clip) mapper.addClippingPlane(plane);
      mapper.modified();
    });
    const b = META.bounds[state.axis];
    plane.normal = [0, 0, 0]; plane.normal[state.axis] = -1;
    plane.origin = [0, 0, 0]; plane.origin[state.axis] = b[0] + state.at * (b[1] - b[0]);
    document.querySelectorAll('#femvalid-fields button').forEach((button) =>
      button.classList.toggle('active', button.dataset.field === state.field));
    const legend = document.getElementById('femvalid-legend');
    legend.querySelector('.bar').style.background = 'linear-gradient(to right,' + field.colours.join(',') + ')';
    const range = field.ranges.implant || field.ranges.blocks;
    const fmt = (v) => Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toPrecision(3);
    legend.querySelector('.lo').textContent = field.key === 'contact_faces' ? 'none' : fmt(range[0]);
    legend.querySelector('.hi').textContent = field.key === 'contact_faces' ? 'superior' : fmt(range[1]);
    legend.querySelector('.note').textContent = field.label + (field.note ? ' (' + field.note + ')' : '') +
      (field.ranges.blocks && field.ranges.implant ? '; blocks on their own scale, ' +
        fmt(field.ranges.blocks[0]) + ' to ' + fmt(field.ranges.blocks[1]) : '');
    view.window.render();
    window.femvalidViewer.field = state.field;
    document.body.dataset.field = state.field;
  }
  const buttons = document.getElementById('femvalid-fields');
  META.fields.forEach((field) => {
    const button = document.createElement('button');
    button.textContent = field.label;
    button.dataset.field = field.key;
    button.addEventListener('click', () => { state.field = field.key; apply(); });
    buttons.appendChild(button);
  });
  document.getElementById('femvalid-clip').addEventListener('change', (e) => { state.clip = e.target.checked; apply(); });
  document.getElementById('femvalid-clip-axis').addEventListener('change', (e) => { state.axis = e.target.selectedIndex; apply(); });
  document.getElementById('femvalid-clip-at').addEventListener('input', (e) => {
    state.at = Number(e.target.value) / 1000; if (!state.clip) { state.clip = true;
      document.getElementById('femvalid-clip').checked = true; } apply(); });
  document.getElementById('femvalid-blocks').addEventListener('change', (e) => { state.blocks = e.target.checked; apply(); });
  document.getElementById('femvalid-reset').addEventListener('click', () => {
    if (!view) return; view.renderer.resetCamera(); view.window.render(); });
  const started = Date.now();
  const timer = setInterval(() => {
    const win = window.global && window.global.renderWindow;
    const renderer = win && win.getRenderers().find((r) => r.getActors().length > 0);
    const actors = renderer ? actorsOf(renderer) : [];
    const loaded = actors.length === META.actors.length &&
      actors.every((a) => a.getMapper() && a.getMapper().getInputData() &&
        a.getMapper().getInputData().getNumberOfPoints() > 0);
    if (loaded) {
      clearInterval(timer);
      view = {window: win, renderer: renderer, actors: actors};
      apply();
      window.femvalidViewer.ready = true;
    } else if (Date.now() - started > 60000) {
      clearInterval(timer);
      console.error('femvalid viewer: the scene did not load');
    }
  }, 50);
})();
</script>
"""
