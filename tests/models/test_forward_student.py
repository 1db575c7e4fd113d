"""The forward student: the teacher's family, untrained, with checked feature channels."""

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from rdjax.models.factory import teacher_spec
from rdjax.models.forward_student import build_forward_student


def model_config(teacher):
    return ml_collections.ConfigDict({"teacher": teacher, "dtype": "float32"})


def test_default_is_the_teacher_architecture():
    student = build_forward_student(model_config("resnet18"))
    assert student == teacher_spec("resnet18").make_encoder(jnp.float32)
    x = jnp.zeros((1, 32, 32, 3))
    shapes = jax.eval_shape(lambda: student.apply(student.init(jax.random.key(0), x), x))
    assert [s.shape for s in shapes] == [(1, 8, 8, 64), (1, 4, 4, 128), (1, 2, 2, 256)]


def test_other_architecture_with_the_same_channels():
    student = build_forward_student(model_config("resnet18"), "resnet34")
    assert student == teacher_spec("resnet34").make_encoder(jnp.float32)


@pytest.mark.parametrize("arch,match", [("wide_resnet50_2", "channels"), ("vgg16", "not a known")])
def test_bad_architecture_names_the_setting(arch, match):
    with pytest.raises(ValueError, match=f"config.x.student_arch='{arch}'.*{match}"):
        build_forward_student(model_config("resnet18"), arch, "config.x.student_arch")
