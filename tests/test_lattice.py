"""Lattice blocks (TPMS and struts): closed solids, densities checked against numbers
derived outside the code (closed forms, symmetry, thin-strut estimates, Monte Carlo),
the ``femvalid lattice`` command, and the effective-property arithmetic.

Lengths mm, forces N, moduli MPa. Blocks are kept to 1–2 cells per axis (shared CI cores).
"""

from __future__ import annotations

import itertools
import json
import math
import struct

import numpy as np
import pytest

from femvalid.errors import InputError
from femvalid.geometry.checks import CheckReport, check_surface
from femvalid.geometry.lattice import LATTICE_TYPES, LatticeSpec, generate_lattice
from femvalid.loadcases.lattice import effective_properties
from tests.helpers import assert_one_line_error, run_cli

CELL = 4.0  # mm


def density_of(lattice) -> float:
    """Mesh volume / box volume, computed here rather than read from the Lattice."""
    return lattice.surface.signed_volume / float(np.prod(lattice.spec.box_mm))


# -- hand-derived references ------------------------------------------------------------

def simple_cubic_circle(a: float) -> float:
    """Relative density of three orthogonal cylinders of radius r = a·L through the cell
    centre, by inclusion–exclusion: 3·πr²L − 3·(Steinmetz bicylinder 16r³/3) +
    (tricylinder 8(2 − √2)r³) = 3πr²L − 8√2 r³, over L³."""
    return 3 * math.pi * a**2 - 8 * math.sqrt(2) * a**3


def simple_cubic_square(a: float) -> float:
    """Three orthogonal square prisms of side s = 2a (cell units): 3s² − 3s³ + s³ (the
    pairwise overlaps are s³ cubes, the triple overlap the same cube)."""
    s = 2 * a
    return 3 * s**2 - 2 * s**3


# Strut length per cell, in units of L:
#   BCC: every cell holds 8 half body-diagonals (corner → centre), each √3·L/2 long:
#        8 · √3/2 = 4√3.
#   Octet (FCC truss): 4 nodes per cell (1 corner share + 3 face centres), each with 12
#        nearest neighbours at L/√2; every strut is shared by its 2 ends:
#        4 · 12 / 2 = 24 struts · 1/√2 = 12√2.
THIN_STRUT_LENGTH = {"bcc": 4 * math.sqrt(3), "octet": 12 * math.sqrt(2)}

# Independent geometry for the Monte Carlo reference: nodes in a unit cell, and the
# strut directions (struts between collinear neighbours join into straight lines).
_NODES = {
    "simple-cubic": [(0.5, 0.5, 0.5)],
    "bcc": [(0, 0, 0), (0.5, 0.5, 0.5)],
    "octet": [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
}
_DIRECTIONS = {
    "simple-cubic": [(1, 0, 0), (0, 1, 0), (0, 0, 1)],
    "bcc": [(1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1)],
    "octet": [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)],
}


