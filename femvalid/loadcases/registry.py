"""Load-case types by name: a leaf registry that the types fill as they are imported.

A type is a declaration: the keys it adds to a load-case table, how it reads them,
and the function that builds its Model, solves it and names its quantities. The
study runner hands the registered type itself to each job, so a type a user
registers reaches spawned pool workers and Dask workers as it reaches this process
(meshio's ``register_format`` pattern).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["LOADCASE_TYPES", "LoadCaseType", "register_loadcase_type"]


@dataclass(frozen=True)
class LoadCaseType:
    """A registered load-case type.

    Attributes
    ----------
    name : str
    analyse : callable (mesh, material, case, source) → CaseAnalysis
        Builds the Model, solves it and computes the quantities of interest.
    keys : frozenset of str
        Table keys the type accepts beyond those every type has.
    parse : callable (table, fail, origin) → dict, optional
        Reads those keys into LoadCase fields (``fail(reason)`` raises the input error).
    fields : tuple of str
        LoadCase fields the type uses (results.json lists only these and the common ones).
    """

    name: str
    analyse: Callable
    keys: frozenset = frozenset()
    parse: Callable | None = None
    fields: tuple = ()
    description: str = ""
    takes_base: bool = False  # parse(table, fail, origin, base): paths in the table are relative to base

    def __call__(self, mesh, material, case, source: str = "job"):
        return self.analyse(mesh, material, case, source=source)


LOADCASE_TYPES: dict[str, LoadCaseType] = {}


def register_loadcase_type(name: str, analyse, override: bool = False, *, keys=(), parse=None, fields=(),
                           description: str = "", takes_base: bool = False) -> LoadCaseType:
    """Add a load-case type; refuses to replace an existing one unless ``override``.

    ``analyse(mesh, material, case, source)`` returns a CaseAnalysis; ``keys`` and
    ``parse`` declare and read the type's own table keys (kept in ``case.options``
    where they are not LoadCase fields).
    """
    if name in LOADCASE_TYPES and not override:
        raise ValueError(f"load-case type {name!r} is already registered")
    kind = analyse if isinstance(analyse, LoadCaseType) else LoadCaseType(
        name, analyse, frozenset(keys), parse, tuple(fields), description, takes_base)
    LOADCASE_TYPES[name] = kind
    return kind
