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

from femvalid.errors import MeshingError
from femvalid.geometry.surface import Surface
from femvalid.meshing.high_order import elevate_to_quadratic, jacobian_ratio
from femvalid.meshing.quality import MeshQuality, aspect_ratio, scaled_jacobian
from femvalid.meshing.volume_mesh import VolumeMesh

__all__ = ["MeshSettings", "mesh_surface", "default_size_mm"]


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
    """

    size_mm: float
    order: int = 1
    timeout_s: float = 600.0
    threads: int = 1
    angle_deg: float = 40.0
    refine_box_mm: tuple | None = None
    refine_size_mm: float | None = None
    refine_transition_mm: float = 0.0

    def __post_init__(self):
        if not self.size_mm > 0:
            raise ValueError("mesh size must be positive (mm)")
        if self.order not in (1, 2):
            raise ValueError("element order must be 1 or 2")


def mesh_surface(surface: Surface, settings: MeshSettings, source: str = "<surface>") -> VolumeMesh:
    """Mesh a checked, closed surface into tetrahedra and check their quality.

    Raises
    ------
    MeshingError
        gmsh failed or timed out, or the mesh fails the quality checks (inverted or
        near-degenerate elements, volume off by more than 0.5 %).
    """
    with tempfile.TemporaryDirectory(prefix="femvalid-mesh-") as tmp:
        request, result = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(
            request,
            vertices=surface.vertices,
            faces=surface.faces,
            size=settings.size_mm,
            threads=settings.threads,
            angle_deg=settings.angle_deg,
            refine=np.array([*settings.refine_box_mm, settings.refine_size_mm, settings.refine_transition_mm])
            if settings.refine_box_mm is not None else np.zeros(0),
        )
        _run_worker(request, result, settings.timeout_s, source)
        with np.load(result, allow_pickle=False) as data:
            nodes, elements, sicn = data["nodes"], data["elements"], data["sicn"]
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
    )
    problems = quality.problems()
    if problems:
        raise MeshingError(source, "mesh rejected: " + "; ".join(problems))
    return mesh.with_quality(quality)


def _run_worker(request: Path, result: Path, timeout_s: float, source: str) -> None:
    command = [sys.executable, "-m", "femvalid.meshing.worker", str(request), str(result)]
    started = time.monotonic()
    # A session of its own, so the whole group (gmsh's threads included) can be killed.
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise MeshingError(source, f"gmsh did not finish within {timeout_s:g} s and was killed") from None
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
