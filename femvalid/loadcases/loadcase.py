"""Load cases as data, read from TOML tables and validated key by key."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from femvalid.errors import InputError, MaterialError
from femvalid.materials import Material, get_material

__all__ = ["LoadCase", "loadcase_from_table", "PLATENS", "FIXTURES", "PLATEN_ROTATIONS", "FATIGUE_CRITERIA",
           "subsidence_keys"]

PLATENS = ("bonded", "frictionless")
BLOCKS = ("both", "bottom")
INTERFACES = ("tied", "frictionless")
#: ASTM F1839 grade 15 rigid polyurethane foam, the usual F2267 test block.
DEFAULT_BLOCK_MATERIAL = "pu-foam-15"
DEFAULT_BLOCK_SIZE_MM = (50.0, 50.0, 20.0)
FIXTURES = ("fitted", "flat")
PLATEN_ROTATIONS = ("fixed", "free")
FATIGUE_CRITERIA = ("goodman", "gerber", "soderberg")
#: Keys every load-case type takes.
COMMON_KEYS = frozenset({"name", "type", "force", "platens", "fixture", "platen_rotation", "ball_height_mm",
                         "contact_tolerance", "fatigue_ratio", "fatigue_criterion", "description", "source"})
#: LoadCase fields every type records.
COMMON_FIELDS = ("name", "type", "force_N", "platens", "fixture", "platen_rotation", "ball_height_mm",
                 "contact_tolerance_mm", "fatigue_ratio", "fatigue_criterion", "description", "source")
#: Physically sensible ranges: a force beyond these is a typing error, not a bench test.
FORCE_RANGE_N = (1e-3, 1e6)
TORQUE_RANGE_NMM = (1e-3, 1e8)
#: contact_tolerance is the thickness of the layer of nodes a fixture grips, not a depth
#: into the device: beyond this it grips the device's sides (+13 % stiffness at 1 mm,
#: 4.3× at 4 mm on a 10 mm box, issue 14's measurement), and the run says by how much.
MAX_CONTACT_TOLERANCE_MM = 1.0


@dataclass(frozen=True)
class LoadCase:
    """One bench-test set-up.

    Attributes
    ----------
    name : str
    type : str
        A registered load-case type (``axial_compression``, ``compression_shear``,
        ``torsion``, ``subsidence``, ``lattice_compression``).
    force_N : float
        Compressive force magnitude along the load line, N (torsion: the axial preload).
    platens : {"bonded", "frictionless"}
    fixture : {"fitted", "flat"}
        Blocks mated with the fitted bearing planes, or perpendicular to the load axis
        touching the extreme points only.
    platen_rotation : {"fixed", "free"}
        The superior block's rotation: blocked, or free about a spherical joint on the
        load axis ``ball_height_mm`` above the superior contact face's centroid.
    contact_tolerance_mm : float
        Nodes within this distance of a block's face touch it, mm.
    fatigue_ratio : float or None
        R = minimum / maximum load of a cyclic test (10 for F2077 compression, −1 for torsion).
    fatigue_criterion : {"goodman", "gerber", "soderberg"}
    angle_deg, shear_direction : compression–shear: load line angle from the load axis,
        and the direction (x or y, projected normal to the load axis) it leans to.
    torque_Nmm : torsion: torque about the load axis, N·mm.
    blocks, block_material, block_size_mm, interface : subsidence (F2267).
    options : dict
        Keys of a user-registered type that are not LoadCase fields.
    """

    name: str
    type: str
    force_N: float
    platens: str = "bonded"
    fixture: str = "fitted"
    platen_rotation: str = "fixed"
    ball_height_mm: float = 0.0
    contact_tolerance_mm: float = 0.05
    fatigue_ratio: float | None = None
    fatigue_criterion: str = "goodman"
    description: str = ""
    source: str = ""
    angle_deg: float = 45.0
    shear_direction: str = "x"
    torque_Nmm: float = 0.0
    blocks: str = "both"
    block_material: Material | None = None
    block_size_mm: tuple = DEFAULT_BLOCK_SIZE_MM
    interface: str = "tied"
    bone: object = None  # femvalid.imaging.BoneInputs: the patient's vertebra from CT instead of foam
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from femvalid.loadcases.registry import LOADCASE_TYPES

        kind = LOADCASE_TYPES.get(self.type)
        keep = set(COMMON_FIELDS) | set(kind.fields if kind else ())
        out = {k: v for k, v in asdict(self).items() if k in keep and k != "bone"}
        if self.bone is not None:
            out["bone"] = self.bone.to_dict()
            out.pop("block_material", None)
        if self.options:
            out["options"] = dict(self.options)
        return out

    def input_files(self) -> tuple:
        """The files the case reads besides the design's STL (a CT and its vertebra's mask or surface):
        the study hashes them into its inputs, and the job cache keys on those hashes."""
        return self.bone.files() if self.bone is not None else ()


def loadcase_from_table(table: dict, origin: str, base=None) -> LoadCase:
    """Validate a load-case table; errors name ``origin`` (file and section) and the key.

    ``base`` is the folder that paths in the table (a subsidence ``bone`` table's CT and
    surface) are relative to: the folder of the file holding it (default: the working folder).
    """
    from femvalid.loadcases.registry import LOADCASE_TYPES

    def fail(reason):
        raise InputError(origin, reason)

    kind = table.get("type")
    if not isinstance(kind, str) or kind not in LOADCASE_TYPES:
        fail(f"type must be one of {', '.join(sorted(LOADCASE_TYPES))}, got {kind!r}")
    declared = LOADCASE_TYPES[kind]
    unknown = sorted(set(table) - COMMON_KEYS - declared.keys)
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
    if declared.parse is None:
        extra = {}
    elif declared.takes_base:
        extra = dict(declared.parse(table, fail, origin, Path(base) if base is not None else Path.cwd()))
    else:
        extra = dict(declared.parse(table, fail, origin))
    force = extra.pop("force_N", None)
    if force is None:
        force = _positive(table, "force", fail, required=True)
        _in_range(force, "force", FORCE_RANGE_N, "N", fail)
    tolerance = _positive(table, "contact_tolerance", fail, required=False)
    if tolerance is not None and tolerance > MAX_CONTACT_TOLERANCE_MM:
        fail(f"'contact_tolerance' = {table['contact_tolerance']!r} mm is more than {MAX_CONTACT_TOLERANCE_MM:g} mm: it is the "
             f"thickness of the layer a fixture grips (default {LoadCase.contact_tolerance_mm:g} mm), not a depth "
             "into the device; tilted faces are fitted by fixture = \"fitted\"")
    options = {k: table[k] for k in declared.keys if k in table and k not in extra and not _is_field(k)}
    options.update({k: v for k, v in extra.items() if not _is_field(k)})
    return LoadCase(
        **{k: v for k, v in extra.items() if _is_field(k)},
        name=name,
        type=kind,
        force_N=force,
        platens=_choice(table, "platens", PLATENS, fail),
        fixture=_choice(table, "fixture", FIXTURES, fail),
        platen_rotation=_choice(table, "platen_rotation", PLATEN_ROTATIONS, fail),
        ball_height_mm=_number(table, "ball_height_mm", fail, default=0.0, low=-1e3, high=1e3),
        contact_tolerance_mm=tolerance if tolerance is not None else LoadCase.contact_tolerance_mm,
        fatigue_ratio=_fatigue_ratio(table, fail),
        fatigue_criterion=_choice(table, "fatigue_criterion", FATIGUE_CRITERIA, fail),
        description=str(table.get("description", "")),
        source=str(table.get("source", "")),
        options=options,
    )


def _is_field(key: str) -> bool:
    return key in LoadCase.__dataclass_fields__


def _choice(table, key, allowed, fail):
    value = table.get(key, allowed[0])
    if value not in allowed:
        fail(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _number(table, key, fail, default, low, high):
    value = table.get(key, default)
    if not _finite(value) or not low <= value <= high:
        fail(f"'{key}' must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _in_range(value, key, bounds, unit, fail):
    low, high = bounds
    if not low <= value <= high:
        fail(f"'{key}' = {value!r} {unit} is outside the physically sensible range {low:g}–{high:g} {unit}")


def _fatigue_ratio(table, fail):
    if "fatigue_ratio" not in table:
        if "fatigue_criterion" in table:
            fail("fatigue_criterion needs fatigue_ratio (R = minimum / maximum load)")
        return None
    value = table["fatigue_ratio"]
    if not _finite(value) or value == 1 or value == 0 or abs(value) > 1e3:
        fail(f"'fatigue_ratio' must be R = minimum / maximum load, a number from -1000 to 1000 other than 0 and 1 "
             f"(10 for F2077 compression, -1 for torsion), got {value!r}")
    return float(value)


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


def subsidence_keys(table, fail, origin, base: Path | None = None) -> dict:
    """Read a subsidence table's own keys (blocks, interface, block_material or bone, block_size, offset_mm)."""
    blocks = table.get("blocks", "both")
    if blocks not in BLOCKS:
        fail(f"blocks must be one of {', '.join(BLOCKS)}, got {blocks!r}")
    interface = table.get("interface", "tied")
    if interface not in INTERFACES:
        fail(f"interface must be one of {', '.join(INTERFACES)}, got {interface!r}")
    bone = None
    if "bone" in table:
        from femvalid.imaging import bone_inputs_from_table

        if "block_material" in table:
            fail("give block_material (a foam block) or bone (the patient's vertebra from CT), not both")
        if blocks != "bottom":
            fail('bone models the vertebra under the implant: it needs blocks = "bottom"')
        bone = bone_inputs_from_table(table["bone"], base if base is not None else Path.cwd(), f"{origin}: bone")
    spec = table.get("block_material", DEFAULT_BLOCK_MATERIAL)
    if not isinstance(spec, (str, dict)):
        fail("block_material must be a library key or an inline table")
    try:
        material = get_material(spec, origin=f"{origin}: block_material")
    except MaterialError as exc:
        fail(f"block_material: {exc.reason}")
    size = table.get("block_size", list(DEFAULT_BLOCK_SIZE_MM))
    if (not isinstance(size, list) or len(size) != 3
            or not all(_finite(v) and 0 < v <= 1e3 for v in size)):
        fail(f"block_size must be three positive lengths [x, y, thickness] in mm, each up to 1000 mm, got {size!r}")
    offset = table.get("offset_mm", [0.0, 0.0])
    if (not isinstance(offset, list) or len(offset) != 2 or not all(_finite(v) and abs(v) < 1e3 for v in offset)):
        fail(f"offset_mm must be [x, y] in mm, each under 1000 mm in magnitude, where the implant's footprint "
             f"centroid sits from the block's centre, got {offset!r}")
    return {"blocks": blocks, "interface": interface, "block_material": material, "bone": bone,
            "block_size_mm": tuple(float(v) for v in size), "offset_mm": [float(v) for v in offset]}
