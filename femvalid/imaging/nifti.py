"""CT volumes and masks as NIfTI files (nibabel), in NIfTI's RAS convention.

NIfTI's affine (the sform where its code is set, else the qform) maps voxel indices
to RAS+ mm; a volume read here carries ``convention = "RAS"`` and that affine as it
is. A file that states no orientation (sform and qform codes both 0) is refused
rather than given nibabel's default guess, and spatial units other than mm are
scaled to mm (metres, micrometres) or refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from femvalid.errors import InputError
from femvalid.imaging.volume import CTVolume, MaskVolume

__all__ = ["read_nifti", "read_nifti_mask", "write_nifti", "is_nifti"]

_UNIT_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 1e-3}


def is_nifti(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _load(path: Path):
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        image = nib.load(str(path))
    except (ImageFileError, OSError, EOFError, ValueError) as exc:
        raise InputError(path, f"not a readable NIfTI file ({exc})") from None
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(path, f"a {type(image).__name__}, not NIfTI")
    header = image.header
    sform, qform = int(header["sform_code"]), int(header["qform_code"])
    if sform == 0 and qform == 0:
        raise InputError(path, "states no orientation (sform_code = qform_code = 0): the voxel-to-patient "
                               "mapping would be a guess")
    unit = header.get_xyzt_units()[0]
    notes = [f"NIfTI {'sform' if sform > 0 else 'qform'} affine, RAS patient coordinates"]
    if unit == "unknown":
        scale = 1.0
        notes.append("NIfTI spatial unit not set: taken as mm")
    elif unit in _UNIT_TO_MM:
        scale = _UNIT_TO_MM[unit]
        if scale != 1.0:
            notes.append(f"NIfTI spatial unit {unit}: scaled to mm")
    else:
        raise InputError(path, f"spatial unit {unit!r} is not a length")
    shape = image.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(path, f"a {len(image.shape)}-D image of shape {image.shape}; a CT volume or mask is 3-D")
    affine = np.array(image.affine, float)
    affine[:3, :] *= scale
    return image, affine, shape, tuple(notes)


def read_nifti(path: str | Path) -> CTVolume:
    """Read a 3-D NIfTI CT (HU after the file's scl_slope/scl_inter) into a CTVolume in RAS.

    Raises
    ------
    InputError
        Not a readable NIfTI file, no orientation, not 3-D, non-length units, non-finite values.
    """
    path = Path(path)
    image, affine, shape, notes = _load(path)
    hu = np.asarray(image.get_fdata(dtype=np.float32)).reshape(shape)
    if not np.all(np.isfinite(hu)):
        raise InputError(path, "holds NaN or infinite values")
    return CTVolume(hu, affine, "RAS", str(path), notes)


def read_nifti_mask(path: str | Path, label: int | None = None) -> MaskVolume:
    """Read a NIfTI mask (nonzero voxels, or those equal to ``label``) into a MaskVolume in RAS."""
    path = Path(path)
    image, affine, shape, notes = _load(path)
    values = np.asarray(image.dataobj).reshape(shape)
    mask = values != 0 if label is None else values == label
    if not mask.any():
        what = "nonzero voxels" if label is None else f"voxels labelled {label}"
        raise InputError(path, f"the mask has no {what}")
    return MaskVolume(mask, affine, "RAS", str(path), notes)


def write_nifti(volume, path: str | Path, dtype=None) -> Path:
    """Write a CTVolume (float32 HU, or ``dtype``) or MaskVolume (uint8) as NIfTI-1, in RAS with
    sform and qform codes 1 (scanner) and spatial unit mm."""
    import nibabel as nib

    volume = volume.in_convention("RAS")
    if isinstance(volume, MaskVolume):
        data = volume.mask.astype(np.uint8)
    else:
        data = volume.hu.astype(dtype or np.float32)
    image = nib.Nifti1Image(data, volume.affine)
    image.set_sform(volume.affine, code=1)
    image.set_qform(volume.affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path
