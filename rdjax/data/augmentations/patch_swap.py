"""MRKD's image-level masking (ILM): same-image patch swap (NSA-style), on device.

What MRKD's ``patch_ex(same=True, mode='swap', shift=True, resize=False,
gamma_params=(2, 0.05, 0.03))`` does, per image:

* patch 1 always, patches 2 … ``num_patches`` each with probability 1/2;
  the source is always the *original* image, the destination the image with
  the earlier patches already pasted;
* half-widths ``w_d = int(clip((0.03 + Gamma(2, 0.05)) · dim_d, lo_d, hi_d))``
  with ``lo_d = round(low_d · dim_d)``, ``hi_d = round(high_d · dim_d)``
  (the category's ``width_bounds``);
* source centre ``c_d ~ U{lo_d … dim_d − lo_d − 1}``, box
  ``[clip(c_d − w_d), clip(c_d + w_d))`` (clipped to the image), size ``h × w``;
* destination centre ``c'_d ~ U{s_d//2 + 1 … dim_d − s_d//2 − 2}``, box
  ``[c'_d − s_d//2, c'_d + (s_d+1)//2)``; the box is copied there (a hard swap);
* object-aware categories (``background = (value, threshold)``): object mask
  ``|mean_c(img) − value| > threshold`` then a 7×7 median filter (replicated
  borders, like ``cv2.medianBlur``). A source box is accepted when its object
  fraction is > ``min_object``, a destination when the source box's object
  pixels overlap the destination's object pixels by > ``min_overlap`` of the
  former; up to 200 tries each, else that patch is skipped. Only pixels that
  are object at the source or at the destination are pasted.

Returned mask: the pixels that were pasted. (MRKD's own label additionally
keeps only pixels whose mean change is > 1 grey level and median-filters it;
MRKD's loss never reads it.) The tables below are MRKD's ``main.py``.
"""

import dataclasses
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rdjax.data import categories

MAX_ATTEMPTS = 200


@dataclasses.dataclass(frozen=True)
class PatchSwapSpec:
    """One category's patch-swap settings (fractions of the image side)."""

    width_bounds: Tuple[Tuple[float, float], Tuple[float, float]]
    num_patches: int
    background: Optional[Tuple[float, float]] = None  # (grey value, threshold); None = texture
    min_object: float = 0.0
    min_overlap: float = 0.0
    gamma: Tuple[float, float, float] = (2.0, 0.05, 0.03)  # (shape, scale, offset)


def _spec(h, w, n, background=None, min_object=0.0, min_overlap=0.25):
    return PatchSwapSpec((h, w), n, background, min_object, min_overlap)


WIDE = (0.03, 0.4)
NARROW = (0.01, 0.05)
# MRKD main.py: WIDTH_BOUNDS_PCT, NUM_PATCHES, BACKGROUND, MIN_OBJECT_PCT, MIN_OVERLAP_PCT.
MVTEC_PRESETS = {
    "bottle": _spec(WIDE, WIDE, 3, (200, 60), 0.7),
    "cable": _spec(NARROW, (0.01, 0.1), 3),
    "capsule": _spec(NARROW, NARROW, 1, (200, 60), 0.7),
    "hazelnut": _spec((0.03, 0.35), (0.03, 0.35), 3, (20, 20), 0.7),
    "metal_nut": _spec(NARROW, (0.01, 0.01), 1, (20, 20), 0.5),
    "pill": _spec(NARROW, NARROW, 1, (20, 20), 0.7),
    "screw": _spec(NARROW, NARROW, 1, (200, 60), 0.5),
    "toothbrush": _spec((0.01, 0.01), (0.01, 0.01), 1, (20, 20), 0.25),
    "transistor": _spec(WIDE, WIDE, 3),
    "zipper": _spec(NARROW, (0.01, 0.01), 1, (200, 60), 0.7),
    "carpet": _spec(WIDE, WIDE, 4),
    "grid": _spec(NARROW, (0.01, 0.1), 4),
    "leather": _spec(WIDE, WIDE, 4),
    "tile": _spec(NARROW, (0.01, 0.1), 4),
    "wood": _spec(NARROW, (0.01, 0.01), 4),
}
# For textures outside MVTec AD (e.g. the embedded dataset): carpet/leather's settings.
TEXTURE_PRESET = MVTEC_PRESETS["carpet"]


