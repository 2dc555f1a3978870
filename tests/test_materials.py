"""Material library and inline materials."""

import pytest

from femvalid.errors import MaterialError
from femvalid.materials import get_material, library

# ASTM F1839 nominal values for the rigid polyurethane test foams.
FOAMS = {"pu-foam-10": (58, 2.2), "pu-foam-15": (123, 4.9), "pu-foam-20": (210, 8.4), "pu-foam-40": (759, 31)}

REQUIRED = ["ti6al4v-wrought", "ti6al4v-am", "ti6al4v-lpbf-as-built", "ti6al4v-lpbf-hip-machined", "peek", "cocrmo",
            "ss316l", "tantalum", *FOAMS, "bone-cortical", "bone-cancellous", "ss-fixture", "polyacetal"]


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
        ({"E": 0.0, "nu": 0.3}, "E must be a Young's modulus from 0.001 to 1.2e+06 MPa"),
        ({"E": -5.0, "nu": 0.3}, "E must be a Young's modulus from 0.001 to 1.2e+06 MPa"),
        ({"E": 1e-300, "nu": 0.3}, "E must be a Young's modulus from 0.001 to 1.2e+06 MPa"),
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


# Values that existing results depend on: E, nu, yield must not move.
PINNED = {
    "ti6al4v-wrought": (114000.0, 0.34, 795.0),
    "ti6al4v-am": (110000.0, 0.34, 825.0),
    "peek": (3600.0, 0.38, 100.0),
    "cocrmo": (210000.0, 0.30, 517.0),
    "ss316l": (193000.0, 0.30, 170.0),
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_existing_keys_keep_their_elastic_constants_and_yield(key):
    m = get_material(key)
    assert (m.youngs_modulus_MPa, m.poisson_ratio, m.yield_MPa) == PINNED[key]


def test_ti6al4v_process_states_are_separate_entries_with_sources():
    states = ["ti6al4v-wrought", "ti6al4v-lpbf-as-built", "ti6al4v-am", "ti6al4v-lpbf-hip-machined"]
    for key in states:
        m = get_material(key)
        assert m.source and m.ultimate_MPa > m.yield_MPa > 0, key
        if m.endurance_limit_MPa is None:
            assert "endurance_limit inline" in m.source, key
        else:
            assert 0 < m.endurance_limit_MPa < m.ultimate_MPa, key
    assert "F136" in get_material("ti6al4v-wrought").name


def test_endurance_limits_where_published_and_none_where_not():
    assert get_material("ti6al4v-wrought").endurance_limit_MPa == 500.0
    assert get_material("ti6al4v-am").endurance_limit_MPa == 300.0
    for key in ("peek", "cocrmo", "ti6al4v-lpbf-as-built", "ti6al4v-lpbf-hip-machined"):
        m = get_material(key)
        assert m.endurance_limit_MPa is None and "No endurance limit" in m.source, key
    assert get_material("cocrmo").ultimate_MPa == 897.0


def test_inline_endurance_limit_and_its_older_name():
    m = get_material({"E": 110000.0, "nu": 0.34, "yield": 880.0, "ultimate": 950.0, "endurance_limit": 300.0})
    assert (m.ultimate_MPa, m.endurance_limit_MPa, m.fatigue_limit_MPa) == (950.0, 300.0, 300.0)
    old = get_material({"E": 110000.0, "nu": 0.34, "fatigue": 300.0})
    assert old.endurance_limit_MPa == 300.0
    assert "endurance_limit_MPa" in m.to_dict() and "fatigue" not in m.to_dict()


@pytest.mark.parametrize(
    "table, fragment",
    [
        ({"E": 100.0, "nu": 0.3, "endurance_limit": 300.0, "fatigue": 300.0}, "not both"),
        ({"E": 100.0, "nu": 0.3, "endurance_limit": 0.0}, "endurance_limit must be positive"),
        ({"E": 100.0, "nu": 0.3, "endurance_limit": "high"}, "endurance_limit must be a finite number"),
        ({"E": 100.0, "nu": 0.3, "ultimate": 300.0, "endurance_limit": 900.0}, "cannot exceed ultimate"),
    ],
)
def test_inline_endurance_limit_rejected(table, fragment):
    with pytest.raises(MaterialError, match=fragment):
        get_material(table, origin="study.toml [design] material")
