"""RD4AD paper recipe: WRN50-2 teacher, 256 px, Adam 5e-3 (0.5, 0.999), batch 16, 200 epochs.

  python -m rdjax.train --config configs/rd4ad.py --workdir runs/bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle
"""

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    # Train on every normal image, as the paper does; no decision threshold unless
    # --config.threshold.validation_root points at a validation folder.
    config.threshold.holdout_fraction = 0.0
    return config
