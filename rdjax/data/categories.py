"""What methods need to know about a dataset's categories, in one place.

Methods ask here instead of checking dataset or category names themselves:

* :func:`kind`: 'texture' or 'object' (MVTec AD's two groups; the embedded synthetic
  dataset is all textures), None where the dataset does not say;
* :func:`rde_foreground`: whether RD-E's released code keeps its synthetic anomalies
  on the object (MVTec AD's object categories except transistor).

MRKD's per-category patch-swap tables are MVTec AD's rows in
``rdjax/data/augmentations/patch_swap.py``, chosen with :func:`kind` elsewhere.
"""

from typing import Optional

MVTEC_TEXTURES = ("carpet", "grid", "leather", "tile", "wood")
MVTEC_OBJECTS = ("bottle", "cable", "capsule", "hazelnut", "metal_nut", "pill", "screw",
                 "toothbrush", "transistor", "zipper")
# RD-E (URD): foreground-restricted anomalies for these MVTec AD objects; transistor is not one.
RDE_FOREGROUND = tuple(c for c in MVTEC_OBJECTS if c != "transistor")


def kind(dataset: str, category: str) -> Optional[str]:
    """'texture', 'object' or None (unknown) for ``category`` of ``dataset`` (a config.dataset.name)."""
    if dataset == "synthetic":
        return "texture"
    if dataset == "mvtec":
        return "texture" if category in MVTEC_TEXTURES else "object" if category in MVTEC_OBJECTS \
            else None
    return None


def rde_foreground(dataset: str, category: str) -> bool:
    """Whether RD-E's released code restricts the anomalies to the object's foreground."""
    return dataset == "mvtec" and category in RDE_FOREGROUND
