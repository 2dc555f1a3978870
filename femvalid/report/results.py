"""The report's results by design: a page per design (``<design>/report.html``) with every
job's set-up, stress, subsidence and fatigue pictures and its 3D viewer, and for the summary
page one strip per design and load case with every revision (or family member) on one
shared colour scale, linked to those pages.

A picture that cannot be drawn is a note in the page, never a lost report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import quote

from femvalid._files import write_atomic
from femvalid.post import qoi
from femvalid.study.paths import DESIGN_PAGE
from femvalid.report.markup import Markup, table

__all__ = ["ResultPages", "write_result_pages", "DESIGN_PAGE", "BODY_START", "BODY_END", "page_style"]

#: What the PDF takes from a design page.
BODY_START, BODY_END = "<!--femvalid:body-->", "<!--/femvalid:body-->"

page_style = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0;font-size:90%}td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}
th{background:#eef}td:first-child,th:first-child{text-align:left}tr.fail td,.fail{background:#fdd}tr.pass td{background:#efe}
td.regression,.regression{background:#fdd;font-weight:bold}img{max-width:100%;height:auto;border:1px solid #ddd;margin:4px 0}
h2{border-bottom:2px solid #4a78b0}figure{margin:.6em 0}figcaption{font-size:85%;color:#444}
.job{border-top:1px solid #ccc;margin-top:1.5em}.note{color:#555;font-size:90%}
@media print{a.viewer::after{content:" (" attr(href) ")";font-size:80%;color:#555}.job{break-before:auto}
img{max-height:20cm}}"""


@dataclass
class ResultPages:
    """What :func:`write_result_pages` wrote: the summary's HTML and the design pages."""

    summary: str = ""
    pages: list[Path] = field(default_factory=list)
    viewers: dict = field(default_factory=dict)  # (design, revision, loadcase) -> ViewerInfo or reason


def _slug(*parts: str) -> str:
    return "job-" + "-".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") or "x" for p in parts)


def _href(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)




def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def _img(image, alt: str) -> str:
    return (f'<img alt="{escape(alt)}" width="{image.width}" height="{image.height}" '
            f'src="{image.data_uri()}">')


def _picture(make, alt: str, *args, caption: str = "") -> str:
    try:
        image = make(*args)
    except Exception as exc:  # a picture that cannot be drawn must not lose the report
        return f'<p class="fail">figure not drawn ({escape(alt)}): {escape(type(exc).__name__)}: {escape(str(exc))}</p>'
    if image is None:
        return ""
    note = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{_img(image, alt)}{note}</figure>"


def _groups(result, jobs):
    """{design: {loadcase: [JobResult]}} in study order."""
    out: dict[str, dict[str, list]] = {}
    for r in jobs:
        out.setdefault(r.design, {}).setdefault(r.loadcase, []).append(r)
    return out


def _headline(jobs) -> list[str]:
    return [k for k in qoi.headline() if any(isinstance(r.qoi.get(k), (int, float)) for r in jobs)]


def write_result_pages(result, detail=None, viewers: bool = True) -> ResultPages:
    """Write each design's page and each job's viewer under the run's OUTDIR; returns the
    summary's results-by-design HTML and what was written.

    ``detail`` (JobResults) are the jobs given their own pictures on the design pages
    (default every job that finished); every finished job is in its design's shared-scale
    strip and gets a viewer.
    """
    from femvalid.report import pictures

    outdir = Path(result.outdir)
    ok = [r for r in result.jobs if r.status == "ok"]
    detail_keys = {(r.design, r.revision, r.loadcase) for r in (ok if detail is None else detail)}
    pages = ResultPages()
    summary = ["<h3>Results by design</h3><p>Each design has a page with every job's set-up, its stresses in two "
               "views, and its interactive 3D viewer (an offline HTML page beside the job's fields.vtu). Below, every "
               "revision of a design under one load case is drawn on one colour scale, clipped at the "
               "volume-weighted 99.5th percentile of the jobs shown.</p>"]
    for design, cases in _groups(result, ok).items():
        page = [f"<p><a href=\"../report.html\">← summary report</a></p><h1>{escape(design)}: results</h1>",
                BODY_START, f'<section class="design" id="{_slug(design)}"><h2>Results: {escape(design)}</h2>']
        summary.append(f'<h4>{escape(design)} — <a href="{_href(design, DESIGN_PAGE)}">design page</a></h4>')
        for case, jobs in cases.items():
            loaded, problems = _Scenes(outdir, keep=len(jobs) <= KEEP_SCENES), []
            stress, fatigue_stats = [], []
            for r in jobs:
                try:
                    scene = loaded.get(r)
                    stress.append(pictures.stress_stats(scene))
                    if scene.has_cell_field("fatigue_safety_factor"):
                        fatigue_stats.append(pictures.fatigue_stats(scene))
                    _viewer(pages, result, r, scene, viewers)
                except Exception as exc:  # a job whose fields cannot be read is still listed
                    problems.append(f"{r.revision}: {type(exc).__name__}: {exc}")
                    loaded.failed(r)
                loaded.release(r)
            page.append(f"<h3>{escape(design)} / {escape(case)}</h3>")
            scale = pictures.stress_scale_of(stress) if stress else None
            fatigue = pictures.fatigue_scale_of(fatigue_stats) if fatigue_stats else None
            shown = [r for r in jobs if loaded.readable(r)]
            strip = ""
            if scale is not None and shown:
                strip = _picture(lambda: pictures.comparison_strip(loaded.each(shown), scale,
                                                                   [r.revision for r in shown],
                                                                   f"{design} / {case}: von Mises stress, every "
                                                                   "revision on one scale"),
                                 f"{design} / {case}: von Mises on one scale")
            headline = _headline(jobs)
            rows = []
            for r in jobs:
                key = (r.design, r.revision, r.loadcase)
                links = []
                if key in detail_keys and loaded.readable(r):
                    links.append(f'<a href="{_href(design, DESIGN_PAGE)}#{_slug(r.revision, r.loadcase)}">pictures</a>')
                viewer = pages.viewers.get(key)
                if viewer is not None and not isinstance(viewer, str):
                    links.append(f'<a class="viewer" href="{_href(design, r.revision, r.loadcase, "viewer.html")}">'
                                 f"3D viewer</a> ({_size(viewer.bytes)})")
                rows.append([r.revision, *[r.qoi.get(k) for k in headline], Markup(" · ".join(links))])
            listing = table(["revision", *[qoi.spec(k).heading for k in headline], "details"], rows)
            summary.append(f"<h5>{escape(case)}</h5>{strip}{listing}")
            page.append(strip)
            if problems:
                note = "<p class=\"fail\">not drawn: " + escape("; ".join(problems)) + "</p>"
                summary.append(note)
                page.append(note)
            for r in shown:
                if (r.design, r.revision, r.loadcase) in detail_keys:
                    page.append(_job_section(r, loaded.get(r), scale, fatigue, pages.viewers.get(
                        (r.design, r.revision, r.loadcase))))
                    loaded.release(r)
        page.append("</section>" + BODY_END)
        path = outdir / design / DESIGN_PAGE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, _page(f"{result.study.name}: {design}", "\n".join(page)))
        pages.pages.append(path)
    pages.summary = "".join(summary)
    return pages


