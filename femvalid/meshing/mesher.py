"""Surface → tetrahedra, with gmsh in a child process that is killed on timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femvalid.errors import GeometryError, MeshingError
from femvalid.geometry.surface import Surface
from femvalid.meshing.boundary import SURFACE_MODES, BoundaryChoice, choose_boundary, shell_volumes
from femvalid.meshing.high_order import elevate_to_quadratic, jacobian_ratio
from femvalid.meshing.quality import MeshQuality, aspect_ratio, scaled_jacobian
from femvalid.meshing.volume_mesh import VolumeMesh

__all__ = ["MeshSettings", "mesh_surface", "default_size_mm", "check_meshable", "MAX_MESH_TRIANGLES"]

#: Most STL triangles femvalid meshes. gmsh's classification of the facets into
#: surfaces is the bottleneck (measured on a torus, 2 cores: `femvalid mesh` of 1 M
#: triangles 86 s and 1.2 GB in all; at 3 M the classification alone takes 145 s and
#: rebuilding the geometry 55 s more, 3.1 GB), and an STL this fine holds far more
#: detail than a mesh for stresses needs.
MAX_MESH_TRIANGLES = 1_000_000


def default_size_mm(surface: Surface) -> float:
    """A target edge length (mm) giving about two elements through thin walls.

    Volume / area is half the thickness of a plate, so it tracks the walls of cages
    and tubes; rounded to two significant figures so that it reads well.
    """
    size = surface.signed_volume / surface.area
    return float(f"{size:.2g}")


@dataclass(frozen=True)
class MeshSettings:
    """How to mesh.

    Attributes
    ----------
    size_mm : float
        Target (largest) edge length, mm.
    order : int
        1 for linear, 2 for quadratic tetrahedra.
    timeout_s : float
        gmsh is killed after this many seconds.
    threads : int
        Threads for gmsh's HXT algorithm. One by default: with more, HXT inserts
        points in a varying order and the same STL gives a different mesh on every
        run (measured), so results would not be reproducible.
    angle_deg : float
        Facets meeting at a sharper angle than this keep their edge as a feature.
    refine_box_mm : tuple of 6 floats, optional
        (xmin, ymin, zmin, xmax, ymax, zmax) of a region meshed at ``refine_size_mm``,
        the size growing to ``size_mm`` over ``refine_transition_mm`` around it.
    surface : {"auto", "keep", "remesh"}
        Boundary mesh: "keep" the STL's triangles (fast, exact to the STL), "remesh"
        them at ``size_mm``, or "auto": keep them when they are already about that
        size and well shaped (see :func:`femvalid.meshing.boundary.choose_boundary`),
        falling back to the remesh if gmsh fails on them.
    """

    size_mm: float
    order: int = 1
    timeout_s: float = 600.0
    threads: int = 1
    angle_deg: float = 40.0
    refine_box_mm: tuple | None = None
    refine_size_mm: float | None = None
    refine_transition_mm: float = 0.0
    surface: str = "auto"

    def __post_init__(self):
        if not self.size_mm > 0:
            raise ValueError("mesh size must be positive (mm)")
        if self.order not in (1, 2):
            raise ValueError("element order must be 1 or 2")
        if self.surface not in SURFACE_MODES:
            raise ValueError(f"surface must be one of {', '.join(SURFACE_MODES)}")


def check_meshable(triangles: int, source: str = "<surface>") -> None:
    """Refuse a surface with more than :data:`MAX_MESH_TRIANGLES` triangles.

    Raises
    ------
    GeometryError
        Naming the count and the limit (exit status 2: the user has to coarsen the STL).
    """
    if triangles > MAX_MESH_TRIANGLES:
        raise GeometryError(
            source,
            f"{triangles} triangles, more than femvalid meshes (limit {MAX_MESH_TRIANGLES}: gmsh takes "
            "minutes and gigabytes beyond it); export the STL with a coarser chord tolerance",
        )


class _Timeout(MeshingError):
    """gmsh was killed: no time is left to try the other boundary."""


def mesh_surface(surface: Surface, settings: MeshSettings, source: str = "<surface>") -> VolumeMesh:
    """Mesh a checked, closed surface into tetrahedra and check their quality.

    The quality report says which boundary mesh was used (``surface``: "keep" or
    "remesh", and why).

    Raises
    ------
    GeometryError
        The surface has more than :data:`MAX_MESH_TRIANGLES` triangles.
    MeshingError
        gmsh failed or timed out, or the mesh fails the quality checks (inverted or
        near-degenerate elements, volume off by more than 0.5 %).
    """
    check_meshable(len(surface.faces), source)
    choice = choose_boundary(surface, settings.size_mm, settings.surface, settings.refine_box_mm is not None)
    deadline = time.monotonic() + settings.timeout_s  # for both tries together
    try:
        return _mesh(surface, settings, choice, deadline, source)
    except _Timeout:
        raise
    except MeshingError as exc:
        if settings.surface != "auto" or (choice.mode == "remesh" and settings.refine_box_mm is not None):
            raise
        # Each boundary can fail where the other works: gmsh cannot reparametrise some
        # surfaces of high genus (TPMS lattices), and poor STL facets make poor tets.
        if choice.mode == "keep":
            fallback = BoundaryChoice("remesh", f"keeping the STL's triangles failed ({exc.reason})")
        else:
            fallback = BoundaryChoice("keep", f"remeshing failed ({exc.reason})")
        return _mesh(surface, settings, fallback, deadline, source)


def _mesh(surface: Surface, settings: MeshSettings, choice: BoundaryChoice, deadline: float,
          source: str) -> VolumeMesh:
    """One meshing with the chosen boundary, checked for quality."""
    with tempfile.TemporaryDirectory(prefix="femvalid-mesh-") as tmp:
        request, result = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        shells = shell_volumes(surface) if choice.mode == "keep" else (np.zeros(0), np.zeros(0))
        np.savez(
            request,
            vertices=surface.vertices,
            faces=surface.faces,
            size=settings.size_mm,
            threads=settings.threads,
            angle_deg=settings.angle_deg,
            refine=np.array([*settings.refine_box_mm, settings.refine_size_mm, settings.refine_transition_mm])
            if settings.refine_box_mm is not None else np.zeros(0),
            surface=np.array(choice.mode),
            face_shell=shells[0],
            shell_owner=shells[1],
        )
        _run_worker(request, result, deadline, settings.timeout_s, source)
        with np.load(result, allow_pickle=False) as data:
            nodes, elements, sicn = data["nodes"], data["elements"], data["sicn"]
            seconds = {"geometry": float(data["seconds_geometry"]), "mesh": float(data["seconds_mesh"])}
    corners = nodes[elements]
    curved, straightened = None, 0
    if settings.order == 2:
        nodes, elements, straightened = elevate_to_quadratic(nodes, elements, surface)
        curved = jacobian_ratio(nodes, elements)
    mesh = VolumeMesh(nodes, elements, size_mm=settings.size_mm)
    quality = MeshQuality(
        sicn=sicn,
        jacobian_ratio=curved,
        straightened_midside_nodes=straightened,
        scaled_jacobian=scaled_jacobian(corners),
        aspect_ratio=aspect_ratio(corners),
        volume_mm3=mesh.volume,
        reference_volume_mm3=surface.signed_volume,
        surface=choice.mode,
        surface_reason=choice.reason,
        gmsh_seconds=seconds,
    )
    problems = quality.problems()
    if problems:
        raise MeshingError(source, "mesh rejected: " + "; ".join(problems))
    return mesh.with_quality(quality)


def _run_worker(request: Path, result: Path, deadline: float, timeout_s: float, source: str) -> None:
    """Run the gmsh worker until ``deadline`` (time.monotonic); ``timeout_s`` is for the message."""
    command = [sys.executable, "-m", "femvalid.meshing.worker", str(request), str(result)]
    started = time.monotonic()
    # A session of its own, so the whole group (gmsh's threads included) can be killed.
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise _Timeout(source, f"gmsh did not finish within {timeout_s:g} s and was killed") from None
    except BaseException:
        _kill(proc)
        raise
    if proc.returncode != 0:
        lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        if proc.returncode < 0:
            why = f"gmsh crashed ({signal.Signals(-proc.returncode).name})"
        else:
            why = lines[-1] if lines else f"gmsh exited with status {proc.returncode}"
        raise MeshingError(source, f"meshing failed after {time.monotonic() - started:.1f} s: {why}")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
