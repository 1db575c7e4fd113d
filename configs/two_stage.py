"""Two-stage RKD with self-supervised masking + EMMFRKD's bottleneck on the embedded dataset.

  python -m rdjax.train --config configs/two_stage.py --workdir runs/two_stage

Same teacher, data and step budget as configs/quickstart.py (EfficientNet-Lite0,
128 px, batch 16, 20 epochs); stage 1 takes the first half of the steps, counted
by the trainer from the data (stage1_steps=-1). No code or training recipe was
published; this is an interpretation of the papers (docs/methods.md, "Two-stage
RKD"). A paper-scale run on MVTec AD uses RD4AD's recipe (WRN50-2, 256 px, batch
16, Adam 5e-3 (0.5, 0.999), 200 epochs; rdjax/recipes.py), e.g.

  rdjax sweep --methods=two_stage --dataset=mvtec --root=/data/mvtec \
      --categories=bottle --out=runs/two_stage

The MVTec AD means that the authors' repository README (nicebro123/DHKD, which cites
this paper and EMMFRKD) reports for their method: image AUROC 99.3, pixel AUROC 98.6
(no per-category table, no code). EMMFRKD's abstract: 98.1 / 98.3, PRO 95.0.
"""

import ml_collections

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.method = "two_stage"
    # The quickstart's setting (configs/quickstart.py).
    config.model.teacher = "efficientnet_lite0"
    config.dataset.name = "synthetic"
    config.dataset.category = "brick"
    config.dataset.image_size = 128
    config.train.num_epochs = 20
    config.train.checkpoint_every = 50
    # Train on every normal image, as the paper's code does (no decision threshold unless
    # --config.threshold.validation_root names a validation folder).
    config.threshold.holdout_fraction = 0.0

    config.two_stage = ml_collections.ConfigDict()
    # Steps of masked restoration (the rest is plain distillation); -1 = the first half of
    # the run, derived from the number of training images when training starts.
    config.two_stage.stage1_steps = -1
    config.two_stage.mask_patch = 8  # px side of the masking grid cells (image_size / 16)
    config.two_stage.mask_ratio = 0.3  # probability that a cell is masked (set to the mean colour)
    config.two_stage.attention_reduction = 32  # coordinate attention: C -> max(8, C // reduction)
    config.two_stage.memory_slots = 50  # embedding memory prototypes; 0 = no memory
    config.two_stage.memory_temperature = 0.1  # softmax temperature of the cosine addressing
    config.two_stage.memory_shrink = 0.0025  # hard-shrinkage threshold of the addressing weights
    return config
