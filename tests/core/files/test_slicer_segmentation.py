"""Structures out to 3D Slicer: .seg.nrrd with names/colours/layers, label map + colour table."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from osteoplan.core.files.slicer_segmentation import SegmentationExportError, export_segmentation
from osteoplan.core.safety.structures import Structure
from osteoplan.core.imaging.volume import Volume

SHAPE = (12, 14, 16)  # k, j, i


def _ct() -> Volume:
    direction = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])  # like a NIfTI read in LPS
    return Volume(np.zeros(SHAPE, np.int16), spacing=(0.8, 1.25, 2.5), origin=(40.0, 60.0, -100.0),
                  direction=direction)


def _structures() -> list[Structure]:
    bone = np.zeros(SHAPE, bool)
    bone[2:9, 3:11, 4:13] = True
    lesion = np.zeros(SHAPE, bool)  # inside the bone: needs a second layer
    lesion[4:6, 5:7, 6:9] = True
    cord = np.zeros(SHAPE, bool)
    cord[:, 12:14, 7:9] = True
    return [Structure.from_mask("vertebrae_L2", bone), Structure.from_mask("lesion", lesion),
            Structure.from_mask("spinal cord", cord, color=(0.25, 0.5, 1.0))]


def _segments(image: sitk.Image) -> list[dict[str, str]]:
    found, index = [], 0
    while image.HasMetaDataKey(f"Segment{index}_ID"):
        found.append({key.split("_", 1)[1]: image.GetMetaData(key) for key in image.GetMetaDataKeys()
                      if key.startswith(f"Segment{index}_")})
        index += 1
    return found


def test_seg_nrrd_keeps_names_values_colours_and_overlaps(tmp_path):
    ct, structures = _ct(), _structures()
    written = export_segmentation(structures, ct, tmp_path / "case.seg.nrrd")
    assert [p.name for p in written] == ["case.seg.nrrd", "case.ctbl"]
    image = sitk.ReadImage(str(written[0]))
    assert image.GetSize() == SHAPE[::-1]
    assert np.allclose(image.GetOrigin(), ct.origin) and np.allclose(image.GetSpacing(), ct.spacing)
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), ct.direction)
    assert image.GetMetaData("NRRD_space") == "left-posterior-superior"
    assert image.GetMetaData("Segmentation_MasterRepresentation") == "Binary labelmap"
    array = sitk.GetArrayFromImage(image)
    layers = array if image.GetNumberOfComponentsPerPixel() > 1 else array[..., None]
    assert layers.shape[-1] == 2  # the lesion overlaps the bone
    segments = _segments(image)
    assert [s["Name"] for s in segments] == ["lesion", "spinal cord", "vertebrae_L2"]
    by_name = {s.name: s for s in structures}
    for segment in segments:
        structure = by_name[segment["Name"]]
        value, layer = int(segment["LabelValue"]), int(segment["Layer"])
        assert np.array_equal(layers[..., layer] == value, structure.mask), segment["Name"]
        i0, i1, j0, j1, k0, k1 = map(int, segment["Extent"].split())
        assert (k0, j0, i0) == structure.start_kji and (k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1) == structure.box_mask.shape
        assert [float(c) for c in segment["Color"].split()] == pytest.approx(structure.color, abs=1e-5)
    assert by_name["spinal cord"].color == (0.25, 0.5, 1.0)


def test_colour_table_maps_the_same_values(tmp_path):
    written = export_segmentation(_structures(), _ct(), tmp_path / "case.seg.nrrd")
    rows = [line.split() for line in written[1].read_text().splitlines() if not line.startswith("#")]
    assert rows[0] == ["0", "Background", "0", "0", "0", "0"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("1", "lesion"), ("2", "spinal_cord"), ("3", "vertebrae_L2")]
    assert rows[2][2:] == ["64", "128", "255", "255"]
    segments = _segments(sitk.ReadImage(str(written[0])))
    assert {s["Name"].replace(" ", "_"): s["LabelValue"] for s in segments} == {r[1]: r[0] for r in rows[1:]}


def test_plain_label_map_with_colour_table(tmp_path):
    ct, structures = _ct(), _structures()
    written = export_segmentation(structures, ct, tmp_path / "labels.nii.gz")
    assert [p.name for p in written] == ["labels.nii.gz", "labels.ctbl"]
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(written[0])))
    assert labels.dtype == np.uint8
    lesion = structures[1].mask
    assert np.all(labels[lesion] == 1)  # the smaller structure wins where they overlap
    assert np.all(labels[structures[0].mask & ~lesion] == 3)


def test_a_single_layer_is_a_plain_3d_image(tmp_path):
    (path, _) = export_segmentation(_structures()[2:], _ct(), tmp_path / "cord.seg.nrrd")
    image = sitk.ReadImage(str(path))
    assert image.GetNumberOfComponentsPerPixel() == 1 and image.GetMetaData("Segment0_Layer") == "0"


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(SegmentationExportError, match=r"\.seg\.nrrd"):
        export_segmentation(_structures(), _ct(), tmp_path / "x.png")
