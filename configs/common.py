"""The two variants of every method config, written once: ``quick`` (default), ``paper``.

``configs/<method>.py:quick``: the 2-core scale on the embedded data — pretrained
EfficientNet-Lite0, synthetic ``brick``, 128 px, batch 16, 20 epochs, the same for every
method; the method's own hyper-parameters stay its paper's.
``configs/<method>.py:paper``: the released code's recipe on MVTec AD — WRN50-2, 256 px, the
paper's batch and epochs (or iterations); pass ``--config.dataset.root`` and
``--config.dataset.category``. Both train on every normal image, as the released code does (no
decision threshold unless ``--config.threshold.validation_root`` names a validation folder).
"""

VARIANTS = ("quick", "paper")


def apply(config, variant: str, *, epochs: int = 200, steps: int = -1, batch_size: int = 16):
    """``config`` (a method's, ``config.method`` set) at ``variant``; the keywords are the
    paper's schedule (``steps`` > 0 counts iterations instead of epochs)."""
    if variant == "quick":
        config.model.teacher = "efficientnet_lite0"
        config.dataset.name = "synthetic"
        config.dataset.category = "brick"
        config.dataset.image_size = 128
        config.train.num_epochs = 20
        config.train.checkpoint_every = 50
    elif variant == "paper":
        config.model.teacher = "wide_resnet50_2"
        config.dataset.name = "mvtec"
        config.dataset.image_size = 256
        config.train.batch_size = batch_size
        config.train.num_epochs = 0 if steps > 0 else epochs
        config.train.num_steps = steps
    else:
        raise ValueError(f"configs/{config.method}.py:{variant}: unknown variant; choose one of "
                         f"{', '.join(VARIANTS)}.")
    config.threshold.holdout_fraction = 0.0
    return config
