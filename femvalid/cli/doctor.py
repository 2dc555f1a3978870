"""``femvalid doctor``: check the environment: system libraries, gmsh, off-screen rendering, solvers, WeasyPrint, SfePy.

One line per check, ``OK``, ``MISSING`` or ``FAILED``, and under each problem the command
that fixes it. Exit status 0 when every required check passes (SfePy is optional), 1
otherwise. The checks that can crash a process (gmsh, VTK rendering) run in child
processes.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib
import io
import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["CHECKS", "Check", "CheckResult", "debian_package", "format_results", "run_checks"]

OK, MISSING, FAILED = "OK", "MISSING", "FAILED"

#: Shared libraries femvalid needs headless (scripts/ensure-syslibs.sh) → their Debian 12 packages.
SYSTEM_LIBRARIES = {
    "GLU": "libglu1-mesa",
    "GL": "libgl1",
    "Xrender": "libxrender1",
    "Xcursor": "libxcursor1",
    "Xft": "libxft2",
    "Xinerama": "libxinerama1",
    "gomp": "libgomp1",
    "OSMesa": "libosmesa6",
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz-subset": "libharfbuzz-subset0",
}
# Library name prefixes as they appear in loader errors, longest first when matching.
_LIBRARY_PREFIXES = {f"lib{name}": package for name, package in SYSTEM_LIBRARIES.items()} | {
    "libpango": "libpango-1.0-0",
    "libpangoft2": "libpangoft2-1.0-0",
    "libharfbuzz": "libharfbuzz0b",
    "libfontconfig": "libfontconfig1",
    "libX11": "libx11-6",
    "libEGL": "libegl1",
    "libgobject": "libglib2.0-0",
}
_RENDER_TIMEOUT_S = 120.0
_MESH_TIMEOUT_S = 60.0

# The import function the checks use (tests replace it to simulate a broken install).
_import_module = importlib.import_module


class Problem(Exception):
    """A check found a problem: ``status`` MISSING or FAILED, with the command that fixes it."""

    def __init__(self, status: str, detail: str, fix: str | None):
        super().__init__(detail)
        self.status, self.detail, self.fix = status, detail, fix


@dataclass(frozen=True)
class Check:
    """One environment check: ``run`` returns a one-line detail or raises Problem."""

    name: str
    purpose: str
    required: bool
    run: Callable[[], str]


@dataclass
class CheckResult:
    name: str
    purpose: str
    required: bool
    status: str
    detail: str
    fix: str | None
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


# -- fixes --------------------------------------------------------------------------------


def pip_fix() -> str:
    """The command that installs femvalid's Python dependencies into this environment."""
    if sys.prefix != sys.base_prefix:  # a virtual environment: its own pip
        pip = Path(sys.prefix) / "bin" / "pip"
        try:
            pip = pip.relative_to(Path.cwd())
        except ValueError:
            pass
        return f"{pip} install -e '.[test]'"
    return f"{sys.executable} -m pip install -e '.[test]'"


def debian_package(message: str) -> str | None:
    """The Debian package of the first shared library a loader error names, if known."""
    for token in re.findall(r"lib[A-Za-z0-9_+.-]*", message):
        matches = [prefix for prefix in _LIBRARY_PREFIXES if token.startswith(prefix)]
        if matches:
            return _LIBRARY_PREFIXES[max(matches, key=len)]
    return None


def apt_fix(packages) -> str:
    return "apt-get install " + " ".join(packages)


def _system_fix(message: str, default_package: str | None = None) -> str:
    package = debian_package(message) or default_package
    return apt_fix([package]) if package else "sh scripts/ensure-syslibs.sh"


def _import(module: str, package: str | None = None):
    """Import ``module``; MISSING (pip) if it is not installed, FAILED (apt) if a system library is."""
    try:
        return _import_module(module)
    except ImportError as exc:
        message = str(exc)
        if "cannot open shared object" in message or re.search(r"lib[\w+.-]*\.so", message):
            raise Problem(FAILED, f"{module} is installed but cannot load a system library: {_line(message)}",
                          _system_fix(message)) from None
        raise Problem(MISSING, f"Python package {package or module} is not installed ({_line(message)})", pip_fix()) from None
    except OSError as exc:  # cffi/ctypes loaders (weasyprint, gmsh) raise OSError for a missing .so
        message = str(exc)
        raise Problem(FAILED, f"{module} is installed but cannot load a system library: {_line(message)}",
                      _system_fix(message)) from None


