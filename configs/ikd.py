"""IKD (forward distillation, hard-pixel mining, context similarity): ``:quick`` or ``:paper``.

  python -m rdjax.train --config configs/ikd.py --workdir runs/ikd
  python -m rdjax.train --config configs/ikd.py:paper --workdir runs/ikd_bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle

Variants: configs/common.py (``:quick`` is the default). The paper's setting: HRNet-32
(not ported; ``:paper`` uses WRN50-2, any rdjax teacher works), batch 2, 50 epochs at
256 px on MVTec AD.
"""

import ml_collections

from rdjax.configs import common
from rdjax.train.default_config import base_config


def get_config(variant: str = "quick"):
    config = base_config()
    config.method = "ikd"
    common.apply(config, variant, epochs=50, batch_size=2)  # paper: IKD train.py

    # AdamW, lr 5e-5 on the student (PyTorch defaults otherwise: betas (0.9, 0.999), wd 0.01).
    config.train.learning_rate = 5e-5
    config.train.b1 = 0.9
    config.train.b2 = 0.999

    # IKD's anomaly map: product of the chosen scales' maps, no smoothing.
    config.eval.combine = "mul"  # 'add' = IKD's weighted mean of the scales
    config.eval.sigma = 0.0

    config.ikd = ml_collections.ConfigDict()
    config.ikd.student_arch = ""  # '' = the teacher's architecture; or a TEACHERS name with the same channels
    config.ikd.scales = (1, 2)  # teacher features used (0, 1, 2 = strides 4, 8, 16); IKD: HRNet x1, x2
    config.ikd.scale_weights = (1.0, 2.0)  # loss weights of those scales (IKD: 1, 2)
    config.ikd.beta = 2.0  # hard-pixel margin = mean + beta·std of the per-pixel distances
    config.ikd.margin_momentum = 0.01  # margin EMA: momentum·previous + (1 − momentum)·new
    config.ikd.gamma = 1.0  # weight of the context-similarity (Gram) loss
    config.ikd.weight_decay = 0.01  # AdamW's decoupled weight decay
    return config
