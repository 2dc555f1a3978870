"""Load-case types by name; each maps to the function that analyses it."""

from __future__ import annotations

from femvalid.loadcases.axial import analyse_axial_compression
from femvalid.loadcases.lattice import analyse_lattice_compression
from femvalid.loadcases.subsidence import analyse_subsidence

__all__ = ["LOADCASE_TYPES", "register_loadcase_type"]

LOADCASE_TYPES = {
    "axial_compression": analyse_axial_compression,
    "lattice_compression": analyse_lattice_compression,
    "subsidence": analyse_subsidence,
}


def register_loadcase_type(name: str, analyse, override: bool = False) -> None:
    """Add a load-case type; refuses to replace an existing one unless ``override``."""
    if name in LOADCASE_TYPES and not override:
        raise ValueError(f"load-case type {name!r} is already registered")
    LOADCASE_TYPES[name] = analyse
