"""Qualitative results: input | heat-map overlay | ground-truth contour, as PNGs.

Only numpy and PIL: the jet-like colormap and the contour are computed here.
Heat maps of one call share ``vmin``/``vmax`` so colours compare across images.
"""

import os
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image

PANEL_GAP = 4          # white pixels between panels
HEAT_ALPHA = 0.5       # weight of the heat map in the overlay
CONTOUR_RGB = (255, 0, 0)


def jet(values: np.ndarray) -> np.ndarray:
    """Jet-like colormap: values in [0, 1] → uint8 RGB (blue → cyan → yellow → red)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red, green, blue
    rgb = np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0)
    return np.round(rgb * 255).astype(np.uint8)


def _contour(mask: np.ndarray) -> np.ndarray:
    """Boundary of a boolean mask: mask pixels with a 4-neighbour outside it, 2 px thick."""
    padded = np.pad(mask, 1, mode="edge")
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    edge = mask & ~interior
    thick = np.pad(edge, 1)
    return mask & (thick[:-2, 1:-1] | thick[2:, 1:-1] | thick[1:-1, :-2] | thick[1:-1, 2:]
                   | edge)


def _panels(image: np.ndarray, amap: np.ndarray, mask: Optional[np.ndarray],
            vmin: float, vmax: float) -> np.ndarray:
    """The side-by-side strip of one example as an (H, W', 3) uint8 array."""
    scaled = (amap - vmin) / (vmax - vmin) if vmax > vmin else np.zeros_like(amap)
    heat = (HEAT_ALPHA * jet(scaled) + (1 - HEAT_ALPHA) * image).round().astype(np.uint8)
    panels = [image, heat]
    if mask is not None:
        outlined = image.copy()
        outlined[_contour(mask > 0.5)] = CONTOUR_RGB
        panels.append(outlined)
    gap = np.full((image.shape[0], PANEL_GAP, 3), 255, np.uint8)
    strip = [panels[0]]
    for panel in panels[1:]:
        strip += [gap, panel]
    return np.concatenate(strip, axis=1)


def save_overlays(out_dir: str, images_uint8, maps, masks, names: Sequence[str],
                  vmin: Optional[float] = None, vmax: Optional[float] = None) -> List[str]:
    """Write one PNG per example to ``out_dir`` and return their paths.

    ``images_uint8`` (N, H, W, 3) uint8, ``maps`` (N, H, W) at the image size,
    ``masks`` (N, H, W) or ``None`` (then the contour panel is left out), and
    ``names`` N file stems (path separators become ``_``). Each PNG is the
    input, the jet heat map blended over it, and the input with the GT contour
    in red, separated by ``PANEL_GAP`` white columns. ``vmin``/``vmax`` default
    to the min/max over all given maps.
    """
    images = np.asarray(images_uint8, np.uint8)
    maps = np.asarray(maps, np.float64)
    if images.ndim != 4 or images.shape[-1] != 3 or maps.shape != images.shape[:3]:
        raise ValueError(f"need images (N, H, W, 3) and maps (N, H, W) of the same size, "
                         f"got {images.shape} and {maps.shape}")
    if masks is not None and np.shape(masks) != maps.shape:
        raise ValueError(f"masks {np.shape(masks)} do not match maps {maps.shape}")
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} images")
    vmin = float(maps.min()) if vmin is None else float(vmin)
    vmax = float(maps.max()) if vmax is None else float(vmax)

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        mask = None if masks is None else np.asarray(masks[i])
        strip = _panels(images[i], maps[i], mask, vmin, vmax)
        path = os.path.join(out_dir, str(name).replace(os.sep, "_") + ".png")
        Image.fromarray(strip).save(path)
        paths.append(path)
    return paths


def select_examples(labels, scores, k: int) -> np.ndarray:
    """Indices of up to ``k`` normal then up to ``k`` defective examples to visualise.

    Within each class, the highest- and lowest-scoring examples are taken
    alternately (highest first), so the selection shows both the clearest and
    the hardest cases (e.g. the normal image closest to a false alarm).
    """
    labels = np.asarray(labels).ravel() > 0.5
    scores = np.asarray(scores, np.float64).ravel()
    chosen = []
    for cls in (False, True):
        idx = np.flatnonzero(labels == cls)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        n = min(k, idx.size)
        # Alternate from both ends of the score-sorted list: 0, -1, 1, -2, ...
        ends = [idx[j // 2] if j % 2 == 0 else idx[-(j // 2) - 1] for j in range(n)]
        chosen.extend(int(i) for i in ends)
    return np.asarray(chosen, dtype=np.int64)
