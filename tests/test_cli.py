"""The command line as a user meets it: exit status, one-line errors, outputs."""

import json
import subprocess
import sys

import meshio
import pytest

from femvalid.geometry import write_stl
from tests.helpers import assert_one_line_error, box_triangles, run_cli


@pytest.mark.parametrize("command", ["check", "mesh", "materials", "demo"])
def test_help(capsys, command):
    status, out, _ = run_cli(capsys, command, "--help")
    assert status == 0 and "usage: femvalid" in out


def test_check_valid(capsys, cage_stl):
    status, out, err = run_cli(capsys, "check", cage_stl)
    assert status == 0 and "valid closed solid" in out and not err


def test_check_json(capsys, cage_stl, cage):
    status, out, _ = run_cli(capsys, "check", cage_stl, "--json")
    report = json.loads(out)
    assert status == 0 and report["valid"] and report["watertight"] and report["shells"] == 1
    assert report["volume_mm3"] == pytest.approx(cage.analytic_volume_mm3, rel=1e-3)


def test_check_rejects_with_one_line(capsys, tmp_path):
    path = tmp_path / "photo.stl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))
    status, out, err = run_cli(capsys, "check", path)
    assert_one_line_error(status, err, 2, str(path), "looks like a PNG image")


def test_check_json_on_rejection_still_reports(capsys, tmp_path):
    path = tmp_path / "open.stl"
    write_stl(path, box_triangles()[1:])
    status, out, err = run_cli(capsys, "check", path, "--json")
    assert_one_line_error(status, err, 2, "open surface")
    assert json.loads(out)["valid"] is False


def test_check_units_option(capsys, tmp_path):
    path = tmp_path / "metres.stl"
    write_stl(path, box_triangles((0, 0, 0), (0.02, 0.01, 0.01)))
    status, out, _ = run_cli(capsys, "check", path, "--json")
    assert any("metres" in w for w in json.loads(out)["warnings"])
    status, out, _ = run_cli(capsys, "check", path, "--json", "--units", "m")
    report = json.loads(out)
    assert report["volume_mm3"] == pytest.approx(2000.0, rel=1e-6) and not report["warnings"]


def test_mesh_writes_vtu(capsys, tmp_path, cage_stl, cage):
    out_path = tmp_path / "cage.vtu"
    status, out, err = run_cli(capsys, "mesh", cage_stl, "-o", out_path, "--size", "1.5", "--order", "2", "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["mesh"]["order"] == 2 and result["mesh"]["size_mm"] == 1.5
    assert abs(result["mesh"]["quality"]["volume_error_percent"]) < 0.5
    mesh = meshio.read(out_path)
    assert mesh.cells[0].type == "tetra10" and len(mesh.cells[0].data) == result["mesh"]["elements"]


def test_mesh_failure_keeps_previous_output(capsys, tmp_path, cage_stl):
    out_path = tmp_path / "cage.vtu"
    out_path.write_text("previous result")
    broken = tmp_path / "broken.stl"
    write_stl(broken, box_triangles()[2:])
    status, _, err = run_cli(capsys, "mesh", broken, "-o", out_path)
    assert_one_line_error(status, err, 2, "exists; use --force")  # checked before the STL is read
    status, _, err = run_cli(capsys, "mesh", broken, "-o", out_path, "--force")
    assert_one_line_error(status, err, 2, "open surface")
    status, _, err = run_cli(capsys, "mesh", cage_stl, "-o", out_path, "--size", "0.1", "--timeout", "1", "--force")
    assert_one_line_error(status, err, 3, "killed")
    assert out_path.read_text() == "previous result"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["-o", "{tmp}/x.msh"], "ending in .vtu"),
        (["-o", "{tmp}/missing/x.vtu"], "does not exist"),
        (["-o", "{tmp}/x.vtu", "--size", "-1"], "--size must be a positive"),
    ],
)
def test_mesh_bad_options(capsys, tmp_path, cage_stl, args, fragment):
    args = [a.format(tmp=tmp_path) for a in args]
    status, _, err = run_cli(capsys, "mesh", cage_stl, *args)
    assert_one_line_error(status, err, 2, fragment)


def test_mesh_repair_closes_holes(capsys, tmp_path, cage_surface):
    path = tmp_path / "holed.stl"
    write_stl(path, cage_surface.triangles[4:])
    status, out, err = run_cli(capsys, "mesh", path, "-o", tmp_path / "m.vtu", "--repair", "--json")
    assert status == 0, err
    assert any("closed holes" in r for r in json.loads(out)["input"]["repairs"])


def test_materials_lists_library(capsys):
    status, out, _ = run_cli(capsys, "materials")
    assert status == 0 and "ti6al4v-am" in out and "pu-foam-15" in out
    status, out, _ = run_cli(capsys, "materials", "--json")
    assert json.loads(out)["pu-foam-15"]["youngs_modulus_MPa"] == 123.0


def test_console_script_has_no_traceback(tmp_path):
    path = tmp_path / "empty.stl"
    path.touch()
    proc = subprocess.run([sys.executable, "-m", "femvalid", "check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"femvalid: error: {path}: empty file\n"
