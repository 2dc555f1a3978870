"""Worst case across a product family: an analytic family of boxes in frictionless axial
compression, where stiffness E·A/L and stress F/A rank exactly; parametric cage members;
the band logic on made-up jobs."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from femvalid.errors import InputError
from femvalid.geometry import write_stl
from femvalid.geometry.implants import box_surface, prism_surface
from femvalid.report import worst_case as report_worst_case
from femvalid.study import read_study, run_study
from femvalid.study import runner as runner_module
from femvalid.study import worst_case
from femvalid.study.runner import JobResult
from tests.helpers import assert_one_line_error, run_cli

E, FORCE, YIELD = 110000.0, 1000.0, 800.0
#: name: (x, y, height) mm. Stress F/A: b worst (A = 25), d 4 % below it (A = 26); stiffness
#: E·A/L: c lowest (40/12), d 30 % above it (26/6); a is neither worst nor runner-up.
BOXES = {"a": (6.0, 6.0, 8.0), "b": (5.0, 5.0, 4.0), "c": (8.0, 5.0, 12.0), "d": (5.2, 5.0, 6.0)}

STUDY = """
[study]
name = "boxes"
{study_extra}
[mesh]
{mesh}
order = 1

[[design]]
name = "box"
family = {{ stl = "sizes/*.stl" }}
material = {{ E = {E}, nu = 0.3, yield = {YIELD} }}

