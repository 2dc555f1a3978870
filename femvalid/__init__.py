"""femvalid: finite-element validation suite for 3D-printed orthopaedic implants.

Units everywhere: mm, N, MPa. The pipeline, one subpackage per stage:
geometry → meshing → loadcases (Model) → fem → post → study → report.

What a script needs is here::

    import femvalid as fv

    study = fv.read_study("study.toml")
    result = fv.run_study(study, "reports/tlif")            # every job, summary.csv, results.json
    surface, report = fv.load_surface("cage.stl")           # read and check an STL
    mesh = fv.mesh_surface(surface, fv.MeshSettings(1.0, 2))
    case = fv.loadcase_from_table({"name": "c", "type": "axial_compression", "force": 1000.0}, "script")
    analysis = fv.LOADCASE_TYPES[case.type](mesh, fv.get_material("ti6al4v-am"), case)
    model = fv.Model(mesh, 110000.0, 0.34, fixtures=(...), loads=(...))  # or build one by hand
    solution = fv.solve(model)

Names are imported on first use, so ``import femvalid`` stays light.
"""

from femvalid.errors import FemvalidError, GeometryError, InputError, JobError, MaterialError, MeshingError

__version__ = "0.1.0"

_LAZY = {
    "read_study": "femvalid.study",
    "run_study": "femvalid.study",
    "Study": "femvalid.study",
    "load_surface": "femvalid.geometry",
    "read_stl": "femvalid.geometry",
    "Surface": "femvalid.geometry",
    "mesh_surface": "femvalid.meshing",
    "MeshSettings": "femvalid.meshing",
    "VolumeMesh": "femvalid.meshing",
    "write_vtu": "femvalid.meshing",
    "get_material": "femvalid.materials",
    "material_from_table": "femvalid.materials",
    "Material": "femvalid.materials",
    "LoadCase": "femvalid.loadcases",
    "loadcase_from_table": "femvalid.loadcases",
    "LOADCASE_TYPES": "femvalid.loadcases",
    "register_loadcase_type": "femvalid.loadcases",
    "Model": "femvalid.fem.model",
    "Fixture": "femvalid.fem.model",
    "Tie": "femvalid.fem.model",
    "LoadState": "femvalid.fem.model",
    "solve": "femvalid.fem.static",
}

__all__ = [
    "FemvalidError",
    "GeometryError",
    "InputError",
    "JobError",
    "MaterialError",
    "MeshingError",
    "__version__",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'femvalid' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
