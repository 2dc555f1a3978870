"""HU calibrations, density conversions and density-modulus laws, from a data file with sources.

The chain from a CT to a modulus is

    HU ──calibration──► ρ (the calibration's density type) ──conversion──► ρ (the law's type) ──law──► E, σ_y

Calibrations (ρ = a + b·HU) and conversions are linear, so ρ of the law is linear in HU.
Every number lives in ``laws.toml`` beside this module with its source; the classes
here read, check and evaluate them. Densities are g/cm³, moduli and strengths MPa.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from femvalid.errors import InputError

__all__ = ["DENSITY_TYPES", "Piece", "Calibration", "Conversion", "DensityLaw", "laws", "get_law", "calibrations",
           "get_calibration", "calibration_from_table", "conversion", "LAWS_FILE"]

LAWS_FILE = "laws.toml"
DENSITY_TYPES = ("qct", "apparent", "ash")
_UNITS = {"g/cm3": 1.0, "mg/cm3": 1e-3}


@dataclass(frozen=True)
class Piece:
    """One branch of a law: value = a + b·ρ^c for ``lo`` ≤ ρ < ``hi``."""

    a: float
    b: float
    c: float
    lo: float = -math.inf
    hi: float = math.inf

    def __call__(self, rho: np.ndarray) -> np.ndarray:
        rho = np.asarray(rho, float)
        if self.c == 1.0:
            return self.a + self.b * rho
        return self.a + self.b * np.power(np.maximum(rho, 0.0), self.c)


def _evaluate(pieces: tuple, rho) -> np.ndarray:
    """The piecewise law at ``rho``: each point takes the piece whose [lo, hi) holds it (the first and
    last pieces extend below and above)."""
    rho = np.asarray(rho, float)
    out = pieces[0](rho)
    for piece in pieces[1:]:
        out = np.where(rho >= piece.lo, piece(rho), out)
    return out


def _pieces(entries, origin: str) -> tuple:
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{origin}: a law needs a non-empty list of pieces")
    pieces = []
    for entry in entries:
        unknown = set(entry) - {"a", "b", "c", "from", "to"}
        if unknown:
            raise ValueError(f"{origin}: unknown piece key(s) {sorted(unknown)}")
        pieces.append(Piece(float(entry.get("a", 0.0)), float(entry["b"]), float(entry.get("c", 1.0)),
                            float(entry.get("from", -math.inf)), float(entry.get("to", math.inf))))
    for left, right in zip(pieces, pieces[1:]):
        if not (left.hi == right.lo):
            raise ValueError(f"{origin}: pieces must follow each other (to = next from)")
    return tuple(pieces)


@dataclass(frozen=True)
class Calibration:
    """ρ = a + b·HU (g/cm³), of density type ``density``."""

    a: float
    b: float
    density: str = "qct"
    name: str = "inline calibration"
    source: str = ""
    r2: float | None = None  # of a fit to phantom rods

    def density_of(self, hu) -> np.ndarray:
        return self.a + self.b * np.asarray(hu, float)

    def hu_for(self, rho) -> np.ndarray:
        return (np.asarray(rho, float) - self.a) / self.b

    def to_dict(self) -> dict:
        return {"name": self.name, "a_g_per_cm3": self.a, "b_g_per_cm3_per_HU": self.b, "density": self.density,
                "source": self.source, **({"r2": self.r2} if self.r2 is not None else {})}


@dataclass(frozen=True)
class Conversion:
    """ρ_to = a + b·ρ_from, composed of the data file's linear conversions (``steps`` name them)."""

    frm: str
    to: str
    a: float = 0.0
    b: float = 1.0
    steps: tuple = ()
    sources: tuple = ()

    def __call__(self, rho) -> np.ndarray:
        return self.a + self.b * np.asarray(rho, float)

    def then(self, other: "Conversion") -> "Conversion":
        return Conversion(self.frm, other.to, other.a + other.b * self.a, other.b * self.b,
                          self.steps + other.steps, self.sources + other.sources)

    def inverse(self) -> "Conversion":
        return Conversion(self.to, self.frm, -self.a / self.b, 1.0 / self.b,
                          tuple(f"inverse of {s}" for s in reversed(self.steps)), self.sources)

    def describe(self) -> str:
        if self.frm == self.to:
            return f"none ({self.frm} density throughout)"
        return f"rho_{self.to} = {self.a:.6g} + {self.b:.6g} rho_{self.frm} ({'; '.join(self.steps)})"


