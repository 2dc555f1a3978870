"""Fatigue safety factor and runout load from a linear stress field, against hand formulas."""

import math

import numpy as np
import pytest

from femvalid.errors import InputError, MaterialError
from femvalid.materials import get_material
from femvalid.post.fatigue import (
    CRITERIA,
    EQUIVALENTS,
    cycle_stresses,
    element_values,
    equivalent_stresses,
    evaluate_fatigue,
    load_ratio_factor,
    material_strengths,
    runout_scale,
    safety_factor,
)
from femvalid.post.stress import von_mises, weighted_percentile

SE, SU, SY = 300.0, 895.0, 825.0  # MPa
STRENGTHS = {"endurance_limit": SE, "ultimate": SU, "yield_strength": SY}


def uniform(tensor, m=6, q=4, seed=0):
    """A field of one stress tensor at (m, q) points with random positive volumes."""
    stress = np.broadcast_to(np.asarray(tensor, float), (m, q, 3, 3)).copy()
    weights = np.random.default_rng(seed).uniform(0.5, 2.0, (m, q))
    return stress, weights


def diag(a, b, c):
    return np.diag([a, b, c]).astype(float)


def random_field(m=40, q=4, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 50.0, (m, q, 3, 3))
    return 0.5 * (a + a.transpose(0, 1, 3, 2)), rng.uniform(0.1, 1.0, (m, q))


def gerber_hand(sa, sm, se=SE, su=SU):
    """Positive root of (sm/su)^2 n^2 + (sa/se) n - 1 = 0 (Gerber load line)."""
    roots = np.roots([(sm / su) ** 2, sa / se, -1.0])
    return float(max(r.real for r in roots if abs(r.imag) < 1e-12))


# --- the load ratio -------------------------------------------------------------------

@pytest.mark.parametrize("ratio, k", [(10, 0.1), (0.1, 0.1), (-1, -1.0), (0, 0.0), (-0.5, -0.5), (-2, -0.5)])
def test_load_ratio_factor(ratio, k):
    assert load_ratio_factor(ratio) == pytest.approx(k, abs=1e-15)


@pytest.mark.parametrize("ratio", [1, 1.0, float("nan"), "10", True])
def test_load_ratio_refused(ratio):
    with pytest.raises(InputError, match="fatigue_ratio"):
        load_ratio_factor(ratio)


def test_f2077_compression_cycle_runs_between_a_tenth_and_the_peak():
    peak = diag(0, 0, -10.0)
    alternating, mean = cycle_stresses(peak, 10)
    assert np.allclose(mean + alternating, peak) and np.allclose(mean - alternating, 0.1 * peak)


# --- hand formulas ---------------------------------------------------------------------

@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("equivalent", EQUIVALENTS)
def test_prism_in_uniform_compression_at_r10(criterion, equivalent):
    force, area = 1000.0, 10.0 * 12.0  # N, mm²: sigma_zz = -F/A
    stress, weights = uniform(diag(0, 0, -force / area))
    result = evaluate_fatigue(stress, weights, ratio=10, load=force, load_name="force_N", criterion=criterion,
                              equivalent=equivalent, **STRENGTHS)
    sigma_a = 0.5 * (1 - 0.1) * force / area  # the mean, -0.55 F/A, is compressive: no credit
    n = SE / sigma_a
    assert result.fatigue_safety_factor == pytest.approx(n, rel=1e-6)
    assert np.allclose(result.safety_factor, n, rtol=1e-6)
    assert result.qoi["predicted_runout_force_N"] == pytest.approx(SE * area / 0.45, rel=1e-6)
    assert set(result.qoi) == {"fatigue_safety_factor", "predicted_runout_force_N"}


@pytest.mark.parametrize("criterion", CRITERIA)
def test_shear_at_r_minus1_against_closed_form(criterion):
    tau = 40.0
    shear = np.zeros((3, 3))
    shear[0, 1] = shear[1, 0] = tau
    stress, weights = uniform(shear)
    vm = evaluate_fatigue(stress, weights, ratio=-1, load=5000.0, load_name="torque_Nmm", criterion=criterion,
                          **STRENGTHS)
    assert vm.fatigue_safety_factor == pytest.approx(SE / (math.sqrt(3) * tau), rel=1e-12)
    assert vm.qoi["predicted_runout_torque_Nmm"] == pytest.approx(5000.0 * SE / (math.sqrt(3) * tau), rel=1e-12)
    mp = evaluate_fatigue(stress, weights, ratio=-1, load=5000.0, load_name="torque_Nmm", criterion=criterion,
                          equivalent="max_principal", **STRENGTHS)
    assert mp.fatigue_safety_factor == pytest.approx(SE / tau, rel=1e-12)


