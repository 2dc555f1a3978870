"""Lattice variants: Gibson–Ashby fits, bone bands, the figure and the report section."""

import csv
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest

from femvalid.report import figures, html
from femvalid.study.lattices import BONE_BANDS_MPA, bone_band, gibson_ashby_csv, gibson_ashby_fits
from femvalid.study.runner import JobResult, StudyResult

ES = 110000.0  # Ti-6Al-4V, MPa
PNG = b"\x89PNG\r\n\x1a\n"


def lattice_job(design, density, relative_modulus, loadcase="compression", status="ok", revision=None, **extra):
    qoi = {"effective_modulus_MPa": relative_modulus * ES, "relative_density": density,
           "relative_modulus": relative_modulus, "solid_modulus_MPa": ES, **extra}
    return JobResult(design=design, revision=revision or f"rho{density:.3f}", loadcase=loadcase, status=status,
                     qoi=qoi)


def power_law_jobs(design, c, n, densities, log_noise=None):
    noise = np.zeros(len(densities)) if log_noise is None else log_noise
    return [lattice_job(design, float(d), float(c * d ** n * math.exp(e))) for d, e in zip(densities, noise)]


def test_exact_power_law_is_recovered():
    densities = [0.1, 0.15, 0.2, 0.3, 0.4]
    fits = gibson_ashby_fits(power_law_jobs("octet", 0.3, 1.1, densities) + power_law_jobs("bcc", 0.9, 2.2, densities))
    assert [(f["design"], f["loadcase"]) for f in fits] == [("octet", "compression"), ("bcc", "compression")]
    for fit, (c, n) in zip(fits, ((0.3, 1.1), (0.9, 2.2))):
        assert fit["C"] == pytest.approx(c, rel=1e-12) and fit["n"] == pytest.approx(n, rel=1e-12)
        assert fit["C_std"] == pytest.approx(0.0, abs=1e-12) and fit["n_std"] == pytest.approx(0.0, abs=1e-12)
        assert fit["r_squared"] == pytest.approx(1.0, abs=1e-12)
        assert (fit["points"], fit["density_min"], fit["density_max"]) == (5, 0.1, 0.4)
        assert fit["solid_modulus_MPa"] == ES


def test_noisy_fit_and_its_standard_errors():
    c, n, sigma = 0.25, 1.7, 0.08
    densities = np.linspace(0.1, 0.45, 12)
    rng = np.random.default_rng(20260)
    fit = gibson_ashby_fits(power_law_jobs("gyroid-sheet", c, n, densities, rng.normal(0, sigma, len(densities))))[0]
    assert abs(fit["n"] - n) < 3 * fit["n_std"] and abs(fit["C"] - c) < 3 * fit["C_std"]
    assert 0.9 < fit["r_squared"] < 1.0

    # Monte Carlo: the spread of the fitted C and n over repeated noisy data sets
    # matches the standard errors the fit reports (rms, since E[s²] = σ²).
    draws = [gibson_ashby_fits(power_law_jobs("g", c, n, densities, rng.normal(0, sigma, len(densities))))[0]
             for _ in range(1500)]
    for key in ("n", "C"):
        spread = np.std([d[key] for d in draws], ddof=1)
        reported = math.sqrt(np.mean([d[f"{key}_std"] ** 2 for d in draws]))
        assert reported == pytest.approx(spread, rel=0.2), key
        assert fit[f"{key}_std"] == pytest.approx(spread, rel=0.5), key  # one data set: s itself scatters


def test_two_points_have_no_standard_error():
    fit, = gibson_ashby_fits(power_law_jobs("bcc", 0.5, 2.0, [0.2, 0.3]))
    assert fit["C"] == pytest.approx(0.5) and fit["n"] == pytest.approx(2.0)
    assert fit["C_std"] is None and fit["n_std"] is None and fit["points"] == 2


def test_only_usable_jobs_are_fitted():
    good = power_law_jobs("octet", 0.3, 1.0, [0.1, 0.2, 0.3])
    others = [
        lattice_job("octet", 0.25, 99.0, status="failed"),
        JobResult(design="octet", revision="x", loadcase="compression", qoi={"stiffness_N_per_mm": 1.0e4}),
        JobResult(design="octet", revision="y", loadcase="compression", qoi={"relative_density": 0.5}),
        lattice_job("octet", 0.0, 0.1),
        lattice_job("octet", 0.35, -0.1),
        lattice_job("octet", 0.35, float("nan")),
        lattice_job("cube", 0.2, 0.1),  # one density only: no fit
        lattice_job("cube", 0.2, 0.1, revision="again"),
    ]
    fit, = gibson_ashby_fits(good + others)
    assert fit["design"] == "octet" and fit["points"] == 3
    assert fit["C"] == pytest.approx(0.3, rel=1e-12) and fit["n"] == pytest.approx(1.0, rel=1e-12)
    assert gibson_ashby_fits([lattice_job("octet", 0.2, 0.1, status="failed")]) == []


