"""Surface → tetrahedra, with gmsh in a child process that is killed on timeout."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femvalid.errors import GeometryError, InputError, MeshingError
from femvalid.fem.ordering import renumbered
from femvalid.geometry import stl as _stl
from femvalid.geometry.surface import Surface
from femvalid.meshing.boundary import SURFACE_MODES, BoundaryChoice, choose_boundary, shell_volumes
from femvalid.meshing.high_order import elevate_to_quadratic, jacobian_ratio
from femvalid.meshing.quality import MeshQuality, aspect_ratio, scaled_jacobian
from femvalid.meshing.volume_mesh import VolumeMesh
from femvalid.meshing.worker import ORPHANED, OVERTIME, TEMP_PREFIX

__all__ = ["MeshSettings", "mesh_surface", "default_size_mm", "check_meshable", "check_mesh_size", "estimate_mesh",
           "check_resample_size", "MAX_MESH_TRIANGLES", "MAX_DIRECT_TRIANGLES", "MAX_MESH_ELEMENTS"]

#: Most STL triangles gmsh is given. Its classification of the facets into surfaces
#: is the bottleneck (measured on a torus, 2 cores: `femvalid mesh` of 1 M triangles
#: 86 s and 1.2 GB in all; at 3 M the classification alone takes 145 s and rebuilding
#: the geometry 55 s more, 3.1 GB), and an STL this fine holds far more detail than a
#: mesh for stresses needs: beyond it, ``surface="auto"`` resamples the surface at the
#: mesh size first (:func:`femvalid.geometry.resample.resample_surface`; a 3.6 M-triangle
#: lattice cage at 0.15 mm: 45 s, then gmsh keeps the 630 k contour triangles).
MAX_DIRECT_TRIANGLES = 1_000_000
#: Most STL triangles femvalid meshes at all: what it reads.
MAX_MESH_TRIANGLES = _stl.MAX_TRIANGLES


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
    refine_near_mm : tuple of (x, y, z) points, optional
        Points (mm) where the mesh is ``refine_near_size_mm``, the size growing by
        ``refine_near_growth`` mm per mm of distance from the nearest of them up to the
        size elsewhere: a line refined by sampling it (a foam block's edge along an
        implant's footprint, where the stress is singular).
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
    refine_near_mm: tuple | None = None
    refine_near_size_mm: float | None = None
    refine_near_growth: float = 0.5
    surface: str = "auto"

    def __post_init__(self):
        if not (self.size_mm > 0 and math.isfinite(self.size_mm)):
            raise ValueError("mesh size must be a positive, finite length (mm)")
        if not self.timeout_s > 0:
            raise ValueError("timeout must be a positive number of seconds")
        if self.order not in (1, 2):
            raise ValueError("element order must be 1 or 2")
        if self.surface not in SURFACE_MODES:
            raise ValueError(f"surface must be one of {', '.join(SURFACE_MODES)}")
        if self.refine_near_mm and not (self.refine_near_growth > 0 and (self.refine_near_size_mm or 1.0) > 0):
            raise ValueError("refine_near needs a positive size and growth")


def check_meshable(triangles: int, source: str = "<surface>") -> None:
    """Refuse a surface with more than :data:`MAX_MESH_TRIANGLES` triangles (what
    femvalid reads); more than :data:`MAX_DIRECT_TRIANGLES` are resampled, not refused.

    Raises
    ------
    GeometryError
        Naming the count and the limit (exit status 2: the user has to coarsen the STL).
    """
    if triangles > MAX_MESH_TRIANGLES:
        raise GeometryError(
            source,
            f"{triangles} triangles, more than femvalid meshes (limit {MAX_MESH_TRIANGLES}); "
            "export the STL with a coarser chord tolerance",
        )


#: Most tetrahedra femvalid meshes (linear count): gmsh needs about 1 kB per
#: tetrahedron, and the solver far more per node than that.
MAX_MESH_ELEMENTS = 30_000_000
#: Peak bytes per linear tetrahedron while meshing (gmsh, the copies into numpy, the
#: quality metrics), rounded up from measurements on the example implants.
MESH_BYTES_PER_ELEMENT = 1000.0
#: Resident memory of the mesher before the first element: interpreter, gmsh.
MESH_BASE_BYTES = 150e6


def _ratio(a: float, b: float, power: int) -> float:
    """a / b**power, infinite where it overflows (a size of 1e-300 mm)."""
    try:
        return a / b**power
    except (OverflowError, ZeroDivisionError):
        return math.inf


def estimate_mesh(volume_mm3: float, area_mm2: float, size_mm: float, order: int = 1) -> dict:
    """Rough counts of a mesh at ``size_mm`` from the part's volume and area (meant to err high).

    Linear tetrahedra ≈ 6·V/h³ + 3·A/h² (fitted to the example cage at 1 and 0.5 mm
    within 20 %, high); nodes ≈ V/h³ + 2·A/h², about seven times as many for quadratic
    ones. ``bytes`` is the mesher's peak memory.
    """
    volume, area = abs(float(volume_mm3)), abs(float(area_mm2))
    elements = 6.0 * _ratio(volume, size_mm, 3) + 3.0 * _ratio(area, size_mm, 2)
    nodes = (_ratio(volume, size_mm, 3) + 2.0 * _ratio(area, size_mm, 2)) * (7.0 if order == 2 else 1.0)
    memory = MESH_BASE_BYTES + MESH_BYTES_PER_ELEMENT * elements * (2.0 if order == 2 else 1.0)
    return {"elements": elements, "nodes": nodes, "bytes": memory}


def _count(value: float) -> str:
    return "more than 10^300" if not math.isfinite(value) else (f"{value:.2g}" if value >= 1e6 else f"{value:.0f}")


def _gigabytes(value: float) -> str:
    return "more than any machine has" if not math.isfinite(value) or value > 1e18 else f"{value / 1e9:.3g} GB"


def check_mesh_size(surface: Surface, size_mm: float, order: int = 1, source: str = "<surface>",
                    available_bytes: float | None = None, extra_bytes_per_node: float = 0.0,
                    what: str = "--size") -> dict:
    """Refuse, before meshing, an element size that is not a length, that is larger than
    the part, or whose mesh would not fit (more than :data:`MAX_MESH_ELEMENTS`
    elements, or more memory than ``available_bytes``); returns the estimate.

    ``extra_bytes_per_node`` adds what the work after meshing needs per node (the solve).

    Raises
    ------
    InputError
        Naming the size, the estimate and what would fit (exit status 2).
    """
    try:
        size = float(size_mm)
    except (TypeError, ValueError):
        raise InputError(source, f"{what} must be a length in mm, got {size_mm!r}") from None
    if not (math.isfinite(size) and size > 0):
        raise InputError(source, f"{what} must be a positive, finite length in mm, got {size:g}")
    largest = float(np.max(surface.extent))
    if size > largest:
        raise InputError(source, f"{what} {size:g} mm is larger than the part (largest dimension {largest:.4g} mm); "
                                 f"give a size below {largest:.3g} mm, such as {default_size_mm(surface):g} mm")
    estimate = estimate_mesh(surface.signed_volume, surface.area, size, order)
    estimate["bytes"] += extra_bytes_per_node * estimate["nodes"]
    limit = MAX_MESH_ELEMENTS
    fits_elements = estimate["elements"] <= limit
    fits_memory = available_bytes is None or estimate["bytes"] <= available_bytes
    if not (fits_elements and fits_memory):
        smallest = _smallest_size(surface, order, available_bytes, extra_bytes_per_node)
        why = (f"more than femvalid meshes (limit {limit:.2g} elements)" if not fits_elements else
               f"more than the {available_bytes / 1e9:.3g} GB of memory available")
        raise InputError(source, f"{what} {size:g} mm would give about {_count(estimate['elements'])} tetrahedra "
                                 f"and need about {_gigabytes(estimate['bytes'])}, {why}; "
                                 f"use a size of at least {smallest:.3g} mm")
    return estimate


def _smallest_size(surface: Surface, order: int, available_bytes: float | None, extra_bytes_per_node: float) -> float:
    """The smallest size whose estimate fits both limits (bisection on a monotone estimate)."""
    lo, hi = 1e-6, float(np.max(surface.extent))

    def fits(h):
        e = estimate_mesh(surface.signed_volume, surface.area, h, order)
        memory = e["bytes"] + extra_bytes_per_node * e["nodes"]
        return e["elements"] <= MAX_MESH_ELEMENTS and (available_bytes is None or memory <= available_bytes)

    if not fits(hi):
        return hi
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def available_memory_bytes() -> float | None:
    """MemAvailable from /proc/meminfo, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_resample_size(surface: Surface, size_mm: float, source: str = "<surface>",
                        available_bytes: float | None = None) -> float:
    """Refuse, before any memory is taken, resampling ``surface`` at ``size_mm`` when its
    grid and samples would need more than ``available_bytes``; returns the estimate (bytes).

    Raises
    ------
    InputError
        Naming the estimate and what would fit (exit status 2).
    """
    from femvalid.geometry.resample import estimate_resample_bytes

    need = estimate_resample_bytes(surface, size_mm)
    if available_bytes is not None and need > available_bytes:
        lo, hi = 1e-6, float(np.max(surface.extent))
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (lo, mid) if estimate_resample_bytes(surface, mid) <= available_bytes else (mid, hi)
        raise InputError(source, f"resampling the {len(surface.faces)} triangles at {size_mm:g} mm would need about "
                                 f"{_gigabytes(need)}, more than the {available_bytes / 1e9:.3g} GB of memory "
                                 f"available; use a size of at least {hi:.3g} mm")
    return need


