"""Load cases as data (axial compression, ...) and their boundary-condition builders."""

from femvalid.loadcases.loadcase import LoadCase, loadcase_from_table
from femvalid.loadcases.registry import LOADCASE_TYPES, register_loadcase_type

__all__ = ["LOADCASE_TYPES", "LoadCase", "loadcase_from_table", "register_loadcase_type"]
