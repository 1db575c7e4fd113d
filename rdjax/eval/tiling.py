"""Anomaly maps of high-resolution images from overlapping tiles.

Resizing a large image to the model's input size shrinks small defects to a
few pixels. Instead, the image is cut into square tiles of ``tile_size``
native pixels that overlap by ``overlap`` pixels; each tile is resized to the
model's input size (PIL bilinear, as in training), scored, its map resized
back, and the maps are blended into one native-resolution map.

Blending: every tile's map is weighted by a separable window that is 1 in the
tile's interior and falls linearly to near 0 across the overlap at each edge,
and the weighted maps are divided by the summed weights. Pixels near a tile's
border (where convolution padding and the Gaussian's reflection make the map
least reliable) therefore count little wherever a neighbouring tile covers
them, and overlapping maps fade into each other without seams. Images smaller
than a tile are mirror-padded to a tile and the padding is cropped off the map.
"""

from typing import Callable, List, Tuple

import numpy as np
from PIL import Image

MapFn = Callable[[np.ndarray], np.ndarray]


def resize_image(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) → (h, w, 3) with PIL bilinear, the training pipeline's resize."""
    h, w = size
    if image.shape[:2] == (h, w):
        return np.ascontiguousarray(image)
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def resize_map(amap: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """float (H, W) map → (h, w) float32 with PIL bilinear (pixel centres aligned)."""
    h, w = size
    amap = np.asarray(amap, np.float32)
    if amap.shape == (h, w):
        return amap
    return np.asarray(Image.fromarray(amap, mode="F").resize((w, h), Image.BILINEAR))


def tile_starts(length: int, tile: int, overlap: int) -> List[int]:
    """Start offsets of tiles covering ``[0, length)`` with at least ``overlap`` px shared.

    The first tile starts at 0, the last ends at ``length``, and the starts in
    between are spread evenly (so neighbours share ``overlap`` px or a little more).
    """
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need tile > 0 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if length <= tile:
        return [0]
    count = int(np.ceil((length - tile) / (tile - overlap))) + 1
    return [int(s) for s in np.round(np.linspace(0, length - tile, count))]


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """(tile, tile) weights: 1 inside, a linear ramp over ``overlap`` px at each edge, > 0."""
    ramp = max(overlap, 1)
    i = np.arange(tile, dtype=np.float64) + 0.5
    w = np.minimum(1.0, np.minimum(i, tile - i) / ramp)
    return np.outer(w, w)


def tiled_anomaly_map(image: np.ndarray, anomaly_maps: MapFn, tile_size: int, overlap: int,
                      model_size: int, tiles_per_call: int = 32) -> np.ndarray:
    """The (H, W) float32 anomaly map of a uint8 (H, W, 3) image of any size.

    ``anomaly_maps`` maps uint8 (N, model_size, model_size, 3) tiles to (N,
    model_size, model_size) maps; it is called with at most ``tiles_per_call``
    tiles at a time, so memory stays bounded for very large images.
    """
    image = np.asarray(image, np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape}")
    height, width = image.shape[:2]
    pad_h, pad_w = max(0, tile_size - height), max(0, tile_size - width)
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    full_h, full_w = image.shape[:2]
    origins = [(y, x) for y in tile_starts(full_h, tile_size, overlap)
               for x in tile_starts(full_w, tile_size, overlap)]
    window = blend_window(tile_size, overlap)
    total = np.zeros((full_h, full_w), np.float64)
    weight = np.zeros((full_h, full_w), np.float64)
    model_hw = (model_size, model_size)
    for start in range(0, len(origins), tiles_per_call):
        chunk = origins[start:start + tiles_per_call]
        tiles = np.stack([resize_image(image[y:y + tile_size, x:x + tile_size], model_hw)
                          for y, x in chunk])
        maps = np.asarray(anomaly_maps(tiles))
        for (y, x), amap in zip(chunk, maps):
            amap = resize_map(amap, (tile_size, tile_size))
            total[y:y + tile_size, x:x + tile_size] += window * amap
            weight[y:y + tile_size, x:x + tile_size] += window
    return (total / weight)[:height, :width].astype(np.float32)
