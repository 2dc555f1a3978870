"""A notched bar against Peterson's Kt: a plate with a central hole in tension, and its hot-spot fatigue factor.

The expected numbers are the published Kt formulas (Pilkey & Pilkey chart 4.1,
Heywood, Roark), not femvalid's own output; see femvalid/verification/notch.py.
"""

import pytest

from femvalid.verification.notch import (
    HOLE_DIAMETER_MM,
    WIDTH_MM,
    heywood_hole_kt,
    notched_plate_convergence,
    peterson_hole_kt,
    roark_hole_kt,
)

D_OVER_W = HOLE_DIAMETER_MM / WIDTH_MM


def test_the_published_kt_fits_agree_and_reach_kirsch():
    """The three fits of Howland's strip solution: Kt → 3 (Kirsch) for a small hole, within 0.5 % at d/W = 0.2."""
    assert D_OVER_W == pytest.approx(0.2)
    for fit in (peterson_hole_kt, heywood_hole_kt, roark_hole_kt):
        assert fit(0.0) == pytest.approx(3.0, rel=2e-3)
        assert fit(D_OVER_W) == pytest.approx(peterson_hole_kt(D_OVER_W), rel=5e-3)
    assert peterson_hole_kt(D_OVER_W) == pytest.approx(2.519, abs=5e-4)
    assert peterson_hole_kt(0.5) == pytest.approx(2.16, abs=0.01)  # Howland: Ktg = 4.32 at d/W = 0.5


@pytest.mark.slow
def test_notch_root_stress_converges_to_peterson_kt_and_gives_the_hot_spot_fatigue_factor():
    """Three P2 meshes (0.8, 0.4, 0.2 mm at the hole): Kt within 1 % at the finest, order near 2."""
    r = notched_plate_convergence((0.8, 0.4, 0.2))
    expected = peterson_hole_kt(D_OVER_W)
    assert r["kt_expected"] == pytest.approx(expected)
    errors = [abs(k / expected - 1.0) for k in r["kt"]]
    assert errors[0] > errors[1] > errors[2], r["kt"]  # converging under refinement
    assert errors[2] <= 0.01, r["kt"]  # mesh error at 0.2 mm ≈ 0.2 %, reference ±0.4 %
    assert errors[0] <= 0.05, r["kt"]  # even four elements on the quarter arc are within 5 %
    assert 1.3 <= r["observed_order"] <= 3.0, r["observed_order"]  # P2 nodal stress: 2 asymptotically
    ratio = r["sizes_mm"][0] / r["sizes_mm"][1]
    extrapolated = r["kt"][2] + (r["kt"][2] - r["kt"][1]) / (ratio ** r["observed_order"] - 1.0)
    for fit in (peterson_hole_kt, heywood_hole_kt, roark_hole_kt):
        assert extrapolated == pytest.approx(fit(D_OVER_W), rel=0.01)

    fine = r["fine"]
    assert fine["root_node_mm"] == pytest.approx([0.0, 0.5 * HOLE_DIAMETER_MM, 0.0], abs=1e-9)
    # Fully reversed: σa = the peak stress, no mean; n = Se/(Kt·σnom) from the published Kt.
    se, nominal = fine["endurance_limit_MPa"], fine["nominal_MPa"]
    assert fine["expected_safety_factor"] == pytest.approx(se / (expected * nominal))
    assert fine["hot_spot_safety_factor"] == pytest.approx(fine["expected_safety_factor"], rel=0.01)
    assert fine["hot_spot_safety_factor"] * fine["hot_spot_von_mises_MPa"] == pytest.approx(se, rel=1e-12)
    # The root is uniaxial (free surface, symmetry, ν = 0): von Mises is the hoop stress there.
    assert fine["hot_spot_von_mises_MPa"] == pytest.approx(fine["peak_stress_MPa"], rel=2e-3)
