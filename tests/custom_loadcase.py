"""A load-case type registered by a user's code, for the worker-registry test."""

from femvalid.loadcases import LOADCASE_TYPES, register_loadcase_type

NAME = "scaled_axial"


def analyse(mesh, material, case, source="job"):
    analysis = LOADCASE_TYPES["axial_compression"](mesh, material, case, source)
    analysis.qoi["scaled_stiffness_N_per_mm"] = case.options["scale"] * analysis.qoi["stiffness_N_per_mm"]
    return analysis


def register():
    if NAME not in LOADCASE_TYPES:
        register_loadcase_type(NAME, analyse, keys={"scale"})
    return LOADCASE_TYPES[NAME]
