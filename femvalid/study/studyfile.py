"""Study files (TOML): designs × revisions × load cases, validated key by key."""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from femvalid._files import MAX_TEXT_BYTES, input_file_size, read_input_bytes
from femvalid.errors import InputError, MaterialError
from femvalid.geometry.stl import MAX_STL_BYTES
from femvalid.loadcases import LoadCase, loadcase_from_table
from femvalid.materials import Material, get_material
from femvalid.post import qoi
from femvalid.study.criteria import read_criteria
from femvalid.study.paths import sha256_file

__all__ = ["Design", "Study", "baselines", "mesh_sizes", "read_study", "read_toml"]

_STUDY_KEYS = {"study", "mesh", "design", "loadcase", "criteria", "validation"}
_VALIDATION_KEYS = {"design", "revision", "loadcase", "quantity", "measured", "uncertainty", "source"}
#: A bench curve instead of one measured number (femvalid.study.bench).
_CURVE_KEYS = {"design", "revision", "loadcase", "curve", "source", "offset_percent", "reference_length_mm",
               "linear_window", "uncertainty_percent"}
_SECTION_KEYS = {"study": {"name", "description", "baseline", "validation_uncertainty_percent"},
                 "mesh": {"size", "order", "refine"}}
_DESIGN_KEYS = {"name", "revision", "stl", "lattice", "family", "material", "units", "mesh_size", "repair",
                "validation_uncertainty_percent"}
_LATTICE_KEYS = {"type", "relative_density", "cell_size", "cells", "section", "resolution"}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
#: TOML 1.0 integers are 64-bit; tomllib accepts any size, which float() cannot take.
_TOML_INT_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Design:
    """One revision of one implant design."""

    name: str
    revision: str
    stl: Path
    material: Material
    units: str = "mm"
    mesh_size_mm: float | None = None  # this design's element size, before [mesh] size
    surface: str = "auto"  # boundary mesh: see femvalid.meshing.MeshSettings
    lattice: dict | None = None  # a generated lattice block: how it was made (Lattice.to_dict)
    repair: bool = False  # close holes and drop duplicate triangles when reading the STL (pymeshfix)
    family: dict | None = None  # a product family's member: how it was made (femvalid.study.family)
    validation_uncertainty_percent: float | None = None  # this family's, before [study]'s (worst-case band)


@dataclass(frozen=True)
class Study:
    """A parsed study: what to mesh and which load cases to run on each design."""

    path: Path
    name: str
    designs: tuple[Design, ...]
    loadcases: tuple[LoadCase, ...]
    loadcase_files: tuple[Path | None, ...]
    mesh_size_mm: float | None = None
    mesh_order: int = 2
    mesh_refine_mm: tuple | None = None  # three sizes: each job on each, GCI per quantity
    criteria: dict = field(default_factory=dict)
    baseline: str | None = None  # revision every other is compared with (default: each design's first)
    validation: tuple = ()  # bench data: dicts with design, revision, loadcase, quantity, measured, ...
    description: str = ""
    inputs: dict = field(default_factory=dict)  # path → SHA-256 of every input file
    validation_uncertainty_percent: float = 10.0  # worst-case band beside the GCI, % (femvalid.study.worst_case)


def mesh_sizes(study: "Study", design: Design, surface) -> tuple[float, ...]:
    """Element sizes to mesh ``design`` at, mm: [mesh] refine, else the design's own
    ``mesh_size``, [mesh] size, a lattice's voxel, or a size from the surface."""
    if study.mesh_refine_mm:
        return study.mesh_refine_mm
    if design.mesh_size_mm or study.mesh_size_mm:
        return (design.mesh_size_mm or study.mesh_size_mm,)
    if design.lattice:
        return (design.lattice["voxel_mm"],)
    from femvalid.meshing import default_size_mm

    return (default_size_mm(surface),)


def read_toml(path: Path) -> dict:
    """Parse a TOML file; any failure is an InputError naming the file."""
    # A regular file of bounded size: /dev/zero, a FIFO or a folder is refused unread.
    try:
        if not os.path.lexists(path):
            raise InputError(path, "file not found")
    except ValueError as exc:  # a NUL byte in the file name
        raise InputError(path, f"cannot read: {exc}") from None
    raw = read_input_bytes(path, MAX_TEXT_BYTES, "a TOML file")
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text[1:] if text.startswith("\ufeff") else text)  # a byte-order mark some editors write
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(path, "not valid TOML: arrays or tables nested too deeply") from None
    _check_integers(data, path)
    return data


