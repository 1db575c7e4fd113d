"""MRKD, masked reverse knowledge distillation (Jiang et al., KBS 2023; yuxin-jiang/MRKD).

RD4AD plus two maskings (``config.mrkd``):

* ILM (image level, ``ilm=True``): every training image goes through a
  same-image patch swap (``rdjax.data.augmentations.patch_swap``, with the
  category's table from MRKD); the student decodes
  ``OCBE(teacher(swapped image))`` and is trained toward ``teacher(clean image)``;
* FLM (feature level, ``flm=True``): after each decoder stage a random
  ``flm_ratio`` (20 %) of the spatial positions are zeroed and a generation
  head ``conv3×3 → ReLU → conv3×3`` (``rdjax.models.flm``) produces the
  features compared with the teacher. The heads always run; only the masking
  is switched.

Loss: RD4AD's (flattened cosine by default). Anomaly map: RD4AD's, from the
heads' outputs. The released decoder masks features at test time too, so its
maps are random; ``mask_at_test=True`` (the default) does that, with the mask
drawn from ``config.seed`` and the images, so a given batch always gets the
same one; ``False`` gives the unmasked heads' maps.
"""

import jax
import jax.numpy as jnp

from rdjax.data.augmentations.patch_swap import patch_swap_batch, resolve_preset
from rdjax.methods.base import Variables
from rdjax.methods.losses import distillation_loss
from rdjax.methods.rd4ad import RD4AD
from rdjax.models.flm import GenerationHeads, spatial_keep_masks


class MRKD(RD4AD):
    """RD4AD + image-level patch swap + feature-level masking with generation heads."""

    caches_teacher_features = False  # its own loss (rdjax/train/feature_cache.py)

    def __init__(self, config):
        if "mrkd" not in config:
            raise ValueError("config.mrkd is missing: start from configs/mrkd.py.")
        super().__init__(config)
        o = config.mrkd
        if not 0.0 <= o.flm_ratio < 1.0:
            raise ValueError(f"config.mrkd.flm_ratio={o.flm_ratio} must lie in [0, 1).")
        self.swap_spec = resolve_preset(o.ilm_preset, config.dataset)
        self.heads = GenerationHeads(self.nets.spec.feature_channels, dtype=self.dtype)

    def student_outputs(self, params, model_state, teacher_feats, train: bool, mask_key=None):
        """OCBE → decoder → (masked) generation heads; returns (features, new model_state)."""
        decoded, new_state = self.student_features(params, model_state, teacher_feats, train)
        masks = None
        if mask_key is not None:
            masks = spatial_keep_masks(mask_key, decoded, self.config.mrkd.flm_ratio)
        return self.heads.apply({"params": params["flm"]}, decoded, masks), new_state

    def init(self, rng, images) -> Variables:
        r_base, r_heads = jax.random.split(rng)
        variables = super().init(r_base, images)
        heads = self.init_on_teacher_features(self.heads, r_heads, variables.frozen["teacher"], images)
        return variables.replace(params={**variables.params, "flm": heads})

    def loss(self, params, model_state, frozen, batch, rng, step=None):
        o = self.config.mrkd
        k_ilm, k_flm = jax.random.split(rng)
        images = batch["image"]
        swapped = patch_swap_batch(k_ilm, images, self.swap_spec)[0] if o.ilm else images
        target = self.teacher_features(frozen["teacher"], self.normalize(images))
        inputs = self.teacher_features(frozen["teacher"], self.normalize(swapped)) if o.ilm else target
        student, new_state = self.student_outputs(params, model_state, inputs, True,
                                                  k_flm if o.flm else None)
        loss = distillation_loss(self.config.train.loss)(target, student)
        return loss, ({"loss": loss}, new_state)

    def test_mask_key(self, images):
        """A key from the seed and the batch's pixels (``mask_at_test=True``)."""
        checksum = jnp.sum(images.astype(jnp.uint32), dtype=jnp.uint32)
        return jax.random.fold_in(jax.random.key(self.config.seed), checksum)

    def anomaly_map(self, variables: Variables, images) -> jax.Array:
        teacher = self.teacher_features(variables.frozen["teacher"], self.normalize(images))
        key = self.test_mask_key(images) if self.config.mrkd.mask_at_test else None
        student, _ = self.student_outputs(variables.params, variables.model_state, teacher, False, key)
        return self.combine(teacher, student, images.shape[1])
