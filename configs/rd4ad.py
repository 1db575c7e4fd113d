"""RD4AD paper recipe: WRN50-2 teacher, 256 px, Adam 5e-3 (0.5, 0.999), batch 16, 200 epochs.

  python -m rdjax.train --config configs/rd4ad.py --workdir runs/bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle
"""

from rdjax.train.default_config import base_config


def get_config():
    return base_config()
