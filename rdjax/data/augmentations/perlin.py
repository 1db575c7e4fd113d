"""DRAEM-style synthetic anomalies (used by RD-E): Perlin-noise masks filled with a texture.

Per image, on device and jit-able (``perlin_anomalies``):

1. Perlin noise with ``2^a × 2^b`` lattice cells, ``a, b ~ U{0..5}`` (rows, columns),
   rotated by an angle ``~ U(-90°, 90°)`` about the image centre, zero where the
   rotation brings in points from outside the image (imgaug's ``cval=0``);
2. mask ``m = noise > 0.5`` (binary), optionally restricted to an estimated foreground;
3. ``aug = img·(1 − m) + (1 − β)·texture·m + β·img·m`` with ``β ~ U(0, 0.8)``
   and a texture drawn uniformly from a bank.

The noise is evaluated directly at the rotated coordinates (it is a continuous
function), so there is no interpolation of a rotated noise image as in imgaug;
the lattice is ``(res + 1)²`` gradient angles ``~ U(0, 2π)`` as in DRAEM's
``rand_perlin_2d_np``, so the noise on the unrotated pixel grid is the same
function. Coverage of a mask (fraction of its pixels set), over 4096 masks at
128 px (alike at 64 and 256 px): about 5 % of the masks are empty (no point
above 0.5, as in DRAEM, so that image stays normal), the mean and median are
≈ 5 %, the 99th percentile ≈ 18 %, and the largest (one-cell lattices) ≈ 57 %
(``tests/data/test_augmentations_perlin.py`` checks this range at 64 px).

Texture bank (host numpy, :func:`texture_source`): DRAEM/RD-E fill the masks
with images of the Describable Textures Dataset (DTD). ``folder_texture_bank``
reads such a folder (any images, searched recursively, e.g. DTD's ``images/``):
``count`` of them drawn at random, each resized whole to the image size, as
DRAEM resizes a DTD image. Without a folder, ``texture_bank`` holds random
crops of the natural images bundled with scikit-image (no download), excluding
``brick``, ``grass`` and ``gravel`` which the embedded dataset is made of,
resized to the image size. Both add random 90° turns and flips and are
deterministic from a seed.

Foreground (``foreground_masks``): RD-E keeps anomalies on the object for
object categories (``rdjax.data.categories.rde_foreground``, grabCut / Otsu in the original). Here
a simple on-device estimate: the colour distance of every pixel from the median
colour of the image's 4-px border, thresholded by Otsu's method (64 bins),
then a 5×5 closing. It assumes a roughly uniform background, as in MVTec AD's
object categories.
"""

import functools
import math
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

MAX_LOG2_RES = 5  # lattice cells per axis: 2^0 … 2^5
THRESHOLD = 0.5
MAX_BETA = 0.8
MAX_ANGLE_DEG = 90.0
TEXTURE_SOURCES = ("astronaut", "camera", "cell", "chelsea", "checkerboard", "clock", "coffee",
                   "coins", "colorwheel", "hubble_deep_field", "immunohistochemistry", "moon",
                   "page", "retina", "rocket", "text")


def _fade(t):
    return 6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3


def perlin_noise(angles: jax.Array, res: jax.Array, y: jax.Array, x: jax.Array,
                 shape: Tuple[int, int]) -> jax.Array:
    """Perlin noise at continuous pixel coordinates ``(y, x)`` of an image of ``shape``.

    ``angles``: lattice gradient angles, at least ``(res[0] + 1, res[1] + 1)``;
    ``res``: (2,) cells along rows and columns (may be traced). Pixel ``(y, x)``
    lies at lattice point ``(y·res0/H, x·res1/W)``; values are in [-1, 1].
    """
    h, w = shape
    res = res.astype(jnp.float32)
    u, v = y * res[0] / h, x * res[1] / w
    i = jnp.clip(jnp.floor(u), 0, res[0] - 1)
    j = jnp.clip(jnp.floor(v), 0, res[1] - 1)
    fu, fv = u - i, v - j
    i, j = i.astype(jnp.int32), j.astype(jnp.int32)

    def corner(di, dj):
        a = angles[i + di, j + dj]
        return jnp.cos(a) * (fu - di) + jnp.sin(a) * (fv - dj)

    tu, tv = _fade(fu), _fade(fv)
    n0 = corner(0, 0) + tu * (corner(1, 0) - corner(0, 0))
    n1 = corner(0, 1) + tu * (corner(1, 1) - corner(0, 1))
    return math.sqrt(2.0) * (n0 + tv * (n1 - n0))