def _check_integers(data: dict, path: Path) -> None:
    """Refuse integers outside TOML's 64-bit range (tomllib accepts them; float() cannot take them)."""
    stack = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, int) and not _TOML_INT_RANGE[0] <= value <= _TOML_INT_RANGE[1]:
            raise InputError(path, f"not valid TOML: the integer at {where!r} does not fit in 64 bits")


def _name(value, where, path, key) -> str:
    if not isinstance(value, str) or not value or not set(value) <= _NAME_CHARS:
        raise InputError(path, f"{where}: '{key}' must be a non-empty name of letters, digits, '-', '_' or '.', got {value!r}")
    if set(value) == {"."}:  # '.' and '..' would name the output folder itself or its parent
        raise InputError(path, f"{where}: '{key}' must not be made of dots only (it names a folder), got {value!r}")
    return value


def _input_file(base: Path, value, path: Path, where: str, key: str, must_exist: bool = True) -> Path:
    """``base / value`` resolved; an InputError for names no file system accepts."""
    if not isinstance(value, str) or "\0" in value:
        raise InputError(path, f"{where}: '{key}' must be a path, got {value!r}")
    try:
        target = (base / value).resolve()
        exists = target.is_file() if must_exist else True
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise InputError(path, f"{where}: '{key}' file {value!r} cannot be used: {getattr(exc, 'strerror', None) or exc}") from None
    if not exists:
        raise InputError(path, f"{where}: '{key}' file {value!r} not found (looked for {target})")
    return target


def _hash_input(file: Path, path: Path, where: str, inputs: dict) -> None:
    try:
        inputs[str(file)] = sha256_file(file)
    except OSError as exc:
        raise InputError(path, f"{where}: cannot read {file}: {exc.strerror or exc}") from None


def read_study(path: str | Path) -> Study:
    """Read and validate a study file; paths inside are relative to it.

    Raises
    ------
    InputError
        Unknown keys, missing files, unknown materials, bad load cases, ... with the
        file and the key named.
    """
    path = Path(path)
    data = read_toml(path)
    base = path.parent
    unknown = sorted(set(data) - _STUDY_KEYS)
    if unknown:
        raise InputError(path, f"unknown section(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_STUDY_KEYS))}")
    for section, allowed in _SECTION_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise InputError(path, f"[{section}] must be a table")
        extra = sorted(set(table) - allowed)
        if extra:
            raise InputError(path, f"[{section}]: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")
    study_table = data.get("study", {})
    name = _name(study_table.get("name", path.stem), "[study]", path, "name")
    uncertainty = _percent(study_table.get("validation_uncertainty_percent", 10.0), path, "[study]")
    size, order, refine = _mesh_settings(data.get("mesh", {}), path)
    inputs = {str(path): sha256_file(path)}
    designs = _designs(data.get("design"), path, base, inputs)
    loadcases, files = _loadcases(data.get("loadcase"), path, base, inputs)
    criteria = read_criteria(data.get("criteria", {}), path)
    baseline = study_table.get("baseline")
    if baseline is not None:
        baseline = _name(str(baseline), "[study]", path, "baseline")
        if not any(d.revision == baseline for d in designs):
            raise InputError(path, f"[study]: baseline revision {baseline!r} is not a revision of any design")
    validation = _validation(data.get("validation", []), path, designs, loadcases)
    for v in validation:
        if "curve" in v:
            _hash_input(Path(v["curve"].path), path, "[[validation]]", inputs)
    return Study(path, name, designs, loadcases, files, size, order, refine, criteria, baseline, validation,
                 str(study_table.get("description", "")), inputs, uncertainty)


def _percent(value, path, where) -> float:
    if not (_is_finite(value) and value >= 0):
        raise InputError(path, f"{where}: 'validation_uncertainty_percent' must be a percentage (a number >= 0), "
                               f"got {value!r}")
    return float(value)