#: A load case's scenes stay in memory up to this many jobs (a family re-reads them).
KEEP_SCENES = 12


class _Scenes:
    """Job scenes read on demand; kept for small groups, dropped after use for large ones."""

    def __init__(self, outdir: Path, keep: bool):
        self.outdir, self.keep, self.cache, self.bad = outdir, keep, {}, set()

    def get(self, r):
        from femvalid.report.scene import read_job

        key = id(r)
        if key not in self.cache:
            self.cache[key] = read_job(self.outdir / r.design / r.revision / r.loadcase)
        return self.cache[key]

    def each(self, jobs):
        """Each job's scene in turn, released after use."""
        for r in jobs:
            yield self.get(r)
            self.release(r)

    def release(self, r):
        if not self.keep:
            self.cache.pop(id(r), None)

    def failed(self, r):
        self.bad.add(id(r))
        self.cache.pop(id(r), None)

    def readable(self, r) -> bool:
        return id(r) not in self.bad


def _viewer(pages, result, r, scene, enabled):
    """Write the job's viewer (once); its ViewerInfo, or None."""
    from femvalid.report import viewer

    key = (r.design, r.revision, r.loadcase)
    if key in pages.viewers:
        found = pages.viewers[key]
        return found if not isinstance(found, str) else None
    if not enabled or scene is None:
        pages.viewers[key] = "not written"
        return None
    try:
        info = viewer.write_viewer(scene, Path(result.outdir) / r.design / r.revision / r.loadcase / "viewer.html")
    except Exception as exc:  # the report goes on without it
        pages.viewers[key] = f"{type(exc).__name__}: {exc}"
        return None
    pages.viewers[key] = info
    return info


def _job_section(r, scene, scale, fatigue, viewer) -> str:
    from femvalid.report import ct, pictures

    parts = [f'<section class="job" id="{_slug(r.revision, r.loadcase)}">'
             f"<h4>{escape(r.design)} {escape(r.revision)} / {escape(r.loadcase)}</h4>"]
    if viewer is not None and not isinstance(viewer, str):
        decimated = ", display surface decimated" if viewer.decimated else ""
        parts.append(f'<p><a class="viewer" href="{_href(r.revision, r.loadcase, "viewer.html")}">Interactive 3D '
                     f"viewer</a> (offline HTML, {_size(viewer.bytes)}, {viewer.triangles:,} triangles{decimated}): "
                     "rotate, choose the field, clip.</p>")
    elif isinstance(viewer, str) and viewer != "not written":
        parts.append(f'<p class="note">No 3D viewer: {escape(viewer)}</p>')
    parts.append(_picture(pictures.setup_picture, f"set-up of {scene.title}", scene))
    if scale is not None:
        parts.append(_picture(pictures.stress_views, f"von Mises stress of {scene.title}", scene, scale))
    if scene.type == "subsidence" and scene.blocks is not None:
        parts.append(_picture(pictures.subsidence_section, f"section through the footprint of {scene.title}", scene))
        parts.append(_picture(pictures.footprint_map, f"footprint pressure of {scene.title}", scene))
        if scene.solver.get("bone"):
            parts.append(_picture(ct.ct_slice_picture, f"CT slices through {scene.title}", scene))
    if fatigue is not None and scene.has_cell_field("fatigue_safety_factor"):
        parts.append(_picture(pictures.fatigue_views, f"fatigue safety factor of {scene.title}", scene, fatigue))
    rows = [[qoi.spec(k).label, k, r.qoi[k], qoi.spec(k).unit, qoi.spec(k).kind] for k in qoi.ordered(r.qoi)]
    parts.append("<details><summary>Every quantity</summary>"
                 + table(["quantity", "name", "value", "unit", "kind"], rows) + "</details>")
    if r.warnings:
        parts.append("<ul>" + "".join(f"<li>{escape(w)}</li>" for w in r.warnings) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{page_style}</style></head><body>{body}</body></html>")
