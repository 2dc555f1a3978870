"""Fuzzing the input parsers with hypothesis: STL reader, study files, load-case files.

The property, for every input: either a valid result, or a ``FemvalidError`` subclass
(``GeometryError``, ``InputError``, ...: exit status 2) whose message names the file and
prints as one line. Never another exception type; never a hang (each call runs under a
SIGALRM guard of ``EXAMPLE_TIME_S`` seconds, with faulthandler as a backstop for a hang
inside C code); never more memory than a stated bound (tracemalloc peak while reading an
STL: ``READ_MEMORY_BOUND(size)``; a header that declares an absurd triangle count must
not allocate at all).

The default run is short: ``FEMVALID_FUZZ_EXAMPLES`` examples per test (default 25).
A longer campaign, with hypothesis' per-test statistics::

    FEMVALID_FUZZ_EXAMPLES=2500 .venv/bin/pytest -q tests/test_fuzz.py --hypothesis-show-statistics

(add ``--hypothesis-seed=N`` for a different seed). Failing examples are kept in
``.hypothesis/`` (git-ignored) and replayed first on the next run.
"""

from __future__ import annotations

import copy
import datetime
import faulthandler
import json
import math
import os
import re
import signal
import subprocess
import sys
import tomllib
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from femvalid.cli import _one_line, main
from femvalid.errors import FemvalidError, GeometryError, InputError
from femvalid.geometry import write_stl
from femvalid.geometry.checks import load_surface
from femvalid.geometry.implants import box_surface, prism_surface
from femvalid.geometry.stl import StlData, read_stl
from femvalid.loadcases import loadcase_from_table
from femvalid.loadcases.loadcase import (FATIGUE_CRITERIA, FIXTURES, FORCE_RANGE_N, PLATEN_ROTATIONS,
                                         TORQUE_RANGE_NMM)
from femvalid.loadcases.registry import LOADCASE_TYPES
from femvalid.materials import get_material
from femvalid.study.studyfile import read_study, read_toml

EXAMPLES = int(os.environ.get("FEMVALID_FUZZ_EXAMPLES", "25"))
EXAMPLE_TIME_S = float(os.environ.get("FEMVALID_FUZZ_TIME_S", "2.0"))


def READ_MEMORY_BOUND(size: int) -> int:
    """Most bytes reading an STL of ``size`` bytes may allocate (tracemalloc peak).

    Binary: about 3× the file (records, float64 triangles, normals). ASCII: up to 21×
    the file (short lines, "ab\\n" repeated) when the reader split the whole text into
    lines before parsing; the streaming reader measures about 3×. 24× plus 1 MiB is the
    bound, so that either passes and anything worse fails.
    """
    return (1 << 20) + 24 * size


def CHECK_MEMORY_BOUND(size: int) -> int:
    """Reading plus checking (merging, topology): measured at 10× a binary file."""
    return (4 << 20) + 32 * size

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # time is bounded by the SIGALRM guard instead (no flaky deadlines on a busy machine)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)

# (tests.helpers is not imported: plain `.venv/bin/pytest` does not put the repository on sys.path)
CUBE = box_surface((0, 0, 0), (10, 20, 30)).triangles
PRISM = prism_surface(6, 5.0, 8.0).triangles


def _stl_bytes(triangles, binary: bool, tmp: Path, header: bytes | None = None) -> bytes:
    path = tmp / "seed.stl"
    write_stl(path, triangles, binary=binary, name="fuzz")
    raw = path.read_bytes()
    if header is not None:
        raw = header.ljust(80, b" ")[:80] + raw[80:]
    return raw


# -- guards ---------------------------------------------------------------------------


class Hang(BaseException):
    """An example ran longer than EXAMPLE_TIME_S.

    A BaseException, as KeyboardInterrupt is: code under test that catches Exception
    (to turn a library's failure into an InputError) must not swallow the guard's signal.
    """


