"""CT volumes, calibration and density-modulus laws, Bonemat-style mapping, and the vertebra block.

Every phantom is made in code; files go to pytest's tmp_path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femvalid.errors import InputError
from femvalid.imaging import (bone_block, bone_inputs_from_table, calibration_from_table,
                              conversion, get_calibration, get_law, laws, map_material, mask_surface, read_ct,
                              read_dicom_series, read_nifti, write_dicom_series, write_nifti)
from femvalid.imaging import phantoms, verify
from femvalid.imaging.laws import DENSITY_TYPES
from femvalid.verification.structured import box_mesh

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")

ORIENTATIONS = [((0, 1, 2), (False, False, False)), ((0, 1, 2), (True, False, False)),
                ((0, 1, 2), (False, True, True)), ((1, 0, 2), (False, False, False)),
                ((2, 0, 1), (True, False, True)), ((0, 2, 1), (False, True, False))]


def _random_points(volume, n=200, seed=0):
    rng = np.random.default_rng(seed)
    index = rng.uniform(0.0, 1.0, (n, 3)) * (np.asarray(volume.shape) - 1)
    return volume.index_to_world(index, "LPS")


# -- laws and calibrations ------------------------------------------------------------------

def test_every_law_states_its_source_site_and_density_type():
    table = laws()
    assert {"morgan2003-vertebra", "keyak-ash", "kopperdahl-keaveny-1998", "crawford-2003"} <= set(table)
    for law in table.values():
        assert law.density in DENSITY_TYPES and law.site and len(law.source) > 40 and law.nu_source
        assert law.yield_strength is not None or law.yield_strain_compression is not None
        assert law.to_dict()["formula"].startswith("E =")


def test_law_coefficients():
    morgan, keyak = get_law("morgan2003-vertebra"), get_law("keyak-ash")
    assert morgan.modulus_MPa(0.2) == pytest.approx(4730.0 * 0.2**1.56, rel=1e-14)
    assert get_law("kopperdahl-keaveny-1998").modulus_MPa(0.2) == pytest.approx(2100 * 0.2 - 80, rel=1e-14)
    assert get_law("crawford-2003").modulus_MPa(0.2) == pytest.approx(3230 * 0.2 - 34.7, rel=1e-14)
    assert keyak.modulus_MPa(0.2) == pytest.approx(33900 * 0.2**2.2)
    assert keyak.modulus_MPa(0.4) == pytest.approx(5307 * 0.4 + 469)
    assert keyak.modulus_MPa(0.8) == pytest.approx(10200 * 0.8**2.01)
    for rho in (0.27, 0.6):  # Keyak's pieces meet (to the published digits)
        assert keyak.modulus_MPa(rho - 1e-12) == pytest.approx(keyak.modulus_MPa(rho + 1e-12), rel=1e-3)
    assert keyak.yield_strength_MPa(0.317 - 1e-12) == pytest.approx(keyak.yield_strength_MPa(0.317), rel=1e-3)
    assert keyak.yield_strength_MPa(0.25) == pytest.approx(137 * 0.25**1.88)
    E = morgan.modulus_MPa(0.2)
    assert morgan.yield_strength_MPa(0.2) == pytest.approx(E * 0.0077)
    assert morgan.density_for_modulus(E) == pytest.approx(0.2, rel=1e-10)


def test_floor_below_the_law_range():
    morgan, crawford = get_law("morgan2003-vertebra"), get_law("crawford-2003")
    assert morgan.modulus_MPa(0.01) == pytest.approx(morgan.modulus_MPa(morgan.density_min))  # no extrapolation
    assert morgan.modulus_MPa(0.01, floor=5.0) == pytest.approx(max(4730 * 0.01**1.56, 5.0))
    assert crawford.modulus_MPa(0.0) == crawford.E_min  # negative law value → the last-resort floor
    assert crawford.yield_strength_MPa(0.0) == 0.0


def test_conversions_are_linear_and_invert():
    c = conversion("qct", "apparent")
    assert c(0.2) == pytest.approx((0.877 * 0.2 + 0.079) / 0.6)
    assert conversion("apparent", "qct")(c(0.2)) == pytest.approx(0.2)
    assert conversion("ash", "ash")(0.3) == 0.3 and conversion("apparent", "ash")(0.5) == pytest.approx(0.3)


def test_calibrations_from_the_study_file():
    cal = calibration_from_table({"a": -1.0, "b": 0.9, "unit": "mg/cm3"})
    assert cal.density_of(1000.0) == pytest.approx(0.899) and cal.density == "qct"
    rods = calibration_from_table({"hu": [0.0, 100.0, 200.0], "density": [0.0, 80.0, 160.0], "unit": "mg/cm3",
                                   "density_type": "ash"})
    assert rods.b == pytest.approx(0.0008) and rods.a == pytest.approx(0.0, abs=1e-12) and rods.r2 == pytest.approx(1)
    assert get_calibration("synthetic-phantom").density_of(150.0) == pytest.approx(0.15)
    for bad, why in [({"a": 0.0}, "needs a and b"), ({"a": 0.0, "b": -1e-3}, "rise with HU"),
                     ({"a": 0.0, "b": 1e-3, "slope": 1}, "unknown calibration key"),
                     ({"hu": [1.0, 1.0], "density": [0.1, 0.2]}, "two distinct"), ("no-such", "unknown calibration"),
                     ({"a": 0.0, "b": 1e-3, "density_type": "wet"}, "density_type")]:
        with pytest.raises(InputError, match=why) as err:
            calibration_from_table(bad)
        assert err.value.exit_status == 2
    with pytest.raises(InputError, match="unknown density-modulus law"):
        get_law("carter-hayes")


# -- volumes, conventions, orientation -------------------------------------------------------

def test_conventions_and_reoriented_copies_keep_every_voxel_in_place():
    volume = phantoms.asymmetric_phantom()
    assert volume.axis_codes == ("L", "P", "S")
    ras = volume.in_convention("RAS")
    assert ras.axis_codes == ("L", "P", "S")  # the body directions do not depend on the convention
    np.testing.assert_allclose(ras.affine[:2], -volume.affine[:2])
    points = _random_points(volume)
    expected = phantoms.asymmetric_hu(points, (1.0, 1.5, 2.0), (-3.0, 5.0, 10.0))
    for order, flips in ORIENTATIONS:
        copy = volume.reoriented(order, flips)
        hu, inside = copy.sample_hu(points, "LPS")
        assert inside.all()
        np.testing.assert_allclose(hu, expected, atol=1e-9)
        hu_ras, _ = copy.in_convention("RAS").sample_hu(points * [-1, -1, 1], "RAS")
        np.testing.assert_allclose(hu_ras, expected, atol=1e-9)
    assert not volume.contains([[1e3, 0.0, 0.0]]).any()


@pytest.mark.parametrize("order, flips", ORIENTATIONS)
def test_dicom_round_trip_keeps_orientation(tmp_path, order, flips):
    volume = phantoms.asymmetric_phantom().reoriented(order, flips)
    write_dicom_series(volume, tmp_path)
    back = read_dicom_series(tmp_path)
    assert back.convention == "LPS" and back.shape[2] == volume.shape[2]
    points = _random_points(volume)
    hu, inside = back.sample_hu(points, "LPS")
    assert inside.all()
    np.testing.assert_allclose(hu, phantoms.asymmetric_hu(points, (1.0, 1.5, 2.0), (-3.0, 5.0, 10.0)), atol=1e-6)
    normal = np.cross(volume.affine[:3, 0], volume.affine[:3, 1])
    if volume.affine[:3, 2] @ normal > 0:  # slices already in the order DICOM reading sorts them: affine kept exactly
        np.testing.assert_allclose(back.affine, volume.affine, atol=1e-9)


def test_dicom_rescale_gives_hu(tmp_path):
    volume, _ = phantoms.vertebra_phantom(shape=(12, 12, 6))
    write_dicom_series(volume, tmp_path, slope=0.5, intercept=-2048.0)
    back = read_ct(tmp_path)
    assert np.max(np.abs(back.hu - volume.hu)) <= 0.25 + 1e-6  # stored = round((HU - intercept) / slope)
    ds = pydicom.dcmread(sorted(tmp_path.iterdir())[0])
    assert float(ds.RescaleSlope) == 0.5 and float(ds.RescaleIntercept) == -2048.0 and ds.Modality == "CT"


def _series(tmp_path, name="ct"):
    folder = tmp_path / name
    write_dicom_series(phantoms.asymmetric_phantom(), folder)
    return folder, sorted(folder.glob("*.dcm"))


def _edit(path, change):
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def test_dicom_series_faults_are_input_errors_naming_the_file(tmp_path):
    folder, files = _series(tmp_path, "gap")
    files[4].unlink()
    with pytest.raises(InputError, match="gap in the series") as err:
        read_dicom_series(folder)
    assert err.value.exit_status == 2 and files[5].name in str(err.value)

    folder, files = _series(tmp_path, "orientation")
    _edit(files[3], lambda ds: setattr(ds, "ImageOrientationPatient", [0, 1, 0, 1, 0, 0]))
    with pytest.raises(InputError, match="mixed orientations") as err:
        read_dicom_series(folder)
    assert files[3].name in str(err.value)

    folder, files = _series(tmp_path, "rescale")
    _edit(files[2], lambda ds: delattr(ds, "RescaleSlope"))
    with pytest.raises(InputError, match="no RescaleSlope") as err:
        read_dicom_series(folder)
    assert files[2].name in str(err.value)

    folder, files = _series(tmp_path, "modality")
    _edit(files[0], lambda ds: setattr(ds, "Modality", "MR"))
    with pytest.raises(InputError, match="modality 'MR', not CT") as err:
        read_dicom_series(folder)
    assert files[0].name in str(err.value)

    folder, files = _series(tmp_path, "two")
    write_dicom_series(phantoms.asymmetric_phantom(), folder, prefix="other")
    with pytest.raises(InputError, match="2 series in one folder"):
        read_dicom_series(folder)

    folder, files = _series(tmp_path, "duplicate")
    _edit(files[1], lambda ds: setattr(ds, "ImagePositionPatient", pydicom.dcmread(files[0]).ImagePositionPatient))
    with pytest.raises(InputError, match="duplicate slices|gap"):
        read_dicom_series(folder)

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not dicom")
    with pytest.raises(InputError, match="no DICOM files"):
        read_dicom_series(tmp_path / "empty")


def test_nifti_round_trip_in_ras(tmp_path):
    for k, (order, flips) in enumerate(ORIENTATIONS):
        volume = phantoms.asymmetric_phantom().reoriented(order, flips)
        path = write_nifti(volume, tmp_path / f"ct{k}.nii.gz")
        back = read_nifti(path)
        assert back.convention == "RAS"
        np.testing.assert_allclose(back.in_convention("LPS").affine, volume.affine, atol=1e-5)
        np.testing.assert_array_equal(back.hu, volume.hu)
        assert back.axis_codes == volume.axis_codes


def test_nifti_without_orientation_or_not_3d_is_refused(tmp_path):
    image = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    image.set_sform(np.eye(4), code=0)
    image.set_qform(np.eye(4), code=0)
    nib.save(image, tmp_path / "bare.nii")
    with pytest.raises(InputError, match="states no orientation"):
        read_nifti(tmp_path / "bare.nii")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), tmp_path / "four.nii")
    with pytest.raises(InputError, match="3-D"):
        read_nifti(tmp_path / "four.nii")
    with pytest.raises(InputError):
        read_ct(tmp_path / "missing.nii.gz")


def test_dicom_to_nifti_and_back_the_right_way_round(tmp_path):
    volume = phantoms.asymmetric_phantom().reoriented((2, 0, 1), (True, True, False))
    write_dicom_series(volume, tmp_path / "dcm")
    via_dicom = read_ct(tmp_path / "dcm")
    via_nifti = read_ct(write_nifti(via_dicom, tmp_path / "ct.nii"))
    points = _random_points(volume, seed=3)
    a, _ = via_dicom.sample_hu(points, "LPS")
    b, _ = via_nifti.sample_hu(points * [-1, -1, 1], "RAS")
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, phantoms.asymmetric_hu(points, (1.0, 1.5, 2.0), (-3.0, 5.0, 10.0)), atol=1e-6)


def test_vertebra_phantom_layers():
    volume, mask = phantoms.vertebra_phantom()
    assert volume.shape == (32, 32, 32) and mask.mask.sum() > 0
    centre, _ = volume.sample_hu([[0.0, 0.0, 0.0]])
    posterior, _ = volume.sample_hu([[0.0, 8.0, 0.0]])
    assert centre[0] == pytest.approx(150.0, abs=1.0) and posterior[0] > centre[0]  # the density gradient
    shell, _ = volume.sample_hu([[0.0, 0.0, 11.5]])
    assert shell[0] == pytest.approx(phantoms.CORTICAL_HU)
    outside, _ = volume.sample_hu([[23.0, 0.0, 0.0]])
    assert outside[0] == pytest.approx(phantoms.SOFT_TISSUE_HU)


# -- mask to surface ---------------------------------------------------------------------------

def test_mask_contours_to_a_closed_surface_in_either_convention():
    volume = phantoms.uniform_phantom(300.0, shape=(20, 20, 12), spacing_mm=(1.0, 1.0, 1.5),
                                      origin_mm=(-9.5, -9.5, 0.0))
    mask = phantoms.cylinder_mask(volume, 6.0, (2.0, 14.0))
    surface = mask_surface(mask)
    from femvalid.geometry import topology
    assert topology.shells(surface.faces)[0] == 1
    expected = mask.mask.sum() * mask.voxel_volume_mm3
    assert surface.signed_volume == pytest.approx(expected, rel=0.08)
    assert surface.signed_volume == pytest.approx(math.pi * 36 * 12.0, rel=0.06)  # 8 slices of 1.5 mm
    ras = mask_surface(mask, "RAS")
    np.testing.assert_allclose(ras.vertices, surface.vertices * [-1, -1, 1])
    assert ras.signed_volume == pytest.approx(surface.signed_volume)


# -- mapping -----------------------------------------------------------------------------------

def test_uniform_hu_maps_the_law_exactly_and_gives_EA_over_L():
    for order in (1, 2):
        result = verify.uniform_cylinder(order=order)
        assert result["E_mapped_max_deviation"] < 1e-14
        assert result["stiffness_N_per_mm"] == pytest.approx(result["expected_stiffness_N_per_mm"], rel=1e-12)


def test_mapped_modulus_is_the_element_integral_on_a_linear_phantom():
    result = verify.element_integrals(degree=6)
    assert result["max_relative_error"] < 1e-12
    assert verify.element_integrals(degree=4)["max_relative_error"] < 1e-10
    assert result["centroid_max_relative_error"] > 1e-5  # E at the centroid is not the integral


def test_binning_keeps_each_bins_volume_weighted_modulus():
    volume = phantoms.linear_phantom(150.0, (0.0, 0.0, 10.0), shape=(10, 10, 24), origin_mm=(-4.5, -4.5, -1.5))
    mesh = box_mesh((6.0, 6.0, 20.0), (3, 3, 10), origin=(-3.0, -3.0, 0.0))
    law, cal = get_law("morgan2003-vertebra"), get_calibration("synthetic-apparent")
    full = map_material(mesh, volume, cal, law)
    binned = map_material(mesh, volume, cal, law, bins=5)
    assert len(binned.bin_moduli_MPa) <= 5 and len(np.unique(binned.youngs_modulus_MPa)) == len(binned.bin_moduli_MPa)
    V = mesh.element_volumes
    for i in range(len(binned.bin_moduli_MPa)):
        sel = binned.material_ids == i
        assert binned.bin_moduli_MPa[i] == pytest.approx((V[sel] * full.youngs_modulus_MPa[sel]).sum() / V[sel].sum())
    np.testing.assert_allclose(binned.unbinned_modulus_MPa, full.youngs_modulus_MPa)
    np.testing.assert_allclose(full.yield_strain_compression, 0.0077)


def test_mesh_outside_the_ct_is_refused():
    volume = phantoms.uniform_phantom(200.0, shape=(8, 8, 8))
    mesh = box_mesh((4.0, 4.0, 4.0), (2, 2, 2), origin=(5.0, 5.0, 5.0))
    with pytest.raises(InputError, match="outside the CT volume"):
        map_material(mesh, volume, get_calibration("synthetic-apparent"), get_law("morgan2003-vertebra"))


def test_gradient_along_the_axis_gives_the_series_stiffness():
    coarse = verify.gradient_prism(counts=(3, 3, 10))
    fine = verify.gradient_prism(counts=(3, 3, 20))
    assert abs(fine["relative_error"]) < 1e-3
    assert abs(coarse["relative_error"]) / abs(fine["relative_error"]) == pytest.approx(4.0, rel=0.1)  # O(h²)


def test_orientation_flipped_copies_give_the_same_stiffness(tmp_path):
    base = phantoms.linear_phantom(150.0, (0.0, 0.0, 10.0), shape=(10, 10, 24), origin_mm=(-4.5, -4.5, -1.5))
    reference = verify.gradient_prism(volume=base, counts=(3, 3, 8))["stiffness_N_per_mm"]
    for k, (order, flips) in enumerate(ORIENTATIONS[1:4]):
        copy = base.reoriented(order, flips)
        folder = tmp_path / f"dcm{k}"
        write_dicom_series(copy, folder)
        nifti = write_nifti(copy, tmp_path / f"ct{k}.nii.gz")
        for volume in (copy, read_ct(folder), read_ct(nifti)):
            K = verify.gradient_prism(volume=volume, counts=(3, 3, 8))["stiffness_N_per_mm"]
            assert K == pytest.approx(reference, rel=1e-10)


# -- the study file's bone table and the vertebra block ------------------------------------------

@pytest.fixture
def vertebra_files(tmp_path):
    volume, mask = phantoms.vertebra_phantom(shape=(32, 32, 32))
    write_dicom_series(volume, tmp_path / "ct")
    write_nifti(mask, tmp_path / "vertebra_mask.nii.gz")
    write_nifti(volume, tmp_path / "ct.nii.gz")
    return tmp_path


def test_bone_table_is_checked(vertebra_files):
    base = vertebra_files
    good = {"ct": "ct", "mask": "vertebra_mask.nii.gz", "law": "morgan2003-vertebra", "calibration": "synthetic-phantom"}
    inputs = bone_inputs_from_table(good, base)
    assert inputs.ct_kind == "dicom" and inputs.mask == base / "vertebra_mask.nii.gz" and inputs.coordinates == "LPS"
    assert bone_inputs_from_table({**good, "ct": "ct.nii.gz", "coordinates": "RAS", "bins": 8}, base).ct_kind == "nifti"
    bad = [({**good, "colour": "red"}, "unknown bone key"), ({**good, "surface": "v.stl"}, "one of them"),
           ({k: v for k, v in good.items() if k != "mask"}, "one of them"), ({**good, "ct": "nowhere"}, "no such"),
           ({**good, "law": "nope"}, "unknown density-modulus law"), ({**good, "calibration": {"a": 1}}, "needs a and b"),
           ({**good, "coordinates": "RAI"}, "coordinates"), ({**good, "mask": "missing.nii.gz"}, "no such file"),
           ({**good, "bins": 0}, "bins"), ({**good, "floor": -1}, "floor"), ({**good, "nu": 0.5}, "nu")]
    for table, why in bad:
        with pytest.raises(InputError, match=why) as err:
            bone_inputs_from_table(table, base)
        assert err.value.exit_status == 2


def test_vertebra_block_from_dicom_and_mask(vertebra_files):
    table = {"ct": "ct", "mask": "vertebra_mask.nii.gz", "law": "morgan2003-vertebra",
             "calibration": {"a": 0.0, "b": 0.001, "density_type": "apparent"}}
    block = bone_block(bone_inputs_from_table(table, vertebra_files), size_mm=4.0, order=1)
    mesh = block.mesh
    assert len(block.youngs_modulus_MPa) == len(mesh.elements) == len(block.poisson_ratio)
    assert mesh.volume == pytest.approx(math.pi * 20 * 15 * 24, rel=0.06)
    law = get_law("morgan2003-vertebra")
    E = block.youngs_modulus_MPa
    assert E.min() >= law.modulus_MPa(0.04) and E.max() <= law.modulus_MPa(1.0) * (1 + 1e-12)
    top = mesh.nodes[mesh.corners].mean(axis=1)[:, 2] > 8.0  # denser towards the endplates and cortex
    middle = np.abs(mesh.nodes[mesh.corners].mean(axis=1)[:, 2]) < 3.0
    assert np.median(E[top]) > np.median(E[middle])
    info = block.to_dict()
    assert info["coordinates"] == "LPS" and info["ct_axis_codes"] == "LPS" and info["mapping"]["law"]["key"]


def test_uniform_cylinder_through_the_whole_chain(tmp_path):
    hu = 250.0
    volume = phantoms.uniform_phantom(hu, shape=(20, 20, 14), spacing_mm=1.0, origin_mm=(-9.5, -9.5, 0.5))
    write_dicom_series(volume, tmp_path / "ct")
    write_nifti(phantoms.cylinder_mask(volume, 6.5), tmp_path / "mask.nii.gz")
    table = {"ct": "ct", "mask": "mask.nii.gz", "law": "morgan2003-vertebra", "calibration": "synthetic-apparent"}
    block = bone_block(bone_inputs_from_table(table, tmp_path), size_mm=2.0, order=1)
    E = float(get_law("morgan2003-vertebra").modulus_MPa(hu * 1e-3))
    np.testing.assert_allclose(block.youngs_modulus_MPa, E, rtol=1e-12)
    z = block.mesh.nodes[:, 2]
    length = z.max() - z.min()
    assert length == pytest.approx(14.0)  # the mask reaches the scan's faces: flat ends
    K = verify.axial_stiffness(block.mesh, block.youngs_modulus_MPa, block.poisson_ratio)
    # A contoured prism: E·A/L with A = V/L, to the cross-section's variation along z.
    assert K == pytest.approx(E * block.mesh.volume / length**2, rel=5e-3)


def test_ct_that_misses_the_vertebra_is_refused(tmp_path):
    from femvalid.geometry.stl import write_stl

    volume = phantoms.uniform_phantom(200.0, shape=(10, 10, 10))
    write_nifti(volume, tmp_path / "ct.nii.gz")
    mesh_surface = mask_surface(phantoms.box_mask(volume, (2.0, 2.0, 2.0), (7.0, 7.0, 7.0)))
    write_stl(tmp_path / "far.stl", mesh_surface.translated((100.0, 0.0, 0.0)).triangles)
    table = {"ct": "ct.nii.gz", "surface": "far.stl", "law": "keyak-ash", "calibration": "synthetic-phantom"}
    with pytest.raises(InputError, match="does not overlap"):
        bone_block(bone_inputs_from_table(table, tmp_path), size_mm=2.0)
