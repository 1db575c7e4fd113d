"""RD-E (expert–teacher–student, Perlin anomalies, skip fusion): ``:quick`` or ``:paper``.

  python -m rdjax.train --config configs/rde.py --workdir runs/rde
  python -m rdjax.train --config configs/rde.py:paper --workdir runs/rde_bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle

Variants: configs/common.py (``:quick`` is the default); each step is a teacher update
then a student update. The paper's recipe: WRN50-2, 256 px, batch 16, 5000 iterations
(``:paper``; 10000 for cable and transistor: ``rdjax sweep`` sets them, else
--config.train.num_steps=10000).
"""

import ml_collections

from rdjax.configs import common
from rdjax.train.default_config import base_config


def get_config(variant: str = "quick"):
    config = base_config()
    config.method = "rde"
    # paper: 5000 iterations of batch 16 (URD train.py); cable, transistor, VisA: 10000 (recipes.py)
    common.apply(config, variant, steps=5000)
    # Student: Adam lr 5e-3, betas (0.5, 0.999) (config.train, RD4AD's); teacher below.

    config.rde = ml_collections.ConfigDict()
    config.rde.teacher_learning_rate = 1e-4  # Adam on the trainable teacher (same betas)
    # False: the plain skip that the released code runs (its switch is inverted; see
    # docs/methods.md); True: the paper's Guided Information Injection.
    config.rde.gated = False
    config.rde.xavier_init = True  # student convs drawn from xavier_normal, as the released code does
    # Keep synthetic anomalies on the object: 'auto' (MVTec AD object categories),
    # 'always' or 'never'. The foreground is a simple estimate (see rdjax/data/augmentations/perlin.py).
    config.rde.foreground = "auto"
    # Anomaly textures: a folder of texture images (e.g. DTD's images/, as DRAEM and RD-E
    # use; searched recursively); '' = crops of scikit-image's bundled images.
    config.rde.texture_root = ""
    config.rde.num_textures = 32  # images in the bank (drawn from texture_root if set)
    config.rde.texture_seed = 0
    return config