@contextmanager
def time_limit(seconds: float = EXAMPLE_TIME_S):
    """Raise Hang in the main thread after ``seconds``; dump stacks and exit after 20× that."""

    def alarm(signum, frame):
        raise Hang(f"the example ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(max(60.0, 20 * seconds), exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def traced():
    """tracemalloc on for the test (peaks are reset per call)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    yield
    if started:
        tracemalloc.stop()


def test_time_limit_interrupts_a_hang():
    import time

    with pytest.raises(Hang), time_limit(0.05):
        time.sleep(5)


def call(fn, *args):
    """(result or FemvalidError, tracemalloc peak in bytes above what was allocated before).

    Any other exception propagates: that is the failure the fuzzing looks for.
    """
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    with time_limit():
        try:
            out = fn(*args)
        except FemvalidError as exc:
            out = exc
    peak = tracemalloc.get_traced_memory()[1] - before if tracing else 0
    return out, peak


def outcome(stage: str, out) -> None:
    """Label the example for --hypothesis-show-statistics: which error (numbers and names blanked), or ok."""
    if not currently_in_test_context():
        return
    if isinstance(out, FemvalidError):
        reason = re.sub(r"(unknown [a-z]+\(s\)) .*?; allowed", r"\1 _; allowed", out.reason)
        reason = re.sub(r"'[^']*'|\"[^\"]*\"|[-+.\w]*\d[-+.\w]*|got .*", "_", reason)
        reason = reason.encode("ascii", "replace").decode()
        event(f"{stage}: {type(out).__name__}: {reason[:60]}")
    else:
        event(f"{stage}: ok")


def assert_clean_error(exc: FemvalidError, *names: str | Path, raw_one_line: bool = True) -> None:
    """An input error (exit 2) naming one of ``names``, printed by the CLI as one non-empty line."""
    message = str(exc)
    assert isinstance(exc, InputError) and exc.exit_status == 2, repr(exc)
    assert any(str(n) in message for n in names), (message, names)
    assert _one_line(message).strip(), message
    if raw_one_line:
        assert "\n" not in message and "\r" not in message, message


# -- STL --------------------------------------------------------------------------------


def check_stl_bytes(tmp: Path, raw: bytes, name: str = "fuzz.stl") -> object:
    """Write ``raw``, read it and load it; assert the property; return load_surface's outcome."""
    path = tmp / name
    path.write_bytes(raw)
    out, peak = call(read_stl, path)
    outcome("read_stl", out)
    assert peak <= READ_MEMORY_BOUND(len(raw)), f"read_stl allocated {peak} bytes for a {len(raw)}-byte file"
    if isinstance(out, FemvalidError):
        assert isinstance(out, GeometryError)
        assert_clean_error(out, path)
    else:
        assert isinstance(out, StlData) and out.format in ("binary", "ascii")
        n = len(out.triangles)
        assert n >= 1 and out.triangles.shape == (n, 3, 3) and out.normals.shape == (n, 3)
        assert out.triangles.dtype == np.float64
        if out.format == "binary":
            assert len(raw) == 84 + 50 * n
    loaded, peak = call(load_surface, path)
    outcome("load_surface", loaded)
    assert peak <= CHECK_MEMORY_BOUND(len(raw)), f"load_surface allocated {peak} bytes for a {len(raw)}-byte file"
    if isinstance(loaded, FemvalidError):
        assert isinstance(loaded, GeometryError)
        assert_clean_error(loaded, path)
        assert loaded.report.valid is False and loaded.report.error
    else:
        assert not isinstance(out, FemvalidError), "load_surface accepted what read_stl rejected"
        surface, report = loaded
        assert report.valid and report.watertight and report.manifold
        assert np.isfinite(surface.vertices).all()
        assert report.volume_mm3 > 0 and math.isfinite(report.volume_mm3)
    return loaded


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Valid STL files as bytes: binary, binary with a 'solid' header, ASCII."""
    tmp = tmp_path_factory.mktemp("seeds")
    return {
        "binary": _stl_bytes(CUBE, True, tmp),
        "binary-solid-header": _stl_bytes(PRISM, True, tmp, header=b"solid exported by CAD"),
        "ascii": _stl_bytes(CUBE, False, tmp),
        "ascii-prism": _stl_bytes(PRISM, False, tmp),
    }


def test_seeds_are_valid(tmp_path, seeds, traced):
    for raw in seeds.values():
        assert not isinstance(check_stl_bytes(tmp_path, raw), FemvalidError)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=100), st.binary(min_size=84, max_size=2048)))
def test_stl_random_bytes(tmp_path, traced, raw):
    check_stl_bytes(tmp_path, raw)


@FUZZ
@given(prefix=st.sampled_from([b"solid", b"solid ", b"  SOLID x\n", b"solid\r\n"]),
       rest=st.one_of(st.binary(max_size=1024), st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_stl_random_after_solid(tmp_path, traced, prefix, rest):
    check_stl_bytes(tmp_path, prefix + rest)


@FUZZ
@given(kind=st.sampled_from(["binary", "binary-solid-header", "ascii", "ascii-prism"]), data=st.data())
def test_stl_truncated(tmp_path, traced, seeds, kind, data):
    raw = seeds[kind]
    cut = data.draw(st.integers(0, len(raw) - 1), label="keep bytes")
    check_stl_bytes(tmp_path, raw[:cut])


@FUZZ
@given(kind=st.sampled_from(["binary", "binary-solid-header", "ascii", "ascii-prism"]), data=st.data())
def test_stl_bit_flips(tmp_path, traced, seeds, kind, data):
    raw = bytearray(seeds[kind])
    flips = data.draw(st.lists(st.integers(0, 8 * len(raw) - 1), min_size=1, max_size=12), label="bits")
    for bit in flips:
        raw[bit // 8] ^= 1 << (bit % 8)
    check_stl_bytes(tmp_path, bytes(raw))


@FUZZ
@given(kind=st.sampled_from(["binary", "ascii", "ascii-prism"]), data=st.data())
def test_stl_splices(tmp_path, traced, seeds, kind, data):
    """A slice of a valid file replaced by random bytes (or deleted, or repeated)."""
    raw = seeds[kind]
    start = data.draw(st.integers(0, len(raw)), label="start")
    stop = data.draw(st.integers(start, min(len(raw), start + 200)), label="stop")
    middle = data.draw(st.one_of(st.binary(max_size=64), st.just(raw[start:stop] * 2), st.just(b"")), label="middle")
    check_stl_bytes(tmp_path, raw[:start] + middle + raw[stop:])


@FUZZ
@given(count=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 11, 13, 2**31, 2**31 - 1, 2**32 - 1])),
       tail=st.one_of(st.integers(0, 2000), st.just(None)), header=st.binary(min_size=80, max_size=80))
def test_stl_header_counts(tmp_path, traced, seeds, count, tail, header):
    """Any declared triangle count with any amount of data: never trusted, never allocated."""
    body = seeds["binary"][84:]
    body = body if tail is None else (body * (tail // len(body) + 1))[:tail]
    raw = header + np.uint32(count).tobytes() + body
    path = tmp_path / "count.stl"
    path.write_bytes(raw)
    out, peak = call(read_stl, path)
    assert peak <= READ_MEMORY_BOUND(len(raw))
    if len(raw) != 84 + 50 * count and raw[:84].lstrip()[:5].lower() != b"solid":
        # Not ASCII and the size does not fit: rejected before anything is read.
        assert isinstance(out, GeometryError), out
        assert peak < 64 << 10, f"{peak} bytes allocated to reject a header declaring {count} triangles"
    check_stl_bytes(tmp_path, raw)


KEYWORDS = ["solid", "facet", "normal", "outer", "loop", "vertex", "endloop", "endfacet", "endsolid",
            "SOLID", "Vertex", "facet normal", "outer loop", "endsolid fuzz"]
NUMBER_WORDS = st.one_of(
    st.floats(width=32).map(repr),
    st.integers().map(str),
    st.sampled_from(["nan", "-inf", "1e999", "-1e-999", "1_0", "0x10", "1e", "--1", "+.5", "infinity",
                     "\u0661", "0", "-0", "3.4028235e38", "1e-45"]),
)
TOKEN = st.one_of(st.sampled_from(KEYWORDS), st.sampled_from(KEYWORDS), NUMBER_WORDS, NUMBER_WORDS,
                  st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=6),
                  st.text(max_size=3))
LINE = st.lists(TOKEN, max_size=6).map(" ".join)


@FUZZ
@given(lines=st.lists(LINE, max_size=40), ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_stl_ascii_token_soup(tmp_path, traced, lines, ending):
    text = ending.join(["solid fuzz", *lines])
    check_stl_bytes(tmp_path, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(kind=st.sampled_from(["ascii", "ascii-prism"]), data=st.data())
def test_stl_ascii_line_mutations(tmp_path, traced, seeds, kind, data):
    """Valid ASCII with lines deleted, repeated, swapped, or tokens replaced."""
    lines = seeds[kind].decode("ascii").splitlines()
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        op = data.draw(st.sampled_from(["delete", "repeat", "swap", "token", "insert"]), label="op")
        if op == "delete":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1), label="with")
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "token":
            words = lines[i].split() or [""]
            k = data.draw(st.integers(0, len(words) - 1), label="word")
            words[k] = data.draw(TOKEN, label="token")
            lines[i] = " ".join(words)
        else:
            lines.insert(i, data.draw(LINE, label="new line"))
    check_stl_bytes(tmp_path, ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))


GRID = st.sampled_from([0.0, 1.0, 2.0, 10.0, -0.0, 0.5])
COORD = st.one_of(
    GRID, GRID, GRID, GRID, GRID, GRID, GRID, GRID, GRID,  # mostly a coarse grid, so that points coincide
    st.floats(width=32),
    st.sampled_from([math.nan, math.inf, -math.inf, 3.4028235e38, 1e-45, 1e-30, 1e30]),
)
POINT = st.tuples(COORD, COORD, COORD)
GRID_POINT = st.tuples(GRID, GRID, GRID)
#: A tetrahedron's faces over its corners 0-3, wound consistently.
TET = [(0, 2, 1), (0, 1, 3), (1, 2, 3), (0, 3, 2)]


@FUZZ
@given(data=st.data(), binary=st.booleans())
def test_stl_triangle_soups(tmp_path, traced, data, binary):
    """Tetrahedra and loose triangles over a small pool of points: closed, inside-out,
    open, non-manifold, several shells touching, nested or crossing, flat, ..."""
    point = data.draw(st.sampled_from([GRID_POINT, GRID_POINT, POINT]), label="coordinates")
    pool = data.draw(st.lists(point, min_size=4, max_size=8, unique_by=repr), label="points")
    index = st.integers(0, len(pool) - 1)
    faces = []
    tets = st.lists(st.lists(index, min_size=4, max_size=4, unique=True), min_size=0, max_size=3)
    for corners in data.draw(tets, label="tets"):
        flip = data.draw(st.booleans(), label="inside out")
        faces += [tuple(corners[k] for k in (f[::-1] if flip else f)) for f in TET]
    faces += data.draw(st.lists(st.tuples(index, index, index), min_size=0 if faces else 1, max_size=6), label="loose")
    tri = np.array([[pool[a], pool[b], pool[c]] for a, b, c in faces], dtype=np.float32).astype(np.float64)
    path = tmp_path / "soup-seed.stl"
    with np.errstate(all="ignore"):
        write_stl(path, tri, binary=binary)
    check_stl_bytes(tmp_path, path.read_bytes())


@FUZZ
@given(data=st.data(), binary=st.booleans())
def test_stl_solid_mutations(tmp_path, traced, data, binary):
    """A closed prism, then faces dropped, repeated, flipped, moved, or a second solid added."""
    tri = [t.copy() for t in PRISM]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["drop", "repeat", "flip", "move", "second", "scale"]), label="op")
        i = data.draw(st.integers(0, len(tri) - 1), label="face") if tri else 0
        if op == "drop" and tri:
            del tri[i]
        elif op == "repeat" and tri:
            tri.append(tri[i].copy())
        elif op == "flip" and tri:
            tri[i] = tri[i][::-1].copy()
        elif op == "move" and tri:
            tri[i] = tri[i].copy()
            tri[i][data.draw(st.integers(0, 2))] = data.draw(POINT, label="to")
        elif op == "second":
            offset = np.array(data.draw(st.tuples(*[st.sampled_from([0.0, 2.0, 5.0, 10.0, 20.0])] * 3), label="offset"))
            scale = data.draw(st.sampled_from([1.0, 0.5, 0.25, 2.0]), label="scale")
            tri.extend(t * scale + offset for t in PRISM)
        elif op == "scale":
            factor = data.draw(st.sampled_from([1e-30, 1e-6, 1e6, 1e30, -1.0]), label="factor")
            tri = [t * factor for t in tri]
    if not tri:
        return
    path = tmp_path / "solid-seed.stl"
    with np.errstate(all="ignore"):
        array = np.array(tri, dtype=np.float32).astype(np.float64)
        write_stl(path, array, binary=binary)
    check_stl_bytes(tmp_path, path.read_bytes())


def test_absurd_counts_do_not_allocate(tmp_path, traced):
    """2^31 and 2^32−1 declared triangles in a file of a few hundred bytes."""
    for count in (2**31, 2**32 - 1, 2**25):
        for tail in (0, 50, 600):
            raw = b"\x00" * 80 + np.uint32(count).tobytes() + b"\x01" * tail
            path = tmp_path / "absurd.stl"
            path.write_bytes(raw)
            out, peak = call(read_stl, path)
            assert isinstance(out, GeometryError) and f"declares {count} triangles" in str(out)
            assert peak < 64 << 10, peak


# -- TOML: a small writer for generated documents ---------------------------------------


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(data: dict) -> str:
    """Every top-level key as one line (tables inline, arrays of tables as arrays of inline tables)."""
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


INT64 = st.integers(-(2**63), 2**63 - 1)


def scalars(integers):
    return st.one_of(
        st.booleans(),
        integers,
        st.floats(),
        st.sampled_from([0, -1, 1, 2, 0.0, -0.0, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, 0.6, 0.5, -1.0]),
        st.text(max_size=12),
        st.sampled_from(["", ".", "..", "...", "/", "a/b", "../escape", "ti6al4v-am", "pu-foam-15", "unobtainium",
                         "bonded", "frictionless", "axial_compression", "subsidence", "both", "bottom", "tied", "mm",
                         "compression_shear", "torsion", "fitted", "flat", "free", "fixed", "goodman", "x", "y",
                         "sizes/*.stl", "**", "*",
                         "A", "cube.stl", "lc.toml", "study.toml", "x" * 300, "a\x00b", "é", "\u202e", "\x1b[31m"]),
        st.datetimes(), st.dates(), st.times(),
    )


#: Integers beyond 64 bits too: tomllib accepts them, read_toml must refuse them.
HOSTILE_SCALARS = scalars(st.one_of(INT64, st.integers()))


def hostile(scalars=HOSTILE_SCALARS):
    keys = st.one_of(st.text(max_size=8), st.sampled_from(["name", "type", "force", "E", "nu", "file", "stl", "size"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                        max_leaves=8)


HOSTILE = hostile()
HOSTILE_TOML_NUMBERS = hostile(scalars(INT64))  # what a TOML file can hold (64-bit integers)

VALID_LOADCASE_FILE = {"name": "from-file", "type": "axial_compression", "force": 150.0, "platens": "frictionless",
                       "description": "cervical", "source": "fuzz"}


def valid_study() -> dict:
    return {
        "study": {"name": "fuzz", "description": "fuzzed study", "baseline": "A"},
        "mesh": {"size": 1.0, "order": 2, "refine": [2.0, 1.4, 1.0]},
        "design": [
            {"name": "cube", "revision": "A", "stl": "cube.stl", "material": "ti6al4v-am", "units": "mm"},
            {"name": "cube", "revision": "B", "stl": "cube.stl", "material": {"E": 110000.0, "nu": 0.3, "yield": 880.0}},
            {"name": "sizes", "family": {"stl": "sizes/*.stl"}, "material": "peek"},
        ],
        "loadcase": [
            {"name": "axial", "type": "axial_compression", "force": 1000.0, "platens": "bonded", "contact_tolerance": 0.05},
            {"name": "sub", "type": "subsidence", "force": 500.0, "blocks": "both", "block_material": "pu-foam-15",
             "block_size": [50, 50, 20], "interface": "tied"},
            {"file": "lc.toml"},
            {"name": "shear", "type": "compression_shear", "force": 800.0, "angle_deg": 45.0, "shear_direction": "y",
             "fixture": "flat", "platen_rotation": "free", "ball_height_mm": 20.0, "fatigue_ratio": 10.0,
             "fatigue_criterion": "gerber"},
            {"name": "twist", "type": "torsion", "preload_N": 100.0, "torque_Nmm": 2000.0, "fatigue_ratio": -1.0},
        ],
        "criteria": {"min_safety_factor": 1.5, "max_gci_percent": 5},
        "validation": [{"design": "cube", "revision": "A", "loadcase": "axial", "quantity": "stiffness_N_per_mm",
                        "measured": 1e4, "uncertainty": 100.0, "source": "bench"}],
    }


def mutate(data, draw, value_strategy=HOSTILE, times=(1, 4)):
    """Apply a few random edits to a nested dict/list in place: delete, replace, add, wrap."""
    for _ in range(draw(st.integers(*times), label="mutations")):
        node = data
        while True:  # walk down to a random container
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys), label="key")
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.booleans(), label="descend"):
                node = child
                continue
            op = draw(st.sampled_from(["delete", "replace", "replace", "add", "wrap"]), label="op")
            if op == "delete":
                del node[key]
            elif op == "replace":
                node[key] = draw(value_strategy, label="value")
            elif op == "wrap":
                node[key] = draw(st.sampled_from([[child], {"x": child}, [child, child]]), label="wrapped")
            elif isinstance(node, dict):
                node[draw(st.text(max_size=8), label="new key")] = draw(value_strategy, label="value")
            else:
                node.append(draw(value_strategy, label="value"))
            break
    return data


@pytest.fixture
def study_dir(tmp_path):
    write_stl(tmp_path / "cube.stl", CUBE)
    (tmp_path / "lc.toml").write_text(toml_document(VALID_LOADCASE_FILE))
    (tmp_path / "sizes").mkdir()
    for stem, scale in (("small", 0.8), ("large", 1.2)):  # a family { stl = "sizes/*.stl" }
        write_stl(tmp_path / "sizes" / f"{stem}.stl", CUBE * scale)
    return tmp_path


def check_study_file(path: Path):
    """Read a study; assert the property; on success assert the study is really valid."""
    out, _ = call(read_study, path)
    outcome("read_study", out)
    if isinstance(out, FemvalidError):
        names = [path, *path.parent.glob("*.toml"), path.parent]
        assert_clean_error(out, *names, raw_one_line=False)
        return out
    study = out
    assert study.designs and study.loadcases
    for name in [study.name, *(d.name for d in study.designs), *(d.revision for d in study.designs),
                 *(c.name for c in study.loadcases)]:
        assert isinstance(name, str) and name and set(name) != {"."} and not set(name) & set("/\\\0"), name
    assert study.mesh_size_mm is None or (math.isfinite(study.mesh_size_mm) and study.mesh_size_mm > 0)
    assert study.mesh_order in (1, 2)
    assert study.mesh_refine_mm is None or all(math.isfinite(v) and v > 0 for v in study.mesh_refine_mm)
    for d in study.designs:
        assert d.stl.is_file() and d.units in ("mm", "cm", "m", "in")
        assert d.material.youngs_modulus_MPa > 0 and math.isfinite(d.material.youngs_modulus_MPa)
        assert -1 < d.material.poisson_ratio < 0.5
        assert d.family is None or d.family["kind"] in ("stl", "cage")
    assert len({(d.name, d.revision) for d in study.designs}) == len(study.designs)
    for c in study.loadcases:
        check_accepted_loadcase(c)
    assert all(math.isfinite(v) and v >= 0 for v in study.criteria.values())
    return study


def test_valid_study_reads(study_dir):
    path = study_dir / "study.toml"
    path.write_text(toml_document(valid_study()))
    study = check_study_file(path)
    assert [c.name for c in study.loadcases] == ["axial", "sub", "from-file", "shear", "twist"]
    assert [(d.name, d.revision) for d in study.designs] == [("cube", "A"), ("cube", "B"), ("sizes", "large"),
                                                            ("sizes", "small")]
    shear, twist = study.loadcases[3:]
    assert (shear.fixture, shear.platen_rotation, shear.angle_deg, shear.fatigue_criterion) == ("flat", "free", 45.0, "gerber")
    assert (twist.force_N, twist.torque_Nmm, twist.fatigue_ratio) == (100.0, 2000.0, -1.0)


def test_toml_writer_round_trips():
    data = {"a": [1, 2.5, "x\"\\\n\u00e9\U0001F600", True], "b": {"c": -0.0, "d": datetime.date(2001, 2, 3)},
            "e": [{"f": datetime.datetime(2001, 2, 3, 4, 5, 6, 7)}], "g": datetime.time(1, 2, 3)}
    assert tomllib.loads(toml_document(data)) == data


@FUZZ
@given(text=st.one_of(st.text(max_size=600),
                      st.lists(st.sampled_from(["[study]", "[mesh]", "[[design]]", "[[loadcase]]", "[criteria]",
                                                "name = 'x'", "size = 1", "order = 3", "stl = 'cube.stl'",
                                                "material = 'ti6al4v-am'", "type = 'axial_compression'",
                                                "force = 1e999", "[[validation]]", "a = [[[[", "x = {y = {z = 1}}",
                                                "force = 99999999999999999999999", '"\u00e9" = 1', "\x00", "= 1"]),
                               max_size=20).map("\n".join)))
def test_study_random_text(study_dir, text):
    path = study_dir / "study.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    check_study_file(path)


@FUZZ
@given(doc=st.dictionaries(st.one_of(st.sampled_from(["study", "mesh", "design", "loadcase", "criteria", "validation"]),
                                     st.text(max_size=6)), HOSTILE, max_size=6))
def test_study_hostile_documents(study_dir, doc):
    path = study_dir / "study.toml"
    path.write_text(toml_document(doc))
    check_study_file(path)


@FUZZ
@given(data=st.data())
def test_study_mutations(study_dir, data):
    """A valid study with a few keys deleted, replaced by hostile values, added or wrapped."""
    doc = mutate(valid_study(), data.draw)
    path = study_dir / "study.toml"
    path.write_text(toml_document(doc))
    check_study_file(path)


@FUZZ
@given(data=st.data(), as_text=st.booleans())
def test_loadcase_file_mutations(study_dir, data, as_text):
    """The study is valid; the load-case file it names is mutated, or random text."""
    path = study_dir / "study.toml"
    path.write_text(toml_document(valid_study()))
    if as_text:
        (study_dir / "lc.toml").write_bytes(data.draw(st.text(max_size=300), label="text").encode("utf-8", "surrogatepass"))
    else:
        kind = data.draw(st.sampled_from(sorted(LOADCASE_BASES)), label="type")
        case = dict(copy.deepcopy(LOADCASE_BASES[kind]), name="from-file", description="cervical", source="fuzz")
        (study_dir / "lc.toml").write_text(toml_document(mutate(case, data.draw)))
    out = check_study_file(path)
    if isinstance(out, FemvalidError) and str(study_dir / "lc.toml") in str(out):
        assert str(out).startswith(str(study_dir / "lc.toml"))


@FUZZ
@given(data=st.data())
def test_loadcase_from_table(data):
    """The load-case validator on tables as TOML can give them (64-bit integers)."""
    base = data.draw(st.sampled_from([
        dict(VALID_LOADCASE_FILE),
        {"name": "s", "type": "subsidence", "force": 500.0, "blocks": "bottom", "block_material": {"E": 50.0, "nu": 0.3},
         "block_size": [40, 40, 10], "interface": "tied", "contact_tolerance": 0.1},
    ]), label="base")
    table = mutate(base, data.draw, value_strategy=HOSTILE_TOML_NUMBERS)
    out, _ = call(loadcase_from_table, table, "lc-origin.toml [[loadcase]] #1")
    outcome("loadcase_from_table", out)
    if isinstance(out, FemvalidError):
        assert_clean_error(out, "lc-origin.toml", raw_one_line=False)
    else:
        check_accepted_loadcase(out)


# -- the new load-case surface: fixtures, compression-shear, torsion, fatigue ---------------

#: A valid table of each registered type, using the type's own keys and the fixture and fatigue keys.
LOADCASE_BASES = {
    "axial_compression": {"name": "ax", "type": "axial_compression", "force": 1000.0, "platens": "bonded",
                          "fixture": "flat", "platen_rotation": "free", "ball_height_mm": 20.0,
                          "contact_tolerance": 0.05, "fatigue_ratio": 10.0, "fatigue_criterion": "goodman"},
    "compression_shear": {"name": "cs", "type": "compression_shear", "force": 1000.0, "angle_deg": 45.0,
                          "shear_direction": "y", "fixture": "fitted", "platen_rotation": "free",
                          "ball_height_mm": 15.0, "fatigue_ratio": 10, "fatigue_criterion": "gerber"},
    "torsion": {"name": "tor", "type": "torsion", "preload_N": 100.0, "torque_Nmm": 2000.0, "fixture": "flat",
                "fatigue_ratio": -1.0, "fatigue_criterion": "soderberg"},
    "subsidence": {"name": "sub", "type": "subsidence", "force": 500.0, "blocks": "bottom",
                   "interface": "frictionless", "block_size": [40, 40, 10], "offset_mm": [1.5, -2],
                   "fixture": "flat", "platen_rotation": "free"},
    "lattice_compression": {"name": "lat", "type": "lattice_compression", "force": 100.0, "platens": "frictionless"},
}

#: What a careless or hostile user writes for each key: typos, wrong types, numbers as
#: strings ("nan", "inf"), boundaries and just past them, huge and negative values.
EDGE = {
    "type": [*sorted(LOADCASE_BASES), "compression-shear", "Torsion", "shear", "fatigue", ""],
    "force": [1000, 1e-3, 9.99e-4, 1e6, 1.000001e6, 0, -0.0, -1000, 1e300, "1000", "nan", "inf", math.nan,
              math.inf, True, [1000]],
    "fixture": [*FIXTURES, "fited", "Flat", "FLAT", " flat", "", "flat\n", "bonded", ["flat"], {"kind": "flat"}, 1, True],
    "platen_rotation": [*PLATEN_ROTATIONS, "Free", "rotating", "ball", "", True, False, 0, ["free"]],
    "ball_height_mm": [0, -0.0, 20, 1000, 1000.0001, -1000, -1001, 1e308, "20", "inf", "nan", math.nan, math.inf,
                       True, [20.0]],
    "fatigue_ratio": [10, -1, 0.1, 0, 0.0, -0.0, 1, 1.0, 1000, -1000, 1000.5, 1e308, "10", "nan", "inf", math.nan,
                      -math.inf, True, False, [10]],
    "fatigue_criterion": [*FATIGUE_CRITERIA, "Goodman", "walker", "morrow", "", "gerber ", ["goodman"], 1, True],
    "angle_deg": [0, 45, 89.999, 90, 90.0, 135, 180, 360, -0.0, -1e-9, -45, 1e308, "45", "nan", "inf", math.nan,
                  math.inf, True, [45]],
    "shear_direction": ["x", "y", "z", "X", "-x", "", "xy", "anterior", ["x"], 0, True],
    "torque_Nmm": [2000, -2000, 1e-3, -1e-3, 9e-4, 0, -0.0, 1e8, -1e8, 1.00001e8, -1e9, 1e12, -1e308, "2000",
                   "inf", "-inf", "nan", math.nan, math.inf, True, [1000], {"value": 1000}],
    "preload_N": [0, -0.0, 100, -100, 1e-3, 1e-4, 1e6, 1.000001e6, 1e300, "100", "nan", math.nan, math.inf, True,
                  [100]],
    "offset_mm": [[0, 0], [1.5, -2], [1, 2, 3], [1], [], [999.9, 0], [1000, 0], [0, -1e3], ["1", 2], [math.nan, 0],
                  [math.inf, 0], [True, 0], [[1, 2]], "1,2", 1.5, {"x": 1, "y": 2}],
    "block_size": [[50, 50, 20], [40, 40, 10], [10, 10], [10, -1, 5], [0, 10, 10], [1e300, 1e300, 1e300],
                   [1000, 1000, 1000], [1001, 10, 10], ["50", 50, 20], [math.inf, 1, 1], [math.nan, 1, 1],
                   "50x50x20", 50],
    "blocks": ["both", "bottom", "top", "", ["both"]],
    "interface": ["tied", "frictionless", "bonded", "Tied", "", ["tied"]],
    "block_material": ["pu-foam-15", "pu-foam-40", "foam", {"E": 50.0, "nu": 0.3}, {"E": math.nan, "nu": 0.3}, 15],
    "platens": ["bonded", "frictionless", "glued", "", ["bonded"]],
    "contact_tolerance": [0.05, 1e-300, 0, -0.05, 1e300, "0.05", math.nan, math.inf],
}
#: Keys edited: every key above, and a few that only some types take or none does.
EDIT_KEYS = sorted(EDGE) + ["name", "bone", "description", "source", "shear_angle", "torque", "preload", "fixtures"]
ORIGIN = "lc-origin.toml [[loadcase]] #1"


def check_accepted_loadcase(c) -> None:
    """What an accepted load case must hold: each choice one of its values, each number finite and in range."""
    assert isinstance(c.name, str) and c.name and set(c.name) != {"."} and not set(c.name) & set("/\\\0"), c.name
    assert c.type in LOADCASE_TYPES
    assert c.platens in ("bonded", "frictionless") and c.fixture in FIXTURES, (c.platens, c.fixture)
    assert c.platen_rotation in PLATEN_ROTATIONS and c.fatigue_criterion in FATIGUE_CRITERIA
    numbers = [c.force_N, c.ball_height_mm, c.contact_tolerance_mm, c.angle_deg, c.torque_Nmm, *c.block_size_mm]
    assert all(type(v) is float and math.isfinite(v) for v in numbers), numbers
    low, high = FORCE_RANGE_N
    assert low <= c.force_N <= high or (c.type == "torsion" and c.force_N == 0), c.force_N
    assert abs(c.ball_height_mm) <= 1e3 and 0 < c.contact_tolerance_mm <= 1.0
    assert c.fatigue_ratio is None or (type(c.fatigue_ratio) is float and c.fatigue_ratio not in (0, 1)
                                       and abs(c.fatigue_ratio) <= 1e3), c.fatigue_ratio
    if c.type == "compression_shear":
        assert 0 <= c.angle_deg < 90 and c.shear_direction in ("x", "y"), (c.angle_deg, c.shear_direction)
    if c.type == "torsion":
        assert TORQUE_RANGE_NMM[0] <= abs(c.torque_Nmm) <= TORQUE_RANGE_NMM[1], c.torque_Nmm
    if c.type == "subsidence":
        assert c.blocks in ("both", "bottom") and c.interface in ("tied", "frictionless")
        assert len(c.block_size_mm) == 3 and all(0 < v <= 1e3 for v in c.block_size_mm), c.block_size_mm
        offset = c.options["offset_mm"]
        assert len(offset) == 2 and all(type(v) is float and abs(v) < 1e3 for v in offset), offset
    json.dumps(c.to_dict(), allow_nan=False, default=str)  # what results.json records: no NaN, no infinity


def check_loadcase_table(table: dict):
    """Validate ``table``; assert the property; return the LoadCase or the error."""
    out, _ = call(loadcase_from_table, table, ORIGIN)
    outcome("loadcase_from_table", out)
    if isinstance(out, FemvalidError):
        assert_clean_error(out, "lc-origin.toml", raw_one_line=False)
    else:
        check_accepted_loadcase(out)
    return out


def test_loadcase_bases_are_valid():
    assert set(LOADCASE_BASES) == set(LOADCASE_TYPES)  # a new type gets a base here (and its keys in EDGE)
    for table in LOADCASE_BASES.values():
        assert not isinstance(check_loadcase_table(copy.deepcopy(table)), FemvalidError)


@FUZZ
@given(data=st.data())
def test_loadcase_new_keys(data):
    """Each type's valid table with a few keys set to typical hostile values, to any value, or deleted."""
    kind = data.draw(st.sampled_from(sorted(LOADCASE_BASES)), label="type")
    table = copy.deepcopy(LOADCASE_BASES[kind])
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        key = data.draw(st.sampled_from(EDIT_KEYS), label="key")
        op = data.draw(st.sampled_from(["edge", "edge", "edge", "hostile", "delete"]), label="op")
        if op == "delete":
            table.pop(key, None)
        elif op == "edge" and key in EDGE:
            table[key] = copy.deepcopy(data.draw(st.sampled_from(EDGE[key]), label=key))
        else:
            table[key] = data.draw(HOSTILE_TOML_NUMBERS, label=key)
    check_loadcase_table(table)


def _around(*bounds):
    out = []
    for b in bounds:
        for v in (b, -b):
            out += [v, math.nextafter(v, math.inf), math.nextafter(v, -math.inf)]
    return out


BOUNDARY = st.sampled_from(_around(0.0, 1.0, 1e-3, 90.0, 1e3, 1e6, 1e8))
RANGE_NUMBERS = st.one_of(BOUNDARY, BOUNDARY, st.floats(), INT64, st.integers(-2000, 2000),
                          st.sampled_from([0, 1, -1, 10, 90, 1000, -1000, 10**6, 10**8]))
#: key: (type whose base takes it, accepted(v), what refusing a finite v must state, where the LoadCase keeps it)
NUMBER_RANGES = {
    "force": ("compression_shear", lambda v: 1e-3 <= v <= 1e6,
              lambda v: ["positive"] if v <= 0 else ["0.001", "1e+06"], lambda c, i: c.force_N),
    "torque_Nmm": ("torsion", lambda v: 1e-3 <= abs(v) <= 1e8, lambda v: ["0.001", "1e+08"], lambda c, i: c.torque_Nmm),
    "preload_N": ("torsion", lambda v: v == 0 or 1e-3 <= v <= 1e6, lambda v: ["0", "0.001", "1e+06"],
                  lambda c, i: c.force_N),
    "angle_deg": ("compression_shear", lambda v: 0 <= v < 90, lambda v: ["0", "90"], lambda c, i: c.angle_deg),
    "ball_height_mm": ("axial_compression", lambda v: abs(v) <= 1e3, lambda v: ["-1000", "1000"],
                       lambda c, i: c.ball_height_mm),
    "fatigue_ratio": ("torsion", lambda v: v not in (0, 1) and abs(v) <= 1e3, lambda v: ["0", "1", "-1000", "1000"],
                      lambda c, i: c.fatigue_ratio),
    "contact_tolerance": ("axial_compression", lambda v: 0 < v <= 1.0,
                          lambda v: ["positive"] if v <= 0 else ["more than 1 mm", "not a depth"],
                          lambda c, i: c.contact_tolerance_mm),
    "offset_mm": ("subsidence", lambda v: abs(v) < 1e3, lambda v: ["1000"], lambda c, i: c.options["offset_mm"][i]),
    "block_size": ("subsidence", lambda v: 0 < v <= 1e3, lambda v: ["positive", "1000"],
                   lambda c, i: c.block_size_mm[i]),
}


@FUZZ
@given(key=st.sampled_from(sorted(NUMBER_RANGES)), value=RANGE_NUMBERS, position=st.integers(0, 2))
def test_loadcase_number_ranges(key, value, position):
    """Any number for a numeric key: kept as given when in its physical range, else refused naming the key and the range."""
    kind, accepted, stated, kept = NUMBER_RANGES[key]
    table = copy.deepcopy(LOADCASE_BASES[kind])
    index = position % len(table[key]) if isinstance(table.get(key), list) else None
    if index is None:
        table[key] = value
    else:
        table[key][index] = value
    out = check_loadcase_table(table)
    v = float(value)
    if accepted(v):
        assert not isinstance(out, FemvalidError), (key, value, str(out))
        assert kept(out, index) == v, (key, value, kept(out, index))
    else:
        assert isinstance(out, InputError), (key, value, out)
        message = str(out)
        assert key in message and (repr(value) in message or repr(v) in message), message
        if math.isfinite(v):
            assert all(s in message for s in stated(v)), (message, stated(v))


#: Found while fuzzing the new keys: a range the message did not state, a bound that was
#: missing (a 1e300 mm foam block went on to the mesher), a value printed as its bound
#: (1000000.5 N as "1e+06 N"), a missing key reported as "got None".
NEW_KEY_REGRESSIONS = {
    "fatigue_ratio beyond 1000": ("torsion", {"fatigue_ratio": 1e4}, "a number from -1000 to 1000 other than 0 and 1"),
    "block_size of 1e300 mm": ("subsidence", {"block_size": [1e300, 40, 10]}, "each up to 1000 mm, got [1e+300, 40, 10]"),
    "offset_mm of 1000 mm": ("subsidence", {"offset_mm": [1e3, 0]}, "each under 1000 mm in magnitude"),
    "force just past its range": ("axial_compression", {"force": 1000000.5},
                                  "'force' = 1000000.5 N is outside the physically sensible range 0.001–1e+06 N"),
    "torsion without a torque": ("torsion", {"torque_Nmm": None}, "missing 'torque_Nmm'"),
    "torsion without a preload": ("torsion", {"preload_N": None}, "missing 'preload_N'"),
    "torque as a string": ("torsion", {"torque_Nmm": "inf"}, "got 'inf'"),
    "angle of 90 degrees": ("compression_shear", {"angle_deg": 90}, "from 0 to under 90 degrees"),
}


@pytest.mark.parametrize("name", NEW_KEY_REGRESSIONS)
def test_new_key_regressions(name):
    kind, edits, fragment = NEW_KEY_REGRESSIONS[name]
    table = copy.deepcopy(LOADCASE_BASES[kind])
    for key, value in edits.items():
        table.pop(key) if value is None else table.__setitem__(key, value)
    with pytest.raises(InputError) as info:
        loadcase_from_table(table, ORIGIN)
    assert fragment in str(info.value), str(info.value)
    assert_clean_error(info.value, "lc-origin.toml")


# -- families: family = { stl = "glob" } and parametric cages (femvalid.study.family) ---------


@pytest.fixture
def family_dir(study_dir):
    """study_dir (sizes/small.stl, sizes/large.stl) and odd/: files a glob may catch that are no member."""
    odd = study_dir / "odd"
    odd.mkdir()
    write_stl(odd / "my part.stl", CUBE)  # its stem is no name
    write_stl(odd / "..stl", CUBE)  # its stem is made of dots
    write_stl(odd / "small.stl", CUBE)  # the same stem as sizes/small.stl
    write_stl(odd / ".hidden.stl", CUBE)
    (odd / "empty.stl").write_bytes(b"")
    (odd / "notes.txt").write_text("not an STL\n")
    (odd / "dir.stl").mkdir()
    os.symlink("loop.stl", odd / "loop.stl")
    os.symlink("missing.stl", odd / "dangling.stl")
    os.symlink("/dev/zero", odd / "zero.stl")
    os.mkfifo(odd / "fifo.stl")
    return study_dir


GLOB_PIECES = ["sizes", "odd", "*", "**", "?", "*.stl", "s*.stl", "[sl]*.stl", "[!s]*", "[", "]", "[]", ".", "..",
               "nothing", "cube.stl", "*.toml", "{small,large}.stl", "\\*", "~", ".*", "small.stl", "my part.stl",
               "*.STL", "fifo.stl", "zero.stl", "loop.stl", "dir.stl", " ", "\u00e9"]
GLOB = st.tuples(st.sampled_from(["sizes", "sizes", "odd", "odd", "*", "**", ".", ".."]),
                 st.lists(st.sampled_from(["*.stl", "*", "small.stl", *GLOB_PIECES]), max_size=3)
                 ).map(lambda t: "/".join([t[0], *t[1]]))
PATTERNS = st.one_of(GLOB, GLOB, GLOB, GLOB, st.text(max_size=8), st.just(""), HOSTILE_TOML_NUMBERS)
FAMILY_STL = st.one_of(GLOB, GLOB, GLOB, st.lists(GLOB, min_size=1, max_size=3), PATTERNS, st.lists(PATTERNS, max_size=3))


@FUZZ
@given(data=st.data(), absolute=st.booleans())
def test_family_stl_globs(family_dir, data, absolute):
    """family = { stl = ... }: any glob (or list, or other value) over a folder of odd files."""
    stl = data.draw(FAMILY_STL, label="stl")
    if absolute:
        stl = [str(family_dir / p) if isinstance(p, str) else p for p in stl] if isinstance(stl, list) else \
              str(family_dir / stl) if isinstance(stl, str) else stl
    spec = data.draw(st.sampled_from([{"stl": stl}] * 6 + [{"stl": stl, "cage": {}}, {"STL": stl}, stl]), label="family")
    design = {"name": "fam", "family": spec, "material": "peek"}
    design.update(data.draw(st.sampled_from([{}] * 6 + [{"revision": "A"}, {"stl": "cube.stl"}, {"units": "in"},
                                                        {"validation_uncertainty_percent": 5.0},
                                                        {"validation_uncertainty_percent": -1}]), label="also"))
    path = family_dir / "study.toml"
    path.write_text(toml_document({"design": [design], "loadcase": [LOADCASE_BASES["axial_compression"]]}))
    out = check_study_file(path)
    if not isinstance(out, FemvalidError):
        assert all(d.family["kind"] == "stl" and d.revision == d.stl.stem for d in out.designs)
        assert len({d.stl for d in out.designs}) == len(out.designs)


CAGE_NUMBERS = st.one_of(st.sampled_from([8, 10, 12, 12.5, 14, 22, 26, 30, 11, 13, 2, 3, 4.5, 6, 0, -0.0]),
                         st.sampled_from([8, 10, 12.5, 26, 11, 0, -1, -5, 1e-3, 1e3, 1e308, 5e-324, 90, 45, -30,
                                          math.nan, math.inf]),
                         st.floats(), INT64, HOSTILE_TOML_NUMBERS)
CAGE_KEYS = ["height_mm", "length_mm", "width_mm", "lordosis_deg", "corner_radius_mm", "window_length_mm",
             "window_width_mm", "window_radius_mm", "resolution_mm"]
CAGE_TABLES = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(CAGE_KEYS), st.sampled_from(CAGE_KEYS), st.text(max_size=6)),
                    st.one_of(CAGE_NUMBERS, st.lists(CAGE_NUMBERS, max_size=4)), max_size=4),
    st.dictionaries(st.sampled_from(CAGE_KEYS), st.one_of(CAGE_NUMBERS, st.lists(CAGE_NUMBERS, max_size=3)),
                    max_size=3),
    # many values in lists: over the member limit
    st.dictionaries(st.sampled_from(CAGE_KEYS[:4]), st.lists(st.integers(1, 40), min_size=8, max_size=12, unique=True),
                    min_size=3, max_size=4),
    HOSTILE_TOML_NUMBERS,
)


