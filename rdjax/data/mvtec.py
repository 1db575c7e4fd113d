"""The MVTec AD folder layout (also MPDD's and the embedded dataset's on disk).

Layout (one folder per category)::

    <root>/<category>/train/good/*.png
    <root>/<category>/test/<defect_type>/*.png          # "good" = normal
    <root>/<category>/ground_truth/<defect_type>/<name>_mask.png

:func:`list_split_files` lists a split (used by the MVTec AD and MPDD TFDS
builders); :func:`load_split` decodes the files directly, without a prepared
dataset (see :mod:`rdjax.data.decode` for the decoding rules).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from rdjax.data.decode import NORMAL, PathLike, Sample, Split, decode_samples
from rdjax.data.files import find_by_stem, image_files, sub_folders


# ----------------------------------------------------------------------------
# Directory discovery


def list_categories(root: PathLike) -> List[str]:
    """Sorted names of the category folders under ``root`` (folders holding ``train`` or ``test``)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist or is not a folder")
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and ((p / "train").is_dir() or (p / "test").is_dir())
    )


def _category_dir(root: PathLike, category: str) -> Path:
    root = Path(root)
    available = list_categories(root)  # raises for a missing root
    cat_dir = root / category
    if not cat_dir.is_dir():
        raise FileNotFoundError(
            f"category {category!r} not found: {cat_dir} does not exist; "
            f"available categories under {root}: {available or 'none'}"
        )
    return cat_dir


def find_mask(cat_dir: Path, defect_type: str, image_path: Path) -> Optional[Path]:
    """Ground-truth mask for a test image, or None. Prefers ``<stem>_mask.png``."""
    return find_by_stem(cat_dir / "ground_truth" / defect_type, f"{image_path.stem}_mask")


def list_split_files(
    root: PathLike, category: str, split: str
) -> List[Tuple[Path, str, Optional[Path]]]:
    """``(image_path, defect_type, expected_mask_path_or_None)`` for a split, sorted.

    The mask path is None for normal images. For a defective image whose mask is
    missing it is the expected ``<stem>_mask.png`` path (which does not exist);
    :func:`decode_sample` reports that.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    cat_dir = _category_dir(root, category)
    entries: List[Tuple[Path, str, Optional[Path]]] = []
    if split == "train":
        good = cat_dir / "train" / NORMAL
        files = image_files(good) if good.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no training images: {good} is missing or holds no image files")
        return [(p, NORMAL, None) for p in files]

    test_dir = cat_dir / "test"
    if not test_dir.is_dir():
        raise FileNotFoundError(f"no test split: {test_dir} does not exist")
    for type_dir in sub_folders(test_dir):
        files = image_files(type_dir)
        if not files:
            raise FileNotFoundError(f"empty test folder: {type_dir} holds no image files")
        for p in files:
            if type_dir.name == NORMAL:
                entries.append((p, NORMAL, None))
            else:
                mask = find_mask(cat_dir, type_dir.name, p)
                if mask is None:
                    mask = cat_dir / "ground_truth" / type_dir.name / f"{p.stem}_mask.png"
                entries.append((p, type_dir.name, mask))
    if not entries:
        raise FileNotFoundError(f"no test images under {test_dir}")
    return entries


# ----------------------------------------------------------------------------
# Direct reading (no prepared dataset)


def load_split(root: PathLike, category: str, split: str, image_size: int, num_workers: int = 2,
               skip_bad_files: bool = False) -> Split:
    """Decode ``split`` ('train' or 'test') of ``category`` under ``root`` straight from the files.

    Files are ordered by defect type then file name. Raises ``FileNotFoundError``
    for a bad layout and :class:`~rdjax.data.decode.BadFileError` (naming the
    file) for an unusable image or mask unless ``skip_bad_files``.
    """
    entries = list_split_files(root, category, split)
    samples = (Sample(str(p), t, None if m is None else str(m)) for p, t, m in entries)
    return decode_samples(samples, len(entries), image_size, num_workers=num_workers,
                          skip_bad_files=skip_bad_files, label=f"{category}/{split}")
