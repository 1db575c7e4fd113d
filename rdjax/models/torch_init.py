"""PyTorch's default initialisers for layers the original code leaves at their defaults.

``nn.Conv2d`` draws its kernel from ``kaiming_uniform_(a=√5)`` = U(±1/√fan_in)
and its bias from U(±1/√fan_in), fan_in = k·k·c_in.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

torch_conv_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
    """U(±1/√fan_in), PyTorch's default conv/linear bias."""
    bound = 1.0 / float(fan_in) ** 0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init
