"""The forward-distillation student: an encoder of the teacher's family, trained from scratch.

IKD and the bidirectional method feed the *image* to a second encoder and train
it to reproduce the teacher's stride-4/8/16 features (STPM-style "forward"
distillation). The student is built from the ``TEACHERS`` table like the
teacher, randomly initialised, with its BatchNorm layers in training mode while
it learns. By default it has the teacher's architecture; a lighter member of
the same table (e.g. ``resnet50`` under a ``wide_resnet50_2`` teacher) may be
chosen if its features have the same channels.
"""

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.factory import teacher_spec


def build_forward_student(model_config, arch: str = "", setting: str = "student arch") -> nn.Module:
    """An untrained encoder for ``arch`` ('' = ``model_config.teacher``).

    Raises ``ValueError`` naming ``setting`` if ``arch`` is unknown or its
    feature channels differ from the teacher's.
    """
    teacher = teacher_spec(model_config.teacher)
    name = arch or model_config.teacher
    try:
        spec = teacher_spec(name)
    except ValueError as e:
        raise ValueError(f"{setting}='{name}': {e}") from None
    if tuple(spec.feature_channels) != tuple(teacher.feature_channels):
        raise ValueError(f"{setting}='{name}' gives features with channels {spec.feature_channels}, "
                         f"but the teacher '{model_config.teacher}' has {teacher.feature_channels}; "
                         f"pick an architecture with the same channels or leave it empty.")
    return spec.make_encoder(jnp.dtype(model_config.get("dtype", "float32")))