def _mesh_settings(table, path):
    size = table.get("size")
    if size is not None and not (_is_finite(size) and size > 0):
        raise InputError(path, f"[mesh]: 'size' must be a positive length in mm, got {size!r}")
    order = table.get("order", 2)
    if order not in (1, 2) or isinstance(order, bool):
        raise InputError(path, f"[mesh]: 'order' must be 1 or 2, got {order!r}")
    refine = table.get("refine")
    if refine is not None:
        if (not isinstance(refine, list) or len(refine) != 3 or len({float(v) for v in refine if _is_finite(v)}) != 3
                or not all(_is_finite(v) and v > 0 for v in refine)):
            raise InputError(path, f"[mesh]: 'refine' must be three different positive sizes in mm, got {refine!r}")
        refine = tuple(sorted(float(v) for v in refine))
    return (float(size) if size is not None else None), int(order), refine


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value) -> bool:
    """A number (not a bool) that converts to a finite float."""
    try:
        return _is_number(value) and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _entries(value, path, section):
    if value is None or value == []:
        raise InputError(path, f"no [[{section}]] entries; a study needs at least one")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InputError(path, f"'{section}' must be written as [[{section}]] tables")
    return value


def _check_keys(table: dict, allowed: set, required: tuple, path: Path, where: str) -> None:
    """Refuse unknown keys and name the first missing required one."""
    extra = sorted(set(table) - allowed)
    if extra:
        raise InputError(path, f"{where}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")
    for key in required:
        if key not in table:
            raise InputError(path, f"{where}: missing '{key}'")


def _designs(entries, path, base, inputs) -> tuple[Design, ...]:
    designs, seen = [], set()
    for k, table in enumerate(_entries(entries, path, "design"), start=1):
        where = f"[[design]] #{k}"
        _check_keys(table, _DESIGN_KEYS, ("name", "material"), path, where)
        if sum(key in table for key in ("stl", "lattice", "family")) != 1:
            raise InputError(path, f"{where}: give one of 'stl', 'lattice' or 'family'")
        if "family" in table and "revision" in table:
            raise InputError(path, f"{where}: a family's members are its revisions (named by file stem or "
                                   "parameters); leave out 'revision'")
        band = table.get("validation_uncertainty_percent")
        if band is not None:
            if "family" not in table:
                raise InputError(path, f"{where}: 'validation_uncertainty_percent' applies to a family; put it in "
                                       "[study] or on the family's [[design]]")
            band = _percent(band, path, where)
        name = _name(table["name"], where, path, "name")
        units = table.get("units", "mm")
        if units not in ("mm", "cm", "m", "in"):
            raise InputError(path, f"{where}: 'units' must be mm, cm, m or in, got {units!r}")
        size = table.get("mesh_size")
        if size is not None and not (_is_finite(size) and size > 0):
            raise InputError(path, f"{where}: 'mesh_size' must be a positive length in mm, got {size!r}")
        repair = table.get("repair", False)
        if not isinstance(repair, bool):
            raise InputError(path, f"{where}: 'repair' must be true or false, got {repair!r}")
        spec = table["material"]
        if not isinstance(spec, (str, dict)):
            raise InputError(path, f"{where}: 'material' must be a library key or an inline table")
        try:
            material = get_material(spec, origin=f"{path}: {where} material")
        except MaterialError as exc:
            raise InputError(path, f"{where}: {exc.reason}") from None
        if "lattice" in table:
            variants = _lattice_variants(table, path, where)
        elif "family" in table:
            from femvalid.study.family import family_members

            variants = family_members(table["family"], base, path, where)
            for _, stl, _ in variants:
                input_file_size(stl, MAX_STL_BYTES, "an STL file")
        else:
            if not isinstance(table["stl"], str):
                raise InputError(path, f"{where}: 'stl' must be a path")
            stl = _input_file(base, table["stl"], path, where, "stl")
            input_file_size(stl, MAX_STL_BYTES, "an STL file")  # before it is hashed
            variants = [(str(table.get("revision", "A")), stl, None)]
        for revision, stl, record in variants:
            lattice, family = (None, record) if "family" in table else (record, None)
            revision = _name(revision, where, path, "revision" if family is None else "member name")
            if (name, revision) in seen:
                raise InputError(path, f"{where}: design {name!r} revision {revision!r} is listed twice")
            seen.add((name, revision))
            _hash_input(stl, path, where, inputs)
            generated = lattice is not None or (family or {}).get("kind") == "cage"  # made in mm
            designs.append(Design(name, revision, stl, material, "mm" if generated else units,
                                  float(size) if size is not None else None,
                                  "auto" if lattice is None else "keep", lattice, repair and lattice is None,
                                  family, band))
    return tuple(designs)


