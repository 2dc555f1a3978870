"""Read a CT (a DICOM series folder or a NIfTI file) or a mask, whichever the path is."""

from __future__ import annotations

from pathlib import Path

from femvalid.errors import InputError
from femvalid.imaging.dicom import read_dicom_series
from femvalid.imaging.nifti import is_nifti, read_nifti, read_nifti_mask
from femvalid.imaging.volume import CTVolume, MaskVolume

__all__ = ["read_ct", "read_mask", "ct_kind"]


def ct_kind(path: str | Path, origin: str | Path | None = None) -> str:
    """``"dicom"`` for a folder, ``"nifti"`` for a .nii/.nii.gz file; InputError otherwise."""
    path = Path(path)
    if path.is_dir():
        return "dicom"
    if is_nifti(path):
        if not path.is_file():
            raise InputError(origin or path, f"{path}: no such file")
        return "nifti"
    if not path.exists():
        raise InputError(origin or path, f"{path}: no such file or folder")
    raise InputError(origin or path, f"{path}: a CT is a folder of DICOM slices or a NIfTI file (.nii, .nii.gz)")


def read_ct(path: str | Path) -> CTVolume:
    """A DICOM series (folder; LPS) or a NIfTI file (RAS) as a CTVolume, the convention stated."""
    return read_dicom_series(path) if ct_kind(path) == "dicom" else read_nifti(path)


def read_mask(path: str | Path, label: int | None = None) -> MaskVolume:
    """A NIfTI mask (nonzero voxels, or those equal to ``label``)."""
    path = Path(path)
    if not is_nifti(path):
        raise InputError(path, "a mask is a NIfTI file (.nii, .nii.gz)")
    return read_nifti_mask(path, label)