@dataclass(frozen=True)
class DensityLaw:
    """A density → modulus law (and a yield law) on one density type, with its sources.

    Attributes
    ----------
    key, name, site, density : str
        Library key, title, anatomical site and density type (qct, apparent or ash).
    modulus : tuple of Piece
        E (MPa) of ρ (g/cm³).
    yield_strength : tuple of Piece or None
        Compressive yield strength (MPa) of ρ; or None when the law gives yield strains.
    yield_strain_compression, yield_strain_tension : float or None
    density_min : float or None
        Lowest density the law is valid for (see :meth:`modulus_MPa`).
    E_min : float
        Last-resort modulus floor, MPa.
    nu : float
        Poisson's ratio used with the law (an assumption; see ``nu_source``).
    """

    key: str
    name: str
    site: str
    density: str
    modulus: tuple
    yield_strength: tuple | None = None
    yield_strain_compression: float | None = None
    yield_strain_tension: float | None = None
    density_min: float | None = None
    E_min: float = 0.001
    nu: float = 0.3
    source: str = ""
    yield_source: str = ""
    range_source: str = ""
    nu_source: str = ""

    def modulus_MPa(self, rho, floor="range") -> np.ndarray:
        """E (MPa) at densities ``rho`` of the law's type, floored.

        ``floor = "range"`` (default): a density below :attr:`density_min` takes the
        law's value at ``density_min`` (the law is not extrapolated below its data),
        and E never drops below :attr:`E_min`. A number: E = max(law(ρ), floor), the
        law extrapolated down to that modulus.
        """
        rho = np.asarray(rho, float)
        if isinstance(floor, str):
            if floor != "range":
                raise ValueError(f"floor must be 'range' or a modulus in MPa, not {floor!r}")
            if self.density_min is not None:
                rho = np.maximum(rho, self.density_min)
            return np.maximum(_evaluate(self.modulus, rho), self.E_min)
        return np.maximum(_evaluate(self.modulus, rho), float(floor))

    def yield_strength_MPa(self, rho, modulus_MPa=None) -> np.ndarray:
        """Compressive yield strength (MPa): the strength law at ``rho`` (extrapolated below its
        range, never below zero), or E·ε_y for a yield-strain law (``modulus_MPa`` then needed)."""
        if self.yield_strength is not None:
            return np.maximum(_evaluate(self.yield_strength, rho), 0.0)
        if self.yield_strain_compression is None:
            raise ValueError(f"law {self.key} has no yield law")
        if modulus_MPa is None:
            modulus_MPa = self.modulus_MPa(rho)
        return np.asarray(modulus_MPa, float) * self.yield_strain_compression

    def density_for_modulus(self, modulus_MPa: float) -> float:
        """The density whose (unfloored) modulus is ``modulus_MPa`` (laws rise with density)."""
        target = float(modulus_MPa)
        lo, hi = -1.0, 4.0
        f = lambda r: float(_evaluate(self.modulus, r)) - target  # noqa: E731
        if f(hi) < 0 or f(lo) > 0:
            raise ValueError(f"no density gives E = {target:g} MPa under {self.key}")
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return 0.5 * (lo + hi)

    def formula(self) -> str:
        def one(p, what):
            term = f"{p.b:g}·ρ" + ("" if p.c == 1.0 else f"^{p.c:g}")
            text = f"{what} = {term}" if p.a == 0 else f"{what} = {p.a:g} + {term}"
            bounds = [f"ρ ≥ {p.lo:g}" if math.isfinite(p.lo) else "", f"ρ < {p.hi:g}" if math.isfinite(p.hi) else ""]
            bounds = ", ".join(b for b in bounds if b)
            return f"{text} ({bounds})" if bounds else text
        return "; ".join(one(p, "E") for p in self.modulus)

    def to_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "site": self.site, "density": self.density,
                "formula": self.formula(), "density_min": self.density_min, "E_min_MPa": self.E_min,
                "nu": self.nu, "yield_strain_compression": self.yield_strain_compression,
                "yield_strain_tension": self.yield_strain_tension, "has_yield_strength": self.yield_strength is not None,
                "source": self.source, "yield_source": self.yield_source, "range_source": self.range_source,
                "nu_source": self.nu_source}


