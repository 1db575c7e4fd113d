"""Tiny configs for the MRKD / RD++ / two-stage tests: random ResNet-10 teacher, small images."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np

from rdjax.methods import get_method
from tests.tiny_config import with_small_teacher


def tiny_config(name: str, image_size: int = 32):
    config = with_small_teacher(importlib.import_module(f"configs.{name}").get_config())
    config.dataset.image_size = image_size
    if name == "rdpp":
        config.rdpp.noise_min_size, config.rdpp.noise_max_size = 3, 8
    if name == "two_stage":
        config.two_stage.mask_patch = 4
        config.two_stage.stage1_steps = 2
    return config


def images(n: int = 4, size: int = 32, seed: int = 0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)), jnp.uint8)


def method_and_variables(config, seed: int = 0):
    method = get_method(config)
    return method, method.init(jax.random.key(seed), images(1, config.dataset.image_size))
