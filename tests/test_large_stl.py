"""Large STLs: read and checked in bounded memory, refused beyond the stated limits."""

import json
import subprocess
import sys

import numpy as np
import pytest

from femvalid.errors import GeometryError
from femvalid.geometry import Surface, read_stl, stl, write_stl
from femvalid.geometry.topology import unique_rows
from femvalid.meshing import MeshSettings, mesh_surface, mesher
from tests.helpers import assert_one_line_error, box_triangles, run_cli


def torus_triangles(around: int, across: int, major_mm: float = 20.0, minor_mm: float = 8.0) -> np.ndarray:
    """A closed, outward torus (axis z) of 2 · around · across triangles (n, 3, 3), mm."""
    u = 2 * np.pi * np.arange(around) / around
    v = 2 * np.pi * np.arange(across) / across
    ring = major_mm + minor_mm * np.cos(v)
    grid = np.stack(np.broadcast_arrays(ring * np.cos(u)[:, None], ring * np.sin(u)[:, None],
                                        minor_mm * np.sin(v)[None, :]), axis=-1)
    i, j = np.meshgrid(np.arange(around), np.arange(across), indexing="ij")
    a, b = grid[i, j], grid[(i + 1) % around, j]
    c, d = grid[(i + 1) % around, (j + 1) % across], grid[i, (j + 1) % across]
    return np.concatenate([np.stack([a, b, c], 2), np.stack([a, c, d], 2)]).reshape(-1, 3, 3)


@pytest.fixture(scope="module")
def torus_3m(tmp_path_factory):
    """A valid binary STL of 3 000 000 triangles (150 MB)."""
    path = tmp_path_factory.mktemp("large") / "torus_3m.stl"
    write_stl(path, torus_triangles(1500, 1000))
    return path


def test_mesh_refuses_3m_triangles_at_once(torus_3m, capsys):
    status, _, err = run_cli(capsys, "mesh", torus_3m, "-o", torus_3m.with_suffix(".vtu"))
    assert_one_line_error(status, err, 2, str(torus_3m), "3000000 triangles", f"limit {mesher.MAX_MESH_TRIANGLES}")
    assert not torus_3m.with_suffix(".vtu").exists()


@pytest.mark.slow
def test_check_handles_3m_triangles_in_bounded_memory(torus_3m):
    """Measured: about 850 MB peak and 8–25 s on 2 cores when run alone (it was 1.5 GB and 44 s).

    Inside the whole suite the same command peaked at 1.52–1.55 GB (twice); the cause
    is not found yet, so the bound is 2 GB: far below the 3 M triangles' naive cost.
    """
    script = ("import json, resource, sys; from femvalid.cli import main; status = main(['check', sys.argv[1], "
              "'--json']); print(json.dumps({'status': status, "
              "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    run = subprocess.run([sys.executable, "-c", script, str(torus_3m)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    *report, measured = run.stdout.strip().splitlines()  # the --json report, then the peak
    report, measured = json.loads("\n".join(report)), json.loads(measured)
    assert measured["status"] == 0
    assert report["valid"] and report["triangles"] == 3_000_000 and report["vertices"] == 1_500_000
    assert report["volume_mm3"] == pytest.approx(2 * np.pi**2 * 20.0 * 8.0**2, rel=2e-5)
    assert measured["peak_mb"] < 2000


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "ascii"])
def test_reader_refuses_more_than_the_limit(tmp_path, monkeypatch, binary):
    path = tmp_path / "box.stl"
    write_stl(path, box_triangles(), binary=binary)
    monkeypatch.setattr(stl, "MAX_TRIANGLES", 11)
    with pytest.raises(GeometryError, match="limit 11"):
        read_stl(path)
    monkeypatch.setattr(stl, "MAX_TRIANGLES", 12)
    assert len(read_stl(path).triangles) == 12


def test_mesher_refuses_more_than_the_limit(monkeypatch):
    monkeypatch.setattr(mesher, "MAX_MESH_TRIANGLES", 11)
    with pytest.raises(GeometryError, match="12 triangles, more than femvalid meshes .limit 11"):
        mesh_surface(Surface.from_triangles(box_triangles()), MeshSettings(1.0))


def test_triangle_count_from_the_header(tmp_path):
    path = tmp_path / "box.stl"
    write_stl(path, box_triangles())
    assert stl.triangle_count(path) == 12
    write_stl(path, box_triangles(), binary=False)
    assert stl.triangle_count(path) is None


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_unique_rows_matches_numpy(dtype):
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 5, size=(500, 3)).astype(dtype)
    if dtype is np.float64:
        rows[rows == 0] = -0.0  # -0.0 and 0.0 are one value
        rows[::7, 1] = 0.0
    expected, inverse = np.unique(rows + 0.0, axis=0, return_inverse=True)
    got, got_inverse = unique_rows(rows)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got_inverse, inverse.ravel())
    huge = np.array([[2**40, 1, 2**40], [0, 2**40, 5], [2**40, 1, 2**40]])  # too large to pack into one key
    np.testing.assert_array_equal(unique_rows(huge)[1], [1, 0, 1])
