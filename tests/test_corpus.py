"""A corpus of malformed inputs: each gives exit status 2 and exactly its expected line.

The small files live in tests/corpus/ with their expected messages in
tests/corpus/expected.toml; the large ones (absurd triangle counts, 50 MB of
garbage) are generated here. Every case goes through the CLI as a user meets it
(``femvalid.cli.main``, a few in a subprocess) and must print exactly one line on
stderr, no traceback, and write nothing to the output folder.
"""

import os
import subprocess
import sys
import tomllib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from femvalid.cli import build_parser, main

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
CASES = [("check", name, line) for name, line in EXPECTED["check"].items()] + [
    ("run", name, line) for name, line in EXPECTED["run"].items()
]


def cli(capsys, command, path, outdir):
    argv = [command, str(path)] + (["-o", str(outdir), "--no-progress"] if command == "run" else [])
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.err


def assert_exact_error(status, err, expected):
    assert status == 2, err
    assert "Traceback" not in err
    assert err.splitlines() == [expected], err


def test_every_corpus_file_has_an_expected_message():
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file()}
    listed = set(EXPECTED["check"]) | set(EXPECTED["run"]) | set(EXPECTED["helpers"]) | {"expected.toml"}
    assert files == listed


@pytest.mark.parametrize("command, name, expected", CASES, ids=[name for _, name, _ in CASES])
def test_corpus(capsys, tmp_path, command, name, expected):
    path = CORPUS / name
    outdir = tmp_path / "out"
    status, err = cli(capsys, command, path, outdir)
    assert_exact_error(status, err, expected.format(path=path, dir=CORPUS))
    assert not outdir.exists()


@pytest.mark.parametrize("command, name", [("check", "png_renamed.stl"), ("run", "study_negative_force.toml"),
                                           ("run", "study_torque_inf_string.toml")])
def test_corpus_in_a_subprocess(tmp_path, command, name):
    """The entry point as a user runs it, with a relative path."""
    expected = EXPECTED[command][name].format(path=f"tests/corpus/{name}", dir=CORPUS)
    argv = [command, f"tests/corpus/{name}"] + (["-o", str(tmp_path / "out")] if command == "run" else [])
    env = {k: v for k, v in os.environ.items() if k != "FEMVALID_DEBUG"}
    proc = subprocess.run([sys.executable, "-m", "femvalid", *argv], capture_output=True, text=True, timeout=120,
                          check=False, cwd=CORPUS.parent.parent, env=env)
    assert_exact_error(proc.returncode, proc.stderr, expected)
    assert not (tmp_path / "out").exists()


# -- generated: too large (or too odd) to commit ------------------------------------------

MiB = 1 << 20


def generated_cases(tmp: Path):
    """(file name, bytes or None for a folder or a missing file, expected reason)."""
    return [
        ("claims-2-31.stl", bytes(80) + np.uint32(2**31).tobytes() + bytes(100),
         ("truncated binary STL: header declares 2147483648 triangles (107374182484 bytes) "
          "but the file has 184 bytes (2 whole triangles)")),
        ("claims-2-32.stl", b"solid but not really".ljust(80) + np.uint32(2**32 - 1).tobytes() + bytes(10),
         ("starts with 'solid' but holds binary data, and does not fit a binary STL either: "
          "header declares 4294967295 triangles (214748364834 bytes) but the file has 94 bytes")),
        ("claims-2-31-exact-header.stl", b"\x00" * 80 + np.uint32(2**31).tobytes(),
         ("truncated binary STL: header declares 2147483648 triangles (107374182484 bytes) "
          "but the file has 84 bytes (0 whole triangles)")),
    ]


@pytest.mark.parametrize("index", range(3))
def test_absurd_triangle_counts(capsys, tmp_path, index):
    name, raw, reason = generated_cases(tmp_path)[index]
    path = tmp_path / name
    path.write_bytes(raw)
    build_parser()  # import every command module before measuring
    tracemalloc.start()
    try:
        status, err = cli(capsys, "check", path, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_exact_error(status, err, f"femvalid: error: {path}: {reason}")
    assert peak < 8 * MiB, f"{peak} bytes allocated to reject a header declaring billions of triangles"


def _garbage(path: Path, prefix: bytes, size: int) -> None:
    """``size`` bytes: ``prefix`` then seeded random bytes, written in 8 MiB pieces."""
    rng = np.random.default_rng(2026)
    with open(path, "wb") as fh:
        fh.write(prefix)
        left = size - len(prefix)
        while left:
            piece = min(left, 8 * MiB)
            fh.write(rng.bytes(piece))
            left -= piece


@pytest.mark.parametrize("kind", ["binary", "solid-text-header"])
def test_fifty_megabytes_of_garbage(capsys, tmp_path, kind):
    """50 MB of random bytes: rejected quickly, without reading (binary) or with bounded memory (text header).

    Behind a text header that starts with 'solid' a reader that decodes the whole file
    before parsing was measured at 3× the file size (the streaming reader stops at the
    first line); bounded here at 4×.
    """
    size = 50 * MiB
    path = tmp_path / f"garbage-{kind}.stl"
    if kind == "binary":
        # The first 84 bytes fix the message: not text, no known magic, a declared count of 0x9e3779b9.
        prefix = b"\x9e" * 80 + np.uint32(0x9E3779B9).tobytes()
        reason = ("truncated binary STL: header declares 2654435769 triangles (132721788534 bytes) "
                  f"but the file has {size} bytes ({(size - 84) // 50} whole triangles)")
        bound = 8 * MiB
    else:
        prefix = b"solid garbage after a text header".ljust(84) + b"\x9c"
        reason = ("starts like an ASCII STL ('solid') but contains non-text byte 0x9c at offset 84, "
                  "and its size does not fit a binary STL either")
        bound = 4 * size
    try:
        _garbage(path, prefix, size)
        build_parser()
        tracemalloc.start()
        try:
            status, err = cli(capsys, "check", path, None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        path.unlink(missing_ok=True)  # do not leave 50 MB in pytest's kept temporary folders
    assert_exact_error(status, err, f"femvalid: error: {path}: {reason}")
    assert peak < bound, f"{peak / MiB:.0f} MiB allocated to reject {size / MiB:.0f} MiB of garbage"


def test_directory_and_missing_file(capsys, tmp_path):
    folder = tmp_path / "folder.stl"
    folder.mkdir()
    status, err = cli(capsys, "check", folder, None)
    assert_exact_error(status, err, f"femvalid: error: {folder}: is a directory, not an STL file")
    missing = tmp_path / "missing.stl"
    status, err = cli(capsys, "check", missing, None)
    assert_exact_error(status, err, f"femvalid: error: {missing}: cannot open: No such file or directory")
    status, err = cli(capsys, "run", tmp_path / "missing.toml", tmp_path / "out")
    assert_exact_error(status, err, f"femvalid: error: {tmp_path / 'missing.toml'}: file not found")
    assert not (tmp_path / "out").exists()