def rotated_perlin_noise(angles: jax.Array, res: jax.Array, theta: jax.Array,
                         shape: Tuple[int, int]) -> jax.Array:
    """(H, W) Perlin noise image rotated by ``theta`` (radians) about its centre, 0 where the
    rotation brings in points from outside the image (imgaug's ``cval=0``)."""
    h, w = shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy,
                          jnp.arange(w, dtype=jnp.float32) - cx, indexing="ij")
    # Output pixel p shows the noise at R(-theta)·(p - c) + c.
    ys = jnp.cos(theta) * yy + jnp.sin(theta) * xx + cy
    xs = -jnp.sin(theta) * yy + jnp.cos(theta) * xx + cx
    inside = (ys > -0.5) & (ys < h - 0.5) & (xs > -0.5) & (xs < w - 0.5)
    noise = perlin_noise(angles, res, jnp.clip(ys, 0, h - 1), jnp.clip(xs, 0, w - 1), shape)
    return jnp.where(inside, noise, 0.0)


def perlin_mask(key: jax.Array, shape: Tuple[int, int]) -> jax.Array:
    """One binary (H, W) float32 mask: rotated Perlin noise with a random lattice, > 0.5."""
    k_res, k_ang, k_rot = jax.random.split(key, 3)
    res = 2 ** jax.random.randint(k_res, (2,), 0, MAX_LOG2_RES + 1)
    size = 2 ** MAX_LOG2_RES + 1
    angles = 2 * jnp.pi * jax.random.uniform(k_ang, (size, size))
    theta = jnp.deg2rad(jax.random.uniform(k_rot, (), minval=-MAX_ANGLE_DEG, maxval=MAX_ANGLE_DEG))
    return (rotated_perlin_noise(angles, res, theta, shape) > THRESHOLD).astype(jnp.float32)


def _otsu_threshold(values: jax.Array, bins: int = 64) -> jax.Array:
    """Otsu's threshold of non-negative ``values`` (any shape) over ``bins`` bins in [0, max]."""
    top = jnp.maximum(jnp.max(values), 1e-6)
    idx = jnp.clip((values / top * bins).astype(jnp.int32), 0, bins - 1).ravel()
    hist = jnp.zeros(bins, jnp.float32).at[idx].add(1.0)
    centres = (jnp.arange(bins, dtype=jnp.float32) + 0.5) * top / bins
    w0 = jnp.cumsum(hist)
    w1 = hist.sum() - w0
    s0 = jnp.cumsum(hist * centres)
    m0 = s0 / jnp.maximum(w0, 1.0)
    m1 = (s0[-1] - s0) / jnp.maximum(w1, 1.0)
    between = w0 * w1 * (m0 - m1) ** 2
    return (jnp.argmax(between).astype(jnp.float32) + 1.0) * top / bins


def foreground_masks(images: jax.Array, border: int = 4, closing: int = 5) -> jax.Array:
    """(N, H, W) float32 {0, 1} foreground estimate of (N, H, W, 3) images (see module doc)."""
    x = images.astype(jnp.float32)

    def one(img):
        frame = jnp.concatenate([img[:border].reshape(-1, 3), img[-border:].reshape(-1, 3),
                                 img[:, :border].reshape(-1, 3), img[:, -border:].reshape(-1, 3)])
        dist = jnp.linalg.norm(img - jnp.median(frame, axis=0), axis=-1)
        return (dist > _otsu_threshold(dist)).astype(jnp.float32)

    fg = jax.vmap(one)(x)[..., None]
    window, pad = (1, closing, closing, 1), "SAME"
    fg = jax.lax.reduce_window(fg, 0.0, jax.lax.max, window, (1, 1, 1, 1), pad)  # dilate
    fg = jax.lax.reduce_window(fg, 1.0, jax.lax.min, window, (1, 1, 1, 1), pad)  # erode
    return fg[..., 0]


