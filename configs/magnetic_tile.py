"""Any rdjax method on Magnetic Tile (real grey tile surfaces), sized for a 2-core CPU.

  python -m rdjax.train --config configs/magnetic_tile.py --workdir runs/magnetic_tile
  python -m rdjax.train --config configs/magnetic_tile.py:mrkd --workdir runs/mt_mrkd

The part after ``:`` names the method (default ``rd4ad``); the config is that method's
``configs/<method>.py:quick`` (EfficientNet-Lite0, 128 px, batch 16, every normal image
trained on) with the data swapped. The paper recipes at 256 px on this data: ``rdjax sweep
--dataset=magnetic_tile --root=../shared/data/magnetic_tile``.

Data: ``MT_<class>/Imgs/<name>.jpg`` with same-name ``.png`` masks; rdjax's fixed
split (docs/datasets.md) trains on 788 of the 952 defect-free tiles and tests on
the other 164 plus all 392 defective ones. Pass ``--config.dataset.root=...`` for
another copy.
"""

from rdjax import recipes


def get_config(method: str = "rd4ad"):
    if method not in recipes.METHODS:
        raise ValueError(f"configs/magnetic_tile.py:{method}: unknown method; choose one of "
                         f"{list(recipes.METHODS)}.")
    config = recipes.embedded_config(method)
    config.dataset.name = "magnetic_tile"
    config.dataset.category = ""  # no categories
    config.dataset.root = "../shared/data/magnetic_tile"  # the repository's copy
    config.dataset.image_size = 128
    config.train.num_epochs = 10  # 788 training images / 16 = 50 steps an epoch
    config.train.log_every = 25
    config.train.checkpoint_every = 100
    config.eval.num_overlays = 8
    if method == "mrkd":  # no MVTec category: the texture row of MRKD's patch-swap table
        config.mrkd.ilm_preset = "texture"
    return config