class _Timeout(MeshingError):
    """gmsh was killed: no time is left to try the other boundary."""


def mesh_surface(surface: Surface, settings: MeshSettings, source: str = "<surface>") -> VolumeMesh:
    """Mesh a checked, closed surface into tetrahedra and check their quality.

    The quality report says which boundary mesh was used (``surface``: "keep",
    "remesh" or "contour", and why). A surface of more than
    :data:`MAX_DIRECT_TRIANGLES` triangles (with ``surface="auto"``), or any with
    ``surface="contour"``, is resampled at the mesh size first and the resampled
    triangles are kept as the boundary; the volume is still checked against the
    given surface's, and the quality report's ``resampling`` holds the resampling's
    volume error and Hausdorff distance.

    Raises
    ------
    GeometryError
        The surface has more than :data:`MAX_MESH_TRIANGLES` triangles.
    InputError
        The size would give more than :data:`MAX_MESH_ELEMENTS` tetrahedra, or its
        resampling would not fit in the memory available.
    MeshingError
        gmsh failed or timed out, or the mesh fails the quality checks (inverted or
        near-degenerate elements, volume off by more than 0.5 %).
    """
    check_meshable(len(surface.faces), source)
    elements = estimate_mesh(surface.signed_volume, surface.area, settings.size_mm, settings.order)["elements"]
    if elements > MAX_MESH_ELEMENTS:  # callers check the size first (check_mesh_size); this is the backstop
        raise InputError(source, f"mesh size {settings.size_mm:g} mm would give about {_count(elements)} tetrahedra, "
                                 f"more than femvalid meshes (limit {MAX_MESH_ELEMENTS:.2g})")
    if settings.surface == "contour" or (settings.surface == "auto" and len(surface.faces) > MAX_DIRECT_TRIANGLES):
        return _mesh_resampled(surface, settings, source)
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


