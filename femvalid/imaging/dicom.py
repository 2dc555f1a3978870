"""A CT series as DICOM files: read one folder into a CTVolume (LPS), write a volume as a series.

Reading keeps the geometry the files state, exactly: the row and column direction
cosines (ImageOrientationPatient), the pixel spacing, and the step between slice
positions (ImagePositionPatient, sorted along the slice normal) become the columns
of the affine, the first slice's position its translation. HU = stored pixel ×
RescaleSlope + RescaleIntercept, slice by slice. Anything that would need a guess is
refused (InputError, exit status 2), naming the file: more than one series, another
modality than CT, a missing rescale, mixed orientations or pixel grids, duplicate
positions, and gaps (uneven slice steps).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from femvalid.errors import InputError
from femvalid.imaging.volume import CTVolume

__all__ = ["read_dicom_series", "write_dicom_series", "CT_IMAGE_STORAGE"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: Direction cosines of two slices this close (per component) are the same orientation.
ORIENTATION_TOL = 1e-4
#: Slice steps may differ by this fraction of the mean step before it counts as a gap.
STEP_TOL = 1e-3
#: Most files a series folder may hold.
MAX_FILES = 5000


def _pydicom():
    import pydicom

    return pydicom


def _read_headers(folder: Path) -> list:
    pydicom = _pydicom()
    from pydicom.errors import InvalidDicomError

    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name.upper() != "DICOMDIR")
    if len(files) > MAX_FILES:
        raise InputError(folder, f"{len(files)} files, more than a CT series folder may hold ({MAX_FILES})")
    datasets = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError):
            continue  # not a DICOM file (a README, a thumbnail): not part of any series
        datasets.append((path, ds))
    if not datasets:
        raise InputError(folder, "no DICOM files in this folder (give the folder of one CT series, or a NIfTI file)")
    return datasets


def _floats(ds, keyword: str, count: int, path: Path) -> np.ndarray:
    value = ds.get(keyword)
    if value is None:
        raise InputError(path, f"no {keyword}: the slice's geometry is not stated")
    try:
        out = np.array([float(v) for v in (value if count > 1 else [value])])
    except (TypeError, ValueError):
        raise InputError(path, f"{keyword} {value!r} is not numeric") from None
    if out.shape != (count,) or not np.all(np.isfinite(out)):
        raise InputError(path, f"{keyword} must hold {count} finite numbers, got {value!r}")
    return out


def read_dicom_series(folder: str | Path) -> CTVolume:
    """Read the one CT series in ``folder`` into a CTVolume in LPS (DICOM's patient convention).

    The array is indexed [column, row, slice] (i along ImageOrientationPatient's row
    direction, j along its column direction, k along the slice normal), so the affine's
    columns are row_cosine × column spacing, column_cosine × row spacing and the slice step.

    Raises
    ------
    InputError
        Naming the folder or file: no DICOM files, several series, a modality other
        than CT, no RescaleSlope/RescaleIntercept, mixed orientations or pixel grids,
        missing geometry, duplicate slice positions, or gaps between slices.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "a DICOM series is read from a folder of slice files")
    datasets = _read_headers(folder)
    series = {}
    for path, ds in datasets:
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    if len(series) > 1:
        listing = "; ".join(f"{uid or '(none)'}: {len(items)} files, e.g. {items[0][0].name}"
                            for uid, items in sorted(series.items()))
        raise InputError(folder, f"{len(series)} series in one folder ({listing}); put one series per folder")
    items = next(iter(series.values()))
    for path, ds in items:
        modality = ds.get("Modality")
        if modality != "CT":
            raise InputError(path, f"modality {modality!r}, not CT: only CT (Hounsfield units) can be calibrated to "
                                   "bone density")
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise InputError(path, "a multi-frame (enhanced) CT object; export the series as one file per slice")
        for key in ("RescaleSlope", "RescaleIntercept"):
            if key not in ds:
                raise InputError(path, f"no {key}: the stored pixel values cannot be turned into HU")

    first_path, first = items[0]
    orientation = _floats(first, "ImageOrientationPatient", 6, first_path)
    row_cos, col_cos = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(row_cos) - 1) > 1e-3 or abs(np.linalg.norm(col_cos) - 1) > 1e-3 \
            or abs(row_cos @ col_cos) > 1e-3:
        raise InputError(first_path, f"ImageOrientationPatient {list(orientation)} is not two orthogonal unit vectors")
    spacing = _floats(first, "PixelSpacing", 2, first_path)  # (between rows, between columns)
    if not np.all(spacing > 0):
        raise InputError(first_path, f"PixelSpacing {list(spacing)} must be positive")
    grid = (int(first.Rows), int(first.Columns))
    normal = np.cross(row_cos, col_cos)
    positions = []
    for path, ds in items:
        if not np.allclose(_floats(ds, "ImageOrientationPatient", 6, path), orientation, atol=ORIENTATION_TOL):
            raise InputError(path, f"orientation {list(ds.ImageOrientationPatient)} differs from "
                                   f"{first_path.name}'s {list(orientation)}: mixed orientations in one series")
        if (int(ds.Rows), int(ds.Columns)) != grid or not np.allclose(_floats(ds, "PixelSpacing", 2, path), spacing,
                                                                      rtol=1e-6):
            raise InputError(path, f"pixel grid {ds.Rows}x{ds.Columns} at {list(ds.PixelSpacing)} mm differs from "
                                   f"{first_path.name}'s {grid[0]}x{grid[1]} at {list(spacing)} mm")
        positions.append(_floats(ds, "ImagePositionPatient", 3, path))
    positions = np.array(positions)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    items = [items[i] for i in order]
    positions, along = positions[order], along[order]
    if len(items) >= 2:
        gaps = np.diff(along)
        dup = np.flatnonzero(gaps <= 1e-6 * max(spacing.max(), 1.0))
        if len(dup):
            a, b = items[dup[0]][0].name, items[dup[0] + 1][0].name
            raise InputError(folder, f"{a} and {b} are at the same slice position ({along[dup[0]]:.4f} mm along the "
                                     "normal): duplicate slices")
        steps = np.diff(positions, axis=0)
        typical_step = np.median(steps, axis=0)  # a single missing slice does not move the median
        off = np.linalg.norm(steps - typical_step, axis=1) > STEP_TOL * np.linalg.norm(typical_step)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            typical = float(np.median(gaps))
            raise InputError(items[i + 1][0], f"gap in the series: {gaps[i]:.4g} mm from {items[i][0].name} to this "
                                              f"slice, where the slices are {typical:.4g} mm apart (a missing or "
                                              "misplaced slice)")
        step = steps.mean(axis=0)
    else:
        thickness = float(first.get("SliceThickness", 0) or 0) or float(spacing.min())
        step = normal * thickness
    pydicom = _pydicom()
    slices = []
    for path, _ in items:
        ds = pydicom.dcmread(path)
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for unreadable pixel data
            raise InputError(path, f"pixel data cannot be read ({exc})") from None
        if pixels.shape != grid:
            raise InputError(path, f"pixel data of shape {pixels.shape}, not {grid}")
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
            raise InputError(path, f"RescaleSlope {slope} / RescaleIntercept {intercept} do not give HU")
        slices.append((pixels.astype(np.float64) * slope + intercept).T)  # [column, row]
    hu = np.stack(slices, axis=2)
    affine = np.eye(4)
    affine[:3, 0] = row_cos * spacing[1]
    affine[:3, 1] = col_cos * spacing[0]
    affine[:3, 2] = step
    affine[:3, 3] = positions[0]
    notes = (f"DICOM series {items[0][1].get('SeriesInstanceUID', '')}: {len(items)} slices, LPS patient coordinates",)
    return CTVolume(hu.astype(np.float32), affine, "LPS", str(folder), notes)


