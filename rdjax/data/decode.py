"""Image and mask files → an in-memory :class:`Split` of uint8 arrays.

The one place where files are decoded. Images become (S,S,3) uint8 RGB, resized
to a square ``image_size`` with PIL bilinear resampling (what ``torchvision``
``Resize`` does on PIL images); masks are resized the same way and binarised at
half scale (``> 127`` on 0..255), as the reference RD4AD loader does.

Every per-file problem raises :class:`BadFileError` naming the file, so
:func:`decode_samples` can either stop at the first bad file or skip bad files
and list them in ``Split.skipped_files``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import itertools
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

PathLike = Union[str, os.PathLike]

NORMAL = "good"  # defect_type of normal images
# Print a progress line when a split has at least this many files.
_PROGRESS_MIN_FILES = 200
# Samples read ahead of the decoding threads (bounds the memory held as raw bytes).
_WINDOW = 256


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
    ``defect_types`` ("good" for normal) and source ``paths``.
    ``skipped_files`` lists ``{"path", "reason"}`` of files left out as bad."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    defect_types: List[str]
    paths: List[str]
    skipped_files: List[Dict[str, str]] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One image to decode. ``mask_path`` is None when there is no pixel ground
    truth (normal images; defect images of a folder dataset without masks).
    The ``*_bytes`` hold the file contents when they come from a prepared
    dataset; when None the files are read from disk."""

    path: str
    defect_type: str
    mask_path: Optional[str] = None
    image_bytes: Optional[bytes] = None
    mask_bytes: Optional[bytes] = None

    @property
    def defective(self) -> bool:
        return self.defect_type != NORMAL


# ----------------------------------------------------------------------------
# One file


