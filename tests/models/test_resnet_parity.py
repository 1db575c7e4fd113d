"""torchvision-layout ResNet checkpoints → Flax ResNetEncoder: layer1–3 match PyTorch."""

import jax
import numpy as np
import pytest
import torch

from rdjax.benchmark.torch_twin import torchvision_resnet
from rdjax.models.checkpoint_io import load_state_dict
from rdjax.models.convert import torchvision_resnet_to_flax
from rdjax.models.resnet import resnet_encoder

pytestmark = pytest.mark.numerics  # rerun under other CPUs' code paths: .ci/run


def relative_error(ours, ref):
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "wide_resnet50_2"])
def test_layer_features_match_torch(name, tmp_path):
    twin = torchvision_resnet(name)
    path = tmp_path / f"{name}.pth"
    torch.save(twin.state_dict(), path)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        reference = [f.numpy().transpose(0, 2, 3, 1) for f in twin(torch.from_numpy(x))]

    variables = torchvision_resnet_to_flax(load_state_dict(path), name)
    apply = jax.jit(resnet_encoder(name).apply)
    ours = apply(variables, x.transpose(0, 2, 3, 1))

    for level, (a, b) in enumerate(zip(ours, reference)):
        assert a.shape == b.shape
        error = relative_error(np.asarray(a), b)
        print(f"{name} layer{level + 1}: relative error {error:.2e}")
        assert error <= 1e-4


def test_architecture_is_inferred_without_a_name():
    state_dict = {k: v.numpy() for k, v in torchvision_resnet("resnet34").state_dict().items()}
    inferred = torchvision_resnet_to_flax(state_dict)
    named = torchvision_resnet_to_flax(state_dict, "resnet34")
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, inferred, named))


def test_mismatched_checkpoint_lists_the_problems():
    state_dict = {k: v.numpy() for k, v in torchvision_resnet("resnet18").state_dict().items()}
    del state_dict["layer2.0.bn1.running_var"]
    state_dict["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"missing.*layer2\.0\.bn1\.running_var.*unexpected"
                                         r".*extra\.weight"):
        torchvision_resnet_to_flax(state_dict, "resnet18")
    state_dict = {k: v.numpy() for k, v in torchvision_resnet("resnet18").state_dict().items()}
    state_dict["conv1.weight"] = np.zeros((64, 3, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"wrong shape.*conv1\.weight"):
        torchvision_resnet_to_flax(state_dict, "resnet18")
