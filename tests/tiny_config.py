"""The small RD4AD setting many tests share: quickstart config, random ResNet-18, 64 px."""

from configs import quickstart


def tiny_rd4ad_config(batch_size: int = 4, **train):
    """``configs/quickstart.py`` with an untrained ResNet-18 teacher at 64 px; ``train``
    overrides ``config.train`` entries."""
    config = quickstart.get_config()
    config.model.teacher = "resnet18"
    config.model.pretrained = False
    config.dataset.image_size = 64
    config.train.batch_size = batch_size
    for k, v in train.items():
        config.train[k] = v
    return config
