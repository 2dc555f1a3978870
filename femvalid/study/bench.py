"""Bench curves: stiffness and offset yield from a force–displacement curve, and their
comparison with the finite-element values as E = S − D (ASME V&V 20).

A ``[[validation]]`` entry may give ``curve = "bench.csv"`` (two columns: displacement
mm, force N; a header line is skipped; compression recorded as negative numbers is
turned positive) instead of one ``measured`` number. femvalid then determines, as
ASTM F2077 reports a static test:

- **stiffness** K, the slope of the linear elastic region: a least-squares line is
  fitted to every window of consecutive points holding ``linear_window`` (default
  0.2) of the points up to the peak force, and the steepest window whose fit has
  R² ≥ 0.99 is taken (the toe region at the start and the yielding region beyond it
  are both less steep than the linear region). The line crosses F = 0 at δ₀ (the toe).
- **offset yield force**: where the curve first falls below the line parallel to the
  elastic line, offset along the displacement axis by ``offset_percent`` (default 2)
  of a reference length, F = K·(δ − δ₀ − δ_off), interpolated linearly between the two
  points that straddle it. F2077 uses an offset displacement of 2 % of the device's
  (intradiscal) height; F1717 uses 2 % of the active length. The reference length is
  ``reference_length_mm``, by default the device's height: its STL's extent along z.
  Check the offset against the edition of the standard you test to.

Each is compared with the finite-element value S of its job as E = S − D (ASME V&V
20-2009), with the validation uncertainty u_val = √(u_num² + u_D²): u_num from the
job's GCI where a three-mesh study was run (GCI·|S|), u_D from the fit's standard
error of the slope and the bench's own ``uncertainty_percent`` (input uncertainty
u_input is not estimated). Linear elasticity has no yield: its counterpart of the
yield force is the force at which the 99th percentile of von Mises reaches the yield
strength (``force_N × safety_factor_yield``), the onset of yielding, so E < 0 is
expected there; the peak-based ``first_yield_force_N`` is reported beside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femvalid._files import MAX_TEXT_BYTES, read_input_bytes
from femvalid.errors import InputError

__all__ = ["BenchCurve", "DEFAULT_OFFSET_PERCENT", "DEFAULT_WINDOW", "MIN_R_SQUARED", "analyse_curve",
           "compare_curve", "read_curve"]

DEFAULT_OFFSET_PERCENT = 2.0
DEFAULT_WINDOW = 0.2
MIN_R_SQUARED = 0.99
#: Fewest points in a curve, and in a fitting window.
MIN_POINTS, MIN_WINDOW_POINTS = 10, 5
_SPLIT = re.compile(r"[,;\t ]+")
_METHOD = ("stiffness: steepest least-squares window of {window:g} of the points up to the peak force "
           "(R² ≥ {r2:g}); offset yield: offset {offset:g} % of {length:.4g} mm = {offset_mm:.4g} mm "
           "(ASTM F2077 offset displacement)")


@dataclass(frozen=True, eq=False)
class BenchCurve:
    """A bench curve and what was determined from it (mm, N)."""

    path: str
    displacement_mm: np.ndarray
    force_N: np.ndarray
    stiffness_N_per_mm: float
    stiffness_std_N_per_mm: float  # standard error of the fitted slope
    toe_mm: float  # δ₀: where the elastic line crosses F = 0
    window: tuple  # first and last index of the fitted window
    r_squared: float
    reference_length_mm: float
    offset_percent: float
    offset_mm: float
    yield_force_N: float | None  # None: the curve never falls below the offset line
    yield_displacement_mm: float | None
    ultimate_force_N: float
    linear_window: float = DEFAULT_WINDOW
    flipped: bool = False  # compression was recorded as negative numbers
    warnings: tuple = field(default_factory=tuple)

    @property
    def method(self) -> str:
        return _METHOD.format(window=self.linear_window, r2=MIN_R_SQUARED, offset=self.offset_percent,
                              length=self.reference_length_mm, offset_mm=self.offset_mm)

    def elastic_line(self, displacement_mm):
        """The fitted elastic line F = K·(δ − δ₀) at ``displacement_mm``."""
        return self.stiffness_N_per_mm * (np.asarray(displacement_mm, float) - self.toe_mm)

    def to_dict(self) -> dict:
        """What was determined, without the points (JSON)."""
        i, j = self.window
        return {"curve": self.path, "points": int(len(self.force_N)), "stiffness_N_per_mm": self.stiffness_N_per_mm,
                "stiffness_std_N_per_mm": self.stiffness_std_N_per_mm, "toe_mm": self.toe_mm,
                "window_mm": [float(self.displacement_mm[i]), float(self.displacement_mm[j])],
                "window_N": [float(self.force_N[i]), float(self.force_N[j])], "r_squared": self.r_squared,
                "reference_length_mm": self.reference_length_mm, "offset_percent": self.offset_percent,
                "offset_mm": self.offset_mm, "yield_force_N": self.yield_force_N,
                "yield_displacement_mm": self.yield_displacement_mm, "ultimate_force_N": self.ultimate_force_N,
                "flipped": self.flipped, "method": self.method, "warnings": list(self.warnings)}


def read_curve(path: Path, source: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(displacement mm, force N) from a two-column text file (CSV, semicolons, tabs or
    spaces); header lines before the first numeric row are skipped.

    Raises
    ------
    InputError
        A file that cannot be read, a row that is not two numbers, fewer than
        :data:`MIN_POINTS` points, or non-finite numbers.
    """
    where = source or str(path)
    raw = read_input_bytes(path, MAX_TEXT_BYTES, "a bench curve")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(where, f"{path}: not a text file (UTF-8)") from None
    rows, started = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c for c in _SPLIT.split(line) if c]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if not started:
                continue  # a header
            raise InputError(where, f"{path} line {number}: not two numbers (displacement mm, force N): "
                                    f"{line[:60]!r}") from None
        if len(values) != 2:
            raise InputError(where, f"{path} line {number}: {len(values)} columns; a bench curve has two "
                                    "(displacement mm, force N)")
        started = True
        rows.append(values)
    if len(rows) < MIN_POINTS:
        raise InputError(where, f"{path}: {len(rows)} points; a bench curve needs at least {MIN_POINTS}")
    data = np.asarray(rows, float)
    if not np.isfinite(data).all():
        raise InputError(where, f"{path}: holds non-finite numbers (nan or inf)")
    return data[:, 0], data[:, 1]


