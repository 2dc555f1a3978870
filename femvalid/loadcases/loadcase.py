"""Load cases as data, read from TOML tables and validated key by key."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from femvalid.errors import InputError

__all__ = ["LoadCase", "loadcase_from_table", "PLATENS"]

PLATENS = ("bonded", "frictionless")
_COMMON = {"name", "type", "force", "platens", "contact_tolerance", "description", "source"}


@dataclass(frozen=True)
class LoadCase:
    """One bench-test set-up.

    Attributes
    ----------
    name : str
    type : str
        A registered load-case type (``axial_compression``).
    force_N : float
        Compressive force magnitude, N.
    platens : {"bonded", "frictionless"}
    contact_tolerance_mm : float
        Nodes within this distance of the extreme z planes touch the platens, mm.
    description, source : str
        What the case models and where its numbers come from.
    """

    name: str
    type: str
    force_N: float
    platens: str = "bonded"
    contact_tolerance_mm: float = 0.05
    description: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def loadcase_from_table(table: dict, origin: str) -> LoadCase:
    """Validate a load-case table; errors name ``origin`` (file and section) and the key."""
    from femvalid.loadcases.registry import LOADCASE_TYPES

    def fail(reason):
        raise InputError(origin, reason)

    kind = table.get("type")
    if kind not in LOADCASE_TYPES:
        fail(f"type must be one of {', '.join(LOADCASE_TYPES)}, got {kind!r}")
    unknown = sorted(set(table) - _COMMON)
    if unknown:
        fail(f"unknown key(s) {', '.join(unknown)} for a {kind} load case")
    for key in ("name",):
        if not isinstance(table.get(key), str) or not table[key].strip():
            fail(f"missing or empty '{key}'")
    name = table["name"]
    if not all(c.isalnum() or c in "-_." for c in name):
        fail(f"name {name!r} may only hold letters, digits, '-', '_' and '.' (it names a folder)")
    force = _positive(table, "force", fail, required=True)
    tolerance = _positive(table, "contact_tolerance", fail, required=False)
    platens = table.get("platens", "bonded")
    if platens not in PLATENS:
        fail(f"platens must be one of {', '.join(PLATENS)}, got {platens!r}")
    return LoadCase(
        name=name,
        type=kind,
        force_N=force,
        platens=platens,
        contact_tolerance_mm=tolerance if tolerance is not None else LoadCase.contact_tolerance_mm,
        description=str(table.get("description", "")),
        source=str(table.get("source", "")),
    )


def _positive(table, key, fail, required):
    if key not in table:
        if required:
            fail(f"missing '{key}'")
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        fail(f"'{key}' must be a positive number, got {value!r}")
    return float(value)
