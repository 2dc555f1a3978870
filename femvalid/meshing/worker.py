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
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from femvalid._gmsh import gmsh_session


def mesh_volume(vertices, faces, size, threads=1, angle_deg=40.0, refine=None, keep=None):
    """Tetrahedralise a closed surface with gmsh; returns (nodes, tets, sicn, seconds).

    ``refine`` = (xmin, ymin, zmin, xmax, ymax, zmax, size_inside, transition) asks
    for a finer size inside a box, growing to ``size`` over ``transition`` mm.
    ``keep`` = (shell of each face, owner of each shell) keeps the triangles as the
    boundary mesh; without it the surface is remeshed at ``size``. ``seconds`` is
    (geometry, mesh generation) time, s.
    """
    with gmsh_session(threads=threads) as gmsh:
        mesh = gmsh.model.mesh
        started = time.perf_counter()
        if keep is None:
            _remeshable_surfaces(gmsh, vertices, faces, angle_deg)
        else:
            _kept_surfaces(gmsh, vertices, faces, *keep)
        gmsh.model.geo.synchronize()
        _set_sizes(gmsh, size, refine)
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


def _set_sizes(gmsh, size, refine) -> None:
    mesh = gmsh.model.mesh
    gmsh.option.setNumber("Mesh.MeshSizeMax", size)
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.1 * size)
    if refine is not None and len(refine):
        x0, y0, z0, x1, y1, z1, inside, transition = map(float, refine)
        box = mesh.field.add("Box")
        for key, value in dict(VIn=inside, VOut=size, XMin=x0, XMax=x1, YMin=y0, YMax=y1,
                               ZMin=z0, ZMax=z1, Thickness=transition).items():
            mesh.field.setNumber(box, key, value)
        mesh.field.setAsBackgroundMesh(box)
        gmsh.option.setNumber("Mesh.MeshSizeMin", 0.1 * min(size, inside))
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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    source, target = argv
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
