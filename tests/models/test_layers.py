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


def test_batch_norm_matches_torch_over_several_steps():
    """Output and running statistics of rdjax's BatchNorm = torch.nn.BatchNorm2d, step after
    step in float64 (PyTorch keeps the unbiased batch variance; flax.linen.BatchNorm does not),
    for both momenta used here (0.1 = ResNet blocks, 0.01 = EfficientNet-Lite)."""
    from rdjax.models.layers import BatchNorm

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        for torch_momentum, eps in ((0.1, 1e-5), (0.01, 1e-3)):
            ours = BatchNorm(use_running_average=False, momentum=1 - torch_momentum, epsilon=eps,
                             dtype=jnp.float64)
            ref = torch.nn.BatchNorm2d(3, momentum=torch_momentum, eps=eps).double().train()
            variables = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64),
                                               ours.init(jax.random.key(0), jnp.zeros((1, 2, 2, 3))))
            for step in range(3):
                x = rng.normal(1.0, 2.0, size=(2, 3, 2, 3))  # n = 12 values per channel
                y, updates = ours.apply(variables, jnp.asarray(x), mutable=["batch_stats"])
                variables = {**variables, **updates}
                expected = ref(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy()
                np.testing.assert_allclose(np.asarray(y), expected.transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
                stats = variables["batch_stats"]
                np.testing.assert_allclose(stats["mean"], ref.running_mean.numpy(), rtol=1e-12)
                np.testing.assert_allclose(stats["var"], ref.running_var.numpy(), rtol=1e-12)