def write_dicom_series(volume: CTVolume, folder: str | Path, slope: float = 1.0, intercept: float = -1024.0,
                       modality: str = "CT", series_uid: str | None = None, description: str = "femvalid phantom",
                       prefix: str = "slice") -> list[Path]:
    """Write ``volume`` as one DICOM file per slice (CT Image Storage, explicit little endian).

    Stored value = round((HU − intercept) / slope) as unsigned 16 bits (so HU must fit
    in [intercept, intercept + 65535·slope]). The geometry is written in LPS from the
    volume's affine (converted if it is RAS); its first two columns must be orthogonal
    (an image plane), the third is the slice step. Returns the files written.
    """
    pydicom = _pydicom()
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    volume = volume.in_convention("LPS")
    A = volume.affine
    col_step, row_step, step = A[:3, 0], A[:3, 1], A[:3, 2]
    dc, dr = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    row_cos, col_cos = col_step / dc, row_step / dr
    if abs(row_cos @ col_cos) > 1e-9:
        raise ValueError("the image plane's axes are not orthogonal: DICOM cannot state this affine")
    normal = np.cross(row_cos, col_cos)
    thickness = float(abs(step @ normal))
    stored = np.rint((volume.hu.astype(np.float64) - intercept) / slope)
    if stored.min() < 0 or stored.max() > 65535:
        raise ValueError("HU do not fit 16 bits with this slope and intercept")
    stored = stored.astype(np.uint16)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = generate_uid(), generate_uid()
    now = datetime.datetime.now()
    files = []
    ni, nj, nk = volume.shape
    for k in range(nk):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{prefix}{k:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality = modality
        ds.PatientName, ds.PatientID = "Phantom^Synthetic", "FEMVALID-PHANTOM"
        ds.StudyDate = ds.SeriesDate = now.strftime("%Y%m%d")
        ds.SeriesDescription = description
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in np.concatenate([row_cos, col_cos])]
        ds.ImagePositionPatient = [f"{v:.10g}" for v in A[:3, 3] + k * step]
        ds.PixelSpacing = [f"{dr:.10g}", f"{dc:.10g}"]
        ds.SliceThickness = f"{thickness:.10g}"
        ds.Rows, ds.Columns = nj, ni
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = f"{slope:.10g}", f"{intercept:.10g}", "HU"
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()  # rows of the image: [row, column]
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files