[[loadcase]]
name = "axial"
type = "axial_compression"
force = {FORCE}
platens = "frictionless"
"""


def write_family(folder: Path, mesh="size = 2.0", study_extra="", boxes=BOXES) -> Path:
    (folder / "sizes").mkdir(parents=True, exist_ok=True)
    for name, (x, y, h) in boxes.items():
        write_stl(folder / "sizes" / f"{name}.stl", box_surface((0, 0, 0), (x, y, h)).triangles)
    path = folder / "study.toml"
    path.write_text(STUDY.format(mesh=mesh, study_extra=study_extra, E=E, FORCE=FORCE, YIELD=YIELD))
    return path


def rows_of(outdir: Path) -> dict:
    with (outdir / "worst_case.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == worst_case.CSV_COLUMNS
        return {r["quantity"]: r for r in reader}


def test_analytic_family_worst_member_band_and_automatic_gci(tmp_path):
    study = read_study(write_family(tmp_path))
    assert [d.revision for d in study.designs] == ["a", "b", "c", "d"]  # sorted file stems
    result = run_study(study, tmp_path / "out", progress=False)
    assert not result.failed
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {"stiffness_N_per_mm", "von_mises_p99_MPa", "safety_factor_yield"}

    k = rows["stiffness_N_per_mm"]  # lowest E·A/L is worst: c
    assert (k["worst"], k["runner_up"], k["indistinguishable"]) == ("c", "d", "")
    assert float(k["value"]) == pytest.approx(E * 40 / 12, rel=1e-6)
    assert float(k["margin_percent"]) == pytest.approx(100 * ((26 / 6) / (40 / 12) - 1), rel=1e-5)
    s = rows["von_mises_p99_MPa"]  # highest F/A is worst: b; d is 3.85 % below, inside U = 10 %
    assert (s["worst"], s["runner_up"], s["indistinguishable"]) == ("b", "d", "d")
    assert float(s["value"]) == pytest.approx(FORCE / 25, rel=1e-6)
    assert float(s["margin_percent"]) == pytest.approx(100 * (1 - 25 / 26), rel=1e-5)
    f = rows["safety_factor_yield"]
    assert (f["worst"], f["runner_up"], f["indistinguishable"]) == ("b", "d", "d")
    assert float(f["margin_percent"]) == pytest.approx(4.0, rel=1e-5)
    for row in rows.values():  # exact elements: the GCI adds nothing to the validation band
        assert float(row["uncertainty_percent"]) == pytest.approx(10.0, abs=1e-6)

    jobs = {r.revision: r for r in result.jobs}
    # The three-mesh GCI ran on the worst members and runners-up only (b, c, d), and the fine
    # mesh is the first run's: the reported values do not move.
    assert not jobs["a"].convergence and not jobs["a"].mesh.get("refinement")
    for member in "bcd":
        assert len(jobs[member].mesh["refinement"]) == 3
        c = jobs[member].convergence["von_mises_p99_MPa"]
        assert c["values"][0] == pytest.approx(jobs[member].qoi["von_mises_p99_MPa"], rel=1e-12)
        on_disk = json.loads((tmp_path / "out" / "box" / member / "axial" / "results.json").read_text())
        assert on_disk["convergence"] and on_disk["mesh"]["refinement"]
    # The ranking holds on each of the three meshes.
    for level in range(3):
        p99 = {m: jobs[m].convergence["von_mises_p99_MPa"]["values"][level] for m in "bd"}
        k = {m: jobs[m].convergence["stiffness_N_per_mm"]["values"][level] for m in "cd"}
        assert p99["b"] > p99["d"] and k["c"] < k["d"]
    assert result.manifest["worst_case"]["families"]["box"]["a"]["kind"] == "stl"
    # The report shows the worst members and runners-up in detail, the others in the ranking table.
    assert {r.revision for r in report_worst_case.in_detail(result, result.jobs)} == set("bcd")
    assert [d.revision for d, _ in report_worst_case.designs_in_detail(result)] == list("bcd")
    section = report_worst_case.worst_case_section(result)
    assert "b has the highest von Mises p99 (40 MPa)" in section and "cannot tell them apart" in section

    # A narrower band (3 %): d is now distinguishable from b.
    narrow = run_study(read_study(write_family(tmp_path / "narrow", study_extra="validation_uncertainty_percent = 3")),
                       tmp_path / "narrow" / "out", progress=False)
    assert narrow.jobs[0].cached  # the same jobs, from the cache
    rows = rows_of(tmp_path / "narrow" / "out")
    assert rows["von_mises_p99_MPa"]["indistinguishable"] == "" and rows["von_mises_p99_MPa"]["worst"] == "b"
    assert float(rows["von_mises_p99_MPa"]["uncertainty_percent"]) == pytest.approx(3.0, abs=1e-6)


def test_ranking_is_unchanged_under_refinement(tmp_path):
    """[mesh] refine: every member on three meshes; each mesh ranks the members alike, as the study does."""
    boxes = {"p": (6.0, 5.0, 5.0), "q": (5.0, 5.0, 7.0), "r": (7.0, 6.0, 4.0)}
    result = run_study(read_study(write_family(tmp_path, mesh="refine = [1.6, 2.2, 3.0]", boxes=boxes)),
                       tmp_path / "out", progress=False)
    jobs = {r.revision: r for r in result.jobs}
    rows = rows_of(tmp_path / "out")
    assert (rows["von_mises_p99_MPa"]["worst"], rows["von_mises_p99_MPa"]["runner_up"]) == ("q", "p")  # A = 25, 30
    assert (rows["stiffness_N_per_mm"]["worst"], rows["stiffness_N_per_mm"]["runner_up"]) == ("q", "p")  # A/L 25/7, 6
    for quantity, reverse in (("von_mises_p99_MPa", True), ("stiffness_N_per_mm", False)):
        orders = {tuple(sorted(jobs, key=lambda m: jobs[m].convergence[quantity]["values"][level], reverse=reverse))
                  for level in range(3)}
        assert orders == {("q", "p", "r")}


def test_prism_family_through_the_cli_report_and_bench_curve(tmp_path, capsys):
    """Hexagonal prisms (A = 3√3/2·R²): the report's worst-case section and a bench curve on one member."""
    (tmp_path / "sizes").mkdir()
    radii = {"r3": 3.0, "r3.2": 3.2, "r4": 4.0}
    for name, radius in radii.items():
        write_stl(tmp_path / "sizes" / f"{name}.stl", prism_surface(6, radius, 6.0).triangles)
    k_fe = E * 1.5 * 3 ** 0.5 * 3.0**2 / 6.0
    bench = tmp_path / "bench.csv"
    # Linear at 0.9·K_FE from a 0.05 mm toe, then hardening at 5 %.
    points = [(0.002 * i, 0.9 * k_fe * max(0.0, 0.002 * i - 0.05)) for i in range(301)]
    top = 0.9 * k_fe * 0.3
    points = [(d, f if f <= top else top + 0.05 * 0.9 * k_fe * (d - 0.35)) for d, f in points]
    bench.write_text("displacement_mm;force_N\n" + "\n".join(f"{d!r};{f!r}" for d, f in points) + "\n")
    study = STUDY.format(mesh="size = 2.0", study_extra="", E=E, FORCE=FORCE, YIELD=YIELD)
    study += '\n[[validation]]\ndesign = "box"\nrevision = "r3"\nloadcase = "axial"\ncurve = "bench.csv"\n'
    (tmp_path / "study.toml").write_text(study)
    status, out, err = run_cli(capsys, "run", tmp_path / "study.toml", "-o", tmp_path / "out", "--no-progress")
    assert status == 0, err
    rows = rows_of(tmp_path / "out")
    assert rows["von_mises_p99_MPa"]["worst"] == "r3" and rows["von_mises_p99_MPa"]["runner_up"] == "r3.2"
    assert rows["von_mises_p99_MPa"]["indistinguishable"] == ""  # 1 − (3/3.2)² = 12.1 % > 10 %
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="worst-case-selection"' in html and "distinctly the worst" in html
    assert ">r4<" in html  # neither worst nor runner-up: in the ranking table
    # The bench curve: stiffness 0.9·K_FE, so E = S − D = 0.1·K_FE, and its figure.
    validation = json.loads((tmp_path / "out" / "box" / "r3" / "axial" / "results.json").read_text())["validation"]
    k = next(v for v in validation if v["quantity"] == "stiffness_N_per_mm")
    assert k["measured"] == pytest.approx(0.9 * k_fe, rel=1e-9)
    assert k["computed"] == pytest.approx(k_fe, rel=1e-6)
    assert k["E"] == pytest.approx(k["computed"] - k["measured"], rel=1e-12)
    assert "Bench curves" in html and "E = S − D" in html and 'alt="box r3 / axial: bench.csv"' in html


