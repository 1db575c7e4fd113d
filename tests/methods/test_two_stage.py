"""Two-stage RKD: masked restoration before stage1_steps, plain distillation after.

The trainer's side (the stage each step logs, stage1_steps=-1 derived as the first half of
the run) is checked in tests/methods/test_lifecycle.py."""

import jax
import pytest

from tests.methods.masked_family_helpers import images, method_and_variables, tiny_config

pytestmark = pytest.mark.slow  # compiles the networks (tens of seconds on 2 cores)


def test_stage_one_masks_the_input_and_stage_two_does_not():
    config = tiny_config("two_stage")  # stage1_steps = 2
    config.two_stage.mask_ratio = 0.5
    method, v = method_and_variables(config)
    assert {"fusion", "ocbe", "memory"} <= set(v.params["bottleneck"])
    loss = jax.jit(lambda b, r, s: method.loss(v.params, v.model_state, v.frozen, b, r, s)[0])
    x = images()
    stage1 = [float(loss({"image": x}, jax.random.key(k), 1)) for k in (0, 1)]
    stage2 = [float(loss({"image": x}, jax.random.key(k), 2)) for k in (0, 1)]
    assert stage1[0] != stage1[1]  # a random mask per step key
    assert stage2[0] == stage2[1]  # clean input
    config.two_stage.mask_ratio = 0.0  # nothing masked: stage 1 = stage 2
    unmasked = float(jax.jit(lambda b, r: method.loss(v.params, v.model_state, v.frozen, b, r, 0)[0])(
        {"image": x}, jax.random.key(0)))
    assert unmasked == pytest.approx(stage2[0], rel=1e-6)
