"""The patient-specific example: a cage planned on the superior endplate of a synthetic vertebra.

    python -m femvalid.imaging.examples FOLDER

writes ``designs/patient_cage.stl``, ``ct/vertebra.nii.gz`` and ``ct/vertebra_mask.nii.gz``
into FOLDER (this is how examples/patient/ was made). No patient data: the CT is
:func:`femvalid.imaging.phantoms.vertebra_phantom` (a cortical shell, a trabecular core
denser posteriorly and towards the endplates), and the cage STL is in the same LPS
coordinates, as a plan made on the scan is: its inferior face on the endplate at z = +12 mm.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from femvalid.geometry import Surface, write_stl
from femvalid.geometry.implants import InterbodyCage
from femvalid.imaging.nifti import write_nifti
from femvalid.imaging.phantoms import vertebra_phantom

__all__ = ["PATIENT_CAGE", "ENDPLATE_Z_MM", "patient_phantom", "patient_cage_surface", "write_patient_example"]

#: The planned cage: the bundled parametric lumbar cage, its 26 mm length across the
#: vertebra (left–right, x in LPS) and its 11 mm width anterior–posterior.
PATIENT_CAGE = InterbodyCage()
#: The phantom's superior endplate (LPS z, mm): half its 24 mm height.
ENDPLATE_Z_MM = 12.0


def patient_phantom():
    """(CTVolume, MaskVolume) of the example's vertebra, LPS: 48 slices of 1 mm, so that the scan
    reaches above the endplate and holds the planned cage."""
    return vertebra_phantom(shape=(32, 32, 48))


def patient_cage_surface() -> Surface:
    """The cage in the scan's LPS coordinates, its inferior face on the superior endplate."""
    triangles = PATIENT_CAGE.surface().triangles + np.array([0.0, 0.0, ENDPLATE_Z_MM])
    return Surface.from_triangles(triangles)


def write_patient_example(folder: str | Path) -> list[Path]:
    """Write the example's cage STL, CT and vertebra mask (NIfTI) into ``folder``."""
    folder = Path(folder)
    (folder / "designs").mkdir(parents=True, exist_ok=True)
    (folder / "ct").mkdir(parents=True, exist_ok=True)
    volume, mask = patient_phantom()
    paths = [folder / "designs" / "patient_cage.stl", folder / "ct" / "vertebra.nii.gz",
             folder / "ct" / "vertebra_mask.nii.gz"]
    write_stl(paths[0], patient_cage_surface().triangles, name="patient-specific cage, planned in LPS")
    write_nifti(volume, paths[1])
    write_nifti(mask, paths[2])
    return paths


if __name__ == "__main__":
    for written in write_patient_example(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written)