def resolve_preset(name: str, dataset_config) -> PatchSwapSpec:
    """``'auto'``: the dataset category's MVTec row, or ``'texture'`` for other texture
    categories (``rdjax/data/categories.py``, e.g. the embedded dataset's)."""
    if name == "auto":
        if dataset_config.category in MVTEC_PRESETS:
            return MVTEC_PRESETS[dataset_config.category]
        if categories.kind(dataset_config.name, dataset_config.category) == "texture":
            return TEXTURE_PRESET
        raise ValueError(f"config.mrkd.ilm_preset='auto' has no patch-swap table for category "
                         f"'{dataset_config.category}'; set it to 'texture' or an MVTec AD category "
                         f"({sorted(MVTEC_PRESETS)}).")
    if name == "texture":
        return TEXTURE_PRESET
    if name not in MVTEC_PRESETS:
        raise ValueError(f"config.mrkd.ilm_preset='{name}' is unknown; choose 'auto', 'texture' "
                         f"or one of {sorted(MVTEC_PRESETS)}.")
    return MVTEC_PRESETS[name]


def box_sums(mask: jax.Array, radius: int) -> jax.Array:
    """Sum of ``mask`` over the (2r+1)² window around each pixel, borders replicated."""
    padded = jnp.pad(mask.astype(jnp.int32), radius, mode="edge")
    size = 2 * radius + 1
    return jax.lax.reduce_window(padded, 0, jax.lax.add, (size, size), (1, 1), "VALID")


def object_mask(image: jax.Array, background: Tuple[float, float]) -> jax.Array:
    """(H, W) bool: ``|mean_c(image) − value| > threshold``, then a 7×7 binary median."""
    value, threshold = background
    raw = jnp.abs(jnp.mean(image.astype(jnp.float32), axis=-1) - value) > threshold
    return box_sums(raw, 3) >= 25  # the median of 49 binary values is 1 iff >= 25 are 1


def _bounds(spec: PatchSwapSpec, height: int, width: int):
    """Static (lo, hi) half-width bounds in pixels per axis, as MRKD rounds them."""
    return [(int(np.round(lo * d)), int(np.round(hi * d)))
            for (lo, hi), d in zip(spec.width_bounds, (height, width))]


def _source_box(key, spec, bounds, dims):
    """A source box ``(start, size)`` per axis for a sampled half-width and centre."""
    kg, kc = jax.random.split(key)
    shape, scale, offset = spec.gamma
    starts, sizes = [], []
    for d, ((lo, hi), dim, kgd, kcd) in enumerate(zip(bounds, dims, jax.random.split(kg),
                                                       jax.random.split(kc))):
        half = jnp.floor(jnp.clip((offset + scale * jax.random.gamma(kgd, shape)) * dim, lo, hi))
        half = half.astype(jnp.int32)
        centre = jax.random.randint(kcd, (), lo, dim - lo)
        start = jnp.clip(centre - half, 0, dim)
        starts.append(start)
        sizes.append(jnp.clip(centre + half, 0, dim) - start)
    return starts, sizes


