"""IKD (forward distillation, hard-pixel mining, context similarity) on the embedded dataset.

  python -m rdjax.train --config configs/ikd.py --workdir runs/ikd

Same teacher, data and step budget as configs/quickstart.py (EfficientNet-Lite0,
128 px, batch 16, 20 epochs); only the method and its recipe differ. The
paper's setting (HRNet-32, not ported; any rdjax teacher works) was batch 2,
50 epochs at 256 px on MVTec AD, e.g.

  python -m rdjax.train --config configs/ikd.py --workdir runs/ikd_bottle \
      --config.model.teacher=wide_resnet50_2 --config.dataset.name=mvtec \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle \
      --config.dataset.image_size=256 --config.train.batch_size=2 --config.train.num_epochs=50
"""

import ml_collections

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.method = "ikd"
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