def test_identical_members_share_one_mesh_and_one_solve(tmp_path, monkeypatch):
    write_family(tmp_path, boxes={"a": (5.0, 5.0, 4.0), "b": (6.0, 5.0, 4.0)})
    shutil.copy(tmp_path / "sizes" / "a.stl", tmp_path / "sizes" / "a2.stl")  # a second, identical member
    calls = {"mesh": 0, "job": 0}
    mesh_task, job_task = runner_module.mesh_task, runner_module.job_task

    def counted(kind, fn):
        def wrapper(*args):
            calls[kind] += 1
            return fn(*args)
        return wrapper

    monkeypatch.setattr(runner_module, "mesh_task", counted("mesh", mesh_task))
    monkeypatch.setattr(runner_module, "job_task", counted("job", job_task))
    result = run_study(read_study(tmp_path / "study.toml"), tmp_path / "out", progress=False, use_cache=False)
    jobs = {r.revision: r for r in result.jobs}
    assert set(jobs) == {"a", "a2", "b"} and not result.failed
    # First pass: one mesh and one solve for a and a2, one for b; then the worst and the
    # runner-up of every row (a and a2, tied) once more on three meshes: one mesh task, one solve.
    assert calls == {"mesh": 3, "job": 3}
    assert jobs["a"].qoi == jobs["a2"].qoi and jobs["a2"].convergence
    assert (tmp_path / "out" / "box" / "a2" / "axial" / "fields.vtu").is_file()
    rows = rows_of(tmp_path / "out")
    assert rows["von_mises_p99_MPa"]["worst"] == "a" and rows["von_mises_p99_MPa"]["indistinguishable"] == "a2"
    assert float(rows["von_mises_p99_MPa"]["margin_percent"]) == 0.0


