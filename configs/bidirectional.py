"""Bidirectional distillation: forward + reverse students, DWA loss weights, fused maps.

  python -m rdjax.train --config configs/bidirectional.py --workdir runs/bidirectional

Same teacher, data and step budget as configs/quickstart.py (EfficientNet-Lite0,
128 px, batch 16, 20 epochs). Both students share RD4AD's Adam (lr 5e-3,
betas (0.5, 0.999)); the released repository has no training code, so the
rules below are ours (docs/methods.md, "Bidirectional"). On MVTec AD with the
RD4AD teacher, e.g.

  python -m rdjax.train --config configs/bidirectional.py --workdir runs/bidi_bottle \
      --config.model.teacher=wide_resnet50_2 --config.bidirectional.student_arch=resnet50 \
      --config.dataset.name=mvtec --config.dataset.root=/data/mvtec \
      --config.dataset.category=bottle --config.dataset.image_size=256 \
      --config.train.num_epochs=200 --config.bidirectional.window_steps=14
"""

import ml_collections

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.method = "bidirectional"
    # The quickstart's setting (configs/quickstart.py).
    config.model.teacher = "efficientnet_lite0"
    config.dataset.name = "synthetic"
    config.dataset.category = "brick"
    config.dataset.image_size = 128
    config.train.num_epochs = 20
    config.train.checkpoint_every = 50

    config.bidirectional = ml_collections.ConfigDict()
    # Forward student: '' = the teacher's architecture, from scratch; or a TEACHERS name
    # with the same feature channels (e.g. resnet50 under wide_resnet50_2).
    config.bidirectional.student_arch = ""
    # Loss weighting: 'dwa' (Dynamic Weight Average) or 'fixed' (fixed_weights).
    config.bidirectional.weighting = "dwa"
    config.bidirectional.temperature = 2.0  # DWA softmax temperature (DWA's default)
    # Steps per DWA window (DWA uses epochs: 80 images / batch 16 = 5 steps here).
    config.bidirectional.window_steps = 5
    config.bidirectional.fixed_weights = (1.0, 1.0)  # (forward, reverse) for weighting='fixed'
    # Anomaly map: 'map' = (1 − α)·M_reverse + α·M_forward; 'feature' = maps of blended features.
    config.bidirectional.fusion = "map"
    config.bidirectional.forward_weight = 0.1  # α (the released evaluation's 0.1)
    return config
