"""Geometry checks: what is rejected, what is repaired, and what is reported."""

import numpy as np
import pytest

from femvalid.errors import GeometryError
from femvalid.geometry import load_surface, write_stl
from tests.helpers import box_triangles

BOX = box_triangles((0, 0, 0), (20, 10, 8))
BOX_VOLUME = 20 * 10 * 8


def _load(tmp_path, triangles, **kwargs):
    path = tmp_path / "part.stl"
    write_stl(path, triangles)
    return load_surface(path, **kwargs)


def _rejected(tmp_path, triangles, fragment, **kwargs):
    with pytest.raises(GeometryError) as err:
        _load(tmp_path, triangles, **kwargs)
    assert fragment in err.value.reason
    assert err.value.report.valid is False
    return err.value.report


def test_valid_box_report(tmp_path):
    surface, r = _load(tmp_path, BOX)
    assert r.valid and r.watertight and r.manifold and r.winding_consistent and r.outward
    assert (r.triangles, r.vertices, r.shells) == (12, 8, 1)
    assert r.volume_mm3 == pytest.approx(BOX_VOLUME)
    assert r.area_mm2 == pytest.approx(2 * (200 + 160 + 80))
    assert r.extent_mm == [20, 10, 8]
    assert not r.warnings and not r.repairs


def test_inverted_winding_repaired(tmp_path):
    surface, r = _load(tmp_path, BOX[:, ::-1])
    assert surface.signed_volume == pytest.approx(BOX_VOLUME)
    assert not r.outward and any("inside-out" in w for w in r.warnings)


def test_inconsistent_winding_repaired(tmp_path, cage_surface):
    tri = cage_surface.triangles.copy()
    tri[::7] = tri[::7, ::-1]
    surface, r = _load(tmp_path, tri)
    assert not r.winding_consistent
    assert surface.signed_volume == pytest.approx(cage_surface.signed_volume, rel=1e-6)
    assert any(f"{len(tri[::7])} triangles re-wound" in w for w in r.warnings)


def test_stored_normals_disagreeing_is_a_warning(tmp_path):
    path = tmp_path / "n.stl"
    write_stl(path, BOX, binary=False)
    lines = []
    for line in path.read_text().splitlines():
        if line.strip().startswith("facet normal"):
            n = -np.array([float(v) for v in line.split()[2:]])
            line = f"facet normal {n[0]} {n[1]} {n[2]}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    surface, r = load_surface(path)
    assert surface.signed_volume == pytest.approx(BOX_VOLUME)
    assert r.normals_disagreeing == 12
    assert any("stored facet normals disagree" in w for w in r.warnings)


def test_open_surface_rejected_then_repaired(tmp_path, cage_surface):
    tri = cage_surface.triangles[5:]
    r = _rejected(tmp_path, tri, "open surface")
    assert r.boundary_edges > 0 and "--repair" in r.error
    surface, r = _load(tmp_path, tri, repair=True)
    assert r.watertight and any("closed holes" in m for m in r.repairs)
    assert surface.signed_volume == pytest.approx(cage_surface.signed_volume, rel=1e-3)


def test_duplicate_faces_rejected_then_removed(tmp_path):
    tri = np.concatenate([BOX, BOX[:2]])
    _rejected(tmp_path, tri, "2 duplicate triangles")
    surface, r = _load(tmp_path, tri, repair=True)
    assert len(surface.faces) == 12 and any("removed 2 duplicate" in m for m in r.repairs)


def test_nonmanifold_edge_rejected(tmp_path):
    # Two boxes sharing one edge: four faces meet there.
    tri = np.concatenate([BOX, box_triangles((20, 10, 0), (30, 20, 8))])
    _rejected(tmp_path, tri, "non-manifold")


def test_nan_rejected(tmp_path):
    tri = BOX.copy()
    tri[3, 1, 2] = np.nan
    tri[5, 0, 0] = np.inf
    _rejected(tmp_path, tri, "2 of 12 triangles have NaN or infinite coordinates")


def test_all_degenerate_rejected(tmp_path):
    tri = np.zeros((4, 3, 3))
    tri[:, :, 0] = [0, 1, 2]  # collinear points
    _rejected(tmp_path, tri, "all 4 triangles are degenerate")


def test_zero_volume_rejected(tmp_path):
    # A flat two-sided sheet, its sides split along different diagonals: closed and
    # consistently wound, but it encloses nothing.
    top = np.array([[[0, 0, 0], [10, 0, 0], [10, 10, 0]], [[0, 0, 0], [10, 10, 0], [0, 10, 0]]], float)
    bottom = np.array([[[0, 0, 0], [0, 10, 0], [10, 0, 0]], [[10, 0, 0], [0, 10, 0], [10, 10, 0]]], float)
    _rejected(tmp_path, np.concatenate([top, bottom]), "zero volume")


def test_intersecting_shells_rejected(tmp_path):
    tri = np.concatenate([BOX, box_triangles((15, 5, 4), (25, 15, 12))])
    r = _rejected(tmp_path, tri, "2 shells intersect")
    assert r.shells == 2


def test_crossing_shells_without_contained_vertices_rejected(tmp_path):
    # A plus sign: neither bar has a vertex inside the other.
    tri = np.concatenate([box_triangles((0, 4, 0), (20, 6, 2)), box_triangles((9, -5, -1), (11, 15, 3))])
    _rejected(tmp_path, tri, "shells intersect")


def test_separate_shells_accepted(tmp_path):
    tri = np.concatenate([BOX, box_triangles((30, 0, 0), (40, 10, 8))])
    surface, r = _load(tmp_path, tri)
    assert r.shells == 2 and not r.shells_intersect
    assert r.volume_mm3 == pytest.approx(BOX_VOLUME + 800)


@pytest.mark.parametrize("cavity_winding", ["inward", "outward"])
def test_cavity_is_wound_inwards(tmp_path, cavity_winding):
    cavity = box_triangles((5, 2, 2), (15, 8, 6))
    if cavity_winding == "inward":
        cavity = cavity[:, ::-1]
    surface, r = _load(tmp_path, np.concatenate([BOX, cavity]))
    assert r.shells == 2 and not r.shells_intersect
    assert surface.signed_volume == pytest.approx(BOX_VOLUME - 10 * 6 * 4)
    assert r.outward == (cavity_winding == "inward")


@pytest.mark.parametrize("scale, units, warns", [(1e-3, "mm", "metres"), (1e-3, "m", None), (50.0, "mm", "not in millimetres")])
def test_unit_warning(tmp_path, scale, units, warns):
    surface, r = _load(tmp_path, BOX * scale, units=units)
    found = [w for w in r.warnings if "millimetres" in w]
    assert bool(found) == bool(warns)
    if warns:
        assert warns in found[0]
    else:
        assert surface.signed_volume == pytest.approx(BOX_VOLUME, rel=1e-6)


def test_collapsed_triangles_dropped(tmp_path):
    collapsed = np.array([[[0, 0, 0], [0, 0, 0], [20, 0, 0]]], float)
    surface, r = _load(tmp_path, np.concatenate([BOX, collapsed]))
    assert len(surface.faces) == 12 and r.degenerate_faces == 1