@FUZZ
@given(cage=CAGE_TABLES)
def test_family_cage_tables(study_dir, monkeypatch, cage):
    """family = { cage = ... }: the table's parsing (keys, lists, duplicates, member count, names).

    The geometry is not generated: ``cage_stl`` is replaced by a stand-in that makes the
    InterbodyCage (which refuses impossible dimensions with ValueError, as the real one
    does before any file is made) and returns a cube. gmsh on hostile dimensions is
    tested once per known failure in test_cage_family_known_bugs below.
    """
    from femvalid.geometry.implants import InterbodyCage
    from femvalid.study import generated
    from femvalid.study.family import MAX_MEMBERS

    made = []

    def cage_stl(parameters, resolution_mm=1.0, source="cage"):
        InterbodyCage(**parameters)
        made.append((parameters, resolution_mm))  # checked below: family.py turns exceptions in here into InputErrors
        return study_dir / "cube.stl"

    monkeypatch.setattr(generated, "cage_stl", cage_stl)
    path = study_dir / "study.toml"
    path.write_text(toml_document({"design": [{"name": "cage", "family": {"cage": cage}, "material": "peek"}],
                                   "loadcase": [LOADCASE_BASES["compression_shear"]]}))
    out = check_study_file(path)
    assert len(made) <= MAX_MEMBERS
    for parameters, resolution_mm in made:
        assert type(resolution_mm) is float and math.isfinite(resolution_mm) and resolution_mm > 0, resolution_mm
        assert all(type(v) is float and math.isfinite(v) for v in parameters.values()), parameters
    if not isinstance(out, FemvalidError):
        assert len(out.designs) == len(made) and all(d.family["kind"] == "cage" and d.units == "mm" for d in out.designs)


