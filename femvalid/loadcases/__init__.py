"""Load-case types as declarations that build a Model: axial, compression–shear, torsion, subsidence, lattice.

Importing this package registers the built-in types in :data:`LOADCASE_TYPES`.
"""

from femvalid.loadcases.loadcase import LoadCase, loadcase_from_table
from femvalid.loadcases.registry import LOADCASE_TYPES, LoadCaseType, register_loadcase_type
from femvalid.loadcases import axial, lattice, shear, subsidence, torsion  # noqa: F401,E402  (they register)

__all__ = ["LOADCASE_TYPES", "LoadCase", "LoadCaseType", "loadcase_from_table", "register_loadcase_type"]
