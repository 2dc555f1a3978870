"""Effective properties of lattice blocks against numbers from outside the code.

- A solid block between frictionless platens is in uniaxial stress: E* = Es exactly.
- A simple-cubic lattice's modulus lies between two independent mechanics estimates:
  the vertical columns alone carry a statically admissible uniaxial stress field, so by
  the complementary-energy theorem E* ≥ Es·πr²/L² (the columns' area fraction); and
  columns whose node region (height 2r) is rigid give Es·πr²/(L(L − 2r)).
- Gibson & Ashby: a stretch-dominated cell (octet) stiffens with density with a lower
  exponent than a bending-dominated one (BCC): n ≈ 1 against n ≈ 2.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from femvalid.geometry.implants import box_surface
from femvalid.geometry.lattice import LatticeSpec, generate_lattice
from femvalid.loadcases import loadcase_from_table
from femvalid.loadcases.lattice import analyse_lattice_compression
from femvalid.materials import get_material
from femvalid.meshing import MeshSettings, mesh_surface
from tests.helpers import run_cli

TITANIUM = get_material("ti6al4v-am")


def _case(platens):
    return loadcase_from_table({"name": "lc", "type": "lattice_compression", "force": 100.0, "platens": platens,
                                "contact_tolerance": 0.01}, "test")


def test_solid_block_between_frictionless_platens_has_the_solid_modulus():
    mesh = mesh_surface(box_surface([0, 0, 0], [4.0, 3.0, 5.0]), MeshSettings(1.0, 1))
    qoi = analyse_lattice_compression(mesh, TITANIUM, _case("frictionless")).qoi
    assert qoi["effective_modulus_MPa"] == pytest.approx(TITANIUM.youngs_modulus_MPa, rel=1e-7)
    assert qoi["relative_density"] == pytest.approx(1.0, rel=1e-9)
    assert qoi["relative_modulus"] == pytest.approx(1.0, rel=1e-7)
    assert (qoi["block_area_mm2"], qoi["block_height_mm"]) == pytest.approx((12.0, 5.0))


@pytest.mark.slow
def test_simple_cubic_modulus_between_independent_estimates():
    cell = 4.0
    lattice = generate_lattice(LatticeSpec("simple-cubic", 0.15, cell, (2, 2, 2)))
    mesh = mesh_surface(lattice.surface, MeshSettings(lattice.voxel_mm, 2, surface="keep"))
    qoi = analyse_lattice_compression(mesh, TITANIUM, _case("bonded")).qoi
    r = lattice.parameter
    columns = math.pi * r**2 / cell**2
    rigid_nodes = math.pi * r**2 / (cell * (cell - 2 * r))
    assert qoi["relative_density"] == pytest.approx(0.15, rel=0.02)
    # The faceted columns hold a little less area than circles of radius r (< 3 %).
    assert 0.97 * columns <= qoi["relative_modulus"] <= rigid_nodes
    # The horizontal struts stiffen the nodes only a little: closer to the columns alone.
    assert qoi["relative_modulus"] < columns + 0.5 * (rigid_nodes - columns)


@pytest.mark.slow
def test_lattice_sweep_study_fits_gibson_ashby(tmp_path, capsys):
    study = tmp_path / "sweep.toml"
    study.write_text("""
[study]
name = "sweep"
[mesh]
order = 2
[[design]]
name = "bcc"
material = "ti6al4v-am"
lattice = { type = "bcc", relative_density = [0.2, 0.35], cell_size = 4.0, cells = [2, 2, 2], resolution = 14 }
[[design]]
name = "octet"
material = "ti6al4v-am"
lattice = { type = "octet", relative_density = [0.2, 0.35], cell_size = 4.0, cells = [2, 2, 2], resolution = 14 }
[[loadcase]]
name = "coupon"
type = "lattice_compression"
force = 100.0
contact_tolerance = 0.01
""")
    out = tmp_path / "out"
    status, _, err = run_cli(capsys, "run", str(study), "-o", str(out), "--workers", "2")
    assert status == 0, err
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["design"], r["revision"]) for r in rows] == [
        ("bcc", "rho0.20"), ("bcc", "rho0.35"), ("octet", "rho0.20"), ("octet", "rho0.35")]
    for r in rows:
        assert float(r["relative_density"]) == pytest.approx(float(r["revision"][3:]), rel=0.02)
    with open(out / "gibson_ashby.csv", newline="") as fh:
        fits = {f["design"]: f for f in csv.DictReader(fh)}
    n_bcc, n_octet = float(fits["bcc"]["n"]), float(fits["octet"]["n"])
    assert n_octet < n_bcc
    assert 1.0 < n_octet < 2.0 < n_bcc < 2.6  # stretch- against bending-dominated (Gibson & Ashby)
    # Same density: the stretch-dominated cell is the stiffer one.
    moduli = {(r["design"], r["revision"]): float(r["effective_modulus_MPa"]) for r in rows}
    assert moduli["octet", "rho0.20"] > moduli["bcc", "rho0.20"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Lattice variants" in report and "cancellous" in report
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert '"generated_lattices"' in manifest and np.isfinite(n_bcc)


def test_lattice_cage_is_one_closed_solid_with_a_solid_rim(tmp_path, capsys):
    from femvalid.geometry import load_surface

    out = tmp_path / "cage.stl"
    status, _, err = run_cli(capsys, "lattice", "gyroid-sheet", "--relative-density", "0.3", "--cell-size", "3",
                             "--cage", "14", "9", "5", "--rim", "1.5", "--resolution", "12", "-o", str(out))
    assert status == 0, err
    surface, report = load_surface(out)
    assert report.valid and report.shells == 1 and not report.repairs
    assert surface.bounds.ravel().tolist() == pytest.approx([-7, -4.5, 0, 7, 4.5, 5], abs=1e-5)
    # Rim (outline minus core) plus the core at about its density: within a few per cent.
    outline = 14 * 9 - (4 - math.pi) * 3.0**2
    core = 11 * 6 - (4 - math.pi) * 1.5**2
    expected = 5 * ((outline - core) + 0.3 * core)
    assert surface.signed_volume == pytest.approx(expected, rel=0.05)