def test_family_regressions(family_dir):
    """Families as a user gets them wrong: each an InputError naming the study file and what is wrong."""
    cases = {
        '{ stl = "sizes/*.step" }': "'stl' glob 'sizes/*.step' matches no file",
        '{ stl = "odd/my*.stl" }': "'member name' must be a non-empty name",  # "my part"
        '{ stl = "odd/..stl" }': "'member name' must not be made of dots only",
        '{ stl = ["sizes/*.stl", "odd/small.stl"] }': "revision 'small' is listed twice",
        '{ stl = "odd/dir.stl" }': "matches no file",  # a folder, not a file
        '{ stl = "odd/fifo.stl" }': "matches no file",
        '{ stl = "odd/zero.stl" }': "matches no file",
        '{ stl = "odd/loop.stl" }': "matches no file",
        '{ stl = [] }': "'stl' must be a glob",
        '{ stl = "" }': "'stl' must be a glob",
        '{ stl = "sizes/*.stl", cage = { height_mm = 10 } }': "must be { stl",
        '"sizes/*.stl"': "must be { stl",
        '{ cage = { height_mm = [10, 10.0] } }': "lists a value twice",
        '{ cage = { heigth_mm = 10 } }': "unknown key(s) heigth_mm",
        '{ cage = { height_mm = "10" } }': "'height_mm' must be a number or a list of numbers",
        '{ cage = { height_mm = nan } }': "'height_mm' must be a number or a list of numbers",
        '{ cage = { resolution_mm = 0 } }': "'resolution_mm' must be a length",
        '{ cage = { height_mm = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], length_mm = [22, 23, 24, 25, 26, 27, 28, '
        '29, 30, 31], width_mm = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18] } }': "1100 combinations",
        '{ cage = { lordosis_deg = 60 } }': "lordosis",
        '{ cage = { height_mm = [8, 10], lordosis_deg = 40 } }': "lordosis",
    }
    for family, fragment in cases.items():
        path = family_dir / "study.toml"
        path.write_text(f'[[design]]\nname = "f"\nfamily = {family}\nmaterial = "peek"\n' + _AXIAL)
        out, _ = call(read_study, path)
        assert isinstance(out, InputError) and fragment in str(out), (family, out)
        assert_clean_error(out, path)
    path.write_text('[[design]]\nname = "f"\nfamily = { stl = "sizes/*.stl" }\nrevision = "A"\nmaterial = "peek"\n' + _AXIAL)
    with pytest.raises(InputError, match="leave out 'revision'"):
        read_study(path)


