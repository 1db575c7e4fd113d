"""RD4AD (Deng & Li, CVPR 2022): ``:quick`` (default) or ``:paper`` (configs/common.py).

  python -m rdjax.train --config configs/rd4ad.py --workdir runs/rd4ad
  python -m rdjax.train --config configs/rd4ad.py:paper --workdir runs/bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle

The paper recipe: WRN50-2, 256 px, Adam 5e-3 (0.5, 0.999), batch 16, 200 epochs, σ 4.
configs/quickstart.py is the quick variant tuned for the embedded data.
"""

from rdjax.configs import common
from rdjax.train.default_config import base_config


def get_config(variant: str = "quick"):
    return common.apply(base_config(), variant)
