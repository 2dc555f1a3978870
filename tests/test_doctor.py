"""``femvalid doctor``: environment checks, fixes for what is missing, exit status, --json."""

import json
import sys
from pathlib import Path

import pytest

from femvalid.cli import doctor, main

ROOT = Path(__file__).resolve().parents[1]


def run_doctor(capsys, *argv):
    status = main(["doctor", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def only(monkeypatch, *names):
    """Keep only the named checks (the others take seconds and are tested once, for real)."""
    monkeypatch.setattr(doctor, "CHECKS", [c for c in doctor.CHECKS if c.name in names])


def test_this_environment_passes(capsys):
    """Every check runs for real here (gmsh in a child, a PNG off-screen, a PDF): all OK, exit 0."""
    status, out, _ = run_doctor(capsys, "--json")
    report = json.loads(out)
    by_name = {c["name"]: c for c in report["checks"]}
    assert set(by_name) == {"system libraries", "gmsh", "rendering", "solvers", "weasyprint", "sfepy"}
    assert not by_name["sfepy"]["required"] and all(c["required"] for n, c in by_name.items() if n != "sfepy")
    assert status == 0 and report["ok"], out
    for check in report["checks"]:
        if check["required"]:
            assert check["status"] == "OK" and check["fix"] is None, check
    assert "tetrahedra" in by_name["gmsh"]["detail"] and "PNG" in by_name["rendering"]["detail"]


def test_text_output_one_line_per_check(capsys, monkeypatch):
    only(monkeypatch, "solvers", "system libraries")
    status, out, _ = run_doctor(capsys)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].startswith("OK ") and "system libraries" in lines[0]
    assert lines[1].startswith("OK ") and "SuperLU" in lines[1] and "pyamg" in lines[1]
    assert lines[-1] == "femvalid doctor: all required checks passed" and len(lines) == 3


def test_missing_python_package_names_the_fix(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` now raises ImportError
    only(monkeypatch, "solvers", "weasyprint")
    status, out, _ = run_doctor(capsys)
    lines = out.splitlines()
    assert status == 1
    [line] = [ln for ln in lines if ln.startswith("MISSING ")]
    assert "weasyprint" in line
    assert line.startswith("MISSING ") and "Python package weasyprint is not installed" in line
    fix = lines[lines.index(line) + 1].strip()
    assert fix.startswith("fix: ") and fix.endswith("pip install -e '.[test]'")
    assert lines[-1] == "femvalid doctor: problems with weasyprint"


def test_missing_gmsh_skips_meshing(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gmsh", None)
    only(monkeypatch, "gmsh")
    status, out, _ = run_doctor(capsys, "--json")
    [check] = json.loads(out)["checks"]
    assert status == 1 and check["status"] == "MISSING" and "pip install -e '.[test]'" in check["fix"]
    assert check["seconds"] < 5  # failed at the import, no mesher started


def test_missing_optional_sfepy_keeps_exit_zero(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sfepy", None)
    only(monkeypatch, "solvers", "sfepy")
    status, out, _ = run_doctor(capsys)
    assert status == 0
    assert any(ln.startswith("MISSING ") and "sfepy (optional)" in ln for ln in out.splitlines())
    assert "fix: " in out and out.splitlines()[-1] == "femvalid doctor: all required checks passed"


def test_missing_system_library_names_the_debian_package(capsys, monkeypatch):
    real = doctor._import_module

    def broken(name):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file: "
                          "No such file or directory")
        return real(name)

    monkeypatch.setattr(doctor, "_import_module", broken)
    only(monkeypatch, "weasyprint")
    status, out, _ = run_doctor(capsys, "--json")
    [check] = json.loads(out)["checks"]
    assert status == 1 and check["status"] == "FAILED" and check["fix"] == "apt-get install libpango-1.0-0"


def test_missing_shared_libraries_listed_with_apt(capsys, monkeypatch):
    monkeypatch.setattr(doctor.ctypes.util, "find_library", lambda name: None if name in ("OSMesa", "GLU") else f"lib{name}.so")
    only(monkeypatch, "system libraries")
    status, out, _ = run_doctor(capsys)
    assert status == 1 and out.startswith("MISSING ")
    assert "fix: apt-get install libglu1-mesa libosmesa6" in out


def test_unexpected_exception_is_a_failed_check(capsys, monkeypatch):
    def explode():
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(doctor, "CHECKS", [doctor.Check("exploding", "test", True, explode)])
    status, out, _ = run_doctor(capsys)
    assert status == 1 and out.startswith("FAILED ") and "RuntimeError: boom second line" in out


@pytest.mark.parametrize("message, package", [
    ("libOSMesa.so.8: cannot open shared object file", "libosmesa6"),
    ("libGLU.so.1: cannot open shared object file", "libglu1-mesa"),
    ("libGL.so.1: cannot open shared object file", "libgl1"),
    ("cannot load library 'libpangoft2-1.0-0'", "libpangoft2-1.0-0"),
    ("libXinerama.so.1: cannot open shared object file", "libxinerama1"),
    ("libharfbuzz-subset.so.0: cannot open shared object file", "libharfbuzz-subset0"),
    ("something else entirely", None),
])
def test_debian_package_of_a_loader_error(message, package):
    assert doctor.debian_package(message) == package


def test_every_ensure_syslibs_package_is_known():
    script = (ROOT / "scripts" / "ensure-syslibs.sh").read_text()
    listed = script.split('PKGS="', 1)[1].split('"', 1)[0].split()
    assert set(listed) == set(doctor.SYSTEM_LIBRARIES.values())


def test_readme_lists_doctor():
    readme = (ROOT / "README.md").read_text()
    assert "femvalid doctor" in readme and "### `doctor`" in readme


def test_help(capsys):
    status, out, _ = run_doctor(capsys, "--help")
    assert status == 0 and "usage: femvalid doctor" in out and "--json" in out
