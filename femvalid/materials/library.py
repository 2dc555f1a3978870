"""The material library (a TOML data file with sources) and inline materials."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from femvalid.errors import MaterialError

__all__ = ["Material", "library", "get_material", "material_from_table", "LIBRARY_FILE"]

LIBRARY_FILE = "library.toml"
_KEYS = {"name", "E", "nu", "yield", "ultimate", "endurance_limit", "fatigue", "compressive_strength", "source"}
_ALIASES = {"fatigue": "endurance_limit"}  # older name of the key, still read


@dataclass(frozen=True)
class Material:
    """An isotropic linear-elastic material (stresses MPa).

    Attributes
    ----------
    key : str
        Library key, or ``"inline"`` for a material given in a study file.
    youngs_modulus_MPa, poisson_ratio : float
        Elastic constants.
    yield_MPa : float or None
        0.2 % offset yield (compressive strength for foams and bone).
    ultimate_MPa : float or None
        Ultimate tensile strength.
    endurance_limit_MPa : float or None
        Fully reversed (R = -1) endurance limit at 5e6-1e7 cycles; None where the library
        knows no defensible value (fatigue evaluation then refuses the material).
    compressive_strength_MPa : float or None
    source : str
        Where the numbers come from.
    """

    key: str
    name: str
    youngs_modulus_MPa: float
    poisson_ratio: float
    yield_MPa: float | None = None
    ultimate_MPa: float | None = None
    endurance_limit_MPa: float | None = None
    compressive_strength_MPa: float | None = None
    source: str = ""

    @property
    def fatigue_limit_MPa(self) -> float | None:
        """Older name of :attr:`endurance_limit_MPa`."""
        return self.endurance_limit_MPa

    def to_dict(self) -> dict:
        return asdict(self)


#: Moduli outside this range are typing errors (a unit slip, a missing exponent), not materials.
MODULUS_RANGE_MPA = (1e-3, 1.2e6)


def material_from_table(table: dict, key: str = "inline", origin: str = "inline material") -> Material:
    """Validate a TOML table {E, nu, yield, ultimate, endurance_limit, ...} and make a Material.

    ``fatigue`` is read as the older name of ``endurance_limit``.

    Raises
    ------
    MaterialError
        Unknown keys, a missing E or nu, E ≤ 0, ν outside (−1, 0.5), non-positive strengths.
    """
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise MaterialError(origin, f"unknown material key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
    for old, new in _ALIASES.items():
        if old in table and new in table:
            raise MaterialError(origin, f"give {new} or its older name {old}, not both")
    table = {_ALIASES.get(k, k): v for k, v in table.items()}
    values = {}
    for name in ("E", "nu", "yield", "ultimate", "endurance_limit", "compressive_strength"):
        if name not in table:
            continue
        value = table[name]
        number = math.nan if isinstance(value, bool) or not isinstance(value, (int, float)) else value
        try:
            number = float(number)
        except OverflowError:  # an int beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise MaterialError(origin, f"{name} must be a finite number, got {value!r}")
        values[name] = number
    for required in ("E", "nu"):
        if required not in values:
            raise MaterialError(origin, f"missing {required} ({'MPa' if required == 'E' else 'Poisson ratio'})")
    low, high = MODULUS_RANGE_MPA
    if not low <= values["E"] <= high:
        raise MaterialError(origin, f"E must be a Young's modulus from {low:g} to {high:g} MPa (from soft foams and "
                                    f"gels to diamond), got {values['E']:g}")
    if not -1.0 < values["nu"] < 0.5:
        raise MaterialError(origin, f"nu must lie between -1 and 0.5 (exclusive), got {values['nu']:g}")
    for name in ("yield", "ultimate", "endurance_limit", "compressive_strength"):
        if name in values and values[name] <= 0:
            raise MaterialError(origin, f"{name} must be positive (MPa), got {values[name]:g}")
    if "endurance_limit" in values and "ultimate" in values and values["endurance_limit"] > values["ultimate"]:
        raise MaterialError(origin, f"endurance_limit ({values['endurance_limit']:g} MPa) cannot exceed ultimate "
                                    f"({values['ultimate']:g} MPa): are the two swapped?")
    return Material(
        key=key,
        name=str(table.get("name", key)),
        youngs_modulus_MPa=values["E"],
        poisson_ratio=values["nu"],
        yield_MPa=values.get("yield"),
        ultimate_MPa=values.get("ultimate"),
        endurance_limit_MPa=values.get("endurance_limit"),
        compressive_strength_MPa=values.get("compressive_strength"),
        source=str(table.get("source", "")),
    )


@lru_cache(maxsize=1)
def library() -> dict[str, Material]:
    """All library materials by key."""
    text = resources.files("femvalid.materials").joinpath(LIBRARY_FILE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return {key: material_from_table(table, key, f"{LIBRARY_FILE} [{key}]") for key, table in data.items()}


def get_material(spec: str | dict, origin: str = "material") -> Material:
    """A library material by key, or an inline table validated into a Material."""
    if isinstance(spec, dict):
        return material_from_table(spec, origin=origin)
    materials = library()
    if spec not in materials:
        raise MaterialError(origin, f"unknown material {spec!r}; known: {', '.join(sorted(materials))}")
    return materials[spec]