def _line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _child(code: str, timeout_s: float) -> tuple[int, str, str]:
    """Run Python ``code`` in a child process: (status, stdout, stderr); status -9 on timeout."""
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return -9, "", f"did not finish within {timeout_s:g} s"
    return proc.returncode, proc.stdout, proc.stderr


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return _line(lines[-1]) if lines else ""


# -- the checks ---------------------------------------------------------------------------


def check_system_libraries() -> str:
    missing = [package for name, package in SYSTEM_LIBRARIES.items() if not ctypes.util.find_library(name)]
    if missing:
        raise Problem(MISSING, f"shared libraries not found: packages {', '.join(missing)}", apt_fix(missing))
    return f"{len(SYSTEM_LIBRARIES)} shared libraries found (scripts/ensure-syslibs.sh)"


def check_gmsh() -> str:
    gmsh = _import("gmsh")
    from femvalid.errors import FemvalidError
    from femvalid.geometry.implants import box_surface
    from femvalid.meshing import MeshSettings, mesh_surface

    try:
        mesh = mesh_surface(box_surface((0, 0, 0), (2, 2, 2)), MeshSettings(size_mm=1.0, order=1, timeout_s=_MESH_TIMEOUT_S),
                            source="doctor: 2 mm box")
    except FemvalidError as exc:
        raise Problem(FAILED, f"gmsh {gmsh.__version__} imports but meshing failed: {_line(exc)}",
                      _system_fix(str(exc), None)) from None
    return f"gmsh {gmsh.__version__}: meshed a 2 mm box into {len(mesh.elements)} tetrahedra in a child process"


_RENDER_CODE = """
import json, numpy as np
from femvalid.geometry.implants import box_surface
from femvalid.report import figures
box = box_surface((0, 0, 0), (2, 3, 4))
png = figures.surface_figure(box.vertices, box.faces, "femvalid doctor")
import vtk
print(json.dumps({"png_bytes": len(png), "png": png[:8] == b"\\x89PNG\\r\\n\\x1a\\n",
                  "window": vtk.vtkRenderWindow().GetClassName(), "vtk": vtk.vtkVersion.GetVTKVersion()}))
"""


def check_rendering() -> str:
    _import("vtk")
    pyvista = _import("pyvista")
    _import("matplotlib")
    status, out, err = _child(_RENDER_CODE, _RENDER_TIMEOUT_S)
    osmesa = ctypes.util.find_library("OSMesa")
    if status != 0:
        why = _last_line(err) or f"the rendering process exited with status {status}"
        if status < 0 and status != -9:
            why = f"the rendering process crashed (signal {-status}): {why}"
        fix = _system_fix(err, None if osmesa or os.environ.get("DISPLAY") else "libosmesa6")
        raise Problem(FAILED, f"off-screen rendering failed: {why}", fix)
    try:
        info = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Problem(FAILED, f"off-screen rendering printed no result: {_last_line(out + err)}", "sh scripts/ensure-syslibs.sh") from None
    if not info.get("png") or info.get("png_bytes", 0) < 100:
        raise Problem(FAILED, "off-screen rendering produced no PNG image", apt_fix(["libosmesa6"]))
    return (f"pyvista {pyvista.__version__}, VTK {info['vtk']} ({info['window']}): "
            f"rendered a {info['png_bytes']}-byte PNG off-screen")


