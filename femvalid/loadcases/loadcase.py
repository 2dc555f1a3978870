"""Load cases as data, read from TOML tables and validated key by key."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from femvalid.errors import InputError, MaterialError
from femvalid.materials import Material, get_material

__all__ = ["LoadCase", "loadcase_from_table", "PLATENS"]

PLATENS = ("bonded", "frictionless")
BLOCKS = ("both", "bottom")
INTERFACES = ("tied",)
_COMMON = {"name", "type", "force", "platens", "contact_tolerance", "description", "source"}
_KEYS = {
    "axial_compression": _COMMON,
    "lattice_compression": _COMMON,
    "subsidence": _COMMON | {"blocks", "block_material", "block_size", "interface"},
}
#: ASTM F1839 grade 15 rigid polyurethane foam, the usual F2267 test block.
DEFAULT_BLOCK_MATERIAL = "pu-foam-15"
DEFAULT_BLOCK_SIZE_MM = (50.0, 50.0, 20.0)


@dataclass(frozen=True)
class LoadCase:
    """One bench-test set-up.

    Attributes
    ----------
    name : str
    type : str
        A registered load-case type (``axial_compression``, ``lattice_compression``,
        ``subsidence``).
    force_N : float
        Compressive force magnitude, N.
    platens : {"bonded", "frictionless"}
    contact_tolerance_mm : float
        Nodes within this distance of the extreme z planes touch the platens, mm.
    description, source : str
        What the case models and where its numbers come from.
    blocks : {"both", "bottom"}
        Subsidence: foam blocks above and below the implant (F2267), or below only.
    block_material : Material
        Subsidence: the blocks' material (default grade-15 polyurethane foam).
    block_size_mm : (x, y, thickness)
        Subsidence: size of each block, mm.
    interface : {"tied"}
        Subsidence: how the implant meets the blocks.
    """

    name: str
    type: str
    force_N: float
    platens: str = "bonded"
    contact_tolerance_mm: float = 0.05
    description: str = ""
    source: str = ""
    blocks: str = "both"
    block_material: Material | None = None
    block_size_mm: tuple = DEFAULT_BLOCK_SIZE_MM
    interface: str = "tied"

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.type != "subsidence":
            for key in ("blocks", "block_material", "block_size_mm", "interface"):
                out.pop(key)
        return out


def loadcase_from_table(table: dict, origin: str) -> LoadCase:
    """Validate a load-case table; errors name ``origin`` (file and section) and the key."""
    from femvalid.loadcases.registry import LOADCASE_TYPES

    def fail(reason):
        raise InputError(origin, reason)

    kind = table.get("type")
    if not isinstance(kind, str) or kind not in LOADCASE_TYPES:
        fail(f"type must be one of {', '.join(LOADCASE_TYPES)}, got {kind!r}")
    unknown = sorted(set(table) - _KEYS.get(kind, _COMMON))
    if unknown:
        fail(f"unknown key(s) {', '.join(unknown)} for a {kind} load case")
    for key in ("name",):
        if not isinstance(table.get(key), str) or not table[key].strip():
            fail(f"missing or empty '{key}'")
    name = table["name"]
    if not all(c.isalnum() or c in "-_." for c in name):
        fail(f"name {name!r} may only hold letters, digits, '-', '_' and '.' (it names a folder)")
    if set(name) == {"."}:
        fail(f"name {name!r} must not be made of dots only (it names a folder)")
    force = _positive(table, "force", fail, required=True)
    tolerance = _positive(table, "contact_tolerance", fail, required=False)
    platens = table.get("platens", "bonded")
    if platens not in PLATENS:
        fail(f"platens must be one of {', '.join(PLATENS)}, got {platens!r}")
    extra = _subsidence_keys(table, fail, origin) if kind == "subsidence" else {}
    return LoadCase(
        **extra,
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
    if not _finite(value) or value <= 0:
        fail(f"'{key}' must be a positive number, got {value!r}")
    return float(value)


def _finite(value) -> bool:
    """A number (not a bool) that converts to a finite float (an int too large for one is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _subsidence_keys(table, fail, origin) -> dict:
    blocks = table.get("blocks", "both")
    if blocks not in BLOCKS:
        fail(f"blocks must be one of {', '.join(BLOCKS)}, got {blocks!r}")
    interface = table.get("interface", "tied")
    if interface not in INTERFACES:
        fail(f"interface must be one of {', '.join(INTERFACES)}, got {interface!r}")
    spec = table.get("block_material", DEFAULT_BLOCK_MATERIAL)
    if not isinstance(spec, (str, dict)):
        fail("block_material must be a library key or an inline table")
    try:
        material = get_material(spec, origin=f"{origin}: block_material")
    except MaterialError as exc:
        fail(f"block_material: {exc.reason}")
    size = table.get("block_size", list(DEFAULT_BLOCK_SIZE_MM))
    if (not isinstance(size, list) or len(size) != 3
            or not all(_finite(v) and v > 0 for v in size)):
        fail(f"block_size must be three positive lengths [x, y, thickness] in mm, got {size!r}")
    return {"blocks": blocks, "interface": interface, "block_material": material,
            "block_size_mm": tuple(float(v) for v in size)}
