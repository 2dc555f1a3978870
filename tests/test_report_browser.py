"""The report as a reader sees it: headless Chromium (Debian's package, driven by playwright
through ``executable_path``: never playwright's own browser download) opens report.html,
a design page and a job's 3D viewer; pdftoppm and pdftotext read report.pdf.

One small study (two box revisions under axial compression, fatigue and subsidence) is
built once for the module; each test then takes a few seconds.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import numpy as np
import pytest

from femvalid.geometry.stl import write_stl
from femvalid.report import SECTIONS
from tests.helpers import box_triangles

pytestmark = pytest.mark.pictures

STUDY = """
[study]
name = "browser"
description = "two box revisions, <for the browser test>"

[mesh]
size = 2.0
order = 1

[[design]]
name = "block"
revision = "A"
stl = "block_A.stl"
material = "ti6al4v-am"

[[design]]
name = "block"
revision = "B"
stl = "block_B.stl"
material = "ti6al4v-am"

[[loadcase]]
name = "axial"
type = "axial_compression"
force = 1000.0
platens = "bonded"
fatigue_ratio = 10.0

[[loadcase]]
name = "subsidence"
type = "subsidence"
force = 300.0
blocks = "bottom"
block_material = "pu-foam-15"
block_size = [16.0, 14.0, 5.0]
"""

#: Chromium flags: no sandbox (CI runs as root), WebGL on SwiftShader (no GPU).
ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    message = "Debian's chromium is not installed (scripts/ensure-syslibs.sh installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """OUTDIR of the small study, run once."""
    folder = tmp_path_factory.mktemp("browser")
    write_stl(folder / "block_A.stl", box_triangles((-4, -3, 0), (4, 3, 4)))
    write_stl(folder / "block_B.stl", box_triangles((-4, -3, 0), (4, 3, 5)))
    (folder / "study.toml").write_text(STUDY)
    out = folder / "out"
    from femvalid.cli import main

    status = main(["run", str(folder / "study.toml"), "-o", str(out), "--no-progress"])
    assert status == 0
    return out


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page with its console errors and every request it made outside file: and data:."""

    def __init__(self, browser, url, size=(1100, 800)):
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else self.requests.append(r.url))
        self.page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                        else route.abort())
        self.page.goto(url)

    def images(self) -> list[dict]:
        """Every <img>, loaded eagerly and decoded: src kind, natural size, whether it decoded."""
        return self.page.evaluate("""async () => Promise.all([...document.images].map(async (img) => {
            img.loading = 'eager';
            let ok = true;
            try { await img.decode(); } catch (e) { ok = false; }
            return {src: img.src.slice(0, 22), w: img.naturalWidth, h: img.naturalHeight, ok};
        }))""")

    def headings(self) -> list[str]:
        return self.page.evaluate("() => [...document.querySelectorAll('h2')].map(h => h.textContent)")

    def close(self):
        self.page.close()


def _canvas(page) -> np.ndarray:
    from PIL import Image

    shot = page.locator("canvas").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(float)


def test_report_pages_show_every_section_and_picture(report, browser):
    summary = Page(browser, (report / "report.html").as_uri())
    try:
        headings = summary.headings()
        for title in SECTIONS:
            assert title in headings
        pictures = summary.images()
        assert len(pictures) >= 4 and all(p["ok"] and p["w"] > 50 and p["h"] > 50 for p in pictures), pictures
        assert any(p["src"].startswith("data:image/jpeg") for p in pictures)  # rendered views are JPEG
        text = summary.page.inner_text("body")
        assert "&lt;for the browser test&gt;" not in text and "<for the browser test>" in text  # escaped once
        links = summary.page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
        assert "block/report.html" in links and any(h.endswith("/viewer.html") for h in links)
        assert not summary.errors and not summary.requests
    finally:
        summary.close()
    design = Page(browser, (report / "block" / "report.html").as_uri())
    try:
        pictures = design.images()
        # Per job: set-up and stress; fatigue for the axial case; section and footprint for subsidence.
        assert len(pictures) >= 2 + 4 * 2 + 2 * 2 and all(p["ok"] and p["w"] > 50 for p in pictures), pictures
        alts = design.page.evaluate("() => [...document.images].map(i => i.alt)")
        for kind in ("set-up of", "von Mises stress of", "fatigue safety factor of", "section through the footprint",
                     "footprint pressure of", "von Mises on one scale"):
            assert any(kind in alt for alt in alts), (kind, alts)
        assert "figure not drawn" not in design.page.inner_text("body")
        assert not design.errors and not design.requests
    finally:
        design.close()


def test_viewer_draws_and_its_field_selector_changes_the_picture(report, browser):
    path = report / "block" / "A" / "subsidence" / "viewer.html"
    assert path.stat().st_size < 8e6
    viewer = Page(browser, path.as_uri(), size=(800, 600))
    try:
        viewer.page.wait_for_function("window.femvalidViewer && window.femvalidViewer.ready", timeout=60000)
        viewer.page.wait_for_timeout(200)
        before = _canvas(viewer.page)
        colours = len(np.unique(before.reshape(-1, 3), axis=0))
        assert before.std() > 10 and colours > 50, (before.std(), colours)
        fields = viewer.page.evaluate("() => window.femvalidViewer.meta.fields.map(f => f.key)")
        assert fields[0] == "von_mises_MPa" and "displacement_magnitude_mm" in fields
        viewer.page.click("#femvalid-fields button[data-field='displacement_magnitude_mm']")
        viewer.page.wait_for_function("window.femvalidViewer.field === 'displacement_magnitude_mm'")
        viewer.page.wait_for_timeout(200)
        after = _canvas(viewer.page)
        assert np.abs(after - before).mean() > 1.0
        viewer.page.check("#femvalid-clip")  # the clipping plane cuts the picture too
        viewer.page.wait_for_timeout(200)
        assert np.abs(_canvas(viewer.page) - after).mean() > 0.5
        assert not viewer.errors and not viewer.requests  # offline: nothing fetched
    finally:
        viewer.close()


def test_pdf_renders_to_pages_with_the_same_sections(report, tmp_path):
    for tool in ("pdftoppm", "pdftotext"):
        if not shutil.which(tool):
            message = f"{tool} is not installed (poppler-utils; scripts/ensure-syslibs.sh installs it)"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    pdf = report / "report.pdf"
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 5
    from PIL import Image

    inked = [np.asarray(Image.open(p).convert("L")).min() < 128 for p in pages]
    assert all(inked)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    for title in SECTIONS:
        assert title in text, title
    assert "Results: block" in text  # the design page is inside the Results section
    assert text.index("Results: block") < text.index("Discussion and limitations")
