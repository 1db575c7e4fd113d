"""Magnetic Tile surface defects (Huang, Qiu, Yuan, The Visual Computer 2020), as published.

Layout: ``<root>/MT_<class>/Imgs/<name>.jpg`` with the mask ``<name>.png`` next
to it; ``MT_Free`` holds defect-free tiles, ``MT_Blowhole``, ``MT_Break``,
``MT_Crack``, ``MT_Fray`` and ``MT_Uneven`` defective ones (defect type = the
class in lower case). Masks are anti-aliased 0..255 and thresholded ``> 127``.

No split is published. Ours, fixed and documented: every defective image is a
test image; a defect-free image is a test image when the SHA-256 of its file
name, read as a fraction of 2**64, is below ``TEST_FRACTION`` (see
:func:`rdjax.data.builders.base.split_normals`), else a training image.
"""

from pathlib import Path

from rdjax.data.builders.base import AnomalyBuilder, Entry, split_normals
from rdjax.data.decode import NORMAL
from rdjax.data.files import image_files

NORMAL_CLASS = "MT_Free"
DEFECT_CLASSES = ("MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven")
TEST_FRACTION = 0.2
_JPEG = (".jpg", ".jpeg")


def _images(root: Path, cls: str):
    folder = Path(root) / cls / "Imgs"
    files = image_files(folder, _JPEG) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder} is missing or holds no .jpg images (Magnetic Tile layout: "
                                "<root>/MT_<class>/Imgs/<name>.jpg)")
    return files


def list_magnetic_tile(root: Path):
    train, test_normal = split_normals(_images(root, NORMAL_CLASS), TEST_FRACTION)
    test = [Entry(p, NORMAL) for p in test_normal]
    for cls in DEFECT_CLASSES:
        test += [Entry(p, cls[3:].lower(), p.with_suffix(".png")) for p in _images(root, cls)]
    return {"train": [Entry(p, NORMAL) for p in train],
            "test": sorted(test, key=lambda e: (e.defect_type, e.image.name))}


class RdjaxMagneticTile(AnomalyBuilder):
    """Magnetic Tile with rdjax's fixed split."""

    name = "rdjax_magnetic_tile"
    DESCRIPTION = "Magnetic tile surfaces: 952 defect-free and 392 defective images with masks."
    HOMEPAGE = "https://github.com/abin24/Magnetic-tile-defect-datasets."
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Clone the homepage repository and pass the folder that holds MT_Free/, MT_Blowhole/, ...
    as the manual dir (rdjax: --config.dataset.root).
    """

    @classmethod
    def list_splits(cls, root, config):
        return list_magnetic_tile(root)
