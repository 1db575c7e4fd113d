"""Reader for datasets in the MVTec AD folder layout.

Layout (one folder per category)::

    <root>/<category>/train/good/*.png
    <root>/<category>/test/<defect_type>/*.png          # "good" = normal
    <root>/<category>/ground_truth/<defect_type>/<name>_mask.png

``load_split`` decodes a whole split into uint8 arrays resized to a square
``image_size`` with PIL bilinear resampling (what ``torchvision`` ``Resize``
does on PIL images). Masks are resized the same way and binarised at half the
full scale (``> 127`` on 0..255), as the reference RD4AD loader does.

Every per-file problem goes through :func:`decode_sample`, which raises
:class:`BadFileError` naming the file, so a caller can choose to skip bad files
in one place.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
from PIL import Image

PathLike = Union[str, os.PathLike]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NORMAL = "good"
# Print a progress line when a split has at least this many files.
_PROGRESS_MIN_FILES = 200


class BadFileError(ValueError):
    """A single image or mask that cannot be used; ``path`` names the file."""

    def __init__(self, path: PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass
class Split:
    """A decoded split. ``images`` (N,S,S,3) uint8, ``masks`` (N,S,S) uint8 in
    {0,1}, ``labels`` (N,) int32 with 1 = defective, plus per-sample
    ``defect_types`` ("good" for normal) and source ``paths``."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    defect_types: List[str]
    paths: List[str]

    def __len__(self) -> int:
        return len(self.paths)


# ----------------------------------------------------------------------------
# Directory discovery


def _is_image_file(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS


def _image_files(folder: Path) -> List[Path]:
    return sorted((p for p in folder.iterdir() if _is_image_file(p)), key=lambda p: p.name)


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
    gt_dir = cat_dir / "ground_truth" / defect_type
    for ext in (".png",) + tuple(e for e in IMAGE_EXTENSIONS if e != ".png"):
        candidate = gt_dir / f"{image_path.stem}_mask{ext}"
        if candidate.is_file():
            return candidate
    return None


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
        files = _image_files(good) if good.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no training images: {good} is missing or holds no image files")
        return [(p, NORMAL, None) for p in files]

    test_dir = cat_dir / "test"
    if not test_dir.is_dir():
        raise FileNotFoundError(f"no test split: {test_dir} does not exist")
    for type_dir in sorted((d for d in test_dir.iterdir() if d.is_dir() and not d.name.startswith(".")),
                           key=lambda d: d.name):
        for p in _image_files(type_dir):
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
# Decoding one file


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy() if im.mode != "P" or "transparency" not in im.info else im.convert("RGBA")
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadFileError(path, f"cannot decode image ({type(e).__name__}: {e})") from None


def _to_uint8(im: Image.Image) -> np.ndarray:
    """Pixel array as uint8, (H,W) or (H,W,C), scaling high-bit-depth modes to 0..255.

    16-bit modes ("I;16*") are divided by 257 (65535 -> 255). The 32-bit modes
    "I" and "F" are read by range: max <= 1 (float only) as 0..1, max <= 255 as
    8-bit, otherwise as 16-bit (/257, clipped). Other modes go through PIL's
    conversion to "L", "RGB" or "RGBA".
    """
    mode = im.mode
    if mode.startswith("I;16"):
        a = np.asarray(im).astype(np.float64) / 257.0
    elif mode in ("I", "F"):
        a = np.nan_to_num(np.asarray(im).astype(np.float64))
        peak = a.max(initial=0.0)
        if mode == "F" and peak <= 1.0:
            a = a * 255.0
        elif peak > 255.0:
            a = a / 257.0
    elif mode in ("L", "RGB", "RGBA"):
        return np.asarray(im, dtype=np.uint8)
    elif mode in ("1", "LA", "P") and not (mode == "P" and im.palette and im.palette.mode != "L"):
        # Single-channel content: "1" -> 0/255, "LA" drops alpha, grey palettes -> L.
        return np.asarray(im.convert("L"), dtype=np.uint8)
    else:  # P (colour palette), CMYK, YCbCr, LAB, HSV, ...
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    if a.shape[0] == size and a.shape[1] == size:
        return np.ascontiguousarray(a)
    return np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))


