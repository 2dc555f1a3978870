"""The patient-specific example (examples/patient/) and the report's CT figure.

The figure is drawn in patient coordinates, so a CT stored in any axis order, or
written as NIfTI (RAS) instead of held in LPS, must give the same slice; and the slice
must hold, at each place, the law's modulus of the phantom's known HU there (the
asymmetric phantom's field is linear, so trilinear sampling reproduces it exactly).
"""

import io
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from femvalid.imaging import get_calibration, get_law, read_ct, read_mask, write_nifti
from femvalid.imaging.examples import ENDPLATE_Z_MM, patient_cage_surface, patient_phantom
from femvalid.imaging.laws import conversion
from femvalid.imaging.phantoms import asymmetric_hu, asymmetric_phantom
from femvalid.imaging.volume import axis_letters
from femvalid.report.ct import modulus_slice
from tests.helpers import run_cli

PATIENT = Path(__file__).resolve().parent.parent / "examples" / "patient"
LAW, CALIBRATION = get_law("morgan2003-vertebra"), get_calibration("synthetic-apparent")


def law_modulus(hu):
    return LAW.modulus_MPa(conversion(CALIBRATION.density, LAW.density)(CALIBRATION.density_of(hu)))


def test_committed_patient_files_are_the_generated_phantom_and_plan():
    volume, mask = patient_phantom()
    stored = read_ct(PATIENT / "ct" / "vertebra.nii.gz").in_convention("LPS")
    np.testing.assert_allclose(stored.affine, volume.affine, atol=1e-6)
    np.testing.assert_allclose(stored.hu, volume.hu, rtol=1e-6)  # float32 on disc
    assert stored.axis_codes == ("L", "P", "S")
    stored_mask = read_mask(PATIENT / "ct" / "vertebra_mask.nii.gz").in_convention("LPS")
    np.testing.assert_array_equal(stored_mask.mask, mask.mask)
    from femvalid.geometry import load_surface

    surface, report = load_surface(PATIENT / "designs" / "patient_cage.stl")
    assert report.valid and not report.repairs
    assert surface.vertices[:, 2].min() == pytest.approx(ENDPLATE_Z_MM, abs=1e-9)  # on the superior endplate
    np.testing.assert_allclose(surface.vertices.min(axis=0), patient_cage_surface().vertices.min(axis=0), atol=1e-5)


@pytest.mark.parametrize("normal", [0, 1, 2])
def test_ct_slice_is_the_same_however_the_ct_is_stored(normal, tmp_path):
    phantom = asymmetric_phantom()
    centre = phantom.bounds().mean(axis=0)
    reference = modulus_slice(phantom, CALIBRATION, LAW, "LPS", centre, normal)
    copies = [phantom.reoriented(order, flips) for order in itertools.permutations(range(3))
              for flips in [(False, False, False), (True, False, True)]]
    write_nifti(phantom.reoriented((2, 0, 1), (False, True, False)), tmp_path / "ct.nii.gz")
    copies.append(read_ct(tmp_path / "ct.nii.gz"))  # RAS on disc, drawn in LPS
    for copy in copies:
        drawn = modulus_slice(copy.in_convention("LPS"), CALIBRATION, LAW, "LPS", centre, normal)
        np.testing.assert_allclose(drawn.h, reference.h, atol=1e-9)
        np.testing.assert_allclose(drawn.modulus_MPa, reference.modulus_MPa, rtol=1e-9)


def test_ct_slice_holds_the_laws_modulus_of_the_known_hu_at_each_place():
    phantom = asymmetric_phantom()
    centre = phantom.bounds().mean(axis=0)
    for convention in ("LPS", "RAS"):
        volume = phantom.in_convention(convention)
        c = centre if convention == "LPS" else centre * np.array([-1.0, -1.0, 1.0])
        s = modulus_slice(volume, CALIBRATION, LAW, convention, c, 0)
        h, v = np.meshgrid(s.h, s.v)
        points = np.stack([np.full(h.shape, c[0]), h, v], axis=-1).reshape(-1, 3)
        lps = points if convention == "LPS" else points * np.array([-1.0, -1.0, 1.0])
        inner = np.all((lps > phantom.index_to_world([[0, 0, 0]])) & (lps < phantom.index_to_world(
            [np.asarray(phantom.shape) - 1])), axis=1)  # between voxel centres: trilinear is exact
        expected = law_modulus(asymmetric_hu(lps, (1.0, 1.5, 2.0), (-3.0, 5.0, 10.0)))
        np.testing.assert_allclose(s.modulus_MPa.ravel()[inner], expected[inner], rtol=1e-9)
    # The letters name where each axis runs: in LPS +y is posterior, in RAS anterior.
    assert axis_letters("LPS", 1) == ("A", "P") and axis_letters("RAS", 1) == ("P", "A")


@pytest.mark.slow
def test_patient_example_runs_and_its_report_shows_the_ct(capsys, tmp_path):
    """The example's bone case as committed, alone and on a coarser mesh (the whole example takes a minute).

    The report's other pictures are left out here (tests/conftest.py); the CT figure is
    drawn from the job's folder as the report draws it.
    """
    import json

    import pyvista as pv
    from PIL import Image

    from femvalid.report.ct import ct_slice_picture
    from femvalid.report.scene import JobScene

    folder = tmp_path / "patient"
    shutil.copytree(PATIENT, folder)
    study = folder / "study.toml"
    text = study.read_text()
    text = text[:text.index("[[loadcase]]\nfile")] + text[text.index("[[loadcase]]\nname"):]
    study.write_text(text.replace("size = 1.25", "size = 3.0").replace("order = 2", "order = 1"))
    out = tmp_path / "out"
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert status == 0, err
    result = json.loads((out / "patient-cage" / "A" / "subsidence-into-bone" / "results.json").read_text())
    assert result["solver"]["bone"]["law"] == "morgan2003-vertebra"
    assert "planning scan" in result["solver"]["bone"]["placement"]
    q = result["qoi"]
    assert 1 / q["system_stiffness_N_per_mm"] == pytest.approx(
        1 / q["device_stiffness_N_per_mm"] + 1 / q["subsidence_stiffness_N_per_mm"], rel=1e-9)
    html = "".join(p.read_text() for p in out.rglob("*.html") if p.name != "viewer.html")
    assert "CT slices through patient-cage A / subsidence-into-bone" in html  # its place on the design page
    job = out / "patient-cage" / "A" / "subsidence-into-bone"
    fields = pv.read(job / "fields.vtu")
    E, region = np.asarray(fields.cell_data["youngs_modulus_MPa"]), np.asarray(fields.cell_data["region"])
    assert np.all(E[region == 0] == result["inputs"]["material"]["youngs_modulus_MPa"])  # the implant's; the bone's from the CT
    volume, _ = patient_phantom()
    example = get_calibration("synthetic-phantom")  # the example's: QCT density, converted to apparent
    lo, hi = LAW.modulus_MPa(conversion(example.density, LAW.density)(example.density_of([volume.hu.min(),
                                                                                          volume.hu.max()])))
    assert lo * (1 - 1e-12) <= E[region != 0].min() < E[region != 0].max() <= hi * (1 + 1e-12)
    image = ct_slice_picture(JobScene(job, result, fields))
    picture = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"))
    assert image.mime == "image/png" and picture.shape[0] > 300 and len(np.unique(picture.reshape(-1, 3), axis=0)) > 50
    axial = out / "patient-cage" / "A"
    assert not (axial / "f2077-axial-lumbar").exists()
