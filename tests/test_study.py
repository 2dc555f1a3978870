"""Study files and `femvalid run` as a user meets them."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from femvalid.geometry import write_stl
from tests.helpers import assert_one_line_error, box_triangles, run_cli

LOAD_CASES = Path(__file__).resolve().parent.parent / "load_cases"

GOOD = """
[study]
name = "blocks"

[mesh]
size = 1.5
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
material = { E = 3600.0, nu = 0.38, yield = 100.0 }

[[loadcase]]
name = "axial"
type = "axial_compression"
force = 500.0
platens = "frictionless"
"""


@pytest.fixture
def study_dir(tmp_path):
    write_stl(tmp_path / "block_A.stl", box_triangles((0, 0, 0), (8, 6, 4)))
    write_stl(tmp_path / "block_B.stl", box_triangles((0, 0, 0), (8, 6, 5)))
    (tmp_path / "study.toml").write_text(GOOD)
    return tmp_path


def test_run_writes_results(capsys, study_dir):
    out = study_dir / "out"
    status, stdout, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert status == 0, err
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["design"], r["revision"], r["loadcase"], r["status"]) for r in rows] == [
        ("block", "A", "axial", "ok"), ("block", "B", "axial", "ok")]
    # Frictionless blocks: exact stiffness E·A/L.
    assert float(rows[0]["stiffness_N_per_mm"]) == pytest.approx(110000.0 * 48 / 4, rel=1e-6)
    assert float(rows[1]["stiffness_N_per_mm"]) == pytest.approx(3600.0 * 48 / 5, rel=1e-6)
    result = json.loads((out / "block" / "B" / "axial" / "results.json").read_text())
    assert (result["design"], result["revision"], result["loadcase"]) == ("block", "B", "axial")
    for key in ("force_N", "stiffness_N_per_mm", "displacement_mm", "displacement_max_mm", "reaction_force_N",
                "volume_mm3", "von_mises_max_MPa", "von_mises_p99_MPa", "von_mises_p95_MPa", "von_mises_mean_MPa",
                "safety_factor_yield", "first_yield_force_N"):
        assert key in result["qoi"], key
    assert result["qoi"]["displacement_mm"] == pytest.approx(500.0 / (3600.0 * 48 / 5), rel=1e-6)
    assert result["qoi"]["safety_factor_yield"] == pytest.approx(100.0 / (500.0 / 48), rel=1e-6)
    assert result["inputs"]["stl_sha256"] and result["inputs"]["material"]["youngs_modulus_MPa"] == 3600.0
    assert result["mesh"]["order"] == 1 and result["solver"]["method"]
    assert result["solver"]["equilibrium_error"] < 1e-6
    assert (out / "block" / "B" / "axial" / "fields.vtu").exists()
    assert "2 of 2 jobs done" in stdout


def test_earlier_results_are_kept_without_force(capsys, study_dir):
    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    before = (out / "summary.csv").read_text()
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, "earlier run", "--force")
    assert (out / "summary.csv").read_text() == before
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress", "--force")
    assert status == 0, err


def test_failed_job_exit_3_others_finish(capsys, study_dir):
    # Design A becomes a plate 8 µm thick, which cannot be meshed acceptably at 1.5 mm;
    # its job fails with the reason and design B still runs.
    (study_dir / "study.toml").write_text(GOOD.replace('stl = "block_A.stl"', 'stl = "sliver.stl"'))
    sliver = box_triangles((0, 0, 0), (8, 6, 4))
    sliver[:, :, 2] *= 0.002
    write_stl(study_dir / "sliver.stl", sliver)
    out = study_dir / "out"
    status, stdout, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert status == 3
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[0]["error"] and "FAILED" in stdout


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda t: t.replace("[mesh]", "[meshing]"), ["unknown section(s) meshing"]),
        (lambda t: t.replace('order = 1', 'order = 1\nsmooth = "yes"'), ["[mesh]: unknown key(s) smooth"]),
        (lambda t: t.replace('material = "ti6al4v-am"', 'material = "unobtainium"'), ["[[design]] #1", "unknown material 'unobtainium'"]),
        (lambda t: t.replace('material = { E = 3600.0', 'material = { E = -3600.0'), ["[[design]] #2", "E must be a Young's modulus from"]),
        (lambda t: t.replace('"block_B.stl"', '"missing.stl"'), ["[[design]] #2", "'stl' file 'missing.stl' not found"]),
        (lambda t: t.replace("force = 500.0", "force = -500.0"), ["[[loadcase]] #1", "'force' must be a positive number"]),
        (lambda t: t.replace("force = 500.0", "force = 0"), ["'force' must be a positive number"]),
        (lambda t: t.replace("force = 500.0\n", ""), ["missing 'force'"]),
        (lambda t: t.replace('platens = "frictionless"', 'platens = "glued"'), ["platens must be one of bonded, frictionless"]),
        (lambda t: t.replace('type = "axial_compression"', 'type = "bending"'), ["type must be one of axial_compression"]),
        (lambda t: t.replace('platens = "frictionless"', 'platens = "bonded"\nspeed = 3'), ["unknown key(s) speed"]),
        (lambda t: t.replace('revision = "B"', 'revision = "A"'), ["listed twice"]),
        (lambda t: t.replace('name = "block"\nrevision = "A"', 'name = "../escape"\nrevision = "A"'), ["'name' must be a non-empty name"]),
        (lambda t: t + "\n[[[broken", ["not valid TOML"]),
        (lambda t: t.split("[[loadcase]]")[0], ["no [[loadcase]] entries"]),
        (lambda t: t.replace("size = 1.5", "size = 0"), ["'size' must be a positive length in mm"]),
    ],
)
def test_invalid_study_rejected(capsys, study_dir, edit, fragments):
    path = study_dir / "study.toml"
    path.write_text(edit(GOOD))
    status, _, err = run_cli(capsys, "run", path, "-o", study_dir / "out", "--no-progress")
    assert_one_line_error(status, err, 2, str(path), *fragments)
    assert not (study_dir / "out").exists()


def test_bad_stl_stops_the_run_before_any_output(capsys, study_dir):
    write_stl(study_dir / "block_B.stl", box_triangles()[1:])  # open surface
    out = study_dir / "out"
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, "block_B.stl", "open surface")
    assert not out.exists()


def test_loadcase_file_errors_name_the_file(capsys, study_dir):
    case = study_dir / "case.toml"
    case.write_text('name = "x"\ntype = "axial_compression"\nforce = "lots"\n')
    text = GOOD.split("[[loadcase]]")[0] + '[[loadcase]]\nfile = "case.toml"\n'
    (study_dir / "study.toml").write_text(text)
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "--no-progress")
    assert_one_line_error(status, err, 2, str(case), "'force' must be a positive number")


@pytest.mark.parametrize("name", ["f2077-axial-lumbar.toml", "f2077-axial-cervical.toml"])
def test_bundled_load_case_files(tmp_path, capsys, study_dir, name):
    shutil.copy(LOAD_CASES / name, study_dir / name)
    text = GOOD.split("[[loadcase]]")[0] + f'[[loadcase]]\nfile = "{name}"\n'
    (study_dir / "study.toml").write_text(text.replace('[[design]]\nname = "block"\nrevision = "B"', '[[design]]\nname = "b2"\nrevision = "B"'))
    from femvalid.study import read_study

    study = read_study(study_dir / "study.toml")
    case = study.loadcases[0]
    assert case.type == "axial_compression" and case.platens == "bonded" and case.force_N > 0 and case.source


def test_refinement_study_reports_gci(capsys, study_dir):
    text = GOOD.replace("[mesh]\nsize = 1.5\norder = 1", "[mesh]\norder = 2\nrefine = [2.0, 1.4, 1.0]")
    text = text.replace('platens = "frictionless"', 'platens = "bonded"')
    (study_dir / "study.toml").write_text(text)
    out = study_dir / "out"
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert status == 0, err
    result = json.loads((out / "block" / "A" / "axial" / "results.json").read_text())
    assert result["mesh"]["size_mm"] == 1.0 and len(result["mesh"]["refinement"]) == 3
    k = result["convergence"]["stiffness_N_per_mm"]
    assert k["convergence"] in ("monotonic", "oscillatory") and k["gci_fine_percent"] >= 0
    # The fine value is the reported one; bonded platens stiffen, so refinement lowers K.
    assert k["values"][0] == pytest.approx(result["qoi"]["stiffness_N_per_mm"])
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert "stiffness_N_per_mm_gci_percent" in rows[0] and rows[0]["stiffness_N_per_mm_gci_percent"]


@pytest.mark.parametrize("refine", ["[1.0, 2.0]", "[1.0, 1.0, 2.0]", "[1.0, -2.0, 3.0]", '"fine"'])
def test_invalid_refine(capsys, study_dir, refine):
    (study_dir / "study.toml").write_text(GOOD.replace("order = 1", f"order = 1\nrefine = {refine}"))
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", study_dir / "out", "--no-progress")
    assert_one_line_error(status, err, 2, "'refine' must be three different positive sizes")


def test_manifest_traces_inputs_and_outputs(capsys, study_dir):
    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    record = json.loads((out / "manifest.json").read_text())
    from femvalid.study.paths import sha256_file

    assert record["inputs"][str((study_dir / "block_A.stl").resolve())] == sha256_file(study_dir / "block_A.stl")
    assert record["study"]["sha256"] == sha256_file(study_dir / "study.toml")
    assert any(path.endswith("library.toml") for path in record["inputs"])
    assert record["dependencies"]["gmsh"] and record["femvalid_version"]
    job = record["jobs"][0]
    assert job["outputs"]["results.json"] == sha256_file(out / job["folder"] / "results.json")
    assert record["started"] <= record["finished"]


def test_same_inputs_same_numbers(capsys, study_dir):
    """Two runs of one study give the same results to the last digit."""
    runs = []
    for name in ("first", "second"):
        assert run_cli(capsys, "run", study_dir / "study.toml", "-o", study_dir / name, "--no-progress",
                       "--no-cache")[0] == 0
        runs.append([json.loads((study_dir / name / "block" / rev / "axial" / "results.json").read_text())
                     for rev in ("A", "B")])
    for a, b in zip(*runs):
        assert a["qoi"] == b["qoi"]
        assert (a["mesh"]["nodes"], a["mesh"]["elements"]) == (b["mesh"]["nodes"], b["mesh"]["elements"])
    assert (study_dir / "first" / "block" / "A" / "axial" / "fields.vtu").read_bytes() == \
        (study_dir / "second" / "block" / "A" / "axial" / "fields.vtu").read_bytes()


def test_acceptance_criteria(capsys, study_dir):
    # Block A (Ti, 48 mm², frictionless, 500 N): K = 1.32e6 N/mm, SF = 825 / 10.4 ≈ 79.
    # Block B (PEEK-like): K = 34560 N/mm, SF = 100 / 10.4 ≈ 9.6.
    text = GOOD + "\n[criteria]\nmin_safety_factor = 20.0\nmin_stiffness_N_per_mm = 30000.0\n"
    (study_dir / "study.toml").write_text(text)
    out = study_dir / "out"
    status, stdout, _ = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert status == 0 and "criteria not met: block B / axial: min_safety_factor" in stdout
    rows = {r["revision"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert (rows["A"]["criteria"], rows["B"]["criteria"]) == ("pass", "fail")
    assert rows["B"]["criteria_failed"] == "min_safety_factor"
    b = json.loads((out / "block" / "B" / "axial" / "results.json").read_text())["criteria"]
    assert b["min_safety_factor"]["passed"] is False and b["min_stiffness_N_per_mm"]["passed"] is True
    status, _, _ = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress", "--force", "--strict")
    assert status == 1


@pytest.mark.parametrize("line, fragment", [("max_fun = 1", "unknown key(s) max_fun"),
                                            ("min_safety_factor = -1", "'min_safety_factor' must be a non-negative")])
def test_invalid_criteria(capsys, study_dir, line, fragment):
    (study_dir / "study.toml").write_text(GOOD + f"\n[criteria]\n{line}\n")
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", study_dir / "out", "--no-progress")
    assert_one_line_error(status, err, 2, fragment)


def test_revision_comparison(capsys, study_dir):
    (study_dir / "study.toml").write_text(GOOD.replace('name = "blocks"', 'name = "blocks"\nbaseline = "A"'))
    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    rows = {(r["quantity"], r["revision"]): r for r in csv.DictReader((out / "comparison.csv").open())}
    k = rows[("stiffness_N_per_mm", "B")]
    expected = 100 * ((3600.0 * 48 / 5) / (110000.0 * 48 / 4) - 1)
    assert float(k["change_percent"]) == pytest.approx(expected, rel=1e-5) and k["baseline"] == "A"
    # B (softer, weaker material) lowers the safety factor: a regression; stiffness is not judged.
    assert rows[("safety_factor_yield", "B")]["regression"] == "yes"
    assert rows[("stiffness_N_per_mm", "B")]["regression"] == ""
    assert rows[("stiffness_N_per_mm", "A")]["change_percent"] == ""


def test_unknown_baseline_rejected(capsys, study_dir):
    (study_dir / "study.toml").write_text(GOOD.replace('name = "blocks"', 'name = "blocks"\nbaseline = "Z"'))
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", study_dir / "out", "--no-progress")
    assert_one_line_error(status, err, 2, "baseline revision 'Z' is not a revision of any design")


def test_cache_recomputes_only_what_changed(capsys, study_dir):
    out = study_dir / "out"

    def cached_flags(*extra):
        assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress", "--force", *extra)[0] == 0
        return {rev: json.loads((out / "block" / rev / "axial" / "results.json").read_text())["cached"] for rev in "AB"}

    assert cached_flags() == {"A": False, "B": False}
    first = json.loads((out / "block" / "A" / "axial" / "results.json").read_text())["qoi"]
    assert cached_flags() == {"A": True, "B": True}
    assert json.loads((out / "block" / "A" / "axial" / "results.json").read_text())["qoi"] == first
    write_stl(study_dir / "block_B.stl", box_triangles((0, 0, 0), (8, 6, 6)))  # revision B changes
    assert cached_flags() == {"A": True, "B": False}
    assert cached_flags("--no-cache") == {"A": False, "B": False}


def test_engine_changes_recompute(capsys, study_dir, monkeypatch):
    """The cache keys on femvalid's computing code and data and its libraries' versions, not on a date."""
    from femvalid.study import cache, provenance

    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine_fingerprint"] == provenance.engine_fingerprint()
    monkeypatch.setattr(cache, "engine_fingerprint", lambda: "another engine")
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress", "--force")[0] == 0
    assert json.loads((out / "block" / "A" / "axial" / "results.json").read_text())["cached"] is False


def test_source_fingerprint_follows_every_computing_file(tmp_path):
    from femvalid.study.provenance import source_fingerprint

    for name in ("fem/static.py", "fem/sub/kernels.py", "materials/library.toml", "report/html.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    before = source_fingerprint(tmp_path, ("fem", "materials"))
    assert source_fingerprint(tmp_path, ("fem", "materials")) == before
    (tmp_path / "report" / "html.py").write_text("# the report does not change numbers\n")
    (tmp_path / "fem" / "sub" / "kernels.pyc").write_bytes(b"compiled")
    assert source_fingerprint(tmp_path, ("fem", "materials")) == before
    for name in ("fem/sub/kernels.py", "materials/library.toml"):
        text = (tmp_path / name).read_text()
        (tmp_path / name).write_text(text + "x = 1\n")
        assert source_fingerprint(tmp_path, ("fem", "materials")) != before
        (tmp_path / name).write_text(text)
    (tmp_path / "fem" / "static.py").rename(tmp_path / "fem" / "statics.py")  # a moved file counts too
    assert source_fingerprint(tmp_path, ("fem", "materials")) != before


def test_corrupt_cache_entry_is_not_trusted(capsys, study_dir):
    from femvalid.study import cache

    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    for entry in cache.cache_dir().iterdir():
        path = entry / "results.json"
        path.write_text(path.read_text().replace('"stiffness_N_per_mm": ', '"stiffness_N_per_mm": 1'))
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress", "--force")[0] == 0
    result = json.loads((out / "block" / "A" / "axial" / "results.json").read_text())
    assert result["cached"] is False
    assert result["qoi"]["stiffness_N_per_mm"] == pytest.approx(110000.0 * 48 / 4, rel=1e-6)


def test_report_is_self_contained_and_escaped(capsys, study_dir):
    text = GOOD.replace('name = "blocks"', 'name = "blocks"\ndescription = "<script>alert(1)</script> & co"')
    (study_dir / "study.toml").write_text(text + "\n[criteria]\nmin_safety_factor = 20.0\n")
    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    html = (out / "report.html").read_text()
    from femvalid.report import SECTIONS

    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert html.count("data:image/") >= 4 and "figure not drawn" not in html  # JPEG views, PNG charts
    assert "figure not drawn" not in (out / "block" / "report.html").read_text()
    assert "min_safety_factor" in html and "FAIL" in html  # block B misses the criterion
    assert oct((out / "report.html").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_bench_data_is_compared(capsys, study_dir):
    bench = ('\n[[validation]]\ndesign = "block"\nrevision = "B"\nloadcase = "axial"\n'
             'quantity = "stiffness_N_per_mm"\nmeasured = 36000.0\nuncertainty = 500.0\nsource = "bench test 2026-11, lab <X>"\n')
    (study_dir / "study.toml").write_text(GOOD + bench)
    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    v = json.loads((out / "block" / "B" / "axial" / "results.json").read_text())["validation"][0]
    assert v["difference_percent"] == pytest.approx(100 * (3600.0 * 48 / 5 / 36000.0 - 1), rel=1e-5)
    html = (out / "report.html").read_text()
    assert "lab &lt;X&gt;" in html and "No bench-test data" not in html


def test_bench_data_must_name_a_job(capsys, study_dir):
    bench = '\n[[validation]]\ndesign = "block"\nrevision = "C"\nloadcase = "axial"\nquantity = "x"\nmeasured = 1.0\n'
    (study_dir / "study.toml").write_text(GOOD + bench)
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", study_dir / "out", "--no-progress")
    assert_one_line_error(status, err, 2, "[[validation]] #1: no design 'block' revision 'C'")


def test_bench_data_must_name_a_known_quantity(capsys, study_dir):
    """A misspelt quantity would compare with nothing: exit 2, naming the known ones."""
    bench = ('\n[[validation]]\ndesign = "block"\nrevision = "B"\nloadcase = "axial"\n'
             'quantity = "stifness_N_per_mm"\nmeasured = 36000.0\n')
    (study_dir / "study.toml").write_text(GOOD + bench)
    status, _, err = run_cli(capsys, "run", study_dir / "study.toml", "-o", study_dir / "out", "--no-progress")
    assert_one_line_error(status, err, 2, "[[validation]] #1: unknown quantity 'stifness_N_per_mm'",
                          "did you mean 'stiffness_N_per_mm'?", "known quantities:", "von_mises_p99_MPa",
                          "subsidence_mm")
    assert not (study_dir / "out").exists()


def test_names_stay_text_in_csv(capsys, study_dir):
    """A design named -1-1 is not evaluated to -2 by a spreadsheet; negative numbers stay numbers."""
    text = GOOD.replace('name = "block"', 'name = "-1-1"').replace('name = "blocks"', 'name = "blocks"\nbaseline = "A"')
    (study_dir / "study.toml").write_text(text)
    out = study_dir / "out"
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["design"] for r in rows] == ["'-1-1", "'-1-1"]
    assert (out / "-1-1" / "A" / "axial" / "results.json").is_file()  # the folder keeps the name as given
    assert float(rows[0]["stiffness_N_per_mm"]) == pytest.approx(110000.0 * 48 / 4, rel=1e-6)
    assert not any(v.startswith("'") for r in rows for k, v in r.items() if k not in ("design",))
    comparison = list(csv.DictReader((out / "comparison.csv").open()))
    assert comparison and {r["design"] for r in comparison} == {"'-1-1"}


def test_summary_columns_follow_the_qoi_table(capsys, study_dir):
    from femvalid.post import qoi

    out = study_dir / "out"
    status, stdout, _ = run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")
    assert status == 0
    header = next(csv.reader((out / "summary.csv").open()))
    quantities = header[4:header.index("criteria")]
    assert quantities == qoi.ordered(quantities) and "force_N" in quantities
    # The printed summary shows the headline quantities the jobs report, with their units.
    assert "stiffness N/mm" in stdout and "von Mises p99 MPa" in stdout and "subsidence" not in stdout


def test_report_reads_verification_json(capsys, study_dir):
    """The report's Code verification section comes from the verification.json `femvalid verify` writes."""
    out = study_dir / "out"
    out.mkdir()
    check = {"benchmark": "prism-<p2>", "quantity": "stiffness N/mm", "expected": 1.0, "computed": 1.0, "error": 0.0,
             "tolerance": 1e-6, "passed": True, "seconds": 0.5, "reference": "E·A/L"}
    record = {"femvalid_version": "0.1.0", "python": "3.11", "platform": "test", "quick": True, "seconds": 1.0,
              "passed": True, "checks": [check]}
    (out / "verification.json").write_text(json.dumps(record))
    assert run_cli(capsys, "run", study_dir / "study.toml", "-o", out, "--no-progress")[0] == 0
    html = (out / "report.html").read_text()
    section = html[html.index("<h2>Code verification</h2>"):html.index("<h2>System configuration</h2>")]
    assert "prism-&lt;p2&gt;" in section and "all checks passed" in section and "verification.json" in section
    assert "<details>" in html  # the full comparison table folds away under the headline one