def _lattice_variants(table, path, where) -> list:
    """(revision, generated STL, lattice record) per requested density of a lattice design."""
    from femvalid.geometry.lattice import LatticeSpec
    from femvalid.study.generated import lattice_stl

    spec = table["lattice"]
    where = f"{where} lattice"
    if not isinstance(spec, dict):
        raise InputError(path, f"{where}: must be a table {{ type = ..., relative_density = ..., ... }}")
    _check_keys(spec, _LATTICE_KEYS, ("type", "relative_density", "cell_size", "cells"), path, where)
    densities = spec["relative_density"]
    listed = isinstance(densities, list)
    densities = densities if listed else [densities]
    if not densities or not all(_is_finite(d) for d in densities):
        raise InputError(path, f"{where}: 'relative_density' must be a number or a list of numbers, got {spec['relative_density']!r}")
    if listed and "revision" in table:
        raise InputError(path, f"{where}: with several densities each is its own revision (rho0.20, ...); leave out 'revision'")
    cells = spec["cells"]
    if not (isinstance(cells, list) and len(cells) == 3 and all(isinstance(c, int) and not isinstance(c, bool) for c in cells)):
        raise InputError(path, f"{where}: 'cells' must be three whole numbers [nx, ny, nz], got {cells!r}")
    if not _is_finite(spec["cell_size"]):
        raise InputError(path, f"{where}: 'cell_size' must be a length in mm, got {spec['cell_size']!r}")
    resolution = spec.get("resolution")
    if resolution is not None and (not isinstance(resolution, int) or isinstance(resolution, bool)):
        raise InputError(path, f"{where}: 'resolution' must be a whole number of voxels per cell, got {resolution!r}")
    if not isinstance(spec["type"], str) or not isinstance(spec.get("section", "circle"), str):
        raise InputError(path, f"{where}: 'type' and 'section' must be names")
    variants = []
    for density in densities:
        lattice = LatticeSpec(spec["type"], float(density), float(spec["cell_size"]), tuple(cells),
                              spec.get("section", "circle"), resolution)
        lattice.validate(f"{path}: {where}")
        revision = table.get("revision", f"rho{density:.2f}")
        stl, record = lattice_stl(lattice, source=f"{path}: {where}")
        variants.append((str(revision), stl, record))
    return variants


def _loadcases(entries, path, base, inputs):
    cases, files, names = [], [], set()
    for k, table in enumerate(_entries(entries, path, "loadcase"), start=1):
        where = f"[[loadcase]] #{k}"
        file = None
        if "file" in table:
            if set(table) != {"file"}:
                raise InputError(path, f"{where}: give either 'file' or the load-case keys inline, not both")
            file = _input_file(base, str(table["file"]), path, where, "file", must_exist=False)
            table = read_toml(file)
            origin = str(file)
            _hash_input(file, path, where, inputs)
        else:
            origin = f"{path}: {where}"
        case = loadcase_from_table(table, origin, base=file.parent if file is not None else base)
        for read in case.input_files():
            _hash_input(Path(read), path, where, inputs)
        if case.name in names:
            raise InputError(path, f"{where}: load case name {case.name!r} is used twice")
        names.add(case.name)
        cases.append(case)
        files.append(file)
    return tuple(cases), tuple(files)


def baselines(study: Study) -> dict[str, str]:
    """Baseline revision per design: [study] baseline where the design has it, else its first."""
    out: dict[str, str] = {}
    for d in study.designs:
        out.setdefault(d.name, d.revision)
    if study.baseline:
        for d in study.designs:
            if d.revision == study.baseline:
                out[d.name] = d.revision
    return out


