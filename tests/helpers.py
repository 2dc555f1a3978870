"""Fixture geometry made in code, and a CLI runner."""

from __future__ import annotations

import numpy as np

from femvalid.cli import main
from femvalid.geometry.implants import box_surface, prism_surface

def box_triangles(lo=(0, 0, 0), hi=(1, 1, 1)) -> np.ndarray:
    """12 outward-wound triangles (12, 3, 3) of an axis-aligned box, mm."""
    return box_surface(lo, hi).triangles


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``femvalid ARGV`` in-process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, expected_status, *fragments):
    """The CLI failed with one line 'femvalid: error: ...' containing every fragment."""
    assert status == expected_status, err
    lines = err.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("femvalid: error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def prism_triangles(n: int, radius: float, length: float) -> np.ndarray:
    """Outward triangles of a regular n-gon prism (axis z, from 0 to ``length``), mm."""
    return prism_surface(n, radius, length).triangles