def monte_carlo_density(kind: str, a: float, n: int = 200_000, seed: int = 7) -> float:
    """Volume fraction of the exact circular-strut solid (radius a·L) in one cell, by
    sampling: a point is solid when it lies within a of some strut axis."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, 3))
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), float)
    nodes = (np.array(_NODES[kind], float)[:, None, :] + shifts[None]).reshape(-1, 3)
    nearest = np.full(n, np.inf)
    for d in _DIRECTIONS[kind]:
        d = np.array(d, float) / np.linalg.norm(d)
        e1 = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(d, e1)
        across = np.unique(np.round(nodes @ np.column_stack([e1, e2]), 9), axis=0)  # one row per line
        centre = np.array([0.5, 0.5, 0.5]) @ np.column_stack([e1, e2])
        across = across[np.linalg.norm(across - centre, axis=1) < math.sqrt(3) / 2 + a + 0.01]
        p = points @ np.column_stack([e1, e2])
        for line in across:
            nearest = np.minimum(nearest, np.hypot(p[:, 0] - line[0], p[:, 1] - line[1]))
    return float((nearest < a).mean())


def test_monte_carlo_reference_reproduces_the_simple_cubic_closed_form():
    """Cross-check of the two references above against each other (no femvalid code)."""
    for a in (0.1, 0.2, 0.3):
        assert monte_carlo_density("simple-cubic", a) == pytest.approx(simple_cubic_circle(a), rel=0.01)


# -- 1. every type is a closed, outward solid filling its box at the requested density ---

SLOW_TYPES = {"octet", "gyroid-sheet", "diamond-sheet"}  # 4–7 s each


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_TYPES else k
                                  for k in LATTICE_TYPES])
def test_every_type_is_a_valid_block(kind):
    cells = (1, 1, 1) if kind == "octet" else (2, 2, 1)  # octet: 27 voxels per cell, 6 s at 2 × 2 × 1
    lattice = generate_lattice(LatticeSpec(kind, 0.3, CELL, cells))
    report = CheckReport(path=kind)
    check_surface(lattice.surface, report)
    assert report.valid and report.watertight and report.manifold
    assert report.winding_consistent and report.outward
    # A single 4 mm cell is smaller than any implant: only the units guard may speak.
    assert report.repairs == [] and [w for w in report.warnings if "millimetres" not in w] == []
    assert not report.shells_intersect

    lo, hi = lattice.surface.vertices.min(axis=0), lattice.surface.vertices.max(axis=0)
    np.testing.assert_allclose(lo, 0.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(hi, [n * CELL for n in cells], rtol=0, atol=1e-9)

    achieved = density_of(lattice)
    assert achieved == pytest.approx(0.3, rel=0.02)
    assert lattice.relative_density == pytest.approx(achieved, rel=1e-12)
    assert report.volume_mm3 == pytest.approx(0.3 * math.prod(cells) * CELL**3, rel=0.02)


# -- 2. closed forms ---------------------------------------------------------------------

@pytest.mark.parametrize("section, exact", [("circle", simple_cubic_circle), ("square", simple_cubic_square)])
def test_simple_cubic_converges_to_closed_form(section, exact):
    errors = {}
    for resolution in (16, 32):
        lattice = generate_lattice(LatticeSpec("simple-cubic", 0.3, CELL, (1, 1, 1), section, resolution))
        a = lattice.parameter / CELL  # strut radius (half side) over cell size
        reference = exact(a)
        errors[resolution] = abs(density_of(lattice) / reference - 1)
        # The library's own closed form is the same formula.
        assert lattice.closed_form_density == pytest.approx(reference, rel=1e-12)
    assert errors[32] < 0.015
    assert errors[32] < errors[16]


@pytest.mark.parametrize("kind", ["gyroid-skeletal", "diamond-skeletal"])
def test_skeletal_tpms_at_half_density_has_level_zero(kind):
    # G(−x) = −G(x) for both the gyroid and the diamond function, and the periodic cell
    # maps onto itself, so {G < 0} and {G > 0} have equal volume: t = 0 ⇔ ρ = ½.
    # (At the default resolution, 13 voxels per cell here, the solved level is ~0.05:
    # the contour's volume deficit, ~2 % of the block; it vanishes as the grid refines.)
    levels = {}
    for resolution in (16, 32):
        lattice = generate_lattice(LatticeSpec(kind, 0.5, CELL, (1, 1, 1), resolution=resolution))
        assert density_of(lattice) == pytest.approx(0.5, rel=0.02)
        levels[resolution] = lattice.parameter
    assert abs(levels[32]) < 0.02
    assert abs(levels[32]) < abs(levels[16])


# -- 3. thin-strut limit -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bcc", "octet"])
def test_thin_strut_limit(kind):
    lattice = generate_lattice(LatticeSpec(kind, 0.05, CELL, (1, 1, 1)))
    a = lattice.parameter / CELL
    measured = density_of(lattice)
    assert measured == pytest.approx(0.05, rel=0.02)
    estimate = THIN_STRUT_LENGTH[kind] * math.pi * a**2  # (length · πr²) / L³
    # The estimate counts the struts' overlaps at the nodes twice, so it is above the
    # solid; at ρ = 0.05 the overlaps are ~11 % (Monte Carlo below), and the contour
    # loses another 2–4 % at 4 voxels per strut diameter.
    assert measured < estimate
    assert measured == pytest.approx(estimate, rel=0.16)
    # Against the exact solid of the same strut radius, sampled independently.
    exact = monte_carlo_density(kind, a)
    assert exact < estimate
    assert exact == pytest.approx(estimate, rel=0.13)
    # Faceting at about four voxels per strut diameter loses some 5 %.
    assert measured == pytest.approx(exact, rel=0.07)


# -- 4. density solve ----------------------------------------------------------------------

def test_gyroid_sheet_density_solve_and_monotonic_level():
    levels = []
    for rho in (0.15, 0.45):
        lattice = generate_lattice(LatticeSpec("gyroid-sheet", rho, CELL, (2, 1, 1)))
        assert density_of(lattice) == pytest.approx(rho, rel=0.02)
        levels.append(lattice.parameter)
    assert 0 < levels[0] < levels[1]


def test_density_miss_is_not_returned_silently():
    # At its first resolution (12 voxels per cell) the solve lands on a jump of the
    # contoured volume (strut face on a grid-node row) at 0.374 for 0.35: the generator
    # must either hit the request within 2 % (at a finer resolution) or refuse.
    try:
        lattice = generate_lattice(LatticeSpec("simple-cubic", 0.35, CELL, (1, 1, 1), "square"))
    except InputError:
        return
    assert density_of(lattice) == pytest.approx(0.35, rel=0.02)


# -- 5. command line -----------------------------------------------------------------------

BCC_ARGS = ["lattice", "bcc", "--relative-density", "0.25", "--cell-size", "3", "--cells", "2", "2", "2"]


def test_cli_writes_checkable_binary_stl_and_refuses_to_overwrite(capsys, tmp_path):
    out = tmp_path / "bcc.stl"
    status, stdout, err = run_cli(capsys, *BCC_ARGS, "-o", out, "--json")
    assert status == 0, err
    info = json.loads(stdout)
    assert info["relative_density"] == pytest.approx(0.25, rel=0.02)
    assert info["box_mm"] == [6.0, 6.0, 6.0]

    data = out.read_bytes()
    (count,) = struct.unpack("<I", data[80:84])
    assert not data.startswith(b"solid") and len(data) == 84 + 50 * count and count == info["triangles"]

    status, stdout, err = run_cli(capsys, "check", out)
    assert status == 0 and err == "" and "valid closed solid" in stdout
    status, stdout, err = run_cli(capsys, "check", out, "--json")
    report = json.loads(stdout)
    assert report["volume_mm3"] == pytest.approx(0.25 * 6.0**3, rel=0.02) and report["warnings"] == []

    status, _, err = run_cli(capsys, *BCC_ARGS, "-o", out)
    assert_one_line_error(status, err, 2, "exists")
    assert out.read_bytes() == data


@pytest.mark.parametrize("args", [
    ["bcc", "--relative-density", "0.95", "--cell-size", "3", "--cells", "1", "1", "1"],
    ["kagome", "--relative-density", "0.3", "--cell-size", "3", "--cells", "1", "1", "1"],
    ["gyroid-sheet", "--relative-density", "0.3", "--cell-size", "3", "--cells", "1", "1", "1", "--section", "square"],
], ids=["density-0.95", "unknown-type", "square-tpms"])
def test_cli_rejects_bad_options(capsys, tmp_path, args):
    out = tmp_path / "x.stl"
    status, _, err = run_cli(capsys, "lattice", *args, "-o", out)
    assert status == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert "error:" in err  # argparse's "femvalid lattice: error:" or femvalid's one line
    assert not out.exists()


def test_cli_missing_output_folder(capsys, tmp_path):
    out = tmp_path / "missing" / "x.stl"
    status, _, err = run_cli(capsys, *BCC_ARGS, "-o", out)
    assert_one_line_error(status, err, 2, "does not exist")
    assert not out.parent.exists()


# -- 6. effective properties ---------------------------------------------------------------

def test_effective_properties_hand_computed():
    # Box 3 × 5 × 10 mm (x, y, z) from (1, 2, 3) to (4, 7, 13), with interior nodes.
    nodes = np.array([[1, 2, 3], [4, 7, 13], [2, 3, 5], [1, 7, 13], [4, 2, 3]], float)
    q = effective_properties(nodes, volume_mm3=45.0, stiffness_N_per_mm=600.0, solid_modulus_MPa=110000.0)
    # A = 15 mm², H = 10 mm: E* = K·H/A = 600 · 10 / 15 = 400 MPa; ρ = 45 / 150 = 0.3.
    assert q["block_area_mm2"] == pytest.approx(15.0, rel=1e-12)
    assert q["block_height_mm"] == pytest.approx(10.0, rel=1e-12)
    assert q["effective_modulus_MPa"] == pytest.approx(400.0, rel=1e-12)
    assert q["relative_density"] == pytest.approx(0.3, rel=1e-12)
    assert q["relative_modulus"] == pytest.approx(400.0 / 110000.0, rel=1e-12)
    assert q["solid_modulus_MPa"] == 110000.0


def test_effective_properties_of_a_solid_block_are_the_solid_ones():
    # A full 2 × 4 × 8 mm block of modulus Es has stiffness K = Es·A/H.
    es, area, height = 3000.0, 8.0, 8.0
    nodes = np.array([[0, 0, 0], [2, 4, 8]], float)
    q = effective_properties(nodes, area * height, es * area / height, es)
    assert q["relative_density"] == pytest.approx(1.0, rel=1e-12)
    assert q["relative_modulus"] == pytest.approx(1.0, rel=1e-12)
    assert q["effective_modulus_MPa"] == pytest.approx(es, rel=1e-12)


# -- 7. spec validation --------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, fragment", [
    ({"cells": (2, 0, 1)}, "cells"),
    ({"cell_size_mm": -4.0}, "cell size"),
    ({"relative_density": 0.95}, "relative density"),
    ({"resolution": 4}, "resolution"),
], ids=["zero-cells", "negative-cell", "density-0.95", "resolution-4"])
def test_spec_validation(kwargs, fragment):
    spec = LatticeSpec(**{"type": "bcc", "relative_density": 0.3, "cell_size_mm": CELL, "cells": (1, 1, 1), **kwargs})
    with pytest.raises(InputError, match=fragment) as info:
        spec.validate("my-study.toml")
    assert info.value.source == "my-study.toml"


def test_density_miss_at_a_given_resolution_is_refused():
    with pytest.raises(InputError, match="instead of 0.05"):
        generate_lattice(LatticeSpec("simple-cubic", 0.05, CELL, (2, 1, 1), resolution=8))
