"""Meshing: volumes against closed forms, P2 geometry, quality, timeout."""

import time

import meshio
import numpy as np
import pytest

from femvalid.errors import MeshingError
from femvalid.geometry import InterbodyCage, Surface, VertebralBodyReplacement
from femvalid.meshing import MeshSettings, mesh_surface, write_vtu
from femvalid.fem.loads import boundary_faces_of
from femvalid.meshing.high_order import closest_points_on_triangles
from femvalid.meshing.quality import aspect_ratio, scaled_jacobian
from tests.helpers import box_triangles

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
