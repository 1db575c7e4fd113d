"""A user's own images: a folder of normal images, folder(s) of defective ones, optional masks.

Layout (names are settings; paths relative to the root or absolute)::

    <root>/<normal_dir>/*.png                      # defect-free: training and test images
    <root>/<defect_dir>/*.png                      # one folder per defect type (its name)
    <mask_dir>/<defect_dir>/<name>_mask.png        # optional, MVTec-style mask names,
    <mask_dir>/<name>_mask.png                     #   with or without the defect folder

``defect_dirs`` empty means every other visible sub-folder of the root. Without
``mask_dirs`` defect images have no pixel ground truth (pixel metrics are then
undefined); with them, every defect image needs its mask. Normal images are
split into training and test by :func:`rdjax.data.builders.base.split_normals`
with ``test_fraction``; every defect image is a test image.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence, Tuple

import tensorflow_datasets as tfds

from rdjax.data.builders.base import AnomalyBuilder, Entry, split_normals
from rdjax.data.decode import NORMAL
from rdjax.data.files import find_by_stem, image_files, sub_folders


@dataclasses.dataclass(eq=False)
class FolderConfig(tfds.core.BuilderConfig):
    """Where the images are; see the module docstring."""

    normal_dir: str = "good"
    defect_dirs: Tuple[str, ...] = ()
    mask_dirs: Tuple[str, ...] = ()
    test_fraction: float = 0.2


def _folder(root: Path, name: str, setting: str) -> Path:
    path = Path(name).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_dir():
        raise FileNotFoundError(f"{path} ({setting}) does not exist or is not a folder")
    return path


def _images(folder: Path, setting: str):
    files = image_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder} ({setting}) holds no image files")
    return files


def _find_mask(mask_dirs: Sequence[Path], defect_type: str, image: Path) -> Optional[Path]:
    for m in mask_dirs:
        found = find_by_stem(m / defect_type, f"{image.stem}_mask") or find_by_stem(m, f"{image.stem}_mask")
        if found:
            return found
    return None


def list_folder(root: Path, config: FolderConfig):
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist or is not a folder")
    normal = _folder(root, config.normal_dir, "normal_dir")
    masks = [_folder(root, m, "mask_dirs") for m in config.mask_dirs]
    if config.defect_dirs:
        defect = [_folder(root, d, "defect_dirs") for d in config.defect_dirs]
    else:
        skip = {normal.resolve()} | {m.resolve() for m in masks}
        defect = [d for d in sub_folders(root) if d.resolve() not in skip]
        if not defect:
            raise FileNotFoundError(f"no defect folders under {root}: put defective images in "
                                    f"sub-folders next to {normal.name}/ or set defect_dirs")
    train, test_normal = split_normals(_images(normal, "normal_dir"), config.test_fraction)
    if not train:
        raise FileNotFoundError(f"{normal} (normal_dir) needs at least 2 images: 1 to train, 1 to test")
    test = [Entry(p, NORMAL) for p in test_normal]
    for d in defect:
        if d.name == NORMAL:
            raise ValueError(f"defect folder {d} is named '{NORMAL}', the name reserved for normal images")
        for p in _images(d, "defect_dirs"):
            mask = None
            if masks:
                mask = _find_mask(masks, d.name, p) or masks[0] / d.name / f"{p.stem}_mask.png"
            test.append(Entry(p, d.name, mask))
    return {"train": [Entry(p, NORMAL) for p in train],
            "test": sorted(test, key=lambda e: (e.defect_type, e.image.name))}


class RdjaxFolder(AnomalyBuilder):
    """Images from a user's folders; configure with a :class:`FolderConfig`."""

    name = "rdjax_folder"
    BUILDER_CONFIGS = [FolderConfig(name="default", description="good/ + one folder per defect type")]
    DESCRIPTION = "A user's own normal and defective images."
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the folder that holds your image folders as the manual dir."

    @classmethod
    def list_splits(cls, root, config):
        return list_folder(root, config)
