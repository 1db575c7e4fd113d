"""MRKD (image-level patch swap + feature-level masking) on the embedded dataset.

  python -m rdjax.train --config configs/mrkd.py --workdir runs/mrkd

Same teacher, data and step budget as configs/quickstart.py (EfficientNet-Lite0,
128 px, batch 16, 20 epochs). The paper's recipe on MVTec AD (MRKD main.py:
WRN50-2, 256 px, batch 16, Adam 5e-3 (0.5, 0.999), 200 epochs, the category's
patch-swap table), e.g.

  python -m rdjax.train --config configs/mrkd.py --workdir runs/mrkd_bottle \
      --config.model.teacher=wide_resnet50_2 --config.dataset.name=mvtec \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle \
      --config.dataset.image_size=256 --config.train.num_epochs=200

As the released decoder, features are masked at test time too (a fixed mask per
batch, drawn from the seed); --config.mrkd.mask_at_test=False gives unmasked,
deterministic maps.
"""

import ml_collections

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.method = "mrkd"
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
    # Adam lr 5e-3, betas (0.5, 0.999), flattened cosine loss: config.train (RD4AD's = MRKD's).

    config.mrkd = ml_collections.ConfigDict()
    config.mrkd.ilm = True  # image-level masking: same-image patch swap on the student's input
    # Patch-swap table: 'auto' = the MVTec AD category's row from MRKD (the embedded dataset's
    # textures use 'texture' = carpet/leather's row), or 'texture' / an MVTec AD category name.
    config.mrkd.ilm_preset = "auto"
    config.mrkd.flm = True  # feature-level masking before the generation heads (heads always run)
    config.mrkd.flm_ratio = 0.2  # fraction of spatial positions zeroed per decoder stage
    # True: mask at test as the released decoder does (default); False: unmasked test maps.
    config.mrkd.mask_at_test = True
    return config
