"""High-cycle fatigue from a linear-elastic stress field: safety factor and runout load.

Pure functions on stress tensors at quadrature points; nothing here knows about
ASTM, load-case types or meshes.

Cycle and load ratio
--------------------
``ratio`` is the load ratio of the cyclic test, R = minimum / maximum load, both
taken algebraically with compressive loads negative (the ASTM E1823 definition that
F2077 uses). The stress field given is the one at the cycle's *peak*: the extreme of
largest magnitude, which is the load case's ``force`` (or ``torque``). The other
extreme of the cycle is ``k`` times the peak, with

    k = R       for |R| <= 1   (peak = algebraic maximum: R = 0.1 tension-tension, R = -1 reversed)
    k = 1 / R   for |R| >  1   (peak = compressive minimum: R = 10, F2077 compression, 0.1·P ... P)

so R = 10 and R = 0.1 both give k = 0.1: which of the two applies is fixed by the
sign of the peak load, which the stress field already carries. R = 1 (no cycle) is
refused. Loading is proportional, so the two extreme states are S and k·S, and per
point

    σ_a = (1 − k)/2 · S      σ_m = (1 + k)/2 · S      (+ ``static_stress`` in σ_m, if given)

Equivalent stresses (sign convention of Altair OptiStruct's FATPARM entry, 2021
reference guide: signed von Mises takes the sign of the absolute maximum principal)
------------------------------------------------------------------------------------
- ``"signed_von_mises"`` (default): σa,eq = von Mises of σ_a (≥ 0); σm,eq = von
  Mises of σ_m with the sign of σ_m's principal stress of largest magnitude (a tie,
  as in pure shear, counts as tensile: the conservative side).
- ``"max_principal"``: σa,eq = the largest magnitude among σ_a's principal stresses;
  σm,eq = the mean normal stress on that principal plane, n·σ_m·n (a tie between
  the two extreme principal planes takes the larger, more tensile, mean).

Mean-stress rule (Budynas & Nisbett, Shigley's Mechanical Engineering Design, 10th
ed., 2015, §6-12; Dowling, Mechanical Behavior of Materials, 4th ed., 2013)
-------------------------------------------------------------------------
A compressive mean stress gets no credit: σm,eq < 0 is treated as σm,eq = 0, i.e. the
failure line there is σa = Se. The safety factor n is the load-line factor (the
factor on both σa and σm that reaches the failure line):

    Goodman    1/n = σa/Se + σm/Su
    Soderberg  1/n = σa/Se + σm/Sy
    Gerber     n σa/Se + (n σm/Su)² = 1,  n = ½ (Su/σm)² (σa/Se) [−1 + √(1 + (2 σm Se/(Su σa))²)]

(Shigley's Gerber factor; evaluated in the equivalent form n = 2 / (a + √(a² + 4b²)),
a = σa/Se, b = σm/Su, which is exact at σm = 0.) Points with σa = 0 and no tensile
mean have n = ∞.

``fatigue_safety_factor`` is the volume-weighted 1st percentile of n (the counterpart
of the p99 stress; :func:`femvalid.post.stress.weighted_percentile`). Because σa and
σm both scale with the load, every one of the three load-line factors scales as
1/load — Gerber included, since its n multiplies σa and σm together — so the
predicted runout load (the largest peak load at which the factor is 1) is
``load × fatigue_safety_factor``. With a ``static_stress`` (a constant preload that
does not scale with the cyclic load) this no longer holds and the runout is found by
root finding (brentq) on the cyclic load factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from femvalid.errors import InputError, MaterialError
from femvalid.post.stress import von_mises, weighted_percentile

__all__ = [
    "CRITERIA",
    "EQUIVALENTS",
    "PERCENTILE",
    "FatigueResult",
    "load_ratio_factor",
    "cycle_stresses",
    "equivalent_stresses",
    "safety_factor",
    "safety_factor_field",
    "runout_scale",
    "evaluate_fatigue",
    "material_strengths",
    "element_values",
]

CRITERIA = ("goodman", "gerber", "soderberg")
EQUIVALENTS = ("signed_von_mises", "max_principal")
PERCENTILE = 1.0  # fatigue_safety_factor is the volume-weighted 1st percentile of n
_TIE = 1e-9  # relative tolerance for equal-magnitude principal stresses (pure shear)


@dataclass(frozen=True, eq=False)
class FatigueResult:
    """Fatigue evaluation of one load case.

    Attributes
    ----------
    safety_factor : ndarray (m, q)
        n at every quadrature point (∞ where nothing alternates and the mean is not tensile).
    alternating_MPa, mean_MPa : ndarray (m, q)
        σa,eq and the signed σm,eq (before the no-credit rule), MPa.
    weights : ndarray (m, q)
        Volume of each point, mm³.
    fatigue_safety_factor : float
        Volume-weighted 1st percentile of n.
    runout_scale : float
        Factor on the load at which that percentile equals 1.
    qoi : dict
        ``{"fatigue_safety_factor": …, "predicted_runout_<load_name>": …}``.
    """

    safety_factor: np.ndarray
    alternating_MPa: np.ndarray
    mean_MPa: np.ndarray
    weights: np.ndarray
    fatigue_safety_factor: float
    runout_scale: float
    qoi: dict

    def element_safety_factor(self, how: str = "min") -> np.ndarray:
        """n per element (m,) for fields.vtu; see :func:`element_values`."""
        return element_values(self.safety_factor, self.weights, how)


def load_ratio_factor(ratio: float) -> float:
    """k: the cycle's other extreme state is k × the peak state (see the module docstring).

    Raises
    ------
    InputError
        R = 1 (a static load, no cycle) or R not a number.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or math.isnan(ratio):
        raise InputError("fatigue_ratio", f"must be a number (R = minimum/maximum load), got {ratio!r}")
    r = float(ratio)
    if r == 1.0:
        raise InputError("fatigue_ratio",
                         "R = 1 is a constant load, not a cycle; use e.g. 10 (F2077 compression) or -1 (torsion)")
    return r if abs(r) <= 1.0 else 1.0 / r


