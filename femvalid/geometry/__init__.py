"""Geometry: STL reading and writing, checks and repairs, parametric implants."""

from femvalid.geometry.checks import CheckReport, load_surface
from femvalid.geometry.implants import InterbodyCage, VertebralBodyReplacement, box_surface
from femvalid.geometry.stl import StlData, read_stl, write_stl
from femvalid.geometry.surface import Surface

__all__ = [
    "CheckReport",
    "InterbodyCage",
    "StlData",
    "Surface",
    "VertebralBodyReplacement",
    "box_surface",
    "load_surface",
    "read_stl",
    "write_stl",
]
