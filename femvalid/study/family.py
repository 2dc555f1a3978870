"""Product families in a study file: a design whose members are revisions.

``family = { stl = "sizes/*.stl" }``
    every file the glob (relative to the study file) matches is a member, named by
    its file's stem, in sorted order;
``family = { cage = { height_mm = [8, 10, 12], length_mm = [...], ... } }``
    the bundled parametric cage (:class:`femvalid.geometry.implants.InterbodyCage`),
    one member per combination of the listed values, named by its parameters
    (``h8_l26_w11_lord0``); each member's STL is generated once into the cache
    (``cages/<key>.stl``, :func:`femvalid.study.generated.cage_stl`).

Every member then runs under every load case as any revision does (cache, workers,
Dask); :mod:`femvalid.study.worst_case` ranks them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import itertools
import math
import os
from pathlib import Path

from femvalid.errors import InputError

__all__ = ["CAGE_PARAMETERS", "MAX_MEMBERS", "family_members", "member_name"]

#: A family larger than this is refused (a typing slip in a list of values multiplies).
MAX_MEMBERS = 1000
#: A glob looks through at most this many folders: '**' over a large tree is refused, and
#: symlinked folders are not followed (two links back to their folder would make 2^40 paths).
MAX_GLOB_FOLDERS = 2000

#: The cage's parameters and the short names members are named by, in naming order.
CAGE_PARAMETERS = {"height_mm": "h", "length_mm": "l", "width_mm": "w", "lordosis_deg": "lord",
                   "corner_radius_mm": "r", "window_length_mm": "wl", "window_width_mm": "ww",
                   "window_radius_mm": "wr"}
_CAGE_KEYS = set(CAGE_PARAMETERS) | {"resolution_mm"}
#: Accepted ranges (far beyond any spinal cage, short of sizes that would not mesh in memory).
_RANGES = {"lordosis_deg": (-89.0, 89.0), "resolution_mm": (0.05, 10.0)}
_LENGTH_RANGE = (0.0, 200.0)  # mm; lengths must be positive (window sizes and radii may be 0)
#: The generated surface's triangles are bounded too: about 2·area/resolution².
MAX_CAGE_TRIANGLES = 2_000_000


def member_name(parameters: dict) -> str:
    """A cage member's name from its listed parameters, in :data:`CAGE_PARAMETERS` order.

    >>> member_name({"lordosis_deg": 8.0, "height_mm": 10.0, "width_mm": 11.5})
    'h10_w11.5_lord8'
    """
    return "_".join(f"{short}{parameters[key]:g}" for key, short in CAGE_PARAMETERS.items() if key in parameters)


def family_members(spec, base: Path, path: Path, where: str) -> list[tuple[str, Path, dict]]:
    """(member name, STL, record) of each member of a ``family`` table, in order.

    Raises
    ------
    InputError
        A table that is not ``{ stl = "glob" }`` or ``{ cage = {...} }``, a glob that
        matches nothing, parameters the cage refuses, or more than :data:`MAX_MEMBERS`.
    """
    where = f"{where} family"
    if not isinstance(spec, dict) or len(spec) != 1 or not set(spec) <= {"stl", "cage"}:
        raise InputError(path, f"{where}: must be {{ stl = \"sizes/*.stl\" }} or {{ cage = {{ height_mm = [...], "
                               f"... }} }}, got {spec!r}")
    if "stl" in spec:
        return _stl_members(spec["stl"], base, path, where)
    return _cage_members(spec["cage"], path, where)


def _stl_members(patterns, base, path, where):
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p and "\0" not in p
                                                                 for p in patterns):
        raise InputError(path, f"{where}: 'stl' must be a glob such as \"sizes/*.stl\" (or a list of them), "
                               f"got {patterns!r}")
    files = []
    for pattern in patterns:
        try:
            matches = sorted({m.resolve() for m in _glob(pattern, base)})
        except _TooMany:
            raise InputError(path, f"{where}: 'stl' glob {pattern!r} looks through more than {MAX_GLOB_FOLDERS} "
                                   "folders; name the folder of the family's STL files") from None
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(path, f"{where}: 'stl' glob {pattern!r} cannot be used: {exc}") from None
        if not matches:
            raise InputError(path, f"{where}: 'stl' glob {pattern!r} matches no file (looked in {base})")
        files += [m for m in matches if m not in files]
    if len(files) > MAX_MEMBERS:
        raise InputError(path, f"{where}: {len(files)} members, more than femvalid runs in one family "
                               f"({MAX_MEMBERS})")
    return [(f.stem, f, {"kind": "stl", "pattern": patterns if len(patterns) > 1 else patterns[0]}) for f in files]


class _TooMany(Exception):
    pass


def _glob(pattern: str, base: Path) -> list[Path]:
    """The regular files ``pattern`` (relative to ``base`` unless absolute) matches, as
    :func:`glob.glob` with ``recursive=True`` would, but without following symlinked
    folders and looking through at most :data:`MAX_GLOB_FOLDERS` folders."""
    given = Path(pattern)
    root, parts = (Path(given.anchor), given.parts[1:]) if given.is_absolute() else (base, given.parts)
    budget = [MAX_GLOB_FOLDERS]

    def names(folder: Path) -> list[os.DirEntry]:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooMany
        try:
            with os.scandir(folder) as it:
                return list(it)
        except OSError:  # not a folder, unreadable, a symlink loop
            return []

    def walk(folder: Path):  # the folder and every folder below it; no symlinked or hidden folders
        stack = [folder]
        while stack:
            here = stack.pop()
            yield here
            stack.extend(here / e.name for e in sorted(names(here), key=lambda e: e.name, reverse=True)
                         if not e.name.startswith(".") and _is_dir(e))

    current = [root]
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        found: list[Path] = []
        for folder in current:
            if part == "**":
                for below in walk(folder):
                    found.append(below)
                    if last:
                        found.extend(below / e.name for e in names(below) if not e.name.startswith("."))
            elif glob.has_magic(part):
                hidden = part.startswith(".")
                found.extend(folder / e.name for e in names(folder)
                             if fnmatch.fnmatchcase(e.name, part) and (hidden or not e.name.startswith(".")))
            else:
                found.append(folder / part)
        current = list(dict.fromkeys(found))
    return [c for c in current if _is_file(c)]


def _is_dir(entry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(candidate: Path) -> bool:
    try:
        return candidate.is_file()
    except (OSError, ValueError):
        return False


def _cage_members(table, path, where):
    from femvalid.geometry.implants import InterbodyCage
    from femvalid.study.generated import cage_stl

    where = f"{where} cage"
    if not isinstance(table, dict) or not table:
        raise InputError(path, f"{where}: must be a table of the cage's parameters, each a number or a list: "
                               f"{', '.join(CAGE_PARAMETERS)}")
    extra = sorted(set(table) - _CAGE_KEYS)
    if extra:
        raise InputError(path, f"{where}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(_CAGE_KEYS))}")
    resolution = table.get("resolution_mm", 1.0)
    low, high = _RANGES["resolution_mm"]
    if not (_finite(resolution) and low <= resolution <= high):
        raise InputError(path, f"{where}: 'resolution_mm' must be a length from {low:g} to {high:g} mm, "
                               f"got {resolution!r}")
    lists = {}
    for key in CAGE_PARAMETERS:
        if key not in table:
            continue
        values = table[key] if isinstance(table[key], list) else [table[key]]
        if not values or not all(_finite(v) for v in values):
            raise InputError(path, f"{where}: '{key}' must be a number or a list of numbers, got {table[key]!r}")
        if len({float(v) for v in values}) != len(values):
            raise InputError(path, f"{where}: '{key}' lists a value twice: {table[key]!r}")
        low, high = _RANGES.get(key, _LENGTH_RANGE)
        positive = key in ("height_mm", "length_mm", "width_mm")
        bad = [v for v in values if not (low <= v <= high) or (positive and v <= 0)]
        if bad:
            raise InputError(path, f"{where}: '{key}' must lie {'above' if positive else 'from'} {low:g} "
                                   f"{'and up to' if positive else 'to'} {high:g}, got {bad[0]!r}")
        lists[key] = [float(v) for v in values]
    count = math.prod(len(v) for v in lists.values())
    if count > MAX_MEMBERS:
        raise InputError(path, f"{where}: {count} combinations, more than femvalid runs in one family ({MAX_MEMBERS})")
    defaults = {f.name: f.default for f in dataclasses.fields(InterbodyCage)}
    members = []
    for combination in itertools.product(*lists.values()):
        parameters = dict(zip(lists, combination))
        name = member_name(parameters)
        full = {**defaults, **parameters}
        why = _unbuildable(full)
        if why:
            raise InputError(path, f"{where}: member {name}: {why}")
        area = 2.0 * full["length_mm"] * full["width_mm"] + 2.0 * (full["length_mm"] + full["width_mm"]) * full["height_mm"]
        if 2.0 * area / resolution**2 > MAX_CAGE_TRIANGLES:
            raise InputError(path, f"{where}: member {name}: about {2.0 * area / resolution**2:.3g} triangles at "
                                   f"resolution_mm = {resolution:g}; use a coarser resolution")
        try:
            stl = cage_stl(parameters, float(resolution), source=name)
        except Exception as exc:  # the cage refuses the parameters (ValueError), gmsh cannot build it, its check fails
            reason = getattr(exc, "reason", None) or str(exc)
            raise InputError(path, f"{where}: member {name}: the cage cannot be built: {reason}") from None
        members.append((name, stl, {"kind": "cage", "parameters": full,
                                    "resolution_mm": float(resolution)}))
    return members


def _unbuildable(p: dict) -> str:
    """Why OpenCASCADE could not build a cage with parameters ``p`` (before it is asked); "" if it can."""
    outline = min(p["length_mm"], p["width_mm"]) / 2
    if not p["corner_radius_mm"] < outline:
        return (f"corner_radius_mm {p['corner_radius_mm']:g} must be less than half the smaller of length and width "
                f"({outline:g} mm)")
    if p["window_length_mm"]:
        window = min(p["window_length_mm"], p["window_width_mm"]) / 2
        if not p["window_width_mm"] > 0:
            return "a window (window_length_mm > 0) needs window_width_mm > 0"
        if not p["window_radius_mm"] < window:
            return (f"window_radius_mm {p['window_radius_mm']:g} must be less than half the window's smaller side "
                    f"({window:g} mm)")
        # The window must stay inside the footprint's rounded outline, with a wall left.
        if not (p["window_length_mm"] < p["length_mm"] and p["window_width_mm"] < p["width_mm"]):
            return "the window must be smaller than the footprint"
    return ""


def _finite(value) -> bool:
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:
        return False