def _mesh_resampled(surface: Surface, settings: MeshSettings, source: str) -> VolumeMesh:
    """Resample the surface at the mesh size (the refinement box's size, if finer), then
    mesh it keeping the resampled triangles; quality judged against ``surface``."""
    from femvalid.geometry.resample import SHIFTS, resample_surface

    size = min(settings.size_mm, settings.refine_size_mm or math.inf)
    check_resample_size(surface, size, source, available_memory_bytes())
    why = ("contour asked for" if settings.surface == "contour" else
           f"{len(surface.faces)} triangles, more than gmsh is given (limit {MAX_DIRECT_TRIANGLES})")
    deadline = time.monotonic() + settings.timeout_s  # gmsh's time, both tries together
    failed = ""
    for attempt, shift in enumerate(SHIFTS):
        try:
            resampled, info = resample_surface(surface, size, shift=shift)
        except ValueError as exc:
            raise MeshingError(source, f"resampling the surface failed: {exc}") from None
        retry = f" (on a grid shifted by {shift:.3f} voxel: gmsh failed on the first: {failed})" if attempt else ""
        choice = BoundaryChoice("contour", f"{why}: {info.summary()}{retry}")
        try:
            return _mesh(resampled, settings, choice, deadline, source, reference=surface,
                         resampling={**info.to_dict(), "grid_shift": shift})
        except _Timeout:
            raise
        except MeshingError as exc:
            # A rare coincidence of grid and geometry (a flat tetrahedron forced at an
            # edge) is gone on another grid; a size too coarse for the part is not.
            if attempt == len(SHIFTS) - 1 or "volume" in exc.reason:
                raise
            failed = exc.reason


