"""Meshing: volumes against closed forms, P2 geometry, quality, timeout, kept or remeshed boundary."""

import json
import time

import meshio
import numpy as np
import pytest

from femvalid.errors import MeshingError
from femvalid.geometry import InterbodyCage, Surface, VertebralBodyReplacement, write_stl
from femvalid.meshing import MeshSettings, mesh_surface, write_vtu
from femvalid.fem.loads import boundary_faces_of
from femvalid.meshing.boundary import choose_boundary
from femvalid.meshing.high_order import closest_points_on_triangles
from femvalid.meshing.quality import aspect_ratio, scaled_jacobian
from tests.helpers import box_triangles, run_cli

IMPLANTS = {
    "cage": InterbodyCage(),
    "cage-lordotic": InterbodyCage(lordosis_deg=8.0, window_length_mm=14.0),
    "cage-no-window": InterbodyCage(window_length_mm=0.0),
    "vbr": VertebralBodyReplacement(),
}


@pytest.fixture(scope="module")
def surfaces():
    return {name: implant.surface() for name, implant in IMPLANTS.items()}


@pytest.mark.parametrize("name", sorted(IMPLANTS))
def test_stl_volume_matches_closed_form(surfaces, name):
    assert surfaces[name].signed_volume == pytest.approx(IMPLANTS[name].analytic_volume_mm3, rel=1e-3)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", sorted(IMPLANTS))
def test_mesh_volume_within_half_percent(surfaces, name, order):
    mesh = mesh_surface(surfaces[name], MeshSettings(1.2, order))
    assert mesh.order == order
    assert mesh.volume == pytest.approx(IMPLANTS[name].analytic_volume_mm3, rel=5e-3)
    assert abs(mesh.quality.volume_error) < 5e-3
    assert mesh.quality.sicn.min() > 0
    assert (mesh.element_volumes > 0).all()


def test_box_mesh_is_exact():
    surface = Surface.from_triangles(box_triangles((0, 0, 0), (10, 4, 3)))
    for order in (1, 2):
        mesh = mesh_surface(surface, MeshSettings(1.0, order))
        assert mesh.volume == pytest.approx(120.0, rel=1e-12)


