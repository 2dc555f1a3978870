"""CT volumes (DICOM, NIfTI), HU calibration, density-modulus laws, and mapping onto meshes.

The chain, each step a plain function on immutable data:

    read_ct(path) ─► CTVolume (hu, affine, convention "LPS" | "RAS", source)
    calibration_from_table(...) + get_law(name) ─► Calibration, DensityLaw (laws.toml, with sources)
    map_material(mesh, volume, calibration, law) ─► MappedMaterial (E and ν per element, E integrated)
    bone_inputs_from_table(table, base) ─► BoneInputs;  bone_block(inputs, size_mm, order) ─► BoneBlock

Phantoms for tests and examples are made in code (:mod:`femvalid.imaging.phantoms`);
:mod:`femvalid.imaging.verify` checks the chain against closed forms.
"""

from femvalid.imaging.bone import BONE_KEYS, BoneBlock, BoneInputs, bone_block, bone_inputs_from_table, map_bone
from femvalid.imaging.contour import mask_surface
from femvalid.imaging.dicom import read_dicom_series, write_dicom_series
from femvalid.imaging.io import read_ct, read_mask
from femvalid.imaging.laws import (DENSITY_TYPES, Calibration, Conversion, DensityLaw, calibration_from_table,
                                   calibrations, conversion, get_calibration, get_law, laws)
from femvalid.imaging.mapping import MappedMaterial, map_material
from femvalid.imaging.nifti import read_nifti, read_nifti_mask, write_nifti
from femvalid.imaging.volume import CONVENTIONS, CTVolume, MaskVolume, convert_points

__all__ = ["BONE_KEYS", "BoneBlock", "BoneInputs", "bone_block", "bone_inputs_from_table", "map_bone", "mask_surface",
           "read_dicom_series", "write_dicom_series", "read_ct", "read_mask", "DENSITY_TYPES", "Calibration",
           "Conversion", "DensityLaw", "calibration_from_table", "calibrations", "conversion", "get_calibration",
           "get_law", "laws", "MappedMaterial", "map_material", "read_nifti", "read_nifti_mask", "write_nifti",
           "CONVENTIONS", "CTVolume", "MaskVolume", "convert_points"]