def _mesh(surface: Surface, settings: MeshSettings, choice: BoundaryChoice, deadline: float,
          source: str, reference: Surface | None = None, resampling: dict | None = None) -> VolumeMesh:
    """One meshing with the chosen boundary, checked for quality.

    ``reference`` is the surface the mesh must bound (its volume, the quadratic
    nodes' place) when ``surface`` is its resampling; by default ``surface`` itself.
    """
    reference = surface if reference is None else reference
    keep = choice.mode in ("keep", "contour")
    remove_orphaned_folders()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True) as tmp:
        request, result = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        shells = shell_volumes(surface) if keep else (np.zeros(0), np.zeros(0))
        np.savez(
            request,
            vertices=surface.vertices,
            faces=surface.faces,
            size=settings.size_mm,
            threads=settings.threads,
            angle_deg=settings.angle_deg,
            refine=np.array([*settings.refine_box_mm, settings.refine_size_mm, settings.refine_transition_mm])
            if settings.refine_box_mm is not None else np.zeros(0),
            near=np.array(settings.refine_near_mm or np.zeros((0, 3)), float).reshape(-1, 3),
            near_sizes=np.array([settings.refine_near_size_mm or settings.size_mm, settings.refine_near_growth]),
            surface=np.array("keep" if keep else "remesh"),
            face_shell=shells[0],
            shell_owner=shells[1],
        )
        _run_worker(request, result, deadline, settings.timeout_s, source)
        with np.load(result, allow_pickle=False) as data:
            nodes, elements, sicn = data["nodes"], data["elements"], data["sicn"]
            seconds = {"geometry": float(data["seconds_geometry"]), "mesh": float(data["seconds_mesh"])}
    curved, straightened = None, 0
    if settings.order == 2:
        nodes, elements, straightened = elevate_to_quadratic(nodes, elements, reference)
    # Numbered for locality (femvalid.fem.ordering): gmsh's insertion order made the solve wait on memory.
    nodes, elements, _, element_order = renumbered(nodes, elements)
    sicn = sicn[element_order]
    corners = nodes[elements[:, :4]]
    if settings.order == 2:
        curved = jacobian_ratio(nodes, elements)
    mesh = VolumeMesh(nodes, elements, size_mm=settings.size_mm)
    quality = MeshQuality(
        sicn=sicn,
        jacobian_ratio=curved,
        straightened_midside_nodes=straightened,
        scaled_jacobian=scaled_jacobian(corners),
        aspect_ratio=aspect_ratio(corners),
        volume_mm3=mesh.volume,
        reference_volume_mm3=reference.signed_volume,
        surface=choice.mode,
        surface_reason=choice.reason,
        gmsh_seconds=seconds,
        resampling=resampling,
    )
    problems = quality.problems()
    if problems:
        raise MeshingError(source, "mesh rejected: " + "; ".join(problems))
    return mesh.with_quality(quality)