def test_quadratic_midside_nodes_on_the_stl(surfaces):
    """Boundary mid-side nodes lie on the STL surface, not on the straight edge."""
    surface = surfaces["vbr"]
    mesh = mesh_surface(surface, MeshSettings(2.0, 2))
    faces = boundary_faces_of(mesh.corners)
    edge_of = {frozenset(e): k for k, e in enumerate([(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)])}
    mids = set()
    for element in mesh.elements:
        for pair, k in edge_of.items():
            mids.add((tuple(sorted(element[list(pair)])), element[4 + k]))
    boundary_edges = {tuple(sorted(e)) for f in faces for e in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    on_boundary = np.array(sorted({m for e, m in mids if e in boundary_edges}))
    straight = np.array(sorted({m for e, m in mids if e not in boundary_edges}))
    points = mesh.nodes[on_boundary]
    # Exact distance to the STL by brute force over all facets near each point.
    nearest = closest_points_on_triangles(points, surface.triangles, candidates=64)
    distance = np.linalg.norm(nearest - points, axis=1)
    assert distance.max() < 1e-9
    # On the curved walls the nodes moved off the chord: they are curved, not straight.
    e = mesh.elements
    midpoint = 0.5 * (mesh.nodes[e[:, [0, 1, 0, 0, 1, 2]]] + mesh.nodes[e[:, [1, 2, 2, 3, 3, 3]]])
    offset = np.linalg.norm(mesh.nodes[e[:, 4:]] - midpoint, axis=2)
    assert offset.max() > 1e-3
    interior = np.isin(e[:, 4:], straight)
    assert offset[interior].max() < 1e-12


def test_closest_point_matches_brute_force():
    rng = np.random.default_rng(1)
    tri = rng.normal(size=(40, 3, 3))
    points = rng.normal(size=(300, 3)) * 2
    fast = closest_points_on_triangles(points, tri, candidates=40)
    # Brute force: dense sampling of each triangle gives an upper bound on the distance.
    u, v = np.meshgrid(np.linspace(0, 1, 60), np.linspace(0, 1, 60))
    keep = u + v <= 1
    u, v = u[keep], v[keep]
    samples = (tri[:, None, 0] + u[:, None] * (tri[:, None, 1] - tri[:, None, 0]) + v[:, None] * (tri[:, None, 2] - tri[:, None, 0])).reshape(-1, 3)
    brute = np.linalg.norm(points[:, None] - samples[None], axis=2).min(axis=1)
    exact = np.linalg.norm(fast - points, axis=1)
    assert (exact <= brute + 1e-12).all()
    assert (brute - exact).max() < 0.05


def test_quality_metrics_of_known_tets():
    regular = np.array([[1, -1, -1], [1, 1, 1], [-1, 1, -1], [-1, -1, 1]], float)  # positive volume
    flat = regular.copy()
    flat[3] = regular[:3].mean(axis=0) + [0, 0, 1e-9]
    inverted = regular[[1, 0, 2, 3]]
    sj = scaled_jacobian(np.array([regular, flat, inverted]))
    assert sj[0] == pytest.approx(1.0) and abs(sj[1]) < 1e-6 and sj[2] == pytest.approx(-1.0)
    assert aspect_ratio(regular[None])[0] == pytest.approx(1.0)


def test_timeout_kills_gmsh(surfaces):
    started = time.monotonic()
    with pytest.raises(MeshingError, match="did not finish within 1 s and was killed"):
        mesh_surface(surfaces["cage"], MeshSettings(0.12, 1, timeout_s=1.0))
    assert time.monotonic() - started < 5.0


def test_vtu_round_trip(tmp_path, surfaces):
    mesh = mesh_surface(surfaces["cage"], MeshSettings(1.5, 2))
    path = tmp_path / "cage.vtu"
    write_vtu(mesh, path)
    back = meshio.read(path)
    assert back.cells[0].type == "tetra10"
    np.testing.assert_array_equal(back.cells[0].data, mesh.elements)
    np.testing.assert_allclose(back.points, mesh.nodes)
    assert "quality_sicn" in back.cell_data and "region" in back.cell_data
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_meshing_is_reproducible(surfaces):
    a = mesh_surface(surfaces["cage"], MeshSettings(1.2, 2))
    b = mesh_surface(surfaces["cage"], MeshSettings(1.2, 2))
    np.testing.assert_array_equal(a.nodes, b.nodes)
    np.testing.assert_array_equal(a.elements, b.elements)


# -- boundary mesh: keep the STL's triangles or remesh them ------------------------

def fine_box_triangles(lo, hi, edge_mm: float) -> np.ndarray:
    """Outward triangles (n, 3, 3) of a box, each face a grid of squares of side ``edge_mm`` split in two."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    out = []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        gu = np.linspace(lo[u], hi[u], round((hi[u] - lo[u]) / edge_mm) + 1)
        gv = np.linspace(lo[v], hi[v], round((hi[v] - lo[v]) / edge_mm) + 1)
        for value, outward in ((lo[axis], -1.0), (hi[axis], 1.0)):
            grid = np.zeros((len(gu), len(gv), 3))
            grid[..., u], grid[..., v], grid[..., axis] = gu[:, None], gv[None, :], value
            a, b, c, d = grid[:-1, :-1], grid[1:, :-1], grid[1:, 1:], grid[:-1, 1:]
            tri = np.concatenate([np.stack([a, b, c], 2), np.stack([a, c, d], 2)]).reshape(-1, 3, 3)
            normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, axis]
            out.append(tri if normal[0] * outward > 0 else tri[:, ::-1])
    return np.concatenate(out)


FINE_BOXES = {  # name: (triangles, volume mm³), facets 0.5 mm
    "box": (fine_box_triangles((0, 0, 0), (10, 8, 6), 0.5), 480.0),
    "box-with-cavity": (np.concatenate([fine_box_triangles((0, 0, 0), (10, 8, 6), 0.5),
                                        fine_box_triangles((3, 3, 2), (6, 5, 4), 0.5)[:, ::-1]]), 468.0),
}


def _triangle_set(triangles: np.ndarray) -> list:
    """Triangles as sorted corner tuples, sorted: the same triangles compare equal, exactly."""
    return sorted(tuple(sorted(map(tuple, t))) for t in np.asarray(triangles).tolist())


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", sorted(FINE_BOXES))
def test_kept_triangles_are_the_mesh_boundary(name, order):
    """With ``surface="keep"`` the volume mesh's boundary faces are exactly the STL's triangles."""
    triangles, volume = FINE_BOXES[name]
    surface = Surface.from_triangles(triangles)
    mesh = mesh_surface(surface, MeshSettings(0.5, order, surface="keep"))
    assert mesh.quality.surface == "keep"
    faces = boundary_faces_of(mesh.corners)
    assert len(faces) == len(triangles)
    assert _triangle_set(mesh.nodes[faces]) == _triangle_set(triangles)
    assert mesh.volume == pytest.approx(volume, rel=1e-12)
    assert mesh.quality.sicn.min() > 0.1
    if order == 2:  # mid-side nodes are projected on the STL: on a flat facet that is the midpoint
        e = mesh.elements
        midpoint = 0.5 * (mesh.nodes[e[:, [0, 1, 0, 0, 1, 2]]] + mesh.nodes[e[:, [1, 2, 2, 3, 3, 3]]])
        assert np.abs(mesh.nodes[e[:, 4:]] - midpoint).max() < 1e-12
        assert mesh.quality.jacobian_ratio.min() == pytest.approx(1.0)


@pytest.mark.parametrize("stl, size_mm, expected", [
    ("fine", 0.5, "keep"),            # facets at the requested size and well shaped
    ("fine", 0.48, "keep"),           # edges up to 0.707 mm ≤ 1.5 × 0.48 mm
    ("fine", 0.7, "keep"),            # median edge 0.5 mm ≥ 0.7 mm / 1.5
    ("fine", 0.8, "remesh"),          # median edge 0.5 mm < 0.8 mm / 1.5: finer than asked for
    ("fine", 2.0, "remesh"),          # a fine STL meshed coarse
    ("fine", 0.3, "remesh"),          # facet diagonals longer than 1.5 × the size
    ("coarse", 0.5, "remesh"),        # 12 triangles
])
def test_auto_boundary_choice(stl, size_mm, expected):
    lo, hi = (0, 0, 0), (10, 8, 6)
    surface = Surface.from_triangles(fine_box_triangles(lo, hi, 0.5) if stl == "fine" else box_triangles(lo, hi))
    choice = choose_boundary(surface, size_mm)
    assert choice.mode == expected, choice.reason
    assert choose_boundary(surface, size_mm, "keep").mode == "keep"
    assert choose_boundary(surface, size_mm, "remesh").mode == "remesh"


def test_auto_remeshes_slivers_and_refinement_boxes():
    triangles = fine_box_triangles((0, 0, 0), (10, 8, 6), 0.5)
    stretched = Surface.from_triangles(triangles * [1.0, 1.0, 0.2])  # 0.5 × 0.1 mm squares: 11° angles
    choice = choose_boundary(stretched, 0.5)
    assert choice.mode == "remesh" and "angle" in choice.reason
    assert choose_boundary(Surface.from_triangles(triangles), 0.5, refined=True).mode == "remesh"
    with pytest.raises(ValueError, match="surface must be one of"):
        MeshSettings(1.0, surface="fast")


def test_auto_meshes_fine_and_coarse_stls():
    """auto keeps a fine STL at its size, and remeshes it (fewer, larger elements) when asked coarser."""
    surface = Surface.from_triangles(FINE_BOXES["box"][0])
    kept = mesh_surface(surface, MeshSettings(0.5, 1))
    coarse = mesh_surface(surface, MeshSettings(2.0, 1))
    assert (kept.quality.surface, coarse.quality.surface) == ("keep", "remesh")
    assert len(boundary_faces_of(coarse.corners)) < len(surface.faces) / 4
    assert coarse.volume == pytest.approx(480.0, rel=1e-9)
    assert kept.quality.to_dict()["surface"] == "keep" and "0.5 mm" in kept.quality.surface_reason


def test_auto_falls_back_to_remesh_when_kept_triangles_fail(monkeypatch):
    from femvalid.meshing import mesher

    real, modes = mesher._mesh, []

    def failing_keep(surface, settings, choice, deadline, source):
        modes.append(choice.mode)
        if choice.mode == "keep":
            raise MeshingError(source, "meshing failed after 0.1 s: gmsh: HXT 3D mesh failed")
        return real(surface, settings, choice, deadline, source)

    monkeypatch.setattr(mesher, "_mesh", failing_keep)
    surface = Surface.from_triangles(FINE_BOXES["box"][0])
    mesh = mesh_surface(surface, MeshSettings(0.5, 1))
    assert modes == ["keep", "remesh"]
    assert mesh.quality.surface == "remesh" and "HXT 3D mesh failed" in mesh.quality.surface_reason
    modes.clear()
    with pytest.raises(MeshingError, match="HXT"):  # asked for keep: no fallback
        mesh_surface(surface, MeshSettings(0.5, 1, surface="keep"))
    assert modes == ["keep"]


def test_cli_mesh_reports_the_boundary(tmp_path, capsys):
    stl = tmp_path / "fine.stl"
    write_stl(stl, FINE_BOXES["box"][0])
    out = tmp_path / "fine.vtu"
    status, text, err = run_cli(capsys, "mesh", stl, "-o", out, "--size", "0.5")
    assert status == 0, err
    assert "surface: kept the STL's triangles" in text and "tets/s" in text
    status, text, err = run_cli(capsys, "mesh", stl, "-o", out, "--size", "0.5", "--surface", "remesh", "--json",
                                "--force")
    assert status == 0, err
    result = json.loads(text)
    assert result["mesh"]["quality"]["surface"] == "remesh"
    assert result["mesh"]["tets_per_s"] > 0
