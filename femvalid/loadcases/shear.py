"""ASTM F2077 compression–shear: the load line leans ``angle_deg`` from the load axis.

The load line is f = −cos(α)·d + sin(α)·s, with d the load axis and s the shear
direction (the device's x, anterior–posterior, or y, lateral, projected normal to d).
The superior block moves along f only (the actuator holds it otherwise) and, with
``platen_rotation = "free"``, rotates about the push rod's ball. The force is along f;
its compressive and shear parts are reported.
"""

from __future__ import annotations

import math

import numpy as np

from femvalid.loadcases.loadcase import _finite
from femvalid.loadcases.registry import register_loadcase_type
from femvalid.loadcases.rigid import analyse_rigid, platen_setup, travel_columns

__all__ = ["analyse_compression_shear", "shear_direction", "load_line"]

SHEAR_DIRECTIONS = ("x", "y")


def shear_direction(axis: np.ndarray, which: str) -> np.ndarray:
    """The device's x or y direction projected normal to the load axis (unit)."""
    a = np.eye(3)[SHEAR_DIRECTIONS.index(which)]
    s = a - (a @ axis) * axis
    return s / np.linalg.norm(s)


def load_line(axis: np.ndarray, shear: np.ndarray, angle_deg: float) -> np.ndarray:
    """Unit direction of the push on the device: −cos(α)·d + sin(α)·s."""
    alpha = math.radians(angle_deg)
    return -math.cos(alpha) * axis + math.sin(alpha) * shear


def analyse_compression_shear(mesh, material, case, source: str = "job"):
    setup = platen_setup(mesh, case, source)
    s = shear_direction(setup.axis, case.shear_direction)
    line = load_line(setup.axis, s, case.angle_deg)
    motion = travel_columns(case, setup, line)
    forces = np.zeros(motion.shape[1])
    forces[0] = case.force_N
    analysis, _ = analyse_rigid(mesh, material, case, motion, forces, line, source, setup)
    alpha = math.radians(case.angle_deg)
    analysis.qoi["compression_force_N"] = case.force_N * math.cos(alpha)
    analysis.qoi["shear_force_N"] = case.force_N * math.sin(alpha)
    return analysis


def _parse(table, fail, origin) -> dict:
    angle = table.get("angle_deg", 45.0)
    if not _finite(angle) or not 0.0 <= angle < 90.0:
        fail(f"'angle_deg' must be an angle from 0 to under 90 degrees between the load line and the load axis, "
             f"got {angle!r}")
    direction = table.get("shear_direction", "x")
    if direction not in SHEAR_DIRECTIONS:
        fail(f"shear_direction must be one of {', '.join(SHEAR_DIRECTIONS)}, got {direction!r}")
    return {"angle_deg": float(angle), "shear_direction": direction}


register_loadcase_type("compression_shear", analyse_compression_shear, keys={"angle_deg", "shear_direction"},
                       parse=_parse, fields=("angle_deg", "shear_direction"),
                       description="ASTM F2077 static compression-shear")
