"""The gmsh side of meshing, run as a separate process.

    python -m femvalid.meshing.worker INPUT.npz OUTPUT.npz

INPUT holds the checked surface (``vertices``, ``faces``) and the settings
(``size``, ``threads``, ``angle_deg``, ``refine``, ``surface`` "remesh" or "keep";
"keep" also needs ``face_shell`` and ``shell_owner`` from
:func:`femvalid.meshing.boundary.shell_volumes`). OUTPUT gets linear tetrahedra as
``nodes``, ``elements`` and ``sicn``, ``seconds_geometry`` (classifying and
rebuilding the surfaces, or setting up the kept triangles) and ``seconds_mesh``
(gmsh's mesh generation), and ``gmsh_version``. The parent kills this process
on timeout, because gmsh can hang on a bad surface and ignores SIGTERM. Files are
plain NPZ (no pickles).

The worker never outlives the femvalid process that started it (options
``--parent-fd FD --parent PID [--watch PID:START ...] --deadline S``): a thread watches
the read end of a pipe whose write end only the parent holds (end of file: the parent
is gone, however it ended), the parent-death signal (``PR_SET_PDEATHSIG``, Linux),
the processes in ``--watch`` (the femvalid command above a pool worker) and its own
deadline. gmsh's calls release the GIL, so the thread runs while gmsh works; it then
removes the worker's temporary folder and ends the process.
"""

from __future__ import annotations

import argparse
import math
import os
import select
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from femvalid._gmsh import gmsh_session


def mesh_volume(vertices, faces, size, threads=1, angle_deg=40.0, refine=None, keep=None, near=None):
    """Tetrahedralise a closed surface with gmsh; returns (nodes, tets, sicn, seconds).

    ``refine`` = (xmin, ymin, zmin, xmax, ymax, zmax, size_inside, transition) asks
    for a finer size inside a box, growing to ``size`` over ``transition`` mm.
    ``near`` = (points (m, 3), (size_at_points, growth)) asks for ``size_at_points`` at
    the points, growing by ``growth`` mm per mm of distance from them.
    ``keep`` = (shell of each face, owner of each shell) keeps the triangles as the
    boundary mesh; without it the surface is remeshed at ``size``. ``seconds`` is
    (geometry, mesh generation) time, s.
    """
    with gmsh_session(threads=threads) as gmsh:
        if _LIFELINE is not None:
            _LIFELINE.arm_signals()  # gmsh.initialize puts SIGTERM and SIGHUP back to their defaults
        mesh = gmsh.model.mesh
        started = time.perf_counter()
        if keep is None:
            _remeshable_surfaces(gmsh, vertices, faces, angle_deg)
        else:
            _kept_surfaces(gmsh, vertices, faces, *keep)
        gmsh.model.geo.synchronize()
        _set_sizes(gmsh, size, refine, near)
        geometry_done = time.perf_counter()
        # One generate(3): a separate generate(2) first was seen to give another mesh.
        mesh.generate(3)
        seconds = (geometry_done - started, time.perf_counter() - geometry_done)
        tags, conn = mesh.getElementsByType(4)
        if len(tags) == 0:
            raise RuntimeError("gmsh produced no tetrahedra")
        sicn = np.asarray(mesh.getElementQualities(tags, "minSICN"))
        node_tags, coords, _ = mesh.getNodes()
        index = np.zeros(int(node_tags.max()) + 1, dtype=np.int64)
        index[node_tags.astype(np.int64)] = np.arange(len(node_tags))
        elements = index[conn.astype(np.int64)].reshape(len(tags), 4)
        used, compact = np.unique(elements, return_inverse=True)
        nodes = coords.reshape(-1, 3)[used]
        return nodes, compact.reshape(elements.shape), sicn, seconds


def _remeshable_surfaces(gmsh, vertices, faces, angle_deg) -> None:
    """STL → surfaces split at feature edges, rebuilt as geometry gmsh can remesh."""
    mesh = gmsh.model.mesh
    surface = gmsh.model.addDiscreteEntity(2)
    mesh.addNodes(2, surface, np.arange(1, len(vertices) + 1), np.ravel(vertices))
    mesh.addElementsByType(surface, 2, [], np.ravel(faces) + 1)
    mesh.classifySurfaces(math.radians(angle_deg), True, True, math.pi)
    mesh.createGeometry()
    _add_volumes(gmsh)