@pytest.mark.parametrize("family", [
    # When first fuzzed, each of these gave an OpenCASCADE Exception (exit 1), a GeometryError naming
    # '<generated implant>', a minute in gmsh, or was accepted.
    pytest.param("{ cage = { corner_radius_mm = 6 } }", id="corner-radius-over-half-width"),
    pytest.param("{ cage = { corner_radius_mm = 20 } }", id="corner-radius-20"),  # 48-71 s in gmsh, then an Exception
    pytest.param("{ cage = { height_mm = 1e300 } }", id="height-1e300"),
    pytest.param("{ cage = { length_mm = 1e300 } }", id="length-1e300"),
    pytest.param("{ cage = { corner_radius_mm = -1 } }", id="negative-corner-radius"),
    pytest.param("{ cage = { window_length_mm = -5 } }", id="negative-window"),
    pytest.param("{ cage = { window_width_mm = -1 } }", id="negative-window-width"),
    pytest.param("{ cage = { window_radius_mm = 3 } }", id="window-radius-over-half-window"),
    pytest.param("{ cage = { window_radius_mm = 10 } }", id="window-radius-over-window"),
    pytest.param("{ cage = { lordosis_deg = 400 } }", id="lordosis-400"),
    pytest.param("{ cage = { resolution_mm = 1e-4 } }", id="resolution-1e-4"),  # a runaway surface mesh
    pytest.param("{ cage = { height_mm = [8, 10] } }", id="valid"),
])
def test_cage_family_hostile_dimensions(study_dir, family):
    """Cage dimensions gmsh cannot build (or no cage has) are refused naming the study file, within the guard's time."""
    path = study_dir / "study.toml"
    path.write_text(f'[[design]]\nname = "f"\nfamily = {family}\nmaterial = "peek"\n' + _AXIAL)
    study, _ = call(read_study, path)
    if isinstance(study, FemvalidError):
        assert_clean_error(study, path)
        return
    for d in study.designs:  # accepted: then every dimension is one a cage can have
        parameters = d.family["parameters"]
        assert all(v >= 0 for k, v in parameters.items() if k != "lordosis_deg"), parameters