def test_tube_in_torsion_runout_torque_against_closed_form():
    """tau = T r / J on a tube; the 1st percentile of n sits at the volume 99th percentile radius."""
    ri, ro, torque = 4.0, 6.0, 20000.0
    polar = math.pi / 2 * (ro**4 - ri**4)
    rng = np.random.default_rng(3)
    m, q = 2000, 4
    r = np.sqrt(rng.uniform(ri**2, ro**2, (m, q)))  # uniform in area
    theta = rng.uniform(0, 2 * math.pi, (m, q))
    weights = r * rng.uniform(0.9, 1.1, (m, q))  # volume ~ r dr dtheta dz
    tau = torque * r / polar
    e_theta = np.stack([-np.sin(theta), np.cos(theta), np.zeros_like(theta)], axis=-1)
    e_z = np.broadcast_to([0.0, 0.0, 1.0], e_theta.shape)
    dyad = e_theta[..., :, None] * e_z[..., None, :]
    stress = tau[..., None, None] * (dyad + dyad.swapaxes(-1, -2))
    result = evaluate_fatigue(stress, weights, ratio=-1, load=torque, load_name="torque_Nmm", **STRENGTHS)
    r99 = weighted_percentile(r, weights, 99.0)
    assert result.qoi["predicted_runout_torque_Nmm"] == pytest.approx(SE * polar / (math.sqrt(3) * r99), rel=1e-9)
    assert np.allclose(result.safety_factor, SE * polar / (math.sqrt(3) * torque * r), rtol=1e-9)


def test_goodman_gerber_soderberg_against_hand_values_tension_tension():
    sigma = 10.0  # MPa uniaxial tension at the peak, R = 0.1: sa = 4.5, sm = 5.5
    stress, weights = uniform(diag(sigma, 0, 0))
    sa, sm = 4.5, 5.5
    hand = {"goodman": 1 / (sa / SE + sm / SU), "soderberg": 1 / (sa / SE + sm / SY), "gerber": gerber_hand(sa, sm)}
    for criterion, n in hand.items():
        result = evaluate_fatigue(stress, weights, ratio=0.1, load=1.0, criterion=criterion, **STRENGTHS)
        assert result.fatigue_safety_factor == pytest.approx(n, rel=1e-12), criterion
    # Shigley's closed form of the Gerber factor
    shigley = 0.5 * (SU / sm) ** 2 * (sa / SE) * (-1 + math.sqrt(1 + (2 * sm * SE / (SU * sa)) ** 2))
    assert hand["gerber"] == pytest.approx(shigley, rel=1e-12)
    assert hand["soderberg"] < hand["goodman"] < hand["gerber"]


def test_gerber_is_finite_and_exact_without_mean():
    n = safety_factor(np.array([30.0]), np.array([0.0]), criterion="gerber", endurance_limit=SE, ultimate=SU)
    assert n[0] == 10.0


def test_unloaded_points_have_infinite_factor():
    n = safety_factor(np.array([0.0, 0.0]), np.array([0.0, -5.0]), endurance_limit=SE, ultimate=SU)
    assert np.all(np.isinf(n))


# --- the mean-stress rule and the equivalent stress -----------------------------------------------

@pytest.mark.parametrize("criterion", CRITERIA)
def test_compressive_mean_gets_no_credit(criterion):
    kwargs = dict(criterion=criterion, endurance_limit=SE, ultimate=SU, yield_strength=SY)
    sa = np.array([50.0, 50.0, 50.0])
    n = safety_factor(sa, np.array([-200.0, 0.0, 100.0]), **kwargs)
    assert n[0] == n[1] == pytest.approx(SE / 50.0, rel=1e-15)
    assert n[2] < n[1]


def test_signed_von_mises_takes_the_sign_of_the_largest_magnitude_principal_stress():
    # diag(10, 10, -15): trace +5 but the largest-magnitude principal stress is -15: compressive
    mean = np.stack([diag(10, 10, -15), diag(15, -10, -10), diag(20, 0, -5)])
    _, sm = equivalent_stresses(np.zeros_like(mean), mean)
    assert np.allclose(np.abs(sm), von_mises(mean))
    assert list(np.sign(sm)) == [-1.0, 1.0, 1.0]


def test_pure_shear_mean_counts_as_tensile():
    shear = np.zeros((3, 3))
    shear[0, 2] = shear[2, 0] = 30.0
    _, sm = equivalent_stresses(np.zeros((3, 3)), shear)
    assert sm == pytest.approx(math.sqrt(3) * 30.0)
    _, sm = equivalent_stresses(shear, shear, "max_principal")
    assert sm == pytest.approx(30.0)


def test_max_principal_uses_the_mean_normal_stress_on_the_alternating_principal_plane():
    alternating = diag(0, 0, -40.0)
    mean = diag(70.0, 0, 25.0)  # 25 MPa normal to the z plane
    sa, sm = equivalent_stresses(alternating, mean, "max_principal")
    assert (float(sa), float(sm)) == pytest.approx((40.0, 25.0))