def decode_image(path: PathLike, image_size: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Decode an image to (S,S,3) uint8 RGB. Returns it with the original (width, height).

    Grey images are repeated over 3 channels; alpha is dropped (as PIL's
    ``convert('RGB')`` does, which reference RD4AD loaders use).
    """
    path = Path(path)
    im = _open(path)
    a = _to_uint8(im)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.shape[2] != 3:
        raise BadFileError(path, f"unsupported channel count {a.shape[2]} (mode {im.mode})")
    return _resize(np.ascontiguousarray(a), image_size), im.size


def decode_mask(path: PathLike, image_size: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Decode a mask to (S,S) uint8 in {0,1}. Returns it with the original (width, height).

    Colour masks use their channel maximum; masks stored as 0/1 are scaled to
    0/255 first. After bilinear resizing, pixels > 127 are foreground.
    """
    path = Path(path)
    im = _open(path)
    a = _to_uint8(im)
    if a.ndim == 3:
        a = a[:, :, :3].max(axis=2) if a.shape[2] >= 3 else a[:, :, 0]
    if a.size and a.max() == 1:
        a = a * np.uint8(255)
    a = _resize(np.ascontiguousarray(a), image_size)
    return (a > 127).astype(np.uint8), im.size


def decode_sample(
    image_path: PathLike, mask_path: Optional[PathLike], image_size: int, *, defective: bool
) -> Tuple[np.ndarray, np.ndarray]:
    """Decode one sample into ``(image (S,S,3), mask (S,S))``; raises :class:`BadFileError`.

    Normal samples (``defective=False``) get an all-zero mask. A defective
    sample needs a readable mask with the same original size as its image.
    """
    image, image_wh = decode_image(image_path, image_size)
    if not defective:
        return image, np.zeros((image_size, image_size), np.uint8)
    if mask_path is None or not Path(mask_path).is_file():
        raise BadFileError(image_path, f"defect image has no ground-truth mask (expected {mask_path})")
    mask, mask_wh = decode_mask(mask_path, image_size)
    if mask_wh != image_wh:
        raise BadFileError(
            mask_path,
            f"mask size {mask_wh[0]}x{mask_wh[1]} differs from image size "
            f"{image_wh[0]}x{image_wh[1]} of {image_path}",
        )
    return image, mask


# ----------------------------------------------------------------------------
# Whole split


def load_split(
    root: PathLike, category: str, split: str, image_size: int, num_workers: int = 2
) -> Split:
    """Load ``split`` ('train' or 'test') of ``category`` under ``root``, resized to ``image_size``.

    Files are ordered by defect type then file name; decoding runs in
    ``num_workers`` threads. Raises ``FileNotFoundError`` for a bad layout and
    :class:`BadFileError` (naming the file) for an unusable image or mask.
    """
    if int(image_size) <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    image_size = int(image_size)
    entries = list_split_files(root, category, split)
    n = len(entries)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    masks = np.empty((n, image_size, image_size), np.uint8)
    labels = np.array([int(t != NORMAL) for _, t, _ in entries], np.int32)

    def work(i: int) -> int:
        img_path, dtype, mask_path = entries[i]
        images[i], masks[i] = decode_sample(img_path, mask_path, image_size, defective=dtype != NORMAL)
        return i

    show = n >= _PROGRESS_MIN_FILES
    label = f"{category}/{split}"

    def report(done: int) -> None:
        if show and (done == n or done % 50 == 0):
            end = "\n" if done == n else ""
            print(f"\rrdjax: loading {label}: {done}/{n} images", end=end, file=sys.stderr, flush=True)

    if num_workers <= 1:
        for i in range(n):
            work(i)
            report(i + 1)
    else:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=num_workers)
        try:
            # map() yields in file order, so the first bad file in order is the one reported.
            for done, _ in enumerate(pool.map(work, range(n)), start=1):
                report(done)
        except BaseException:
            if show:
                print(file=sys.stderr)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return Split(
        images=images,
        masks=masks,
        labels=labels,
        defect_types=[t for _, t, _ in entries],
        paths=[str(p) for p, _, _ in entries],
    )