@pytest.mark.parametrize("pattern", ["sizes/**/*.stl", "/**/*.stl"])
def test_family_glob_walks_are_bounded(study_dir, pattern):
    """Once a hang: a recursive glob follows symlinks to folders, so two links back to their folder
    made 2^40 paths, and '/**/*.stl' walked the whole file system (through /proc)."""
    os.symlink(".", study_dir / "sizes" / "current")
    os.symlink(".", study_dir / "sizes" / "latest")
    path = study_dir / "study.toml"
    path.write_text(f'[[design]]\nname = "f"\nfamily = {{ stl = "{pattern}" }}\nmaterial = "peek"\n' + _AXIAL)
    out = check_study_file(path)
    assert isinstance(out, FemvalidError) or pattern.startswith("/") or \
        [d.revision for d in out.designs] == ["large", "small"]


# -- regressions: what fuzzing and review found in the study and load-case parsers ---------

_DESIGN = '[[design]]\nname = "c"\nstl = "cube.stl"\nmaterial = "ti6al4v-am"\n'
_AXIAL = '[[loadcase]]\nname = "ax"\ntype = "axial_compression"\nforce = 1000.0\n'
REGRESSIONS = {
    # each raised TypeError, ValueError, OSError, OverflowError or RecursionError, or was accepted
    "load-case type is a list": (_DESIGN + _AXIAL.replace('"axial_compression"', '["axial_compression"]'),
                                 "type must be one of"),
    "validation design is a list": (_DESIGN + _AXIAL + '[[validation]]\ndesign = ["c"]\nloadcase = "ax"\n'
                                    'quantity = "q"\nmeasured = 1.0\n', "'design' must be a name"),
    "validation load case is a table": (_DESIGN + _AXIAL + '[[validation]]\ndesign = "c"\nloadcase = {a = 1}\n'
                                        'quantity = "q"\nmeasured = 1.0\n', "'loadcase' must be a name"),
    "NUL in the STL path": (_DESIGN.replace('"cube.stl"', '"cube\\u0000.stl"') + _AXIAL, "'stl' must be a path"),
    "STL path too long": (_DESIGN.replace('"cube.stl"', '"' + "x" * 300 + '"') + _AXIAL, "File name too long"),
    "NUL in the load-case file path": (_DESIGN + '[[loadcase]]\nfile = "lc\\u0000.toml"\n', "'file' must be a path"),
    "integer beyond 64 bits": (_DESIGN + _AXIAL.replace("1000.0", "1" + "0" * 30), "does not fit in 64 bits"),
    "integer beyond 64 bits in a material": (_DESIGN.replace('"ti6al4v-am"', "{E = 1" + "0" * 400 + ", nu = 0.3}") + _AXIAL,
                                             "does not fit in 64 bits"),
    "arrays nested 5000 deep": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "design named '..'": (_DESIGN.replace('name = "c"', 'name = ".."') + _AXIAL, "must not be made of dots only"),
    "revision '.'": (_DESIGN.replace('name = "c"', 'name = "c"\nrevision = "."') + _AXIAL, "must not be made of dots only"),
    "load case named '..'": (_DESIGN + _AXIAL.replace('"ax"', '".."'), "must not be made of dots only"),
    "study named '..'": ('[study]\nname = ".."\n' + _DESIGN + _AXIAL, "must not be made of dots only"),
    "empty design list": ("design = []\n" + _AXIAL, "no [[design]] entries"),
    "empty load-case list": ("loadcase = []\n" + _DESIGN, "no [[loadcase]] entries"),
    "infinite mesh size": ("[mesh]\nsize = inf\n" + _DESIGN + _AXIAL, "'size' must be a positive length"),
    "infinite refinement size": ("[mesh]\nrefine = [1.0, 2.0, inf]\n" + _DESIGN + _AXIAL, "'refine' must be three"),
}


