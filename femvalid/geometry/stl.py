"""Reading and writing STL files (binary and ASCII).

A binary STL is an 80-byte header, a uint32 triangle count n and n records of
50 bytes, so its size is exactly 84 + 50·n. Many CAD exporters start the binary
header with the word "solid", so the format is decided by that size identity, not
by the first bytes. The triangle count is never trusted before it has been checked
against the file size.
"""

from __future__ import annotations

import stat
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femvalid._files import input_file_size
from femvalid.errors import GeometryError

__all__ = ["StlData", "read_stl", "write_stl", "triangle_count", "UNIT_SCALE", "MAX_TRIANGLES"]

#: Factor that converts a length in the given unit to millimetres.
UNIT_SCALE = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}

#: Most triangles femvalid reads from one file: lattice implants are exported with
#: 2–20 M. Reading and checking take about 0.3 kB and 5 µs per triangle (3 M
#: triangles: 850 MB peak, 12 s on 2 cores), so this bounds a check at about 6 GB;
#: meshing resamples a surface this fine first (:mod:`femvalid.geometry.resample`).
MAX_TRIANGLES = 20_000_000
#: Peak bytes per triangle of reading and checking a binary STL, rounded up from the
#: measurements above: a file whose check would not fit the memory available is
#: refused before it is read.
CHECK_BYTES_PER_TRIANGLE = 350.0

#: Largest STL file femvalid opens: a binary file of MAX_TRIANGLES is 1 GB, an
#: ASCII one of 4 GiB holds about 16 M triangles.
MAX_STL_BYTES = 4 * 2**30
#: UTF-8 byte-order mark that some editors put before an ASCII STL's 'solid'.
_BOM = b"\xef\xbb\xbf"
_HEADER = 80
_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
assert _RECORD.itemsize == 50

# Magic numbers of files users rename to .stl by mistake, for a clearer message.
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (3MF or another zipped format?)",
    b"\x1f\x8b": "a gzip archive",
    b"ISO-10303": "a STEP file",
    b"<?xml": "an XML file",
}


@dataclass(frozen=True, eq=False)
class StlData:
    """Triangles as read from an STL file, before any merging or checking.

    Attributes
    ----------
    triangles : ndarray, shape (n, 3, 3)
        Vertex coordinates per triangle, mm (after unit scaling).
    normals : ndarray, shape (n, 3)
        The facet normals stored in the file (often zero; never trusted).
    format : str
        ``"binary"`` or ``"ascii"``.
    solids : tuple of str
        Names of the solids of an ASCII file (one per ``solid`` block).
    """

    triangles: np.ndarray
    normals: np.ndarray
    format: str
    solids: tuple[str, ...] = ()


def read_stl(path: str | Path, units: str = "mm") -> StlData:
    """Read a binary or ASCII STL file.

    Parameters
    ----------
    path : str or Path
        The STL file.
    units : {"mm", "cm", "m", "in"}
        Unit the file's coordinates are in; they are scaled to mm on read.

    Raises
    ------
    GeometryError
        The file is missing, empty, not an STL, truncated, or malformed.
    """
    path = Path(path)
    if units not in UNIT_SCALE:
        raise GeometryError(path, f"unknown unit {units!r}; use one of {', '.join(UNIT_SCALE)}")
    # A regular file within the bound: devices (/dev/zero), FIFOs, folders and symlink loops are refused unread.
    size = input_file_size(path, MAX_STL_BYTES, "an STL file", GeometryError)
    if size == 0:
        raise GeometryError(path, "empty file")

    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER + 4)
    except OSError as exc:
        raise GeometryError(path, f"cannot read: {exc.strerror or exc}") from None
    data = _read_binary(path, size, head)
    if data is None:
        data = _read_ascii(path, head)
    scale = UNIT_SCALE[units]
    if scale != 1.0:
        data = StlData(data.triangles * scale, data.normals, data.format, data.solids)
    return data


