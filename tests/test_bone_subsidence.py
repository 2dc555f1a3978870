"""Subsidence into the patient's vertebra from CT: the chain against the foam block it must reproduce.

A CT phantom of uniform HU whose mapped modulus is the foam's, with a box-shaped
"vertebra" the size of the foam block, must give the foam block's Kp: the same
mesh, the same interface, the moduli taken through calibration, law and Bonemat
integration instead of from the library. A density gradient must stiffen or soften
it as the law says.
"""

import pytest

from femvalid.geometry import Surface, write_stl
from femvalid.geometry.implants import box_surface
from femvalid.imaging import get_calibration, get_law, write_nifti
from femvalid.imaging.laws import conversion
from femvalid.imaging.phantoms import phantom_from_function, uniform_phantom
from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
from femvalid.materials import material_from_table
from femvalid.meshing import MeshSettings, mesh_surface

LAW, CALIBRATION = "morgan2003-vertebra", "synthetic-apparent"
TITANIUM = material_from_table({"E": 110000.0, "nu": 0.3})


def foam_hu(E_MPa: float) -> float:
    """The HU whose mapped modulus is E (MPa) under the test's calibration and law."""
    law, cal = get_law(LAW), get_calibration(CALIBRATION)
    return float(cal.hu_for(conversion(law.density, cal.density)(law.density_for_modulus(E_MPa))))


@pytest.fixture(scope="module")
def implant():
    return mesh_surface(Surface.from_triangles(box_surface((-5, -4, 0), (5, 4, 5)).triangles), MeshSettings(1.5, 1))


def kp(implant, tmp_path, monkeypatch, hu, **keys):
    import femvalid.loadcases.bone as bone

    monkeypatch.setattr(bone, "POTTING_SHARE", 1e-9)  # hold the far face only, as the foam block's base is
    write_stl(tmp_path / "vertebra.stl", box_surface((-15, -15, -12), (15, 15, 0)).triangles)
    write_nifti(hu, tmp_path / "ct.nii.gz")
    table = {"name": "b", "type": "subsidence", "force": 200.0, "blocks": "bottom",
             "bone": {"ct": "ct.nii.gz", "surface": "vertebra.stl", "law": LAW, "calibration": CALIBRATION}, **keys}
    case = loadcase_from_table(table, "test", base=tmp_path)
    return LOADCASE_TYPES["subsidence"](implant, TITANIUM, case)


def test_uniform_ct_phantom_gives_the_foam_blocks_kp(implant, tmp_path, monkeypatch):
    E_foam = 123.0
    phantom = uniform_phantom(foam_hu(E_foam), shape=(36, 36, 18), spacing_mm=1.0, origin_mm=(-17.5, -17.5, -14.5))
    bone = kp(implant, tmp_path, monkeypatch, phantom)
    case = loadcase_from_table({"name": "f", "type": "subsidence", "force": 200.0, "blocks": "bottom",
                                "block_size": [30.0, 30.0, 12.0], "block_material": {"E": E_foam, "nu": 0.3}}, "t")
    foam = LOADCASE_TYPES["subsidence"](implant, TITANIUM, case)
    assert bone.qoi["subsidence_stiffness_N_per_mm"] == pytest.approx(foam.qoi["subsidence_stiffness_N_per_mm"],
                                                                      rel=1e-6)
    assert bone.solver["bone"]["law"] == LAW and "placement" in bone.solver["bone"]


def test_denser_bone_under_the_implant_is_stiffer(implant, tmp_path, monkeypatch):
    hu = foam_hu(123.0)
    uniform = kp(implant, tmp_path, monkeypatch,
                 uniform_phantom(hu, shape=(36, 36, 18), spacing_mm=1.0, origin_mm=(-17.5, -17.5, -14.5)))
    # Denser towards the endplate (z = 0): the bone right under the implant is stiffer.
    graded = phantom_from_function(lambda x: hu + 20.0 * (x[:, 2] + 6.0), (36, 36, 18), 1.0, (-17.5, -17.5, -14.5))
    stiffer = kp(implant, tmp_path, monkeypatch, graded, force=200.0)
    assert stiffer.qoi["subsidence_stiffness_N_per_mm"] > uniform.qoi["subsidence_stiffness_N_per_mm"]


def test_bone_and_block_material_together_are_refused(tmp_path):
    from femvalid.errors import InputError

    with pytest.raises(InputError, match="not both"):
        loadcase_from_table({"name": "b", "type": "subsidence", "force": 1.0, "blocks": "bottom",
                             "block_material": "pu-foam-15", "bone": {"ct": "x"}}, "case.toml", base=tmp_path)
    with pytest.raises(InputError, match='blocks = "bottom"'):
        loadcase_from_table({"name": "b", "type": "subsidence", "force": 1.0, "bone": {"ct": "x"}}, "case.toml",
                            base=tmp_path)


def test_a_changed_ct_or_mask_is_a_new_job(tmp_path):
    """The CT and the vertebra's mask are inputs: hashed into the study's inputs (and so the
    manifest), and part of the job's cache key, so a new scan at the same path is never a cache hit."""
    from femvalid.imaging import write_dicom_series
    from femvalid.imaging.phantoms import box_mask
    from femvalid.study import cache, read_study

    write_stl(tmp_path / "implant.stl", box_surface((-5, -4, 0), (5, 4, 5)).triangles)
    phantom = uniform_phantom(200.0, shape=(12, 12, 8), spacing_mm=3.0, origin_mm=(-16.5, -16.5, -19.5))
    write_dicom_series(phantom, tmp_path / "ct")
    write_nifti(box_mask(phantom, (-15, -15, -12), (15, 15, 0)), tmp_path / "mask.nii.gz")
    (tmp_path / "study.toml").write_text(
        '[study]\nname = "s"\n[mesh]\nsize = 2.0\norder = 1\n[[design]]\nname = "d"\nrevision = "A"\n'
        'stl = "implant.stl"\nmaterial = "ti6al4v-am"\n[[loadcase]]\nname = "b"\ntype = "subsidence"\n'
        'force = 100.0\nblocks = "bottom"\n'
        f'bone = {{ ct = "ct", mask = "mask.nii.gz", law = "{LAW}", calibration = "{CALIBRATION}" }}\n')

    def key_and_inputs():
        study = read_study(tmp_path / "study.toml")
        return cache.job_key(study, study.designs[0], study.loadcases[0]), study.inputs

    key, inputs = key_and_inputs()
    slices = sorted((tmp_path / "ct").iterdir())
    assert all(str(p.resolve()) in inputs for p in slices) and str((tmp_path / "mask.nii.gz").resolve()) in inputs
    assert key_and_inputs()[0] == key
    write_dicom_series(uniform_phantom(210.0, shape=(12, 12, 8), spacing_mm=3.0, origin_mm=(-16.5, -16.5, -19.5)),
                       tmp_path / "ct")
    rescanned, _ = key_and_inputs()
    assert rescanned != key
    write_nifti(box_mask(phantom, (-15, -15, -9), (15, 15, 0)), tmp_path / "mask.nii.gz")
    assert key_and_inputs()[0] not in (key, rescanned)