def test_select_band_uses_gci_of_worst_and_runner_up():
    """U = validation % + the larger GCI of worst and member; members without a GCI take the
    larger of the worst's and the runner-up's."""
    study = type("S", (), {})()
    study.designs = [type("D", (), {"name": "f", "revision": m, "family": {"kind": "stl"},
                                    "validation_uncertainty_percent": None})() for m in "wxyz"]
    study.loadcases = [type("C", (), {"name": "lc"})()]
    study.validation_uncertainty_percent = 5.0
    values = {"w": 100.0, "x": 93.0, "y": 91.5, "z": 80.0}  # p99 MPa: w worst; x 7 %, y 8.5 %, z 20 % below
    gci = {"w": 1.0, "x": 2.5}
    jobs = [JobResult("f", m, "lc", qoi={"von_mises_p99_MPa": v},
                      convergence={"von_mises_p99_MPa": {"gci_fine_percent": gci[m], "values": [v, v, v],
                                                         "sizes": [1, 2, 3]}} if m in gci else {})
            for m, v in values.items()]
    (s,) = worst_case.select(study, jobs)
    assert (s.worst, s.runner_up) == ("w", "x")
    assert s.bands == pytest.approx({"x": 7.5, "y": 7.5, "z": 7.5})  # 5 + max(1, 2.5)
    assert s.indistinguishable == ("x",) and s.uncertainty_percent == pytest.approx(7.5)
    assert s.gci["y"]["from"] == "worst and runner-up"
    assert s.margins["y"] == pytest.approx(8.5)
    assert worst_case.gci_targets(study, jobs) == set()  # both already have a convergence block
    jobs[1].convergence = {}
    assert worst_case.gci_targets(study, jobs) == {("f", "x", "lc")}


def test_parametric_cage_family_members(tmp_path):
    (tmp_path / "study.toml").write_text("""
[[design]]
name = "cage"
family = { cage = { height_mm = [8, 10], lordosis_deg = [0, 6], resolution_mm = 2.0 } }
material = "ti6al4v-am"

[[loadcase]]
name = "axial"
type = "axial_compression"
force = 1000.0
""")
    study = read_study(tmp_path / "study.toml")
    names = [d.revision for d in study.designs]
    assert names == ["h8_lord0", "h8_lord6", "h10_lord0", "h10_lord6"]
    assert all(d.stl.is_file() and d.stl.parent.name == "cages" for d in study.designs)
    assert study.designs[3].family["parameters"]["height_mm"] == 10.0
    assert study.designs[3].family["parameters"]["length_mm"] == 26.0  # the cage's default
    again = read_study(tmp_path / "study.toml")  # from the cache: the same files
    assert [d.stl for d in again.designs] == [d.stl for d in study.designs]
    (tmp_path / "study.toml").write_text((tmp_path / "study.toml").read_text().replace("[0, 6]", "[0, 60]"))
    with pytest.raises(InputError, match="lordosis too large"):
        read_study(tmp_path / "study.toml")


@pytest.mark.parametrize("design, fragments", [
    ('family = { stl = "none/*.stl" }', ("matches no file",)),
    ('family = { stl = "sizes/*.stl" }\nrevision = "A"', ("leave out 'revision'",)),
    ('family = { stl = "sizes/*.stl" }\nstl = "sizes/a.stl"', ("one of 'stl', 'lattice' or 'family'",)),
    ('family = { cage = { height = [8] } }', ("unknown key(s) height",)),
    ('family = { cage = { height_mm = [8, 8] } }', ("lists a value twice",)),
    ('family = { sizes = "*.stl" }', ("must be { stl",)),
])
def test_bad_family_is_exit_2(tmp_path, capsys, design, fragments):
    write_family(tmp_path)
    text = (tmp_path / "study.toml").read_text().replace('family = { stl = "sizes/*.stl" }', design)
    (tmp_path / "study.toml").write_text(text)
    status, _, err = run_cli(capsys, "run", tmp_path / "study.toml", "-o", tmp_path / "out", "--no-progress")
    assert_one_line_error(status, err, 2, *fragments)