def perlin_anomalies(key: jax.Array, images: jax.Array, textures: jax.Array,
                     foreground: bool = False) -> Tuple[jax.Array, jax.Array]:
    """Synthetic anomalies for a batch.

    ``images`` (N, H, W, 3) uint8 or float in [0, 255]; ``textures`` (K, H, W, 3)
    uint8. Returns ``(augmented, masks)``: (N, H, W, 3) float32 in [0, 255]
    (not rounded) and (N, H, W) float32 in {0, 1}.
    """
    n, h, w, _ = images.shape
    if textures.shape[1:3] != (h, w):
        raise ValueError(f"textures are {textures.shape[1:3]} but images are {(h, w)}; build the "
                         f"bank with texture_bank({h}).")
    k_mask, k_tex, k_beta = jax.random.split(key, 3)
    masks = jax.vmap(lambda k: perlin_mask(k, (h, w)))(jax.random.split(k_mask, n))
    if foreground:
        masks = masks * foreground_masks(images)
    picks = jax.random.randint(k_tex, (n,), 0, textures.shape[0])
    tex = textures[picks].astype(jnp.float32)
    beta = jax.random.uniform(k_beta, (n, 1, 1, 1), maxval=MAX_BETA)
    img = images.astype(jnp.float32)
    m = masks[..., None]
    augmented = img * (1 - m) + (1 - beta) * tex * m + beta * img * m
    return augmented, masks


def _source_rgb(name: str) -> np.ndarray:
    import skimage.data

    a = np.asarray(getattr(skimage.data, name)())
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3].astype(np.uint8))


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def _turn_and_flip(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    image = np.rot90(image, int(rng.integers(4)))
    return image[:, ::-1] if rng.random() < 0.5 else image


def folder_texture_bank(folder: str, size: int, count: int = 32, seed: int = 0) -> np.ndarray:
    """(k, size, size, 3) uint8: ``k = min(count, images found)`` images of ``folder``
    (recursively), drawn without replacement, each resized whole (PIL bilinear)."""
    import os

    from PIL import Image

    if not os.path.isdir(folder):
        raise ValueError(f"config.rde.texture_root={folder!r} is not a folder")
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
                   if f.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise ValueError(f"config.rde.texture_root={folder!r} holds no images "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(paths), size=min(count, len(paths)), replace=False)
    out = np.empty((len(picked), size, size, 3), np.uint8)
    for k, i in enumerate(picked):
        with Image.open(paths[i]) as image:
            resized = image.convert("RGB").resize((size, size), Image.BILINEAR)
        out[k] = _turn_and_flip(rng, np.asarray(resized))
    return out


def texture_source(rde_config, size: int) -> np.ndarray:
    """The texture bank of ``config.rde``: its ``texture_root`` folder, else the built-in one."""
    root = rde_config.get("texture_root", "")
    if root:
        return folder_texture_bank(root, size, rde_config.num_textures, rde_config.texture_seed)
    return texture_bank(size, rde_config.num_textures, rde_config.texture_seed)


@functools.lru_cache(maxsize=4)
def texture_bank(size: int, count: int = 32, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) uint8 texture crops from scikit-image's bundled images."""
    from PIL import Image

    if count < 1:
        raise ValueError(f"texture count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    sources = {}
    for k in range(count):
        name = TEXTURE_SOURCES[k % len(TEXTURE_SOURCES)]
        if name not in sources:
            sources[name] = _source_rgb(name)
        src = sources[name]
        side = int(rng.integers(min(src.shape[:2]) // 4, min(src.shape[:2]) + 1))
        y0 = int(rng.integers(0, src.shape[0] - side + 1))
        x0 = int(rng.integers(0, src.shape[1] - side + 1))
        crop = Image.fromarray(src[y0:y0 + side, x0:x0 + side]).resize((size, size), Image.BILINEAR)
        out[k] = _turn_and_flip(rng, np.asarray(crop))
    out.setflags(write=False)
    return out
