"""Domain exceptions.

Every exception a user can cause carries a message that names the file (or study
key) and says what is wrong, so the CLI can print it as one line. ``exit_status``
is what the CLI returns: 2 for invalid input, 3 for a job that failed inside the
mesher or solver.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FemvalidError",
    "InputError",
    "GeometryError",
    "MaterialError",
    "JobError",
    "MeshingError",
]


class FemvalidError(Exception):
    """Base class of every error femvalid reports to its user."""

    exit_status = 1

    def __init__(self, source: str | Path | None, reason: str):
        self.source = str(source) if source is not None else None
        self.reason = reason
        super().__init__(f"{self.source}: {reason}" if self.source else reason)


class InputError(FemvalidError):
    """Invalid input: the user has to change a file or an option."""

    exit_status = 2


class GeometryError(InputError):
    """An STL file that cannot be read or is not a valid closed solid."""


class MaterialError(InputError):
    """An unknown material key or physically invalid material constants."""


class JobError(FemvalidError):
    """A job failed inside the mesher or the solver."""

    exit_status = 3


class MeshingError(JobError):
    """gmsh failed, timed out, or produced a mesh that fails the quality checks."""