def _kept_surfaces(gmsh, vertices, faces, face_shell, shell_owner) -> None:
    """One discrete surface per shell, its triangles kept as they are (no geometry,
    so gmsh cannot remesh them); one volume per outer shell, its cavities as holes.

    One surface loop around all shells fails in HXT when there is a cavity, hence a
    surface per shell.
    """
    mesh = gmsh.model.mesh
    count = len(shell_owner)
    surfaces = [gmsh.model.addDiscreteEntity(2) for _ in range(count)]
    # Each node goes on the surface of the first shell that uses it.
    node_shell = np.full(len(vertices), count)
    np.minimum.at(node_shell, np.ravel(faces), np.repeat(face_shell, 3))
    for k, surface in enumerate(surfaces):
        nodes = np.flatnonzero(node_shell == k)
        mesh.addNodes(2, surface, nodes + 1, np.ravel(vertices[nodes]))
        mesh.addElementsByType(surface, 2, [], np.ravel(faces[face_shell == k]) + 1)
    loops = [gmsh.model.geo.addSurfaceLoop([surface]) for surface in surfaces]
    for k in np.flatnonzero(shell_owner == np.arange(count)):
        holes = [loops[j] for j in np.flatnonzero(shell_owner == k) if j != k]
        gmsh.model.geo.addVolume([loops[k], *holes])


def _set_sizes(gmsh, size, refine, near=None) -> None:
    mesh = gmsh.model.mesh
    gmsh.option.setNumber("Mesh.MeshSizeMax", size)
    smallest, fields = size, []
    if refine is not None and len(refine):
        x0, y0, z0, x1, y1, z1, inside, transition = map(float, refine)
        box = mesh.field.add("Box")
        for key, value in dict(VIn=inside, VOut=size, XMin=x0, XMax=x1, YMin=y0, YMax=y1,
                               ZMin=z0, ZMax=z1, Thickness=transition).items():
            mesh.field.setNumber(box, key, value)
        fields.append(box)
        smallest = min(smallest, inside)
    if near is not None and len(near[0]):
        points, (at, growth) = near[0], map(float, near[1])
        tags = [gmsh.model.geo.addPoint(*p) for p in np.asarray(points, float).tolist()]
        gmsh.model.geo.synchronize()
        distance = mesh.field.add("Distance")
        mesh.field.setNumbers(distance, "PointsList", tags)
        threshold = mesh.field.add("Threshold")
        for key, value in dict(InField=distance, SizeMin=at, SizeMax=size, DistMin=0.0,
                               DistMax=max(size - at, 0.0) / growth).items():
            mesh.field.setNumber(threshold, key, value)
        fields.append(threshold)
        smallest = min(smallest, at)
    if len(fields) > 1:
        both = mesh.field.add("Min")
        mesh.field.setNumbers(both, "FieldsList", fields)
        fields = [both]
    if fields:
        mesh.field.setAsBackgroundMesh(fields[0])
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.1 * smallest)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT
    gmsh.option.setNumber("Mesh.Optimize", 1)


def _add_volumes(gmsh) -> None:
    """One volume per outer shell, with the cavities inside it as holes.

    Surfaces that share a curve belong to one shell; a shell whose bounding box
    lies inside another's is a cavity of it.
    """
    surfaces = [tag for _, tag in gmsh.model.getEntities(2)]
    parent = {s: s for s in surfaces}

    def find(s):
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    owner = {}
    for s in surfaces:
        for _, curve in gmsh.model.getBoundary([(2, s)], oriented=False):
            if curve in owner:
                parent[find(s)] = find(owner[curve])
            else:
                owner[curve] = s
    groups = {}
    for s in surfaces:
        groups.setdefault(find(s), []).append(s)
    shells = list(groups.values())
    boxes = [_bbox(gmsh, shell) for shell in shells]

    def inside(i, j):  # is shell i's box strictly inside shell j's?
        (lo_i, hi_i), (lo_j, hi_j) = boxes[i], boxes[j]
        return i != j and np.all(lo_i > lo_j) and np.all(hi_i < hi_j)

    depth = [sum(inside(i, j) for j in range(len(shells))) for i in range(len(shells))]
    loops = [gmsh.model.geo.addSurfaceLoop(shell) for shell in shells]
    for i in range(len(shells)):
        if depth[i] % 2 == 0:
            holes = [loops[j] for j in range(len(shells)) if depth[j] == depth[i] + 1 and inside(j, i)]
            gmsh.model.geo.addVolume([loops[i], *holes])


def _bbox(gmsh, surfaces):
    boxes = np.array([gmsh.model.getBoundingBox(2, s) for s in surfaces])
    return boxes[:, :3].min(axis=0), boxes[:, 3:].max(axis=0)


