"""Two-stage RKD with self-supervised masking (Tong, Li, Song, KBS 2023) + EMMFRKD (IEEE TBD 2024).

No code was published; this is an interpretation of the two papers' abstracts,
recorded in docs/methods.md ("Two-stage RKD"). Options in ``config.two_stage``.

* Stage 1 (self-supervised masking, steps < ``stage1_steps``; -1 = the first half of
  the run, derived from the data by the trainer through ``set_schedule``): a random
  ``mask_ratio`` of the ``mask_patch``-pixel grid cells of each normalised
  image is set to 0 (the mean colour; ``rdjax.data.augmentations.random_mask``)
  and the student restores the teacher's features of the *clean* image from
  ``teacher(masked image)``.
* Stage 2 (the remaining steps): plain reverse distillation of clean images.
* Student bottleneck (``rdjax.models.mutual_fusion.MutualFusionOCBE``):
  multi-scale mutual-mapping fusion with coordinate attention in place of
  RD4AD's plain MFF input, RD4AD's OCBE, then a single-category embedding
  memory (``memory_slots`` > 0) that re-expresses every embedding vector from
  learned normal prototypes before the decoder.

Loss: RD4AD's (flattened cosine by default) in both stages; one Adam
(``config.train``). Anomaly map: RD4AD's.
"""

import dataclasses

import jax
import jax.numpy as jnp

from rdjax.data.augmentations.random_mask import mask_patches
from rdjax.methods.losses import distillation_loss
from rdjax.methods.rd4ad import RD4AD
from rdjax.models.mutual_fusion import MutualFusionOCBE


class TwoStageRKD(RD4AD):
    """Masked-restoration stage, then plain distillation, with the enhanced bottleneck."""

    caches_teacher_features = False  # its own loss (rdjax/train/feature_cache.py)

    def __init__(self, config):
        if "two_stage" not in config:
            raise ValueError("config.two_stage is missing: start from configs/two_stage.py.")
        super().__init__(config)
        o, spec = config.two_stage, self.nets.spec
        if o.stage1_steps < -1:
            raise ValueError(f"config.two_stage.stage1_steps={o.stage1_steps} must be >= 0, or "
                             f"-1 for half the training steps.")
        self.stage1_steps = o.stage1_steps if o.stage1_steps >= 0 else None
        if not 0.0 <= o.mask_ratio <= 1.0:
            raise ValueError(f"config.two_stage.mask_ratio={o.mask_ratio} must lie in [0, 1].")
        if o.mask_patch < 1 or o.mask_patch > config.dataset.image_size:
            raise ValueError(f"config.two_stage.mask_patch={o.mask_patch} px does not fit "
                             f"{config.dataset.image_size} px images.")
        bottleneck = MutualFusionOCBE(
            spec.feature_channels, spec.student_block, spec.ocbe_blocks, spec.width_per_group,
            attention_reduction=o.attention_reduction, memory_slots=o.memory_slots,
            memory_temperature=o.memory_temperature, memory_shrink=o.memory_shrink,
            dtype=self.dtype)
        self.nets = dataclasses.replace(self.nets, bottleneck=bottleneck)

    def set_schedule(self, steps_per_epoch: int, total_steps: int) -> None:
        """``stage1_steps=-1``: stage 1 is the first half of the run's steps."""
        if self.config.two_stage.stage1_steps < 0:
            self.stage1_steps = total_steps // 2

    def loss(self, params, model_state, frozen, batch, rng, step=None):
        o = self.config.two_stage
        if self.stage1_steps is None:
            raise ValueError("config.two_stage.stage1_steps=-1 (half the run) is derived by the "
                             "trainer (set_schedule); outside it set a number of steps.")
        if step is None:
            raise ValueError("TwoStageRKD.loss needs the training step (its stage depends on it).")
        x = self.normalize(batch["image"])
        target = self.teacher_features(frozen["teacher"], x)
        in_stage1 = step < self.stage1_steps

        def masked_features():
            return self.teacher_features(frozen["teacher"], mask_patches(rng, x, o.mask_patch,
                                                                         o.mask_ratio)[0])

        inputs = jax.lax.cond(in_stage1, masked_features, lambda: target)
        student, new_state = self.student_features(params, model_state, inputs, train=True)
        loss = distillation_loss(self.config.train.loss)(target, student)
        return loss, ({"loss": loss, "stage": jnp.where(in_stage1, 1.0, 2.0)}, new_state)
