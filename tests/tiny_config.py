"""The small RD4AD settings many tests share: quickstart config, random ResNet-10
(ResNet-18 at one block a layer: compiles fast), 64 px; on
the embedded dataset or on an MVTec-layout fixture (``tests/data/fixtures.write_mvtec``)."""

from configs import quickstart

# The teacher of every test that trains: random, one block a stage, so it compiles fast.
TEACHER = "resnet10"


def with_small_teacher(config):
    """``config`` with the tests' untrained ResNet-10 teacher (no pretrained weights)."""
    config.model.teacher, config.model.pretrained = TEACHER, False
    return config


def tiny_rd4ad_config(batch_size: int = 4, **train):
    """``configs/quickstart.py`` with an untrained ResNet-10 teacher at 64 px; ``train``
    overrides ``config.train`` entries."""
    config = with_small_teacher(quickstart.get_config())
    config.dataset.image_size = 64
    config.train.batch_size = batch_size
    for k, v in train.items():
        config.train[k] = v
    return config


CATEGORY = "widget"  # the category tiny_mvtec_config reads


def tiny_mvtec_config(root, cache, **train):
    """The tiny RD4AD setting (random ResNet-10, 64 px) on an MVTec-layout fixture
    (``tests/data/fixtures.write_mvtec``: 3 train, 2 good + 3 defective test images),
    one of the 3 train images held out for the threshold."""
    config = tiny_rd4ad_config(batch_size=2, **{"num_steps": 2, "log_every": 1,
                                                "checkpoint_every": 1, **train})
    config.dataset.name, config.dataset.root, config.dataset.category = "mvtec", str(root), CATEGORY
    config.dataset.data_dir = str(cache)
    config.eval.batch_size = 4
    config.eval.num_overlays = 0
    config.threshold.holdout_fraction = 0.34
    return config


def with_setting(config, name, value):
    """``config`` with the dotted setting ``name`` (e.g. ``'train.loss'``) set to ``value``."""
    node = config
    *path, last = name.split(".")
    for part in path:
        node = node[part]
    node[last] = value
    return config