#: Name prefix of the temporary folders the parent makes for a worker (the only ones it removes).
TEMP_PREFIX = "femvalid-mesh-"
#: Exit status of a worker that ended itself: its parent was gone, or its deadline passed.
ORPHANED, OVERTIME = 125, 124
_PR_SET_PDEATHSIG = 1


def process_start_time(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot, /proc/PID/stat field 22), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else None


def _set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _remove_folder(folder: Path | None) -> None:
    if folder is not None and folder.name.startswith(TEMP_PREFIX) and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def _ignore(signum, frame) -> None:
    """The signal was written into the wake-up pipe; the lifeline thread ends the process."""


#: The running worker's lifeline, once started.
_LIFELINE = None


class Lifeline:
    """Ends this process (removing ``folder``) when the parent is gone or the deadline passes."""

    def __init__(self, parent_fd: int | None, parent: int | None, watch: list[tuple[int, str]],
                 deadline_s: float | None, folder: Path | None):
        self.parent_fd, self.parent, self.watch, self.folder = parent_fd, parent, watch, folder
        self.deadline = None if deadline_s is None else time.monotonic() + deadline_s
        self.deadline_s = deadline_s
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)

    def arm_signals(self) -> None:
        """A Python handler makes the C-level handler write the signal into the wake-up
        pipe even while gmsh holds the main thread; the watcher thread acts on it."""
        if threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, _ignore)

    def start(self) -> None:
        global _LIFELINE
        _LIFELINE = self
        self.arm_signals()
        _set_parent_death_signal(signal.SIGTERM)
        if self.parent is not None and os.getppid() != self.parent:
            self._end("the femvalid process that started it ended before it began", ORPHANED)
        threading.Thread(target=self._run, name="femvalid-lifeline", daemon=True).start()

    def _watched_gone(self) -> bool:
        return any(process_start_time(pid) != start for pid, start in self.watch)

    def _run(self) -> None:
        fds = [self._wake_r] + ([self.parent_fd] if self.parent_fd is not None else [])
        while True:
            wait = 0.5 if self.deadline is None else max(0.0, min(0.5, self.deadline - time.monotonic()))
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except (OSError, ValueError):
                ready = []
            if self.parent_fd is not None and self.parent_fd in ready:
                self._end("its parent process ended", ORPHANED)
            if self._wake_r in ready:
                self._end("it was asked to stop (SIGTERM or SIGHUP, or its parent ended)", ORPHANED)
            if self.parent is not None and os.getppid() != self.parent or self._watched_gone():
                self._end("the femvalid process that started it ended", ORPHANED)
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self._end(f"gmsh did not finish within {self.deadline_s:g} s (the worker's own deadline)", OVERTIME)

    def _end(self, why: str, status: int) -> None:
        _remove_folder(self.folder)
        try:
            os.write(2, f"gmsh: worker stopped: {why}\n".encode())
        except OSError:
            pass
        os._exit(status)


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m femvalid.meshing.worker")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--parent-fd", type=int, help="read end of a pipe only the parent writes to")
    parser.add_argument("--parent", type=int, help="the parent's PID")
    parser.add_argument("--watch", action="append", default=[], metavar="PID:START",
                        help="end when this process (with this start time) is gone")
    parser.add_argument("--deadline", type=float, help="end after this many seconds")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    options = _arguments(sys.argv[1:] if argv is None else argv)
    source, target = options.source, options.target
    folder = Path(source).resolve().parent
    watch = [(int(pid), start) for pid, start in (w.split(":", 1) for w in options.watch)]
    Lifeline(options.parent_fd, options.parent, watch, options.deadline,
             folder if folder.name.startswith(TEMP_PREFIX) else None).start()
    with np.load(source, allow_pickle=False) as data:
        args = {k: data[k] for k in data.files}
    try:
        import gmsh

        keep = (args["face_shell"], args["shell_owner"]) if str(args.get("surface", "remesh")) == "keep" else None
        nodes, elements, sicn, seconds = mesh_volume(
            args["vertices"],
            args["faces"],
            float(args["size"]),
            int(args["threads"]),
            float(args["angle_deg"]),
            args.get("refine"),
            keep,
            (args["near"], args["near_sizes"]) if "near" in args else None,
        )
    except Exception as exc:  # gmsh raises bare Exceptions; report one line to the parent
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"gmsh: {message}", file=sys.stderr)
        return 1
    np.savez(target, nodes=nodes, elements=elements, sicn=sicn, seconds_geometry=seconds[0],
             seconds_mesh=seconds[1], gmsh_version=np.array(gmsh.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
