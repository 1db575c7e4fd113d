"""Embedded default dataset: synthetic textures with exact defect masks, MVTec layout.

Nothing is downloaded: images are made from scikit-image's bundled textures
(``skimage.data.brick``, ``grass``, ``gravel``), deterministically from a seed.

Categories (``CATEGORIES``): ``brick`` (terracotta RGB), ``grass`` (green RGB),
``gravel`` (stored as single-channel grey PNG, like MVTec's grey categories).
Each has ``train/good`` (80), ``test/good`` (20) and 8 test images per defect
kind in ``DEFECT_KINDS``:

* ``scratch``   thin curved lines, darker or lighter than the surface;
* ``hole``      dark, shaded elliptical pits (1-3);
* ``stain``     a coloured (grey for ``gravel``) irregular blob, alpha-blended;
* ``cut``       a missing piece: an irregular polygon of flat black or background colour;
* ``displaced`` a rectangle of the same image taken from elsewhere, rotated,
  rescaled and re-lit (gain 0.8-0.9 or 1.1-1.2, darker 1 px rim), pasted as a
  hard swap.

Normal images are random crops (160-320 px of the 512 px texture, resized to
256) with flips/rotations, brightness/contrast jitter and mild noise.

Mask rule (exact): pixels outside the mask are byte-identical to the
defect-free image, and every pixel inside it differs. Blended defects are
applied only where the defect's alpha is > 0.5 (the soft alpha ramps from 0.5
at the mask border to 1 inside); the rare mask pixel whose quantised value
happens to equal the clean one is nudged by one grey level.

``ensure_dataset()`` writes the dataset once (temp folder + atomic rename +
``.complete`` marker) and returns its root, readable with
:func:`rdjax.data.mvtec.load_split`. :func:`generate_sample` makes one image
and its mask in memory. The TFDS builder :mod:`rdjax.data.builders.synthetic`
(what training reads) makes the same files' bytes in memory, one category at a
time, without writing the folder.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import io
import json
import os
import shutil
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

VERSION = "synthetic-v1"
IMAGE_SIZE = 256
CATEGORIES = ("brick", "grass", "gravel")
DEFECT_KINDS = ("scratch", "hole", "stain", "cut", "displaced")
NUM_TRAIN = 80
NUM_TEST_GOOD = 20
NUM_PER_DEFECT = 8
_TEXTURE_SIZE = 512  # skimage's brick/grass/gravel are 512x512 grey
_MIN_DEFECT_FRACTION = 0.002  # smallest defect area kept (thin scratches are ~0.3-1.3%)


@dataclasses.dataclass(frozen=True)
class _Style:
    texture: str
    lo: Optional[Tuple[float, float, float]]  # colour of texture value 0 (None = grey)
    hi: Optional[Tuple[float, float, float]]  # colour of texture value 1
    rotations: Tuple[int, ...]  # allowed multiples of 90 degrees


_STYLES: Dict[str, _Style] = {
    # Bricks keep horizontal courses: only 0/180 degree turns.
    "brick": _Style("brick", (0.28, 0.10, 0.07), (0.95, 0.66, 0.50), (0, 2)),
    "grass": _Style("grass", (0.04, 0.16, 0.03), (0.72, 0.90, 0.42), (0, 1, 2, 3)),
    "gravel": _Style("gravel", None, None, (0, 1, 2, 3)),
}

# Stain colours (RGB); a grey category uses a dark or light grey instead.
_STAIN_COLOURS = (
    (0.42, 0.20, 0.06),  # rust / coffee
    (0.07, 0.06, 0.05),  # oil
    (0.90, 0.80, 0.15),  # yellow paint
    (0.12, 0.28, 0.80),  # blue paint
    (0.55, 0.12, 0.50),  # purple ink
    (0.96, 0.96, 0.93),  # white paint
)


@dataclasses.dataclass
class SyntheticSample:
    """One generated image: ``image`` and ``clean`` are (S,S,3) uint8 (or (S,S) for a
    grey category), ``mask`` (S,S) uint8 in {0,1}; ``clean`` is the same image
    without the defect (equal to ``image`` for ``kind='good'``)."""

    image: np.ndarray
    mask: np.ndarray
    clean: np.ndarray


# ----------------------------------------------------------------------------
# Normal images


@functools.lru_cache(maxsize=None)
def _texture(name: str) -> np.ndarray:
    """The bundled skimage texture as float32 in [0, 1], stretched by its 1/99 percentiles."""
    import skimage.data

    t = getattr(skimage.data, name)().astype(np.float32)
    lo, hi = np.percentile(t, [1, 99])
    t = np.clip((t - lo) / (hi - lo), 0.0, 1.0)
    t.setflags(write=False)
    return t


def _resize_float(a: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(a, np.float32)).resize((size, size), Image.BILINEAR))


def _clean_image(category: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A defect-free float image (S,S,C) in [0,1]; C = 3, or 1 for a grey category."""
    style = _STYLES[category]
    tex = _texture(style.texture)
    # Like MVTec's textures: one scale and lighting up to ±20 % / ±3 %, so that 80 training
    # images cover the normal variation (a 2x scale range made zoomed-in normals look anomalous).
    crop = int(rng.integers(208, 305))
    y0, x0 = (int(v) for v in rng.integers(0, _TEXTURE_SIZE - crop + 1, size=2))
    x = _resize_float(tex[y0:y0 + crop, x0:x0 + crop], size)
    x = np.rot90(x, int(rng.choice(style.rotations)))
    if rng.random() < 0.5:
        x = x[:, ::-1]
    if rng.random() < 0.5:
        x = x[::-1, :]
    contrast, brightness = rng.uniform(0.92, 1.08), rng.uniform(-0.03, 0.03)
    x = (x - 0.5) * contrast + 0.5 + brightness
    if style.lo is None:
        img = x[:, :, None]
    else:
        lo, hi = np.asarray(style.lo, np.float32), np.asarray(style.hi, np.float32)
        img = lo + x[:, :, None] * (hi - lo) + rng.normal(0.0, 0.015, 3)
    img = img + rng.normal(0.0, 0.012, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------
# Defects: each takes a clean float image (S,S,C) and returns (defective, mask).
# Only pixels inside the mask are used from the defective image.


def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _area_fraction(rng: np.random.Generator, lo: float = 0.01, hi: float = 0.09) -> float:
    """Log-uniform defect area fraction between ~1% (small) and ~9% (medium)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _blob(size: int, rng: np.random.Generator, radius: float, roughness: float, max_aniso: float,
          margin: float = 4.0) -> np.ndarray:
    """Normalised radial field q of a random blob: q < 1 inside, q = 0 at its centre.

    The border radius wobbles with a few low harmonics (``roughness``) and the
    blob is stretched by up to ``max_aniso`` along a random axis.
    """
    yy, xx = _grid(size)
    aniso = rng.uniform(1.0, max_aniso)
    reach = radius * np.sqrt(aniso) * (1 + roughness)
    lo, hi = min(reach + margin, size / 2), max(size - reach - margin, size / 2)
    cy, cx = rng.uniform(lo, hi, size=2)
    phi = rng.uniform(0, np.pi)
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(phi) + dy * np.sin(phi)) / np.sqrt(aniso)
    v = (-dx * np.sin(phi) + dy * np.cos(phi)) * np.sqrt(aniso)
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    r = np.ones_like(theta)
    for k in range(2, 6):
        r += roughness / (k - 1) * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return rho / (radius * np.maximum(r, 0.3))


def _soft_alpha(q: np.ndarray, sharpness: float) -> np.ndarray:
    """Alpha that is 0.5 at the blob border (q = 1) rising to 1 inside; 0 outside."""
    return np.where(q < 1.0, np.clip(0.5 + (1.0 - q) * sharpness, 0.5, 1.0), 0.0).astype(np.float32)


def _scratch(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    size = x.shape[0]
    s = size / 256.0
    yy, xx = _grid(size)
    pix = np.stack([yy.ravel(), xx.ravel()], axis=1)
    dark = rng.random() < 0.5
    target = rng.uniform(0.0, 0.08) if dark else rng.uniform(0.9, 1.0)
    strength = np.zeros((size, size), np.float32)
    while strength.max() == 0 or (strength > 0).sum() < 120 * s * s:
        for _ in range(int(rng.integers(1, 3))):
            length = rng.uniform(90, 230) * s
            half_w = rng.uniform(1.0, 2.6) * s
            steps = int(length / 0.5)
            t = np.arange(steps) * 0.5
            bend = rng.uniform(-1, 1) / rng.uniform(60, 250)  # curvature, 1/px
            wobble = 0.15 * np.sin(t / rng.uniform(15, 40) + rng.uniform(0, 2 * np.pi))
            theta = rng.uniform(0, 2 * np.pi) + bend * t + wobble
            start = rng.uniform(0.15 * size, 0.85 * size, size=2)
            pts = start + np.cumsum(0.5 * np.stack([np.sin(theta), np.cos(theta)], 1), axis=0)
            d, _ = cKDTree(pts).query(pix, distance_upper_bound=half_w)
            d = d.reshape(size, size)
            inside = d <= half_w
            # Deepest along the centre line, at least 0.6 of it at the border.
            prof = np.where(inside, 1.0 - 0.4 * (np.minimum(d, half_w) / half_w) ** 2, 0.0)
            strength = np.maximum(strength, prof * rng.uniform(0.7, 0.95))
    mask = strength > 0
    a = strength[:, :, None]
    return x * (1 - a) + target * a, mask


def _hole(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    size, area = x.shape[0], _area_fraction(rng, 0.008, 0.06) * x.shape[0] ** 2
    yy, xx = _grid(size)
    n = int(rng.integers(1, 4))
    out, mask = x.copy(), np.zeros((size, size), bool)
    light = rng.uniform(0, 2 * np.pi)
    for share in rng.dirichlet(np.full(n, 2.0)):
        radius = max(np.sqrt(share * area / np.pi), 4.0)
        q = _blob(size, rng, radius, roughness=0.06, max_aniso=1.6)
        inside = q < 1.0
        # Inner wall opposite the light is lit near the rim; the floor is dark.
        cy, cx = (yy[inside].mean(), xx[inside].mean())
        ang = np.arctan2(yy - cy, xx - cx)
        wall = np.clip(np.cos(ang - light), 0, 1) * np.clip((q - 0.55) / 0.45, 0, 1)
        colour = rng.uniform(0.02, 0.08) + 0.25 * wall
        a = _soft_alpha(q, 3.0)[:, :, None] * 0.97
        blended = x * (1 - a) + colour[:, :, None] * a
        out = np.where(inside[:, :, None], blended, out)
        mask |= inside
    return out, mask


def _stain(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    size, area = x.shape[0], _area_fraction(rng) * x.shape[0] ** 2
    q = _blob(size, rng, np.sqrt(area / np.pi), roughness=0.28, max_aniso=2.2)
    if x.shape[2] == 1:  # grey: mostly dark (oil), sometimes white paint
        colour = np.array([rng.uniform(0.0, 0.12) if rng.random() < 0.7 else rng.uniform(0.92, 1.0)])
    else:  # a colour clearly unlike the surface (no rust on brick)
        mean = x.mean(axis=(0, 1))
        choices = [c for c in _STAIN_COLOURS if np.abs(np.subtract(c, mean)).max() > 0.3]
        colour = np.asarray(choices[int(rng.integers(len(choices)))])
        colour = np.clip(colour + rng.normal(0, 0.04, 3), 0, 1)
    # Keep some of the surface texture visible through the stain.
    target = np.clip(colour + 0.25 * (x - x.mean(axis=(0, 1))), 0, 1)
    a = (_soft_alpha(q, rng.uniform(1.0, 4.0)) * rng.uniform(0.75, 0.95))[:, :, None]
    return x * (1 - a) + target * a, q < 1.0


def _cut(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    from skimage.draw import polygon

    size, area = x.shape[0], _area_fraction(rng) * x.shape[0] ** 2
    n = int(rng.integers(5, 10))
    # Jittered, evenly spread angles keep every gap < pi, so the polygon is star-shaped.
    angles = (np.arange(n) + rng.uniform(-0.35, 0.35, n)) * (2 * np.pi / n) + rng.uniform(0, 2 * np.pi)
    radii = rng.uniform(0.55, 1.0, n)
    # Scale the star polygon so its area matches the target.
    unit_area = 0.5 * np.sum(radii * np.roll(radii, -1) * np.sin(np.diff(angles, append=angles[0] + 2 * np.pi)))
    radii = radii * np.sqrt(area / max(unit_area, 1e-3))
    reach = radii.max() + 3
    cy, cx = rng.uniform(min(reach, size / 2), max(size - reach, size / 2), size=2)
    rr, cc = polygon(cy + radii * np.sin(angles), cx + radii * np.cos(angles), shape=(size, size))
    mask = np.zeros((size, size), bool)
    mask[rr, cc] = True
    mean = x.mean(axis=(0, 1))
    if rng.random() < 0.5:
        fill = np.full(x.shape[2], rng.uniform(0.0, 0.05))  # black hole through the part
    else:  # flat background (conveyor / table) colour, clearly unlike the surface
        for _ in range(100):
            fill = np.clip(rng.uniform(0.1, 0.9) + rng.normal(0, 0.03, x.shape[2]), 0, 1)
            if np.abs(fill - mean).max() > 0.25:
                break
    out = np.broadcast_to(fill, x.shape) + rng.normal(0, 0.006, x.shape)
    return np.clip(out, 0, 1), mask


def _displaced(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    size, area = x.shape[0], _area_fraction(rng, 0.012, 0.08) * x.shape[0] ** 2
    yy, xx = _grid(size)
    aspect = rng.uniform(1.0, 2.0)
    ha, hb = np.sqrt(area * aspect) / 2, np.sqrt(area / aspect) / 2  # half sides
    reach = np.hypot(ha, hb) + 2
    lo, hi = min(reach, size / 2), max(size - reach, size / 2)
    dst = rng.uniform(lo, hi, size=2)
    for _ in range(100):  # source centre well away from the destination
        src = rng.uniform(lo, hi, size=2)
        if np.hypot(*(src - dst)) > 2 * reach:
            break
    phi = rng.uniform(0, np.pi)
    dy, dx = yy - dst[0], xx - dst[1]
    u = dx * np.cos(phi) + dy * np.sin(phi)
    v = -dx * np.sin(phi) + dy * np.cos(phi)
    mask = (np.abs(u) <= ha) & (np.abs(v) <= hb)
    # Destination offset -> source offset: rotate by theta and rescale.
    # Rescaling (zoom in or out) keeps it visible on isotropic textures like gravel.
    theta = rng.choice([-1, 1]) * rng.uniform(np.deg2rad(25), np.deg2rad(155))
    scale = rng.uniform(0.4, 0.6) if rng.random() < 0.5 else rng.uniform(1.7, 2.3)
    sy = src[0] + scale * (np.cos(theta) * dy - np.sin(theta) * dx)
    sx = src[1] + scale * (np.sin(theta) * dy + np.cos(theta) * dx)
    out = np.stack([ndimage.map_coordinates(x[:, :, c], [sy, sx], order=1, mode="reflect")
                    for c in range(x.shape[2])], axis=2)
    # The loose piece catches the light differently and has a dark gap at its rim.
    gain = rng.uniform(0.8, 0.9) if rng.random() < 0.5 else rng.uniform(1.1, 1.2)
    rim = np.minimum(ha - np.abs(u), hb - np.abs(v)) < 1.0
    out = out * gain * np.where(rim, 0.55, 1.0)[:, :, None]
    return out, mask


DEFECTS: Dict[str, Callable[[np.ndarray, np.random.Generator], Tuple[np.ndarray, np.ndarray]]] = {
    "scratch": _scratch,
    "hole": _hole,
    "stain": _stain,
    "cut": _cut,
    "displaced": _displaced,
}


# ----------------------------------------------------------------------------
# One sample


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def sample_rng(seed: int, category: str, folder: str, index: int) -> np.random.Generator:
    """The generator for one file, keyed by (seed, category, folder, index), e.g. folder 'test/hole'."""
    key = [int(seed), zlib.crc32(category.encode()), zlib.crc32(folder.encode()), int(index)]
    return np.random.default_rng(np.random.SeedSequence(key))


def generate_sample(category: str, kind: str, rng: Union[np.random.Generator, int],
                    image_size: int = IMAGE_SIZE) -> SyntheticSample:
    """Generate one image of ``category``: ``kind`` is 'good' or one of ``DEFECT_KINDS``.

    ``rng`` is a numpy Generator or an int seed. See the module docstring for the mask rule.
    """
    if category not in _STYLES:
        raise ValueError(f"unknown category {category!r}; choose from {CATEGORIES}")
    if kind != "good" and kind not in DEFECTS:
        raise ValueError(f"unknown kind {kind!r}; choose 'good' or one of {DEFECT_KINDS}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = _clean_image(category, rng, image_size)
    clean = _quantise(x)
    if kind == "good":
        image, mask = clean.copy(), np.zeros(x.shape[:2], bool)
    else:
        min_pixels = _MIN_DEFECT_FRACTION * image_size * image_size
        for _ in range(20):  # redraw (deterministically) the rare defect that misses the image
            defective, mask = DEFECTS[kind](x, rng)
            if mask.sum() >= min_pixels:
                break
        image = np.where(mask[:, :, None], _quantise(defective), clean)
        # Make the mask rule exact: every mask pixel differs from the clean image.
        same = mask & np.all(image == clean, axis=2)
        bump = np.where(clean[same] < 128, 1, -1)
        image[same] = (clean[same].astype(np.int16) + bump).astype(np.uint8)
    if image.shape[2] == 1:
        image, clean = image[:, :, 0], clean[:, :, 0]
    return SyntheticSample(image=image, mask=mask.astype(np.uint8), clean=clean)


# ----------------------------------------------------------------------------
# Whole dataset on disk


def category_files(category: str) -> List[Tuple[str, int, str]]:
    """Every file of one category: ``(folder, index, kind)``, e.g. ``('test/hole', 3, 'hole')``."""
    jobs = [("train/good", i, "good") for i in range(NUM_TRAIN)]
    jobs += [("test/good", i, "good") for i in range(NUM_TEST_GOOD)]
    for kind in DEFECT_KINDS:
        jobs += [(f"test/{kind}", i, kind) for i in range(NUM_PER_DEFECT)]
    return jobs


def _plan(seed: int):
    """Every file to write: (category, folder, index, kind)."""
    return [(cat,) + job for cat in CATEGORIES for job in category_files(cat)]


def encode_png(a: np.ndarray) -> bytes:
    """The PNG bytes the on-disk dataset stores for ``a``."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _save_png(a: np.ndarray, path: Path) -> None:
    path.write_bytes(encode_png(a))


def generate_dataset(out_dir: Union[str, os.PathLike], seed: int = 0, num_workers: int = 2,
                     name: Optional[str] = None) -> Path:
    """Write the whole dataset (MVTec layout) into ``out_dir``, without a completion marker.

    Prefer :func:`ensure_dataset`, which caches and writes atomically. ``name``
    is only used in the progress line.
    """
    out = Path(out_dir)
    name = name or out.name
    jobs = _plan(seed)
    for cat, folder, _, kind in jobs:
        (out / cat / folder).mkdir(parents=True, exist_ok=True)
        if kind != "good":
            (out / cat / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)

    def work(job) -> None:
        cat, folder, i, kind = job
        s = generate_sample(cat, kind, sample_rng(seed, cat, folder, i))
        _save_png(s.image, out / cat / folder / f"{i:03d}.png")
        if kind != "good":
            _save_png(s.mask * np.uint8(255), out / cat / "ground_truth" / kind / f"{i:03d}_mask.png")

    # One progress line: rewritten in place on a terminal, completed at the end otherwise.
    tty = sys.stderr.isatty()
    head = f"rdjax: generating synthetic dataset {name} (seed {seed}):"
    print(head, end="", file=sys.stderr, flush=True)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        for done, _ in enumerate(pool.map(work, jobs), start=1):
            if tty and done % 20 == 0:
                print(f"\r{head} {done}/{len(jobs)} images", end="", file=sys.stderr, flush=True)
    print(f"{chr(13) + head if tty else ''} {len(jobs)} images in {time.time() - t0:.1f} s",
          file=sys.stderr, flush=True)
    return out


def default_data_dir() -> Path:
    """``$RDJAX_DATA_DIR`` if set, else ``~/.cache/rdjax/datasets``."""
    env = os.environ.get("RDJAX_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rdjax" / "datasets"


def ensure_dataset(root: Optional[Union[str, os.PathLike]] = None, seed: int = 0) -> Path:
    """Return the dataset root ``<root>/synthetic-v1-seed<seed>``, generating it on first use.

    ``root`` defaults to :func:`default_data_dir`. The dataset is written into a
    temporary sibling folder and renamed into place once complete (marked by a
    ``.complete`` file), so concurrent or interrupted runs never see a partial one.
    """
    base = Path(root).expanduser() if root is not None else default_data_dir()
    final = base / f"{VERSION}-seed{int(seed)}"
    marker = final / ".complete"
    if marker.is_file():
        return final
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        generate_dataset(tmp, seed, name=str(final))
        info = {"version": VERSION, "seed": int(seed), "categories": list(CATEGORIES),
                "defect_kinds": list(DEFECT_KINDS), "image_size": IMAGE_SIZE}
        (tmp / ".complete").write_text(json.dumps(info, indent=1) + "\n")
        if final.exists() and not marker.is_file():
            shutil.rmtree(final)  # left over without a marker: not ours to trust
        try:
            os.rename(tmp, final)
        except OSError:
            if not marker.is_file():  # someone else won the race with a complete copy, else fail
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
