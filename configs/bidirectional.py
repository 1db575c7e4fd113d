"""Bidirectional distillation: forward + reverse students, DWA loss weights, fused maps.

  python -m rdjax.train --config configs/bidirectional.py --workdir runs/bidirectional
  python -m rdjax.train --config configs/bidirectional.py:paper --workdir runs/bidi_bottle \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle

Variants: configs/common.py (``:quick`` is the default). Both students share RD4AD's
Adam (lr 5e-3, betas (0.5, 0.999)); the released repository has no training code, so
the rules below and ``:paper``'s schedule (RD4AD's: batch 16, 200 epochs) are ours
(docs/methods.md, "Bidirectional").

The forward student is the teacher's architecture trained from scratch. The
repository's student is a wide ResNet-50 variant with [2, 3, 6] blocks (and
channel attention), so no TEACHERS entry matches it: resnet50 (bottleneck width
64, not 128, and [3, 4, 6] blocks) is a lighter stand-in with the same feature
channels, not the repository's student.
"""

import ml_collections

from rdjax.configs import common
from rdjax.train.default_config import base_config


def get_config(variant: str = "quick"):
    config = base_config()
    config.method = "bidirectional"
    common.apply(config, variant)  # paper: RD4AD's batch 16, 200 epochs (no training code)

    config.bidirectional = ml_collections.ConfigDict()
    # Forward student: '' = the teacher's architecture, from scratch; or a TEACHERS name
    # with the same feature channels (e.g. resnet50 under wide_resnet50_2).
    config.bidirectional.student_arch = ""
    # Loss weighting: 'dwa' (Dynamic Weight Average) or 'fixed' (fixed_weights).
    config.bidirectional.weighting = "dwa"
    config.bidirectional.temperature = 2.0  # DWA softmax temperature (DWA's default)
    # Steps per DWA window; 0 = one epoch (DWA's window), derived from the data.
    config.bidirectional.window_steps = 0
    config.bidirectional.fixed_weights = (1.0, 1.0)  # (forward, reverse) for weighting='fixed'
    # Anomaly map: 'map' = (1 − α)·M_reverse + α·M_forward; 'feature' = maps of blended features.
    config.bidirectional.fusion = "map"
    config.bidirectional.forward_weight = 0.1  # α (the released evaluation's 0.1)
    # Each student's map: 'cosine' (RD4AD's 1 − cos) or 'repository' (the repository's
    # channel/space-weighted |S − T|, min-max normalised per image).
    config.bidirectional.map_rule = "cosine"
    return config
