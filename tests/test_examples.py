"""The bundled examples and the demo, as a user runs them."""

from pathlib import Path

import pytest

from femvalid.geometry import load_surface
from femvalid.geometry.examples import EXAMPLE_DESIGNS
from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "designs"


@pytest.mark.parametrize("design", EXAMPLE_DESIGNS, ids=lambda d: d.filename)
def test_committed_designs_match_their_models(design):
    surface, report = load_surface(EXAMPLES / design.filename)
    assert report.valid and not report.warnings and not report.repairs
    assert report.volume_mm3 == pytest.approx(design.implant.analytic_volume_mm3, rel=1e-3)


@pytest.mark.slow
def test_demo(capsys, tmp_path):
    status, out, err = run_cli(capsys, "demo", "-o", tmp_path)
    assert status == 0, err
    meshes = sorted(p.name for p in (tmp_path / "meshes").iterdir())
    assert meshes == ["tlif-cage_A.vtu", "tlif-cage_B.vtu", "vbr_A.vtu"]
    assert f"meshes (VTU, open in ParaView) are in {tmp_path / 'meshes'}" in out
    # The demo can be run again into the same folder.
    status, _, err = run_cli(capsys, "demo", "-o", tmp_path)
    assert status == 0, err