def _read_binary(path: Path, size: int, head: bytes) -> StlData | None:
    """Read ``path`` as binary if its size says so; None if it may be ASCII."""
    text = head[len(_BOM):] if head.startswith(_BOM) else head  # a UTF-8 byte-order mark before 'solid'
    looks_ascii = text.lstrip()[:5].lower() == b"solid" and _is_text(text)
    if size < _HEADER + 4:
        if looks_ascii:
            return None
        raise GeometryError(path, _not_stl_reason(head, f"only {size} bytes, too short for an STL file"))
    count = int(np.frombuffer(head, "<u4", 1, _HEADER)[0])
    expected = _HEADER + 4 + _RECORD.itemsize * count
    if size != expected:
        if looks_ascii:
            return None
        magic = _known_magic(head)
        if magic:
            raise GeometryError(path, f"not an STL file: looks like {magic}")
        declared = f"header declares {count} triangles ({expected} bytes) but the file has {size} bytes"
        if head.lstrip()[:5].lower() == b"solid":
            raise GeometryError(
                path, f"starts with 'solid' but holds binary data, and does not fit a binary STL either: {declared}"
            )
        if _is_text(head):
            raise GeometryError(path, "not an STL file: text that does not start with 'solid'")
        if size < expected:
            whole = (size - _HEADER - 4) // _RECORD.itemsize
            raise GeometryError(
                path,
                f"truncated binary STL: header declares {count} triangles ({expected} bytes) "
                f"but the file has {size} bytes ({whole} whole triangles)",
            )
        raise GeometryError(
            path,
            f"binary STL size does not match its triangle count: header declares {count} "
            f"triangles ({expected} bytes) but the file has {size} bytes",
        )
    if count == 0:
        raise GeometryError(path, "binary STL contains no triangles")
    if count > MAX_TRIANGLES:
        raise GeometryError(path, _too_many(count))
    _check_memory(path, count)
    records = np.fromfile(path, dtype=_RECORD, count=count, offset=_HEADER + 4)
    return StlData(
        triangles=records["vertices"].astype(np.float64),
        normals=records["normal"].astype(np.float64),
        format="binary",
    )


