"""RD++ (projection layers, simplex-noise pseudo-anomalies, multi-task loss) on the embedded dataset.

  python -m rdjax.train --config configs/rdpp.py --workdir runs/rdpp

Same teacher, data and step budget as configs/quickstart.py (EfficientNet-Lite0,
128 px, batch 16, 20 epochs). A step is one batch of 16; with
grad_accumulation=2 both Adams update every second step (effective batch 32).
The paper's recipe on MVTec AD (RD++ main.py: WRN50-2, 256 px, batch 16 with
accumulation 2, Adam 1e-3 (projection) / 5e-3 (OCBE + decoder), betas
(0.5, 0.999), per-category epochs: carpet, leather 10; wood 100; hazelnut,
metal_nut 160; bottle, pill 200; cable 240; grid, tile 260; screw,
toothbrush 280; capsule, transistor, zipper 300), e.g.

  python -m rdjax.train --config configs/rdpp.py --workdir runs/rdpp_bottle \
      --config.model.teacher=wide_resnet50_2 --config.dataset.name=mvtec \
      --config.dataset.root=/data/mvtec --config.dataset.category=bottle \
      --config.dataset.image_size=256 --config.train.num_epochs=200

(The original reports the best epoch on the test set; this trainer reports the last.)
"""

import ml_collections

from rdjax.train.default_config import base_config


def get_config():
    config = base_config()
    config.method = "rdpp"
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
    # OCBE + decoder: Adam config.train.learning_rate (5e-3), betas (0.5, 0.999).

    config.rdpp = ml_collections.ConfigDict()
    config.rdpp.projection_learning_rate = 1e-3  # Adam on the projection layers (same betas)
    config.rdpp.grad_accumulation = 2  # steps whose gradients are averaged before both Adams step
    config.rdpp.proj_weight = 0.2  # loss = distill + proj_weight * (ssot + 0.01 recon + 0.1 contrast) / 1.11
    # CosineEmbeddingLoss(margin=0.5) with target -1 at the repository's HEAD (7f2ceb7):
    # mean(max(0, cos - 0.5)); an earlier commit had margin -0.5.
    config.rdpp.contrast_margin = 0.5
    # geomloss SamplesLoss('sinkhorn', p=2, blur, scaling, diameter, debias=True) for the SSOT term.
    config.rdpp.sinkhorn_blur = 0.05
    config.rdpp.sinkhorn_scaling = 0.95
    config.rdpp.sinkhorn_diameter = 1e7
    # Pseudo-anomaly: one rectangle of 0.2 * fractal OpenSimplex noise per image, sides
    # U{noise_min_size ... noise_max_size - 1} px (0 = image_size // 8, the original's 32 at 256 px).
    config.rdpp.noise_min_size = 10
    config.rdpp.noise_max_size = 0
    config.rdpp.noise_scale = 0.2
    config.rdpp.noise_seed = 111  # the noise pattern (one for the run, as in the original)
    return config