@pytest.mark.parametrize("name", REGRESSIONS)
def test_parser_regressions(study_dir, name):
    text, fragment = REGRESSIONS[name]
    path = study_dir / "study.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(fragment)) as info:
        read_study(path)
    assert_clean_error(info.value, path)


def test_loadcase_numbers_beyond_float_range_are_input_errors():
    for table in ({"name": "a", "type": "axial_compression", "force": 10**400},
                  {"name": "a", "type": "subsidence", "force": 1.0, "block_size": [1, 1, 10**400]}):
        with pytest.raises(InputError, match="must be"):
            loadcase_from_table(table, "origin.toml")


# -- known bugs outside the parsers this suite may change ---------------------------------


def test_material_table_with_huge_integer():
    with pytest.raises(FemvalidError):
        get_material({"E": 10**400, "nu": 0.3}, origin="inline")


def test_huge_toml_integer_is_an_input_error(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("force = 1" + "0" * 400 + "\n")
    with pytest.raises(InputError, match="does not fit in 64 bits"):
        read_toml(path)


def test_deeply_nested_toml_is_an_input_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        read_toml(path)


# -- the CLI layer: one line, exit status 2, no traceback, once per category ----------------


def _fuzzed_stl_files(tmp: Path, seeds) -> dict[str, bytes]:
    rng = np.random.default_rng(9)
    flipped = bytearray(seeds["binary"])
    for bit in rng.integers(0, 8 * len(flipped), 40):
        flipped[bit // 8] ^= 1 << (bit % 8)
    flipped[80:84] = np.uint32(7).tobytes()
    ascii_cut = seeds["ascii"][: len(seeds["ascii"]) // 2]
    return {
        "random.stl": rng.bytes(777),
        "truncated.stl": seeds["binary"][:-17],
        "flipped.stl": bytes(flipped),
        "absurd.stl": bytes(80) + np.uint32(2**31).tobytes() + bytes(10),
        "ascii-cut.stl": ascii_cut,
        "ascii-soup.stl": b"solid x\nfacet normal 1 2\nvertex nan nan\n",
        "solid-binary.stl": b"solid " + rng.bytes(300),
    }


def test_cli_check_on_fuzzed_files(capsys, tmp_path, seeds):
    for name, raw in _fuzzed_stl_files(tmp_path, seeds).items():
        path = tmp_path / name
        path.write_bytes(raw)
        status = main(["check", str(path)])
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert status == 2, (name, err)
        assert len(lines) == 1 and lines[0].startswith(f"femvalid: error: {path}: "), (name, err)
        assert "Traceback" not in err


def test_cli_run_on_fuzzed_studies(capsys, study_dir):
    bad = {
        "garbage.toml": b"\x00\xff[[[design",
        "hostile.toml": toml_document({"design": [{"name": {"x": [1, {}]}, "stl": 3}], "loadcase": "x"}).encode(),
        "bigint.toml": toml_document({"mesh": {"size": 10**30}}).encode(),
        "dots.toml": toml_document(dict(valid_study(), study={"name": ".."})).encode(),
        "lc-type.toml": toml_document(dict(valid_study(), loadcase=[{"name": "a", "type": ["axial"], "force": 1}])).encode(),
        "torque-string.toml": toml_document(dict(valid_study(), loadcase=[dict(LOADCASE_BASES["torsion"],
                                                                              torque_Nmm="inf")])).encode(),
        "shear-90.toml": toml_document(dict(valid_study(), loadcase=[dict(LOADCASE_BASES["compression_shear"],
                                                                         angle_deg=90)])).encode(),
        "family-glob.toml": toml_document(dict(valid_study(), design=[{"name": "f", "family": {"stl": "none/*.stl"},
                                                                      "material": "peek"}])).encode(),
        "family-cage.toml": toml_document(dict(valid_study(), design=[{"name": "f", "family": {"cage": {"h": 1}},
                                                                      "material": "peek"}])).encode(),
    }
    out = study_dir / "out"
    for name, raw in bad.items():
        path = study_dir / name
        path.write_bytes(raw)
        status = main(["run", str(path), "-o", str(out), "--no-progress"])
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert status == 2, (name, err)
        assert len(lines) == 1 and lines[0].startswith(f"femvalid: error: {path}: "), (name, err)
        assert "Traceback" not in err and not out.exists()


def test_cli_in_a_subprocess(tmp_path, seeds):
    """The installed entry point as a user runs it: exit 2, one stderr line, no traceback."""
    stl = tmp_path / "flipped.stl"
    stl.write_bytes(_fuzzed_stl_files(tmp_path, seeds)["flipped.stl"])
    study = tmp_path / "study.toml"
    study.write_text('[[design]]\nname = "x"\nstl = "flipped.stl"\nmaterial = "ti6al4v-am"\n'
                     '[[loadcase]]\nname = "a"\ntype = {}\nforce = 1\n')
    for argv in (["check", str(stl)], ["run", str(study), "-o", str(tmp_path / "out")]):
        proc = subprocess.run([sys.executable, "-m", "femvalid", *argv], capture_output=True, text=True, timeout=120,
                              check=False, cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "FEMVALID_DEBUG"})
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and lines[0].startswith("femvalid: error: "), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