_LAW_KEYS = {"name", "site", "density", "modulus", "yield_strength", "yield_strain_compression",
             "yield_strain_tension", "density_min", "E_min", "nu", "source", "yield_source", "range_source",
             "nu_source"}


@lru_cache(maxsize=None)
def _data() -> dict:
    text = resources.files("femvalid.imaging").joinpath(LAWS_FILE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    out = {"law": {}, "calibration": {}, "conversion": {}}
    for key, entry in data.get("law", {}).items():
        unknown = set(entry) - _LAW_KEYS
        if unknown:
            raise ValueError(f"{LAWS_FILE} law {key}: unknown key(s) {sorted(unknown)}")
        if entry["density"] not in DENSITY_TYPES:
            raise ValueError(f"{LAWS_FILE} law {key}: density must be one of {DENSITY_TYPES}")
        has_strength = "yield_strength" in entry
        out["law"][key] = DensityLaw(
            key=key, name=entry["name"], site=entry["site"], density=entry["density"],
            modulus=_pieces(entry["modulus"], f"law {key}"),
            yield_strength=_pieces(entry["yield_strength"], f"law {key}") if has_strength else None,
            yield_strain_compression=entry.get("yield_strain_compression"),
            yield_strain_tension=entry.get("yield_strain_tension"),
            density_min=entry.get("density_min"), E_min=float(entry.get("E_min", 0.001)),
            nu=float(entry.get("nu", 0.3)), source=entry["source"], yield_source=entry.get("yield_source", ""),
            range_source=entry.get("range_source", ""), nu_source=entry.get("nu_source", ""))
    for key, entry in data.get("calibration", {}).items():
        out["calibration"][key] = Calibration(float(entry["a"]), float(entry["b"]), entry["density"], key,
                                              entry["source"])
    for key, entry in data.get("conversion", {}).items():
        out["conversion"][(entry["from"], entry["to"])] = Conversion(entry["from"], entry["to"], float(entry["a"]),
                                                                     float(entry["b"]), (key,), (entry["source"],))
    return out


def laws() -> dict:
    """Every law in the data file, by key."""
    return dict(_data()["law"])


def calibrations() -> dict:
    """Every named calibration, by key."""
    return dict(_data()["calibration"])


def get_law(name: str, origin: str = "bone.law") -> DensityLaw:
    """The law ``name``; InputError (exit 2) naming the known ones otherwise."""
    known = _data()["law"]
    if not isinstance(name, str) or name not in known:
        raise InputError(origin, f"unknown density-modulus law {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def get_calibration(name: str, origin: str = "bone.calibration") -> Calibration:
    known = _data()["calibration"]
    if name not in known:
        raise InputError(origin, f"unknown calibration {name!r}; known: {', '.join(sorted(known))}, "
                                 "or give {{ a = ..., b = ... }} (rho = a + b*HU, g/cm3) or phantom rods "
                                 "{{ hu = [...], density = [...] }}")
    return known[name]


def conversion(frm: str, to: str) -> Conversion:
    """The linear map from density type ``frm`` to ``to`` (qct → ash → apparent, or back)."""
    for t in (frm, to):
        if t not in DENSITY_TYPES:
            raise ValueError(f"density type must be one of {DENSITY_TYPES}, not {t!r}")
    order = ["qct", "ash", "apparent"]
    i, j = order.index(frm), order.index(to)
    result = Conversion(frm, frm)
    table = _data()["conversion"]
    step = 1 if j > i else -1
    for k in range(i, j, step):
        a, b = order[k], order[k + step]
        link = table[(a, b)] if step == 1 else table[(b, a)].inverse()
        result = result.then(link)
    return Conversion(frm, to, result.a, result.b, result.steps, result.sources)


_CAL_KEYS = {"a", "b", "hu", "density", "density_type", "unit", "name", "source"}


def _number(value, what: str, origin: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(origin, f"{what} must be a finite number, got {value!r}")
    return float(value)


def calibration_from_table(value, origin: str = "bone.calibration") -> Calibration:
    """A calibration from a study file: a library key, ``{ a, b }`` (ρ = a + b·HU), or phantom rods
    ``{ hu = [...], density = [...] }`` fitted by least squares.

    Optional keys: ``density_type`` (qct, apparent or ash; default qct), ``unit``
    (g/cm3 or mg/cm3, of a, b and the rod densities; default g/cm3), ``name``, ``source``.

    Raises
    ------
    InputError
        Unknown keys, missing or non-finite numbers, a calibration whose density does
        not rise with HU, fewer than two distinct rods.
    """
    if isinstance(value, str):
        return get_calibration(value, origin)
    if not isinstance(value, dict):
        raise InputError(origin, f"calibration must be a name or a table, got {value!r}")
    unknown = sorted(set(value) - _CAL_KEYS)
    if unknown:
        raise InputError(origin, f"unknown calibration key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_CAL_KEYS))}")
    kind = value.get("density_type", "qct")
    if kind not in DENSITY_TYPES:
        raise InputError(origin, f"density_type must be one of {', '.join(DENSITY_TYPES)}, got {kind!r}")
    unit = value.get("unit", "g/cm3")
    if unit not in _UNITS:
        raise InputError(origin, f"unit must be one of {', '.join(_UNITS)}, got {unit!r}")
    scale = _UNITS[unit]
    r2 = None
    if "hu" in value or "density" in value:
        if "a" in value or "b" in value:
            raise InputError(origin, "give a and b, or phantom rods (hu and density), not both")
        hu, rho = value.get("hu"), value.get("density")
        if not isinstance(hu, list) or not isinstance(rho, list) or len(hu) != len(rho):
            raise InputError(origin, "phantom rods need lists hu = [...] and density = [...] of the same length")
        hu = np.array([_number(h, "hu", origin) for h in hu])
        rho = np.array([_number(r, "density", origin) for r in rho]) * scale
        if len(np.unique(hu)) < 2:
            raise InputError(origin, "phantom rods need at least two distinct HU values")
        b, a = np.polyfit(hu, rho, 1)
        fit = a + b * hu
        ss = float(((rho - rho.mean()) ** 2).sum())
        r2 = 1.0 - float(((rho - fit) ** 2).sum()) / ss if ss > 0 else 1.0
        source = value.get("source", f"least-squares fit to {len(hu)} phantom rods (R² = {r2:.4f})")
    else:
        if "a" not in value or "b" not in value:
            raise InputError(origin, "calibration needs a and b (rho = a + b*HU), or phantom rods hu and density")
        a = _number(value["a"], "a", origin) * scale
        b = _number(value["b"], "b", origin) * scale
        source = value.get("source", "given in the study file")
    if not b > 0:
        raise InputError(origin, f"calibration slope b = {b:g} g/cm3 per HU: density must rise with HU")
    return Calibration(float(a), float(b), kind, str(value.get("name", "inline calibration")), str(source), r2)
