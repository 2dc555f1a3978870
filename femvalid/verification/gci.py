"""Grid convergence index by the procedure of Celik et al. (2008).

Celik, Ghia, Roache, Freitas, Coleman, Raad: "Procedure for estimation and reporting
of uncertainty due to discretization in CFD applications", J. Fluids Eng. 130 (2008)
078001. Three solutions on systematically refined grids give the observed order p,
the Richardson-extrapolated value and GCI_fine = Fs·e_a/(r²¹ᵖ − 1) with Fs = 1.25.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

__all__ = ["GCIResult", "gci", "representative_size", "SAFETY_FACTOR", "ORDER_RANGE"]

SAFETY_FACTOR = 1.25
#: Observed orders outside this range are flagged: the grids are probably not in the asymptotic range.
ORDER_RANGE = (0.5, 4.0)


@dataclass(frozen=True)
class GCIResult:
    """Calculation-verification result for one quantity on three grids.

    Attributes
    ----------
    order : float
        Observed order of convergence p (nan when it cannot be computed).
    extrapolated : float
        Richardson-extrapolated value φ_ext²¹.
    gci_fine_percent : float
        GCI of the fine-grid value, %.
    approximate_error_percent, extrapolated_error_percent : float
        e_a²¹ = |φ1 − φ2| / |φ1| and e_ext²¹ = |φ_ext − φ1| / |φ_ext|, %.
    convergence : {"monotonic", "oscillatory", "converged"}
    flags : list of str
        What a reader should be warned about.
    """

    order: float
    extrapolated: float
    gci_fine_percent: float
    approximate_error_percent: float
    extrapolated_error_percent: float
    convergence: str
    values: tuple
    sizes: tuple
    flags: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def representative_size(volume: float, cells: int, dimension: int = 3) -> float:
    """h = (V / N)^(1/d): mm for a volume in mm³ and d = 3."""
    return (volume / cells) ** (1.0 / dimension)


#: Changes between grids below this fraction of the values are round-off (a quantity the
#: elements represent exactly, such as uniform stress), not discretisation error.
ROUND_OFF = 1e-9


def gci(values, sizes, safety_factor: float = SAFETY_FACTOR, max_iterations: int = 200) -> GCIResult:
    """Observed order, extrapolated value and GCI_fine from three (value, size) pairs.

    Parameters
    ----------
    values : three floats
        The quantity φ on the three grids (any order).
    sizes : three floats
        Representative grid sizes h (same order as ``values``).

    Examples
    --------
    Celik et al.'s worked example (2-D, 18000 / 8000 / 4500 cells):

    >>> r = gci([6.063, 5.972, 5.863], [(1 / 18000) ** 0.5, (1 / 8000) ** 0.5, (1 / 4500) ** 0.5])
    >>> round(r.order, 2), round(r.extrapolated, 4), round(r.gci_fine_percent, 1)
    (1.53, 6.1685, 2.2)
    """
    if len(values) != 3 or len(sizes) != 3:
        raise ValueError("gci needs three values on three grids")
    pairs = sorted(zip(sizes, values))
    (h1, f1), (h2, f2), (h3, f3) = pairs
    if not 0 < h1 < h2 < h3:
        raise ValueError("grid sizes must be positive and distinct")
    r21, r32 = h2 / h1, h3 / h2
    e21, e32 = f2 - f1, f3 - f2
    flags = []
    if e21 == 0 or e32 == 0:
        return GCIResult(float("nan"), f1, 0.0, 0.0, 0.0, "converged", (f1, f2, f3), (h1, h2, h3),
                         ["the values do not change between grids: no order can be observed"])
    if max(abs(e21), abs(e32)) <= ROUND_OFF * max(abs(f1), abs(f2), abs(f3)):
        return GCIResult(float("nan"), f1, 0.0, 0.0, 0.0, "converged", (f1, f2, f3), (h1, h2, h3),
                         [f"the values change by round-off only (less than {ROUND_OFF:g} of their size) between "
                          "grids: no order can be observed"])
    ratio = e32 / e21
    s = math.copysign(1.0, ratio)
    convergence = "monotonic" if s > 0 else "oscillatory"
    if s < 0:
        flags.append("oscillatory convergence: the extrapolation and GCI are unreliable")
    p = abs(math.log(abs(ratio))) / math.log(r21)
    try:
        for _ in range(max_iterations):
            q = math.log((r21**p - s) / (r32**p - s))
            new = abs(math.log(abs(ratio)) + q) / math.log(r21)
            if abs(new - p) < 1e-12:
                p = new
                break
            p = new
    except (ZeroDivisionError, ValueError, OverflowError):  # |e32/e21| = 1 with unequal ratios, or no fixed point
        p = float("nan")
        flags.append("the observed-order iteration has no solution for these values")
    if abs(ratio) < 1:
        flags.append("diverging: the change between the finer grids exceeds that between the coarser ones")
    if not ORDER_RANGE[0] <= p <= ORDER_RANGE[1]:
        flags.append(f"observed order {p:.2f} is outside {ORDER_RANGE[0]}–{ORDER_RANGE[1]}: "
                     "the grids are probably not in the asymptotic range")
    if not p > 0 or f1 == 0:
        flags.append("no positive order or a zero fine-grid value: no extrapolation or GCI")
        return GCIResult(p, float("nan"), float("nan"), float("nan"), float("nan"), convergence,
                         (f1, f2, f3), (h1, h2, h3), flags)
    extrapolated = (r21**p * f1 - f2) / (r21**p - 1)
    e_a = abs((f1 - f2) / f1)
    e_ext = abs((extrapolated - f1) / extrapolated) if extrapolated else float("nan")
    gci_fine = safety_factor * e_a / (r21**p - 1)
    return GCIResult(p, extrapolated, 100 * gci_fine, 100 * e_a, 100 * e_ext, convergence,
                     (f1, f2, f3), (h1, h2, h3), flags)