def triangle_count(path: str | Path) -> int | None:
    """Triangles in a binary STL, from its header (the size identity holds); else None.

    Cheap: lets a command refuse a file that is too large before reading it.
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None  # a FIFO would block the open; read_stl says what it is
        size = info.st_size
        with open(path, "rb") as fh:
            head = fh.read(_HEADER + 4)
    except (OSError, ValueError):
        return None
    if len(head) < _HEADER + 4:
        return None
    count = int(np.frombuffer(head, "<u4", 1, _HEADER)[0])
    return count if size == _HEADER + 4 + _RECORD.itemsize * count else None


def _check_memory(path: Path, count: int) -> None:
    """Refuse a file whose reading and checking would need more memory than is available."""
    from femvalid.meshing.mesher import available_memory_bytes

    need, available = CHECK_BYTES_PER_TRIANGLE * count, available_memory_bytes()
    if available is not None and need > available:
        raise GeometryError(path, f"{count} triangles would need about {need / 1e9:.3g} GB to read and check, more "
                                  f"than the {available / 1e9:.3g} GB of memory available; export the STL with a "
                                  "coarser chord tolerance, or free memory")


def _too_many(count: int | str) -> str:
    return (f"{count} triangles, more than femvalid reads (limit {MAX_TRIANGLES}); "
            "export the STL with a coarser chord tolerance")


def _is_text(head: bytes) -> bool:
    return all(b in b"\t\n\r\f\v" or 32 <= b < 127 for b in head)


def _known_magic(head: bytes) -> str | None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    return None


def _not_stl_reason(head: bytes, fallback: str) -> str:
    magic = _known_magic(head)
    return f"not an STL file: looks like {magic}" if magic else f"not an STL file: {fallback}"


def _read_ascii(path: Path, head: bytes) -> StlData:
    """Parse an ASCII STL with one or more ``solid`` blocks, a line at a time.

    Streaming keeps memory at the size of the coordinates (a 3 M-triangle ASCII file
    is about 1 GB of text).
    """
    parser = _AsciiParser(path)
    offset = 0
    with open(path, "rb") as fh:
        for number, (raw, last) in enumerate(_lines(fh), start=1):
            if number == 1 and raw.startswith(_BOM):  # a text editor's UTF-8 byte-order mark
                raw, offset = raw[len(_BOM):], len(_BOM)
            if not raw.isascii():
                bad = next(i for i, b in enumerate(raw) if b >= 0x80)
                raise GeometryError(
                    path,
                    f"starts like an ASCII STL ('solid') but contains non-text byte {raw[bad]:#04x} "
                    f"at offset {offset + bad}, and its size does not fit a binary STL either",
                )
            offset += len(raw)
            words = raw.decode("ascii").split()
            if words:
                parser.feed(number, words, last)
    parser.finish()
    return parser.result()


def _lines(fh):
    """(line with its end, is it the last line?) for \n, \r\n and \r line ends."""
    previous = None
    for chunk in fh:  # split on \n only
        for line in chunk.splitlines(keepends=True) if b"\r" in chunk else (chunk,):
            if previous is not None:
                yield previous, False
            previous = line
    if previous is not None:
        yield previous, True


class _AsciiParser:
    """A small state machine over the lines of an ASCII STL.

    solid NAME / facet normal a b c / outer loop / vertex x y z (×3) / endloop /
    endfacet / endsolid NAME
    """

    def __init__(self, path: Path):
        self.path = path
        self.state = "start"  # start, solid, facet, loop, endloop, endfacet
        self.normals = array("d")
        self.vertices = array("d")
        self.loop_count = 0
        self.solids: list[str] = []
        self.line = 0
        self.last = False

    def fail(self, reason: str) -> None:
        if self.last:
            reason += "; the file ends here (truncated?)"
        raise GeometryError(self.path, f"malformed ASCII STL at line {self.line}: {reason}")

    def numbers(self, words: list[str], what: str) -> list[float]:
        if len(words) != 3:
            self.fail(f"'{what}' needs 3 numbers, found {len(words)}")
        try:
            return [float(w) for w in words]
        except ValueError:
            self.fail(f"'{what}' has a value that is not a number: {' '.join(words)!r}")

    def feed(self, number: int, words: list[str], last: bool = False) -> None:
        self.line, self.last = number, last
        key = words[0].lower()
        state = self.state
        if key == "solid" and state == "start":
            self.solids.append(" ".join(words[1:]))
            self.state = "solid"
        elif key == "facet" and state == "solid":
            if len(words) < 2 or words[1].lower() != "normal":
                self.fail("expected 'facet normal nx ny nz'")
            if len(self.normals) >= 3 * MAX_TRIANGLES:
                raise GeometryError(self.path, _too_many(f"more than {MAX_TRIANGLES}"))
            self.normals.extend(self.numbers(words[2:], "facet normal"))
            self.state = "facet"
        elif key == "outer" and state == "facet":
            if len(words) != 2 or words[1].lower() != "loop":
                self.fail("expected 'outer loop'")
            self.state = "loop"
            self.loop_count = 0
        elif key == "vertex" and state == "loop":
            self.loop_count += 1
            if self.loop_count > 3:
                self.fail("a facet has more than 3 vertices; only triangles are allowed")
            self.vertices.extend(self.numbers(words[1:], "vertex"))
        elif key == "endloop" and state == "loop":
            if self.loop_count != 3:
                self.fail(f"a facet has {self.loop_count} vertices; a triangle needs 3")
            self.state = "endloop"
        elif key == "endfacet" and state == "endloop":
            self.state = "solid"
        elif key == "endsolid" and state == "solid":
            self.state = "start"
        else:
            expected = {
                "start": "'solid'",
                "solid": "'facet normal' or 'endsolid'",
                "facet": "'outer loop'",
                "loop": "'vertex' or 'endloop'",
                "endloop": "'endfacet'",
            }[state]
            shown = " ".join(words)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            self.fail(f"expected {expected}, found {shown!r}")

    def finish(self) -> None:
        if self.state == "start" and not self.solids:
            raise GeometryError(self.path, "not an STL file: no 'solid' found")
        if self.state != "start":
            self.line, self.last = self.line + 1, True
            self.fail("no 'endsolid'")
        if not self.normals:
            raise GeometryError(self.path, "ASCII STL contains no triangles")

    def result(self) -> StlData:
        return StlData(
            triangles=np.frombuffer(self.vertices, dtype=np.float64).reshape(-1, 3, 3).copy(),
            normals=np.frombuffer(self.normals, dtype=np.float64).reshape(-1, 3).copy(),
            format="ascii",
            solids=tuple(self.solids),
        )


def write_stl(path: str | Path, triangles: np.ndarray, binary: bool = True, name: str = "femvalid") -> None:
    """Write triangles (n, 3, 3) in mm to an STL file with computed normals.

    Parameters
    ----------
    path : str or Path
        Output file.
    triangles : ndarray, shape (n, 3, 3)
        Vertex coordinates, mm, counter-clockwise seen from outside.
    binary : bool
        Binary (default) or ASCII.
    name : str
        Solid name (ASCII) or header text (binary).
    """
    tri = np.asarray(triangles, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    path = Path(path)
    if binary:
        records = np.zeros(len(tri), dtype=_RECORD)
        records["normal"] = normals
        records["vertices"] = tri
        header = f"binary STL written by femvalid: {name}".encode("ascii", "replace")[:_HEADER]
        with open(path, "wb") as fh:
            fh.write(header.ljust(_HEADER, b" "))
            fh.write(np.uint32(len(tri)).tobytes())
            fh.write(records.tobytes())
        return
    lines = [f"solid {name}"]
    for n, t in zip(normals, tri):
        lines.append(f"  facet normal {n[0]:.9e} {n[1]:.9e} {n[2]:.9e}")
        lines.append("    outer loop")
        lines.extend(f"      vertex {v[0]:.17g} {v[1]:.17g} {v[2]:.17g}" for v in t)
        lines.append("    endloop")
        lines.append("  endfacet")
    lines.append(f"endsolid {name}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