def analyse_curve(displacement_mm, force_N, reference_length_mm: float, offset_percent: float = DEFAULT_OFFSET_PERCENT,
                  linear_window: float = DEFAULT_WINDOW, path: str = "", source: str = "") -> BenchCurve:
    """Stiffness of the linear region and offset yield force of a force–displacement curve
    (see the module's description for the method).

    Raises
    ------
    InputError
        A curve too short for the window, without any rise in force, or whose linear
        region has no positive slope.
    """
    where = source or path or "bench curve"
    d = np.asarray(displacement_mm, float).ravel()
    f = np.asarray(force_N, float).ravel()
    flipped = False
    peak_abs = int(np.argmax(np.abs(f)))
    if f[peak_abs] < 0:  # compression recorded as negative numbers
        d, f, flipped = -d, -f, True
    peak = int(np.argmax(f))
    n = peak + 1
    w = max(MIN_WINDOW_POINTS, int(round(linear_window * n)))
    if n < w or n < MIN_WINDOW_POINTS or f[peak] <= 0:
        raise InputError(where, f"{path}: {n} points up to the peak force; the linear-region fit needs at least "
                                f"{max(w, MIN_WINDOW_POINTS)} (linear_window = {linear_window:g})")
    slope, intercept, r2, std = _windows(d[:n], f[:n], w)
    warnings = []
    good = np.flatnonzero(r2 >= MIN_R_SQUARED)
    if len(good):
        start = int(good[np.argmax(slope[good])])
    else:
        start = int(np.nanargmax(slope))
        warnings.append(f"no window of {w} points fits a line with R² ≥ {MIN_R_SQUARED:g} (best "
                        f"{np.nanmax(r2):.4f}); the steepest window is used: check the curve")
    k, b = float(slope[start]), float(intercept[start])
    if not k > 0:
        raise InputError(where, f"{path}: the steepest part of the curve has no positive slope ({k:g} N/mm)")
    toe = -b / k
    offset_mm = offset_percent / 100.0 * reference_length_mm
    end = start + w - 1
    gap = f[end:] - k * (d[end:] - toe - offset_mm)  # > 0 above the offset line
    below = np.flatnonzero(gap <= 0)
    yield_force = yield_disp = None
    if len(below):
        m = end + int(below[0])
        if m == 0 or gap[m - end] == 0 or m == end:
            yield_force, yield_disp = float(f[m]), float(d[m])
        else:
            g0, g1 = gap[m - 1 - end], gap[m - end]
            t = g0 / (g0 - g1)
            yield_force = float(f[m - 1] + t * (f[m] - f[m - 1]))
            yield_disp = float(d[m - 1] + t * (d[m] - d[m - 1]))
    else:
        warnings.append(f"the curve does not fall below the {offset_mm:.4g} mm offset line: no offset yield")
    return BenchCurve(path, d, f, k, float(std[start]), float(toe), (start, end), float(r2[start]),
                      float(reference_length_mm), float(offset_percent), float(offset_mm), yield_force, yield_disp,
                      float(f[peak]), float(linear_window), flipped, tuple(warnings))