# --- percentile, runout, fields -----------------------------------------------------------

def test_safety_factor_is_the_volume_weighted_first_percentile():
    stress, weights = random_field(m=1000)
    result = evaluate_fatigue(stress, weights, ratio=10, load=800.0, **STRENGTHS)
    assert result.fatigue_safety_factor == weighted_percentile(result.safety_factor, weights, 1.0)
    assert result.fatigue_safety_factor > result.safety_factor.min()


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("equivalent", EQUIVALENTS)
@pytest.mark.parametrize("ratio", [10, -1, 0.1, 0])
def test_runout_load_gives_a_factor_of_one(criterion, equivalent, ratio):
    stress, weights = random_field()
    load = 800.0
    kwargs = dict(ratio=ratio, criterion=criterion, equivalent=equivalent, **STRENGTHS)
    result = evaluate_fatigue(stress, weights, load=load, **kwargs)
    runout = result.qoi["predicted_runout_force_N"]
    again = evaluate_fatigue(stress * (runout / load), weights, load=runout, **kwargs)
    assert again.fatigue_safety_factor == pytest.approx(1.0, rel=1e-12)
    # the root finder (used with a preload) agrees with the closed form n ∝ 1/load, Gerber included
    solved = runout_scale(stress, weights, static_stress=np.zeros((3, 3)), **kwargs)
    assert solved == pytest.approx(result.runout_scale, rel=1e-9)


def test_runout_with_a_preload_solves_for_a_factor_of_one():
    stress, weights = random_field(seed=5)
    preload = diag(0, 0, 20.0)  # a constant tensile part that does not scale with the cyclic load
    kwargs = dict(ratio=-1, criterion="goodman", **STRENGTHS)
    result = evaluate_fatigue(stress, weights, load=1000.0, static_stress=preload, **kwargs)
    runout = result.qoi["predicted_runout_force_N"]
    again = evaluate_fatigue(stress * (runout / 1000.0), weights, load=runout, static_stress=preload, **kwargs)
    assert again.fatigue_safety_factor == pytest.approx(1.0, rel=1e-9)
    plain = evaluate_fatigue(stress, weights, load=1000.0, **kwargs)
    assert runout < plain.qoi["predicted_runout_force_N"]  # a tensile preload lowers the runout load


def test_element_values():
    n = np.array([[2.0, 4.0, np.inf], [1.0, 1.0, 1.0]])
    w = np.array([[1.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    assert list(element_values(n, w)) == [2.0, 1.0]
    assert element_values(n, w, "mean") == pytest.approx([4.0 / (0.5 + 0.25), 1.0])
    with pytest.raises(ValueError):
        element_values(n, w, "max")


# --- refusals --------------------------------------------------------------------------------------

def test_refused_without_an_endurance_limit():
    stress, weights = uniform(diag(0, 0, -10.0))
    peek = get_material("peek")
    assert peek.endurance_limit_MPa is None
    with pytest.raises(MaterialError) as err:
        evaluate_fatigue(stress, weights, ratio=10, load=1000.0, **material_strengths(peek))
    message = str(err.value)
    assert "'peek'" in message and "endurance_limit" in message and "inline" in message


def test_library_material_strengths_are_used():
    stress, weights = uniform(diag(0, 0, -10.0))
    wrought = get_material("ti6al4v-wrought")
    result = evaluate_fatigue(stress, weights, ratio=10, load=1000.0, **material_strengths(wrought))
    assert result.fatigue_safety_factor == pytest.approx(wrought.endurance_limit_MPa / 4.5)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"criterion": "soderberg", "endurance_limit": SE, "ultimate": SU}, MaterialError, "needs yield"),
        ({"criterion": "goodman", "endurance_limit": SE, "yield_strength": SY}, MaterialError, "needs ultimate"),
        ({"criterion": "morrow", **STRENGTHS}, InputError, "unknown 'morrow'"),
        ({"equivalent": "tresca", **STRENGTHS}, InputError, "unknown 'tresca'"),
        ({"endurance_limit": -3.0, "ultimate": SU}, MaterialError, "endurance_limit must be a positive"),
    ],
)
def test_bad_options_refused(kwargs, error, fragment):
    stress, weights = uniform(diag(0, 0, -10.0))
    with pytest.raises(error, match=fragment):
        evaluate_fatigue(stress, weights, ratio=10, load=1000.0, **kwargs)


@pytest.mark.parametrize("load", [0.0, -5.0, float("inf"), "1000"])
def test_bad_load_refused(load):
    stress, weights = uniform(diag(0, 0, -10.0))
    with pytest.raises(InputError, match="peak load"):
        evaluate_fatigue(stress, weights, ratio=10, load=load, **STRENGTHS)
