"""Quickstart: RD4AD on the embedded synthetic dataset, small enough for a 2-core CPU.

  python -m rdjax.train --config configs/quickstart.py --workdir runs/quickstart
"""

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.model.teacher = "resnet18"
    config.model.pretrained = False  # until pretrained teachers land (see README)
    config.dataset.name = "synthetic"
    config.dataset.category = "brick"
    config.dataset.image_size = 128
    config.train.num_epochs = 20
    config.train.checkpoint_every = 50
    config.eval.num_overlays = 6
    return config