def cycle_stresses(stress_peak: np.ndarray, ratio: float, static_stress: np.ndarray | None = None):
    """Alternating and mean stress tensors (…, 3, 3), MPa, of the cycle.

    ``stress_peak`` is the stress at the peak load; ``static_stress`` (same shape or
    broadcastable) is a constant part present at both extremes (a preload).
    """
    k = load_ratio_factor(ratio)
    s = np.asarray(stress_peak, dtype=float)
    alternating = 0.5 * (1.0 - k) * s
    mean = 0.5 * (1.0 + k) * s
    if static_stress is not None:
        mean = mean + np.asarray(static_stress, dtype=float)
    return alternating, mean


def _signed_magnitude_sign(principal: np.ndarray) -> np.ndarray:
    """+1 where the largest-magnitude principal stress is tensile (ties: +1), else −1."""
    low, high = principal[..., 0], principal[..., 2]  # eigvalsh: ascending
    return np.where(high + low >= -_TIE * (np.abs(high) + np.abs(low)), 1.0, -1.0)


def equivalent_stresses(alternating: np.ndarray, mean: np.ndarray, equivalent: str = "signed_von_mises"):
    """(σa,eq ≥ 0, signed σm,eq) per point, MPa, before the no-credit rule."""
    if equivalent == "signed_von_mises":
        sa = von_mises(alternating)
        sm = _signed_magnitude_sign(np.linalg.eigvalsh(mean)) * von_mises(mean)
        return sa, sm
    if equivalent == "max_principal":
        values, vectors = np.linalg.eigh(alternating)  # ascending; columns are directions
        low, high = values[..., 0], values[..., 2]
        n_low, n_high = vectors[..., :, 0], vectors[..., :, 2]
        normal_low = np.einsum("...i,...ij,...j->...", n_low, mean, n_low)
        normal_high = np.einsum("...i,...ij,...j->...", n_high, mean, n_high)
        a_low, a_high = np.abs(low), np.abs(high)
        tie = np.abs(a_high - a_low) <= _TIE * np.maximum(a_high, a_low)
        sa = np.maximum(a_low, a_high)
        sm = np.where(tie, np.maximum(normal_low, normal_high), np.where(a_high > a_low, normal_high, normal_low))
        return sa, sm
    raise InputError("fatigue equivalent stress", f"unknown {equivalent!r}; known: {', '.join(EQUIVALENTS)}")