def _validation(entries, path, designs, loadcases) -> tuple:
    """Bench measurements to compare with: each names a job and a quantity of interest."""
    if not isinstance(entries, list) or not all(isinstance(v, dict) for v in entries):
        raise InputError(path, "'validation' must be written as [[validation]] tables")
    known_jobs = {(d.name, d.revision) for d in designs}
    cases = {c.name for c in loadcases}
    out = []
    for k, table in enumerate(entries, start=1):
        where = f"[[validation]] #{k}"
        if "curve" in table:
            out.append(_curve_entry(table, path, where, designs, loadcases))
            continue
        _check_keys(table, _VALIDATION_KEYS, ("design", "loadcase", "quantity", "measured"), path, where)
        for key in ("design", "loadcase"):
            if not isinstance(table[key], str):
                raise InputError(path, f"{where}: '{key}' must be a name, got {table[key]!r}")
        revision = str(table.get("revision", "A"))
        if (table["design"], revision) not in known_jobs:
            raise InputError(path, f"{where}: no design {table['design']!r} revision {revision!r} in this study")
        if table["loadcase"] not in cases:
            raise InputError(path, f"{where}: no load case {table['loadcase']!r} in this study")
        _known_quantity(table["quantity"], path, where)
        for key in ("measured", "uncertainty"):
            value = table.get(key, 0.0)
            if not _is_finite(value):
                raise InputError(path, f"{where}: '{key}' must be a number, got {value!r}")
        out.append({"design": table["design"], "revision": revision, "loadcase": table["loadcase"],
                    "quantity": str(table["quantity"]), "measured": float(table["measured"]),
                    "uncertainty": float(table.get("uncertainty", 0.0)), "source": str(table.get("source", ""))})
    return tuple(out)


def _known_quantity(name, path, where) -> None:
    """Refuse a quantity the QoI table does not know (a misspelling would compare with nothing)."""
    if isinstance(name, str) and name in qoi.QOI:
        return
    close = difflib.get_close_matches(str(name), qoi.known(), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(path, f"{where}: unknown quantity {name!r}; {hint}known quantities: {', '.join(qoi.known())}")


def _curve_entry(table, path, where, designs, loadcases) -> dict:
    """A bench curve (displacement mm, force N) to compare with: its stiffness and offset yield
    (femvalid.study.bench), determined now, so that a bad curve stops the run before any work."""
    from femvalid.geometry.stl import read_stl
    from femvalid.study import bench

    if "measured" in table or "quantity" in table:
        raise InputError(path, f"{where}: give either 'curve' (stiffness and offset yield are both compared) or "
                               "'quantity' and 'measured'")
    _check_keys(table, _CURVE_KEYS, ("design", "loadcase", "curve"), path, where)
    for key in ("design", "loadcase"):
        if not isinstance(table[key], str):
            raise InputError(path, f"{where}: '{key}' must be a name, got {table[key]!r}")
    revision = str(table.get("revision", "A"))
    design = next((d for d in designs if (d.name, d.revision) == (table["design"], revision)), None)
    if design is None:
        raise InputError(path, f"{where}: no design {table['design']!r} revision {revision!r} in this study")
    case = next((c for c in loadcases if c.name == table["loadcase"]), None)
    if case is None:
        raise InputError(path, f"{where}: no load case {table['loadcase']!r} in this study")
    if case.type == "torsion":
        raise InputError(path, f"{where}: a bench curve is force against displacement; torsion (torque against "
                               "angle) curves are not read yet: give 'quantity' and 'measured'")
    numbers = {}
    for key, default, low in (("offset_percent", bench.DEFAULT_OFFSET_PERCENT, 0.0),
                              ("linear_window", bench.DEFAULT_WINDOW, 0.0), ("uncertainty_percent", 0.0, None),
                              ("reference_length_mm", None, 0.0)):
        value = table.get(key, default)
        if value is not None and not (_is_finite(value) and (value > low if low is not None else value >= 0)):
            raise InputError(path, f"{where}: '{key}' must be a {'positive ' if low is not None else ''}number, "
                                   f"got {value!r}")
        numbers[key] = None if value is None else float(value)
    if numbers["linear_window"] > 1:
        raise InputError(path, f"{where}: 'linear_window' is a fraction of the points (0 to 1), got "
                               f"{numbers['linear_window']!r}")
    curve_file = _input_file(path.parent, table["curve"], path, where, "curve")
    length = numbers["reference_length_mm"]
    if length is None:  # the device's height: its extent along z
        z = read_stl(design.stl, design.units).triangles[..., 2]
        length = float(z.max() - z.min())
    displacement, force = bench.read_curve(curve_file, f"{path}: {where}")
    curve = bench.analyse_curve(displacement, force, length, numbers["offset_percent"], numbers["linear_window"],
                                path=str(curve_file), source=f"{path}: {where}")
    return {"design": design.name, "revision": revision, "loadcase": case.name, "curve": curve,
            "uncertainty_percent": numbers["uncertainty_percent"], "source": str(table.get("source", ""))}
