"""Flax EfficientNet-Lite vs the efficientnet-lite-pytorch model, with the real ImageNet weights."""

import importlib.util
import types

import jax
import numpy as np
import pytest
import skimage.data
import skimage.transform
import torch

from rdjax.models.checkpoint_io import load_state_dict
from rdjax.models.convert import efficientnet_lite_to_flax
from rdjax.models.efficientnet_lite import (EfficientNetLite, efficientnet_lite_feature_channels,
                                            feature_block_indices)
from rdjax.models.factory import TEACHERS
from rdjax.models.pretrained import LITE_PACKAGES, teacher_weights_path

pytestmark = pytest.mark.numerics  # rerun under other CPUs' code paths: .ci/run

EfficientNet = pytest.importorskip("efficientnet_lite_pytorch").EfficientNet

# The PyTorch model pads for a fixed image size ("static same"); it equals
# TensorFlow's SAME padding, which the Flax model uses, at the native resolution.
NATIVE_SIZE = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


def installed(name):
    return importlib.util.find_spec(LITE_PACKAGES[name]) is not None


def relative_error(ours, ref):
    return float(np.abs(np.asarray(ours) - ref).max() / np.abs(ref).max())


def tf_lite_input(image, size):
    """Bilinear resize to size², scaled as (255·x − 127) / 128; NHWC float32."""
    x = skimage.transform.resize(image, (size, size), order=1, anti_aliasing=False)
    return ((x * 255 - 127) / 128).astype(np.float32)


def compare(name):
    path = teacher_weights_path(types.SimpleNamespace(teacher=name))
    state_dict = load_state_dict(path)
    reference_dict = torch.load(path, weights_only=True)
    assert list(state_dict) == list(reference_dict)
    for key, tensor in reference_dict.items():
        np.testing.assert_array_equal(state_dict[key], tensor.numpy(), err_msg=key)

    model = EfficientNet.from_name(name.replace("_", "-"))
    model.load_state_dict(reference_dict)
    model.eval()
    taps = {}
    for i in feature_block_indices(name):
        model._blocks[i].register_forward_hook(lambda m, a, out, i=i: taps.__setitem__(i, out))

    size = NATIVE_SIZE[name]
    images = np.stack([np.random.default_rng(0).standard_normal((size, size, 3)),
                       tf_lite_input(skimage.data.chelsea(), size),
                       tf_lite_input(skimage.data.coffee(), size)]).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    features = [taps[i].numpy().transpose(0, 2, 3, 1) for i in feature_block_indices(name)]

    classifier = efficientnet_lite_to_flax(state_dict, name, features_only=False)
    encoder = efficientnet_lite_to_flax(state_dict, name)
    ours_logits = jax.jit(EfficientNetLite(name).apply)(classifier, images)
    ours_features = jax.jit(EfficientNetLite(name, features_only=True).apply)(encoder, images)
    return logits, features, np.asarray(ours_logits), ours_features


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.skipif(
    not installed(n), reason=f"{LITE_PACKAGES[n]} is not installed")) for n in NATIVE_SIZE])
def test_matches_pytorch_and_classifies(name):
    logits, features, ours_logits, ours_features = compare(name)

    error = relative_error(ours_logits, logits)
    print(f"{name} logits: relative error {error:.2e}")
    assert error <= 1e-4
    for stride, a, b in zip((4, 8, 16), ours_features, features):
        assert a.shape == b.shape
        assert a.shape[-1] == efficientnet_lite_feature_channels(name)[(4, 8, 16).index(stride)]
        error = relative_error(a, b)
        print(f"{name} stride {stride} features {a.shape}: relative error {error:.2e}")
        assert error <= 1e-4

    probs = np.asarray(jax.nn.softmax(ours_logits[1:]))
    print(f"{name}: chelsea → {probs[0].argmax()} p={probs[0].max():.3f}, "
          f"coffee → {probs[1].argmax()} p={probs[1].max():.3f}")
    assert probs[0].argmax() == 285  # Egyptian cat
    assert probs[1].argmax() == 967  # espresso


def test_teacher_specs():
    assert efficientnet_lite_feature_channels("efficientnet_lite0") == (24, 40, 112)
    assert efficientnet_lite_feature_channels("efficientnet_lite1") == (24, 40, 112)
    assert efficientnet_lite_feature_channels("efficientnet_lite2") == (24, 48, 120)
    for name in NATIVE_SIZE:
        spec = TEACHERS[name]
        assert spec.signed_features
        assert spec.feature_channels == efficientnet_lite_feature_channels(name)
        x = np.array([0.0, 127 / 255, 1.0])
        np.testing.assert_allclose((x - spec.mean[0]) / spec.std[0], (x * 255 - 127) / 128)


@pytest.mark.parametrize("size,kernel,stride", [(16, 3, 1), (16, 3, 2), (15, 5, 2), (9, 5, 1)])
def test_depthwise_taps_equal_xla_grouped_convolution(size, kernel, stride):
    """The CPU form (shifted sums) against XLA's grouped convolution with TF "SAME" padding,
    odd and even sizes (asymmetric padding at stride 2), with its gradients."""
    import jax
    import jax.numpy as jnp

    from rdjax.models.efficientnet_lite import depthwise_by_taps

    rng = np.random.default_rng(size + kernel + stride)
    x = jnp.asarray(rng.normal(size=(2, size, size + 1, 6)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(kernel, kernel, 1, 6)), jnp.float32)

    def grouped(x, w):
        return jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            feature_group_count=6)

    def taps(x, w):
        return depthwise_by_taps(x, w, stride)

    # Jitted, as in the model (op by op, each of the many small ops would compile on its own).
    np.testing.assert_allclose(jax.jit(taps)(x, w), jax.jit(grouped)(x, w), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))  # noqa: E731
    gradient = lambda f: jax.jit(jax.grad(loss(f), (0, 1)))  # noqa: E731
    for ours, ref in zip(gradient(taps)(x, w), gradient(grouped)(x, w)):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)
