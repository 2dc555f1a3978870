"""The bundled examples and the demo, as a user runs them."""

import csv
import json
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
    status, out, err = run_cli(capsys, "demo", "-o", tmp_path, "--no-progress")
    assert status == 0, err
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    jobs = [(r["design"], r["revision"], r["loadcase"]) for r in rows]
    assert jobs == [(d, rev, case) for d, rev in [("tlif-cage", "A"), ("tlif-cage", "B"), ("tlif-cage", "C"),
                                                  ("vbr", "A")]
                    for case in ("f2077-axial-lumbar", "f2267-subsidence")]
    assert all(r["status"] == "ok" for r in rows)
    stiffness = {r["revision"]: float(r["stiffness_N_per_mm"]) for r in rows
                 if r["design"] == "tlif-cage" and r["loadcase"] == "f2077-axial-lumbar"}
    assert stiffness["B"] < stiffness["A"]  # the larger window removes material
    for r in rows:
        if r["loadcase"] == "f2267-subsidence":
            ks, kd, kp = (float(r[k]) for k in ("system_stiffness_N_per_mm", "device_stiffness_N_per_mm",
                                                  "subsidence_stiffness_N_per_mm"))
            assert 1 / ks == pytest.approx(1 / kd + 1 / kp, rel=1e-9)
    for r in rows:
        folder = tmp_path / r["design"] / r["revision"] / r["loadcase"]
        result = json.loads((folder / "results.json").read_text())
        assert result["qoi"]["reaction_force_N"] == pytest.approx(1000.0, rel=1e-6)
        assert (folder / "fields.vtu").stat().st_size > 0
    assert f"results in {tmp_path}/" in out
    # The restructuring onto the Model layer moved no number of the earlier demo (recorded before it).
    reference = {(r["design"], r["revision"], r["loadcase"]): r
                 for r in csv.DictReader((Path(__file__).parent / "data" / "example_study_reference.csv").open())}
    for r in rows:
        before = reference.get((r["design"], r["revision"], r["loadcase"]))
        if before is None or r["loadcase"] == "f2267-subsidence":  # its interface is conforming now: it moved
            continue
        for key in ("stiffness_N_per_mm", "von_mises_p99_MPa", "von_mises_mean_MPa", "safety_factor_yield",
                    "subsidence_stiffness_N_per_mm", "contact_pressure_max_MPa", "volume_mm3"):
            if before.get(key):
                assert float(r[key]) == pytest.approx(float(before[key]), rel=1e-9), (r["revision"], key)
    lordotic = next(r for r in rows if r["revision"] == "C" and r["loadcase"] == "f2077-axial-lumbar")
    flat = next(r for r in rows if r["revision"] == "A" and r["loadcase"] == "f2077-axial-lumbar")
    assert float(lordotic["bearing_angle_deg"]) == pytest.approx(8.0, abs=0.05)
    assert 0.5 < float(lordotic["stiffness_N_per_mm"]) / float(flat["stiffness_N_per_mm"]) < 1.5
