"""STL reading: binary and ASCII, and every way a file can be broken."""

import numpy as np
import pytest

from femvalid.errors import GeometryError
from femvalid.geometry import Surface, read_stl, write_stl
from tests.helpers import box_triangles

CUBE = box_triangles((0, 0, 0), (10, 20, 30))


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip(tmp_path, cage_surface, binary):
    path = tmp_path / "cage.stl"
    write_stl(path, cage_surface.triangles, binary=binary)
    data = read_stl(path)
    assert data.format == ("binary" if binary else "ascii")
    back = Surface.from_triangles(data.triangles)
    assert len(back.faces) == len(cage_surface.faces)
    assert len(back.vertices) == len(cage_surface.vertices)
    # Binary stores float32: volume agrees to float32 precision.
    assert back.signed_volume == pytest.approx(cage_surface.signed_volume, rel=1e-6 if binary else 1e-12)


def test_binary_with_solid_header_is_binary(tmp_path):
    path = tmp_path / "cad.stl"
    write_stl(path, CUBE)
    raw = bytearray(path.read_bytes())
    raw[:80] = b"solid exported by a CAD package".ljust(80)
    path.write_bytes(bytes(raw))
    data = read_stl(path)
    assert data.format == "binary"
    np.testing.assert_allclose(data.triangles, CUBE)


def test_ascii_with_several_solids(tmp_path):
    a = tmp_path / "a.stl"
    b = tmp_path / "b.stl"
    write_stl(a, CUBE, binary=False, name="first")
    write_stl(b, box_triangles((20, 0, 0), (30, 10, 10)), binary=False, name="second")
    both = tmp_path / "both.stl"
    both.write_text(a.read_text() + b.read_text())
    data = read_stl(both)
    assert data.solids == ("first", "second")
    assert len(data.triangles) == 24


def test_units_scale_on_read(tmp_path):
    path = tmp_path / "m.stl"
    write_stl(path, CUBE / 1000.0, binary=False)
    np.testing.assert_allclose(read_stl(path, units="m").triangles, CUBE, rtol=1e-12)
    path_in = tmp_path / "in.stl"
    write_stl(path_in, CUBE, binary=False)
    np.testing.assert_allclose(read_stl(path_in, units="in").triangles, CUBE * 25.4)


def test_merge_makes_indexed_surface():
    s = Surface.from_triangles(CUBE)
    assert s.vertices.shape == (8, 3) and s.faces.shape == (12, 3)
    assert s.signed_volume == pytest.approx(6000.0)
    assert not s.vertices.flags.writeable


def _binary(tmp_path, triangles=CUBE, count=None, extra=b"", cut=0):
    path = tmp_path / "x.stl"
    write_stl(path, triangles)
    raw = bytearray(path.read_bytes())
    if count is not None:
        raw[80:84] = np.uint32(count).tobytes()
    raw = bytes(raw) + extra
    path.write_bytes(raw[: len(raw) - cut] if cut else raw)
    return path


def _bytes(tmp_path, raw):
    path = tmp_path / "x.stl"
    path.write_bytes(raw)
    return path


def _ascii(tmp_path, text):
    path = tmp_path / "x.stl"
    path.write_text(text)
    return path


GOOD_FACET = "facet normal 0 0 1\n outer loop\n vertex 0 0 0\n vertex 1 0 0\n vertex 0 1 0\n endloop\nendfacet\n"

REJECTED = {
    "empty": (lambda p: _ascii(p, ""), "empty file"),
    "png": (lambda p: _bytes(p, b"\x89PNG\r\n\x1a\n" + bytes(200)), "looks like a PNG image"),
    "random text": (lambda p: _ascii(p, "hello world, this is not a mesh\n" * 5), "not an STL file"),
    "tiny": (lambda p: _bytes(p, b"\x00\x01\x02"), "too short"),
    "truncated binary": (lambda p: _binary(p, cut=30), "truncated binary STL: header declares 12 triangles"),
    "extra bytes": (lambda p: _binary(p, extra=b"\x00" * 7), "size does not match its triangle count"),
    "absurd count": (lambda p: _binary(p, count=2**32 - 1), "truncated binary STL: header declares 4294967295"),
    "zero triangles": (lambda p: _binary(p, triangles=np.zeros((0, 3, 3))), "contains no triangles"),
    "bad number": (lambda p: _ascii(p, "solid x\n" + GOOD_FACET.replace("vertex 1 0 0", "vertex 1 zero 0") + "endsolid x\n"),
                   "line 5: 'vertex' has a value that is not a number"),
    "missing endloop": (lambda p: _ascii(p, "solid x\n" + GOOD_FACET.replace(" endloop\n", "") + "endsolid x\n"),
                        "line 7: expected 'vertex' or 'endloop', found 'endfacet'"),
    "quad facet": (lambda p: _ascii(p, "solid x\n" + GOOD_FACET.replace(" endloop", " vertex 1 1 0\n endloop") + "endsolid x\n"),
                   "line 7: a facet has more than 3 vertices"),
    "truncated ascii": (lambda p: _ascii(p, "solid x\n" + GOOD_FACET + GOOD_FACET[:40]), "the file ends here (truncated?)"),
    "two numbers": (lambda p: _ascii(p, "solid x\n" + GOOD_FACET.replace("vertex 0 1 0", "vertex 0 1") + "endsolid x\n"),
                    "line 6: 'vertex' needs 3 numbers, found 2"),
    "binary junk after solid": (lambda p: _bytes(p, b"solid x\n" + bytes(range(256)) * 3),
                                "starts with 'solid' but holds binary data"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_with_reason(tmp_path, case):
    make, fragment = REJECTED[case]
    path = make(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_stl(path)
    assert fragment in str(err.value)
    assert str(err.value).startswith(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(GeometryError, match="cannot open"):
        read_stl(tmp_path / "nope.stl")


def test_unknown_unit(tmp_path):
    with pytest.raises(GeometryError, match="unknown unit"):
        read_stl(_binary(tmp_path), units="furlong")