def _positive(name: str, value, material: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise MaterialError(material, f"{name} must be a positive number (MPa) for fatigue, got {value!r}")
    return float(value)


def _check_strengths(criterion, endurance_limit, ultimate, yield_strength, material):
    if criterion not in CRITERIA:
        raise InputError("fatigue_criterion", f"unknown {criterion!r}; known: {', '.join(CRITERIA)}")
    if endurance_limit is None:
        raise MaterialError(
            material,
            "no endurance_limit, which fatigue_ratio needs: the library gives none for this material where no "
            "defensible published value exists; give the material inline with endurance_limit (MPa, fully "
            "reversed, 5e6-1e7 cycles, from S-N data for your material and process), e.g. material = "
            "{ E = ..., nu = ..., yield = ..., ultimate = ..., endurance_limit = ... }",
        )
    se = _positive("endurance_limit", endurance_limit, material)
    needed = "yield" if criterion == "soderberg" else "ultimate"
    value = yield_strength if criterion == "soderberg" else ultimate
    if value is None:
        raise MaterialError(material,
                            f"the {criterion} criterion needs {needed} (MPa); give it inline with the material")
    return se, _positive(needed, value, material)


def safety_factor(sa, sm, *, criterion: str = "goodman", endurance_limit: float | None,
                  ultimate: float | None = None, yield_strength: float | None = None,
                  material: str = "material") -> np.ndarray:
    """Load-line safety factor n per point from σa,eq and signed σm,eq (compressive mean: no credit)."""
    se, s_static = _check_strengths(criterion, endurance_limit, ultimate, yield_strength, material)
    a = np.asarray(sa, dtype=float) / se
    b = np.maximum(np.asarray(sm, dtype=float), 0.0) / s_static
    with np.errstate(divide="ignore"):
        if criterion == "gerber":
            return 2.0 / (a + np.sqrt(a * a + 4.0 * b * b))
        return 1.0 / (a + b)  # goodman (Su) or soderberg (Sy)


def safety_factor_field(stress_peak, ratio, *, criterion="goodman", equivalent="signed_von_mises",
                        endurance_limit, ultimate=None, yield_strength=None, static_stress=None,
                        material="material"):
    """(n, σa,eq, σm,eq) per point for the peak stress field ``stress_peak`` (…, 3, 3)."""
    alternating, mean = cycle_stresses(stress_peak, ratio, static_stress)
    sa, sm = equivalent_stresses(alternating, mean, equivalent)
    n = safety_factor(sa, sm, criterion=criterion, endurance_limit=endurance_limit, ultimate=ultimate,
                      yield_strength=yield_strength, material=material)
    return n, sa, sm


def runout_scale(stress_peak, weights, ratio, *, criterion="goodman", equivalent="signed_von_mises",
                 endurance_limit, ultimate=None, yield_strength=None, static_stress=None,
                 material="material", percentile: float = PERCENTILE) -> float:
    """Factor s on the cyclic load at which the volume-weighted percentile of n is 1.

    Without ``static_stress`` this is that percentile of n itself (n ∝ 1/load for all
    three criteria). With one, s solves p(n(s)) = 1 by brentq, s growing from 0 until
    the percentile drops below 1 (the first crossing: the largest load from zero up to
    which the factor stays ≥ 1). ∞ when nothing in the field alternates.
    """
    kwargs = dict(criterion=criterion, equivalent=equivalent, endurance_limit=endurance_limit, ultimate=ultimate,
                  yield_strength=yield_strength, material=material)
    weights = np.asarray(weights, dtype=float)
    if static_stress is None:
        n, _, _ = safety_factor_field(stress_peak, ratio, **kwargs)
        return weighted_percentile(n, weights, percentile)
    stress_peak = np.asarray(stress_peak, dtype=float)

    def excess(s: float) -> float:
        n, _, _ = safety_factor_field(s * stress_peak, ratio, static_stress=static_stress, **kwargs)
        return math.log(weighted_percentile(n, weights, percentile))  # > 0 safe, < 0 failed; log keeps it tame

    if excess(0.0) <= 0.0:
        return 0.0  # the static part alone already fails
    low, high = 0.0, 1.0
    while excess(high) > 0.0:
        low, high = high, 2.0 * high
        if high > 1e12:
            return math.inf
    return float(brentq(excess, low, high, xtol=1e-12 * high, rtol=1e-12, maxiter=200))


def evaluate_fatigue(stress_peak, weights, *, ratio: float, load: float, load_name: str = "force_N",
                     endurance_limit: float | None, ultimate: float | None = None,
                     yield_strength: float | None = None, criterion: str = "goodman",
                     equivalent: str = "signed_von_mises", static_stress=None,
                     material: str = "material") -> FatigueResult:
    """Fatigue QoIs of a load case at its peak load ``load`` (N or N·mm, magnitude).

    ``stress_peak`` (m, q, 3, 3) MPa is the stress at that load, ``weights`` (m, q) mm³.
    ``load_name`` is the QoI suffix of the load: ``"force_N"`` gives
    ``predicted_runout_force_N``, ``"torque_Nmm"`` gives ``predicted_runout_torque_Nmm``.
    ``material`` names the material in error messages (a missing endurance limit is refused).
    """
    if isinstance(load, bool) or not isinstance(load, (int, float)) or not math.isfinite(load) or load <= 0:
        raise InputError("fatigue load", f"the peak load must be a positive number, got {load!r}")
    kwargs = dict(criterion=criterion, equivalent=equivalent, endurance_limit=endurance_limit, ultimate=ultimate,
                  yield_strength=yield_strength, material=material)
    weights = np.asarray(weights, dtype=float)
    n, sa, sm = safety_factor_field(stress_peak, ratio, static_stress=static_stress, **kwargs)
    factor = weighted_percentile(n, weights, PERCENTILE)
    if static_stress is None:
        scale = factor  # n ∝ 1/load for every criterion (see the module docstring)
    else:
        scale = runout_scale(stress_peak, weights, ratio, static_stress=static_stress, **kwargs)
    qoi = {"fatigue_safety_factor": float(factor), f"predicted_runout_{load_name}": float(load * scale)}
    return FatigueResult(n, sa, sm, weights, float(factor), float(scale), qoi)


def material_strengths(material) -> dict:
    """The keyword arguments of :func:`evaluate_fatigue` taken from a :class:`~femvalid.materials.Material`."""
    return {
        "endurance_limit": material.endurance_limit_MPa,
        "ultimate": material.ultimate_MPa,
        "yield_strength": material.yield_MPa,
        "material": f"material {material.key!r}" if material.key != "inline" else "inline material",
    }


def element_values(n: np.ndarray, weights: np.ndarray, how: str = "min") -> np.ndarray:
    """Per-element value (m,) of a per-point safety factor (m, q).

    ``"min"`` (default): the smallest n of the element's points (conservative).
    ``"mean"``: the inverse of the volume mean of 1/n (the mean utilisation), which
    stays finite where some points are unloaded (n = ∞).
    """
    n = np.asarray(n, dtype=float)
    if how == "min":
        return n.min(axis=1)
    if how == "mean":
        w = np.asarray(weights, dtype=float)
        utilisation = (w / n).sum(axis=1) / w.sum(axis=1)
        with np.errstate(divide="ignore"):
            return 1.0 / utilisation
    raise ValueError(f"how must be 'min' or 'mean', got {how!r}")