def _dest_start(key, sizes, dims):
    starts = []
    for k, s, dim in zip(jax.random.split(key), sizes, dims):
        centre = jax.random.randint(k, (), s // 2 + 1, dim - s // 2 - 1)
        starts.append(centre - s // 2)
    return starts


def _in_box(starts, sizes, dims):
    rows = jnp.arange(dims[0])[:, None]
    cols = jnp.arange(dims[1])[None, :]
    return ((rows >= starts[0]) & (rows < starts[0] + sizes[0])
            & (cols >= starts[1]) & (cols < starts[1] + sizes[1]))


def _shifted(array, src, dst, dims):
    """``array`` read at source coordinates for every destination pixel (clamped outside)."""
    rows = jnp.clip(jnp.arange(dims[0]) - dst[0] + src[0], 0, dims[0] - 1)
    cols = jnp.clip(jnp.arange(dims[1]) - dst[1] + src[1], 0, dims[1] - 1)
    return array[rows[:, None], cols[None, :]]


def _retry(sample, accept, key):
    """Samples until ``accept`` holds (at most MAX_ATTEMPTS); returns (value, accepted)."""
    def cond(carry):
        attempt, ok, _, _ = carry
        return (attempt < MAX_ATTEMPTS) & ~ok

    def body(carry):
        attempt, _, _, k = carry
        k, sub = jax.random.split(k)
        value = sample(sub)
        return attempt + 1, accept(value), value, k

    k0, key = jax.random.split(key)
    first = sample(k0)
    _, ok, value, _ = jax.lax.while_loop(cond, body, (jnp.int32(1), accept(first), first, key))
    return value, ok


def _one_patch(key, dest, source, dest_obj, src_obj, spec, bounds):
    """Pastes one source box of ``source`` into ``dest``; returns (image, pasted mask)."""
    dims = dest.shape[:2]
    k_src, k_dst = jax.random.split(key)
    sample_src = lambda k: _source_box(k, spec, bounds, dims)  # noqa: E731
    if spec.background is None:
        (src, sizes), found = sample_src(k_src), jnp.bool_(True)
        dst = _dest_start(k_dst, sizes, dims)
        paste = _in_box(dst, sizes, dims)
    else:
        def src_ok(box):
            starts, sizes = box
            area = jnp.maximum(sizes[0] * sizes[1], 1)
            return jnp.sum(src_obj & _in_box(starts, sizes, dims)) / area > spec.min_object

        (src, sizes), found_src = _retry(sample_src, src_ok, k_src)
        src_obj_at_dst = lambda d: _shifted(src_obj, src, d, dims) & _in_box(d, sizes, dims)  # noqa

        def dst_ok(d):
            moved = src_obj_at_dst(d)
            return jnp.sum(moved & dest_obj) / jnp.maximum(jnp.sum(moved), 1) > spec.min_overlap

        dst, found_dst = _retry(lambda k: _dest_start(k, sizes, dims), dst_ok, k_dst)
        found = found_src & found_dst
        paste = (src_obj_at_dst(dst) | dest_obj) & _in_box(dst, sizes, dims)
    paste = paste & found
    moved = _shifted(source, src, dst, dims)
    return jnp.where(paste[..., None], moved, dest), paste


def patch_swap(key: jax.Array, image: jax.Array, spec: PatchSwapSpec) -> Tuple[jax.Array, jax.Array]:
    """One (H, W, C) image → (patched image, (H, W) bool mask of pasted pixels)."""
    dims = image.shape[:2]
    bounds = _bounds(spec, *dims)
    obj = None if spec.background is None else object_mask(image, spec.background)
    k_patch, k_use = jax.random.split(key)
    use = jax.random.bernoulli(k_use, 0.5, (spec.num_patches,)).at[0].set(True)

    def add_patch(carry, inputs):  # one scan step per patch: compiled once
        out, pasted = carry
        k, use_it = inputs
        new, paste = _one_patch(k, out, image, obj, obj, spec, bounds)
        return (jnp.where(use_it, new, out), pasted | (paste & use_it)), None

    keys = jax.random.split(k_patch, spec.num_patches)
    (out, pasted), _ = jax.lax.scan(add_patch, (image, jnp.zeros(dims, bool)), (keys, use))
    return out, pasted


def patch_swap_batch(key: jax.Array, images: jax.Array,
                     spec: PatchSwapSpec) -> Tuple[jax.Array, jax.Array]:
    """(N, H, W, C) images → (patched images, (N, H, W) bool masks); one key per image."""
    keys = jax.random.split(key, images.shape[0])
    return jax.vmap(lambda k, im: patch_swap(k, im, spec))(keys, images)