def _open(path: PathLike, data: Optional[bytes] = None) -> Image.Image:
    """The image in ``data`` (the file's bytes) or else in the file ``path``; raises
    :class:`BadFileError` naming ``path`` with the same reason either way."""
    try:
        empty = not data if data is not None else os.path.getsize(path) == 0
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except OSError as e:
        raise BadFileError(path, f"cannot read the file ({e.strerror})") from None
    if empty:  # a prepared dataset stores b'' also for a file it could not read
        raise BadFileError(path, "empty file (0 bytes)" if data is None else
                           "empty file (0 bytes, or unreadable when the dataset was prepared)")
    source = io.BytesIO(data) if data is not None else path
    try:
        with Image.open(source) as im:
            im.load()
            return im.copy() if im.mode != "P" or "transparency" not in im.info else im.convert("RGBA")
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except UnidentifiedImageError:
        raise BadFileError(path, "cannot decode image (not an image file, or a format PIL "
                                 "does not read)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        detail = str(e).replace(repr(source), "the file")  # no '<_io.BytesIO object at 0x..>'
        raise BadFileError(path, f"cannot decode image ({type(e).__name__}: {detail})") from None


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


def decode_image(path: PathLike, image_size: int,
                 data: Optional[bytes] = None) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Decode an image (the file at ``path``, or ``data`` if given) to (S,S,3) uint8 RGB.

    Returns it with the original (width, height). Grey images are repeated over
    3 channels; alpha is dropped (as PIL's ``convert('RGB')`` does, which
    reference RD4AD loaders use).
    """
    im = _open(path, data)
    a = _to_uint8(im)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.shape[2] != 3:
        raise BadFileError(path, f"unsupported channel count {a.shape[2]} (mode {im.mode})")
    return _resize(np.ascontiguousarray(a), image_size), im.size


def decode_mask(path: PathLike, image_size: int,
                data: Optional[bytes] = None) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Decode a mask to (S,S) uint8 in {0,1}. Returns it with the original (width, height).

    Colour masks use their channel maximum. Masks whose maximum is below 128 —
    stored as 0/1, or as defect-class ids like VisA's — are foreground wherever
    non-zero (scaled to 0/255 first). After bilinear resizing, pixels > 127 are
    foreground.
    """
    im = _open(path, data)
    a = _to_uint8(im)
    if a.ndim == 3:
        a = a[:, :, :3].max(axis=2) if a.shape[2] >= 3 else a[:, :, 0]
    if a.size and 0 < a.max() < 128:
        a = np.where(a > 0, np.uint8(255), np.uint8(0))
    a = _resize(np.ascontiguousarray(a), image_size)
    return (a > 127).astype(np.uint8), im.size


def decode_sample(image_path: PathLike, mask_path: Optional[PathLike], image_size: int, *,
                  defective: bool, image_data: Optional[bytes] = None,
                  mask_data: Optional[bytes] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Decode one sample into ``(image (S,S,3), mask (S,S))``; raises :class:`BadFileError`.

    Normal samples get an all-zero mask, and so do defective ones with
    ``mask_path=None`` (no pixel ground truth). A given ``mask_path`` must be a
    readable mask with the same original size as its image.
    """
    image, image_wh = decode_image(image_path, image_size, image_data)
    if not defective or mask_path is None:
        return image, np.zeros((image_size, image_size), np.uint8)
    missing = not Path(mask_path).is_file() if mask_data is None else not mask_data
    if missing:
        raise BadFileError(image_path, f"defect image has no ground-truth mask (expected {mask_path})")
    mask, mask_wh = decode_mask(mask_path, image_size, mask_data)
    if mask_wh != image_wh:
        raise BadFileError(
            mask_path,
            f"mask size {mask_wh[0]}x{mask_wh[1]} differs from image size "
            f"{image_wh[0]}x{image_wh[1]} of {image_path}",
        )
    return image, mask


# ----------------------------------------------------------------------------
# Whole split


def decode_samples(samples: Iterable[Sample], count: int, image_size: int, *, num_workers: int = 2,
                   skip_bad_files: bool = False, label: str = "") -> Split:
    """Decode ``count`` samples, in order, with ``num_workers`` threads.

    ``samples`` is consumed lazily, a window at a time. A bad file raises
    :class:`BadFileError` (the first bad one in order), or with
    ``skip_bad_files`` is left out and listed in ``Split.skipped_files``.
    """
    if int(image_size) <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    size = int(image_size)
    images = np.empty((count, size, size, 3), np.uint8)
    masks = np.empty((count, size, size), np.uint8)
    kept, skipped, types, paths = [], [], [], []

    def work(item: Tuple[int, Sample]) -> Optional[BadFileError]:
        i, s = item
        try:
            images[i], masks[i] = decode_sample(s.path, s.mask_path, size, defective=s.defective,
                                                image_data=s.image_bytes, mask_data=s.mask_bytes)
        except BadFileError as e:
            if not skip_bad_files:
                raise
            return e
        return None

    show, tty = count >= _PROGRESS_MIN_FILES, sys.stderr.isatty()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, num_workers))
    items = enumerate(samples)
    done = 0
    try:
        while window := list(itertools.islice(items, _WINDOW)):
            if done + len(window) > count:
                raise ValueError(f"more than the {count} samples announced for {label or 'the split'}")
            # map() yields in order, so the first bad file in order is the one raised.
            for (i, s), error in zip(window, pool.map(work, window)):
                if error is None:
                    kept.append(i)
                    types.append(s.defect_type)
                    paths.append(s.path)
                else:
                    skipped.append({"path": error.path, "reason": error.reason})
            done += len(window)
            if show and (tty or done == count):  # rewritten in place on a terminal, else once
                end = "\n" if done == count else ""
                print(f"\rrdjax: decoding {label}: {done}/{count} images", end=end, file=sys.stderr, flush=True)
    except BaseException:
        if show and tty and done < count:
            print(file=sys.stderr)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if done != count:
        raise ValueError(f"{label or 'the split'}: expected {count} samples, got {done}")
    if skipped:  # compact: drop the rows of skipped files
        images, masks = images[kept], masks[kept]
    return Split(images=images, masks=masks,
                 labels=np.array([int(t != NORMAL) for t in types], np.int32),
                 defect_types=types, paths=paths, skipped_files=skipped)
