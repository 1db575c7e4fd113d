"""MRKD (image-level patch swap + feature-level masking): ``:quick`` or ``:paper``.

  python -m rdjax.train --config configs/mrkd.py --workdir runs/mrkd
  python -m rdjax.train --config configs/mrkd.py:paper --workdir runs/mrkd_bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle

Variants: configs/common.py (``:quick`` is the default). The paper's recipe (MRKD
main.py): WRN50-2, 256 px, batch 16, Adam 5e-3 (0.5, 0.999), 200 epochs, the
category's patch-swap table.

As the released decoder, features are masked at test time too (a fixed mask per
batch, drawn from the seed); --config.mrkd.mask_at_test=False gives unmasked,
deterministic maps.
"""

import ml_collections

from rdjax.configs import common
from rdjax.train.default_config import base_config


def get_config(variant: str = "quick"):
    config = base_config()
    config.method = "mrkd"
    common.apply(config, variant)  # paper: batch 16, 200 epochs (MRKD main.py)
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
