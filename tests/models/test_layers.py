"""ConvTranspose2x2 equals PyTorch's ConvTranspose2d(k=2, s=2, bias=False)."""

import jax
import jax.numpy as jnp
import numpy as np
import torch

from rdjax.models.layers import ConvTranspose2x2


def test_conv_transpose_2x2_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3, 6)).astype(np.float32)
    torch_layer = torch.nn.ConvTranspose2d(6, 4, kernel_size=2, stride=2, bias=False)
    w = torch_layer.weight.detach().numpy()  # (in, out, kH, kW)
    expected = torch_layer(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
    params = {"params": {"kernel": jnp.asarray(w.transpose(2, 3, 0, 1))}}
    got = ConvTranspose2x2(4).apply(params, jnp.asarray(x))
    assert got.shape == (2, 10, 6, 4)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


def test_conv_transpose_init_uses_torch_bound():
    variables = ConvTranspose2x2(8).init(jax.random.key(0), jnp.zeros((1, 2, 2, 16)))
    kernel = np.asarray(variables["params"]["kernel"])
    bound = 1 / np.sqrt(8 * 4)
    assert kernel.shape == (2, 2, 16, 8)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.9 * bound