def test_load_cases_are_fitted_apart():
    jobs = power_law_jobs("octet", 0.3, 1.0, [0.1, 0.2, 0.3])
    for j in power_law_jobs("octet", 0.2, 1.5, [0.1, 0.2, 0.3]):
        j.loadcase = "lateral"
        jobs.append(j)
    fits = {f["loadcase"]: f for f in gibson_ashby_fits(jobs)}
    assert fits["compression"]["n"] == pytest.approx(1.0) and fits["lateral"]["n"] == pytest.approx(1.5)


def test_csv_parses_back():
    jobs = power_law_jobs("oct,et \"A\"", 0.3, 1.2, [0.1, 0.2, 0.3, 0.4]) + power_law_jobs("bcc", 0.5, 2.0, [0.2, 0.3])
    fits = gibson_ashby_fits(jobs)
    rows = list(csv.DictReader(io.StringIO(gibson_ashby_csv(fits))))
    assert len(rows) == 2 and rows[0]["design"] == "oct,et \"A\""
    for row, fit in zip(rows, fits):
        assert int(row["points"]) == fit["points"]
        for key in ("C", "n", "density_min", "density_max", "r_squared"):
            assert float(row[key]) == fit[key]  # repr round-trips exactly
    assert rows[1]["C_std"] == "" and rows[1]["n_std"] == ""
    assert gibson_ashby_csv([]).strip().split(",")[0] == "design"


def test_bone_bands():
    (c_lo, c_hi), (k_lo, k_hi) = BONE_BANDS_MPA["cancellous"], BONE_BANDS_MPA["cortical"]
    assert c_hi < k_lo
    assert [bone_band(e) for e in (c_lo * 0.99, c_lo, c_hi, c_hi * 1.01, k_lo, k_hi, k_hi * 1.01)] == [
        "below cancellous", "cancellous", "cancellous", "between", "cortical", "cortical", "above cortical"]
    with pytest.raises(ValueError):
        bone_band(float("nan"))


def test_lattice_figure_writes_png(tmp_path):
    fits = gibson_ashby_fits(power_law_jobs("octet", 0.3, 1.1, [0.1, 0.2, 0.3]))
    series = [{"label": "octet", "density": [0.1, 0.2, 0.3], "modulus_MPa": [ES * 0.3 * d ** 1.1 for d in (0.1, 0.2, 0.3)],
               "fit": fits[0]},
              {"label": "bcc $x$ 50%", "density": [0.15], "modulus_MPa": [800.0]}]
    png = figures.lattice_figure(series, BONE_BANDS_MPA, "compression $a")
    path = tmp_path / "lattice.png"
    path.write_bytes(png)
    assert path.stat().st_size > 1000 and png.startswith(PNG)


@pytest.fixture
def report_inputs(tmp_path, monkeypatch):
    """A study and run record without designs, enough for write_report; 3D figures stubbed."""
    monkeypatch.setattr(figures, "field_figure", lambda *a, **k: PNG)
    monkeypatch.setattr(figures, "surface_figure", lambda *a, **k: PNG)
    study = SimpleNamespace(name="lattices", description="", designs=[], loadcases=[], criteria={}, validation=[])
    record = {"femvalid_version": "test", "finished": "now", "started": "then", "inputs": {}, "python": "3",
              "platform": "test", "dependencies": {}, "settings": {}, "study": "study.toml"}
    return study, record, tmp_path


def run_of(study, record, outdir, jobs) -> StudyResult:
    return StudyResult(study, outdir, tuple(jobs), (), record, ())


def test_report_has_lattice_section_when_lattices_were_run(report_inputs):
    study, record, outdir = report_inputs
    jobs = (power_law_jobs("<b>octet</b>", 0.3, 1.1, [0.1, 0.2, 0.3, 0.4])
            + power_law_jobs("bcc", 0.5, 2.0, [0.2, 0.3])
            + [JobResult(design="cage", revision="A", loadcase="axial", qoi={"stiffness_N_per_mm": 1.0e5})])
    page = html.write_report(run_of(study, record, outdir, jobs)).read_text()
    section = page[page.index("<h2>Lattice variants</h2>"):page.index("<h2>Discussion and limitations</h2>")]
    assert "&lt;b&gt;octet&lt;/b&gt;" in section and "<b>octet</b>" not in page
    assert "stretch-dominated" in section and "bending-dominated" in section and "Deshpande" in section
    assert section.count("data:image/png;base64,") == 1 and "figure not drawn" not in section
    assert "cancellous" in section and "± n/a, 2 points" in section
    assert "Deshpande" in page[page.index("<h2>References</h2>"):]
    assert "<td>cage</td>" not in section


def test_report_omits_lattice_section_otherwise(report_inputs):
    study, record, outdir = report_inputs
    jobs = [JobResult(design="cage", revision="A", loadcase="axial", qoi={"stiffness_N_per_mm": 1.0e5}),
            lattice_job("octet", 0.2, 0.05, status="failed")]
    page = html.write_report(run_of(study, record, outdir, jobs)).read_text()
    assert "Lattice variants" not in page and "Deshpande" not in page
    assert html.lattice_section(jobs) == ""