def check_solvers() -> str:
    scipy = _import("scipy")
    sparse = _import("scipy.sparse")
    linalg = _import("scipy.sparse.linalg")
    import numpy as np

    n = 50
    a = sparse.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csc")
    b = np.ones(n)
    x = linalg.spsolve(a, b)
    direct = float(np.linalg.norm(a @ x - b) / np.linalg.norm(b))
    if not direct < 1e-10:
        raise Problem(FAILED, f"SuperLU (scipy spsolve) residual {direct:.1e} on a 50-unknown system", pip_fix())
    pyamg = _import("pyamg")
    a = pyamg.gallery.poisson((24, 24), format="csr")
    b = np.ones(a.shape[0])
    x = pyamg.smoothed_aggregation_solver(a).solve(b, tol=1e-10, maxiter=100)
    amg = float(np.linalg.norm(a @ x - b) / np.linalg.norm(b))
    if not amg < 1e-8:
        raise Problem(FAILED, f"pyamg smoothed aggregation residual {amg:.1e} on a 576-unknown Poisson system", pip_fix())
    return (f"scipy {scipy.__version__} SuperLU (residual {direct:.0e}), "
            f"pyamg {pyamg.__version__} smoothed aggregation (residual {amg:.0e})")


def check_weasyprint() -> str:
    weasyprint = _import("weasyprint")
    try:
        pdf = weasyprint.HTML(string="<h1>femvalid doctor</h1><p>1 mm, 1 N, 1 MPa</p>").write_pdf()
    except OSError as exc:
        raise Problem(FAILED, f"WeasyPrint cannot render: {_line(exc)}", _system_fix(str(exc), "libpango-1.0-0")) from None
    if not pdf or not pdf.startswith(b"%PDF"):
        raise Problem(FAILED, "WeasyPrint produced no PDF", apt_fix(["libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"]))
    return f"WeasyPrint {weasyprint.__version__}: rendered a {len(pdf)}-byte PDF"


def check_sfepy() -> str:
    # SfePy prints notes about optional modules (jax) while importing: keep them out of --json.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sfepy = _import("sfepy")
        _import("sfepy.discrete.fem")
    return f"SfePy {sfepy.__version__} (second engine for `femvalid verify`)"


CHECKS = [
    Check("system libraries", "gmsh and VTK headless, PDF fonts", True, check_system_libraries),
    Check("gmsh", "meshing", True, check_gmsh),
    Check("rendering", "report figures (pyvista/VTK off-screen)", True, check_rendering),
    Check("solvers", "scipy SuperLU, pyamg", True, check_solvers),
    Check("weasyprint", "PDF report", True, check_weasyprint),
    Check("sfepy", "optional second engine", False, check_sfepy),
]


def run_checks(checks=None) -> list[CheckResult]:
    """Run every check (``CHECKS`` by default); a check that raises anything is FAILED, never fatal."""
    results = []
    for check in CHECKS if checks is None else checks:
        started = time.perf_counter()
        try:
            status, detail, fix = OK, check.run(), None
        except Problem as exc:
            status, detail, fix = exc.status, exc.detail, exc.fix
        except Exception as exc:  # noqa: BLE001 - a broken environment fails in unforeseen ways
            status, detail, fix = FAILED, f"{type(exc).__name__}: {_line(exc)}", pip_fix()
        results.append(CheckResult(check.name, check.purpose, check.required, status, _line(detail, 300), fix,
                                   round(time.perf_counter() - started, 3)))
    return results


def passed(results: list[CheckResult]) -> bool:
    return all(r.status == OK for r in results if r.required)


def format_results(results: list[CheckResult]) -> str:
    width = max((len(r.name) for r in results), default=0) + len(" (optional)")
    lines = []
    for r in results:
        name = r.name if r.required else f"{r.name} (optional)"
        lines.append(f"{r.status:<8} {name:<{width}} {r.detail} ({r.seconds:.1f} s)")
        if r.fix and r.status != OK:
            lines.append(f"{'':<8} {'':<{width}} fix: {r.fix}")
    failed = [r.name for r in results if r.required and r.status != OK]
    lines.append(f"femvalid doctor: {'all required checks passed' if not failed else 'problems with ' + ', '.join(failed)}")
    return "\n".join(lines)


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check the environment (gmsh, rendering, solvers, PDF, SfePy)",
                       description=__doc__.split(":", 1)[1].strip().split("\n")[0])
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    results = run_checks()
    ok = passed(results)
    if args.json:
        print(json.dumps({"ok": ok, "python": sys.version.split()[0], "executable": sys.executable,
                          "checks": [r.to_dict() for r in results]}, indent=2))
    else:
        print(format_results(results))
    return 0 if ok else 1