def _windows(x, y, w):
    """Least-squares slope, intercept, R² and slope standard error of every window of w consecutive points."""
    # Centred first: cumulative sums of large offsets lose digits.
    x0, y0 = x.mean(), y.mean()
    x, y = x - x0, y - y0

    def sums(v):
        c = np.concatenate([[0.0], np.cumsum(v)])
        return c[w:] - c[:-w]

    sx, sy, sxx, sxy, syy = sums(x), sums(y), sums(x * x), sums(x * y), sums(y * y)
    cxx = np.maximum(sxx - sx * sx / w, 0.0)
    cxy = sxy - sx * sy / w
    cyy = np.maximum(syy - sy * sy / w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(cxx > 0, cxy / cxx, np.nan)
        sse = np.maximum(cyy - slope * cxy, 0.0)
        r2 = np.where(cyy > 0, 1.0 - sse / cyy, 0.0)
        std = np.sqrt(sse / max(w - 2, 1) / cxx)
    # y − y0 = slope·(x − x0) + (sy − slope·sx)/w in the centred frame.
    intercept = (sy - slope * sx) / w + y0 - slope * x0
    return slope, intercept, r2, std


def compare_curve(entry: dict, qoi: dict, convergence: dict) -> list[dict]:
    """The validation records of one curve entry for a job: stiffness and offset yield, each
    with D (bench), S (finite elements) and E = S − D, u_num, u_D and u_val (ASME V&V 20)."""
    curve: BenchCurve = entry["curve"]
    base = {"design": entry["design"], "revision": entry["revision"], "loadcase": entry["loadcase"],
            "source": entry.get("source", ""), "curve": curve.path, "comparison": "E = S - D (ASME V&V 20)",
            "method": curve.method}
    bench_u = entry.get("uncertainty_percent", 0.0) / 100.0
    stiffness = qoi.get("stiffness_N_per_mm")
    yield_fe = (qoi["force_N"] * qoi["safety_factor_yield"]
                if _number(qoi.get("force_N")) and _number(qoi.get("safety_factor_yield")) else None)
    out = []
    for quantity, measured, computed, u_fit, gci_key, note in (
            ("stiffness_N_per_mm", curve.stiffness_N_per_mm, stiffness, curve.stiffness_std_N_per_mm,
             "stiffness_N_per_mm", "slope of the linear region"),
            ("yield_force_N", curve.yield_force_N, yield_fe, 0.0, "safety_factor_yield",
             "bench: offset yield; FE: force at which von Mises p99 reaches yield (onset of yielding)")):
        u_d = math.hypot(u_fit, bench_u * abs(measured)) if measured is not None else None
        gci = convergence.get(gci_key, {}).get("gci_fine_percent") if convergence else None
        u_num = abs(computed) * gci / 100.0 if _number(gci) and _number(computed) and math.isfinite(gci) else None
        error = computed - measured if _number(computed) and measured is not None else None
        u_val = math.hypot(u_num or 0.0, u_d or 0.0) if u_d is not None else None
        record = {**base, "quantity": quantity, "measured": measured, "uncertainty": u_d, "computed": computed,
                  "difference_percent": 100.0 * error / abs(measured) if error is not None and measured else None,
                  "E": error, "u_num": u_num, "u_D": u_d, "u_val": u_val,
                  "within_u_val": (abs(error) <= u_val) if error is not None and u_val is not None else None,
                  "note": note}
        if quantity == "yield_force_N":
            record["first_yield_force_N"] = qoi.get("first_yield_force_N")
            record["yield_displacement_mm"] = curve.yield_displacement_mm
        out.append(record)
    return out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
