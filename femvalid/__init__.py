"""femvalid: finite-element validation suite for 3D-printed orthopaedic implants.

Units everywhere: mm, N, MPa. The pipeline, one subpackage per stage:
geometry → meshing → fem → post → study → report.
"""

from femvalid.errors import FemvalidError, GeometryError, InputError, JobError, MaterialError, MeshingError

__version__ = "0.1.0"

__all__ = [
    "FemvalidError",
    "GeometryError",
    "InputError",
    "JobError",
    "MaterialError",
    "MeshingError",
    "__version__",
]
