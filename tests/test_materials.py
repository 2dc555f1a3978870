"""Material library and inline materials."""

import pytest

from femvalid.errors import MaterialError
from femvalid.materials import get_material, library

# ASTM F1839 nominal values for the rigid polyurethane test foams.
FOAMS = {"pu-foam-10": (58, 2.2), "pu-foam-15": (123, 4.9), "pu-foam-20": (210, 8.4), "pu-foam-40": (759, 31)}

REQUIRED = ["ti6al4v-wrought", "ti6al4v-am", "peek", "cocrmo", "ss316l", "tantalum", *FOAMS,
            "bone-cortical", "bone-cancellous", "ss-fixture", "polyacetal"]


def test_library_has_every_required_material_with_a_source():
    materials = library()
    for key in REQUIRED:
        m = materials[key]
        assert m.source and m.youngs_modulus_MPa > 0 and -1 < m.poisson_ratio < 0.5
        assert m.yield_MPa and m.yield_MPa > 0


@pytest.mark.parametrize("key", sorted(FOAMS))
def test_foam_grades(key):
    m = get_material(key)
    assert (m.youngs_modulus_MPa, m.compressive_strength_MPa, m.poisson_ratio) == (*FOAMS[key], 0.3)


def test_titanium_is_stiffer_than_peek():
    assert get_material("ti6al4v-am").youngs_modulus_MPa / get_material("peek").youngs_modulus_MPa > 25


def test_inline_material():
    m = get_material({"E": 110000.0, "nu": 0.34, "yield": 880.0})
    assert (m.key, m.youngs_modulus_MPa, m.poisson_ratio, m.yield_MPa) == ("inline", 110000.0, 0.34, 880.0)


@pytest.mark.parametrize(
    "table, fragment",
    [
        ({"E": 0.0, "nu": 0.3}, "E must be positive"),
        ({"E": -5.0, "nu": 0.3}, "E must be positive"),
        ({"E": 100.0, "nu": 0.5}, "nu must lie between -1 and 0.5"),
        ({"E": 100.0, "nu": -1.0}, "nu must lie between -1 and 0.5"),
        ({"E": 100.0}, "missing nu"),
        ({"nu": 0.3}, "missing E"),
        ({"E": "stiff", "nu": 0.3}, "E must be a finite number"),
        ({"E": float("nan"), "nu": 0.3}, "E must be a finite number"),
        ({"E": 100.0, "nu": 0.3, "yield": -1.0}, "yield must be positive"),
        ({"E": 100.0, "nu": 0.3, "colour": "grey"}, "unknown material key(s) colour"),
    ],
)
def test_inline_material_rejected(table, fragment):
    with pytest.raises(MaterialError) as err:
        get_material(table, origin="study.toml [design] material")
    assert fragment in str(err.value) and "study.toml" in str(err.value)


def test_unknown_key_lists_known_ones():
    with pytest.raises(MaterialError, match="unknown material 'unobtainium'; known: .*ti6al4v-am"):
        get_material("unobtainium")