#: The worker's own deadline comes this long after the parent's, so that the parent,
#: when alive, is the one that kills it and reports the timeout.
WORKER_GRACE_S = 5.0
#: Environment variable naming the femvalid command's PID for the processes under it (pool
#: workers): a gmsh worker also ends when that process is gone.
MAIN_PID_VARIABLE = "FEMVALID_MAIN_PID"
_FOLDER_PID = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-")


def remove_orphaned_folders(root: str | Path | None = None) -> int:
    """Remove the temporary folders of meshings whose femvalid process no longer exists; returns how many.

    A worker removes its folder when its parent dies; this catches what a machine
    crash or a kill of both leaves behind.
    """
    root = Path(root or tempfile.gettempdir())
    count = 0
    try:
        entries = list(root.glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return 0
    for folder in entries:
        match = _FOLDER_PID.match(folder.name)
        if not match or not folder.is_dir() or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # its process is alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue  # another user's process, or a name that is not a PID
        shutil.rmtree(folder, ignore_errors=True)
        count += 1
    return count


def _ancestors() -> list[int]:
    """PIDs above this process, nearest first (Linux /proc), up to 64 of them."""
    chain, pid = [], os.getpid()
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
            pid = int(stat[stat.rfind(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
        chain.append(pid)
    return chain


def _watched_processes() -> list[str]:
    """``PID:START`` of the femvalid command above this process when that is not the parent itself."""
    from femvalid.meshing.worker import process_start_time

    try:
        main = int(os.environ.get(MAIN_PID_VARIABLE, ""))
    except ValueError:
        return []
    if main == os.getpid() or main not in _ancestors():
        return []
    start = process_start_time(main)
    return [f"{main}:{start}"] if start else []


def _run_worker(request: Path, result: Path, deadline: float, timeout_s: float, source: str) -> None:
    """Run the gmsh worker until ``deadline`` (time.monotonic); ``timeout_s`` is for the message.

    The worker gets the read end of a pipe whose write end only this process holds,
    and its own deadline: it ends itself, removing its temporary folder, when this
    process is gone (SIGKILL included) or the deadline has passed.
    """
    remaining = max(deadline - time.monotonic(), 0.0)
    lifeline_r, lifeline_w = os.pipe()  # both ends non-inheritable; the child gets the read end only
    command = [sys.executable, "-m", "femvalid.meshing.worker", str(request), str(result),
               "--parent-fd", str(lifeline_r), "--parent", str(os.getpid()),
               "--deadline", repr(remaining + WORKER_GRACE_S)]
    for watched in _watched_processes():
        command += ["--watch", watched]
    started = time.monotonic()
    try:
        # A session of its own, so the whole group (gmsh's threads included) can be killed.
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                                pass_fds=(lifeline_r,))
    except BaseException:
        os.close(lifeline_w)
        raise
    finally:
        os.close(lifeline_r)
    try:
        _, stderr = proc.communicate(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise _Timeout(source, f"gmsh did not finish within {timeout_s:g} s and was killed") from None
    except BaseException:
        _kill(proc)
        raise
    finally:
        os.close(lifeline_w)
    if proc.returncode != 0:
        lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            why = f"gmsh crashed ({name})"
        else:
            why = lines[-1] if lines else f"gmsh exited with status {proc.returncode}"
        failure = _Timeout if proc.returncode in (ORPHANED, OVERTIME) else MeshingError  # stopped: no second try
        raise failure(source, f"meshing failed after {time.monotonic() - started:.1f} s: {why}")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
