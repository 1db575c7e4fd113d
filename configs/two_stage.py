"""Two-stage RKD (self-supervised masking, EMMFRKD's bottleneck): ``:quick`` or ``:paper``.

  python -m rdjax.train --config configs/two_stage.py --workdir runs/two_stage
  rdjax sweep --methods=two_stage --dataset=mvtec --root=/data/mvtec \
      --categories=bottle --out=runs/two_stage

Variants: configs/common.py (``:quick`` is the default). Stage 1 takes the first half of
the steps, counted by the trainer from the data (stage1_steps=-1). No code or training
recipe was published; this is an interpretation of the papers (docs/methods.md,
"Two-stage RKD"), and ``:paper`` is RD4AD's recipe (WRN50-2, 256 px, batch 16, Adam 5e-3
(0.5, 0.999), 200 epochs).

The MVTec AD means that the authors' repository README (nicebro123/DHKD, which cites
this paper and EMMFRKD) reports for their method: image AUROC 99.3, pixel AUROC 98.6
(no per-category table, no code). EMMFRKD's abstract: 98.1 / 98.3, PRO 95.0.
"""

import ml_collections

from rdjax.configs import common
from rdjax.train.default_config import base_config


def mask_patch_px(image_size: int) -> int:
    """px side of the masking grid cells: a 16 × 16 grid (8 px at 128 px, 16 px at 256 px)."""
    return max(1, image_size // 16)


def get_config(variant: str = "quick"):
    config = base_config()
    config.method = "two_stage"
    common.apply(config, variant)  # paper: RD4AD's batch 16, 200 epochs (none was published)

    config.two_stage = ml_collections.ConfigDict()
    # Steps of masked restoration (the rest is plain distillation); -1 = the first half of
    # the run, derived from the number of training images when training starts.
    config.two_stage.stage1_steps = -1
    # recipes.paper_config sets it again for the image size it chooses
    config.two_stage.mask_patch = mask_patch_px(config.dataset.image_size)
    config.two_stage.mask_ratio = 0.3  # probability that a cell is masked (set to the mean colour)
    config.two_stage.attention_reduction = 32  # coordinate attention: C -> max(8, C // reduction)
    config.two_stage.memory_slots = 50  # embedding memory prototypes; 0 = no memory
    config.two_stage.memory_temperature = 0.1  # softmax temperature of the cosine addressing
    config.two_stage.memory_shrink = 0.0025  # hard-shrinkage threshold of the addressing weights
    return config
