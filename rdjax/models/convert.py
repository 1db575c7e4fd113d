"""PyTorch state dicts → Flax variables for the encoders (torchvision ResNets, EfficientNet-Lite).

Every Flax leaf is looked up under the PyTorch key obtained by joining its module
path with dots: ``params/layer1/0/conv1/kernel`` ← ``layer1.0.conv1.weight``,
``scale`` ← ``weight``, ``batch_stats/…/mean``/``var`` ← ``running_mean``/``running_var``.
Conv kernels go OIHW → HWIO and dense kernels (out, in) → (in, out). (Transposed
convolutions, used only by decoders, are not handled here.)
"""

from typing import Dict, Iterable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from rdjax.models.efficientnet_lite import (EfficientNetLite, block_configs,
                                            feature_block_indices)
from rdjax.models.resnet import ResNetEncoder, resnet_encoder

_TORCH_NAMES = {("params", "kernel"): "weight", ("params", "scale"): "weight",
                ("params", "bias"): "bias", ("batch_stats", "mean"): "running_mean",
                ("batch_stats", "var"): "running_var"}


def _to_flax(array: np.ndarray, leaf: str) -> np.ndarray:
    if leaf == "kernel" and array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    if leaf == "kernel" and array.ndim == 2:
        return array.T
    return array


def _template(module, size: int = 64):
    """Shapes and dtypes of ``module``'s variables, without allocating them."""
    x = jnp.zeros((1, size, size, 3), jnp.float32)
    return jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x))


def state_dict_to_variables(state_dict: Dict[str, np.ndarray], template,
                            ignore_prefixes: Iterable[str] = ()) -> dict:
    """Fill ``template`` (a tree of shapes) from a PyTorch state dict.

    ``num_batches_tracked`` and keys starting with ``ignore_prefixes`` are dropped.
    Raises ``ValueError`` listing missing keys, unexpected keys and shape mismatches.
    """
    used, missing, mismatched = set(), [], []

    def fill(path, leaf):
        collection, *modules, name = [p.key for p in path]
        key = ".".join(modules + [_TORCH_NAMES[(collection, name)]])
        if key not in state_dict:
            missing.append(key)
            return None
        used.add(key)
        value = _to_flax(np.asarray(state_dict[key]), name)
        if value.shape != leaf.shape:
            mismatched.append(f"{key}: {state_dict[key].shape} → {value.shape}, "
                              f"expected {leaf.shape}")
            return None
        return np.asarray(value, dtype=leaf.dtype)

    variables = jax.tree_util.tree_map_with_path(fill, template)
    prefixes = tuple(ignore_prefixes)
    unexpected = [k for k in state_dict if k not in used and not k.endswith("num_batches_tracked")
                  and not k.startswith(prefixes)]
    if missing or unexpected or mismatched:
        parts = [f"{label} ({len(keys)}): {keys[:10]}{' …' if len(keys) > 10 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected),
                                     ("wrong shape", mismatched)) if keys]
        raise ValueError("State dict does not match the model; " + "; ".join(parts))
    # One transfer: jnp.asarray would compile a small program for each new shape (~16 ms each).
    return jax.device_put(variables)


def _infer_resnet(state_dict) -> ResNetEncoder:
    block = "bottleneck" if "layer1.0.conv3.weight" in state_dict else "basic"
    layers = [len({k.split(".")[1] for k in state_dict if k.startswith(f"layer{i}.")})
              for i in (1, 2, 3)]
    width = state_dict["layer1.0.conv1.weight"].shape[0] if block == "bottleneck" else 64
    return ResNetEncoder(block, layers, width)


def torchvision_resnet_to_flax(state_dict: Dict[str, np.ndarray],
                               name: Optional[str] = None) -> dict:
    """torchvision ResNet state dict → ``{'params', 'batch_stats'}`` of ``ResNetEncoder``.

    ``name`` (e.g. ``'wide_resnet50_2'``) fixes the architecture to check against;
    without it, block type, depth and width are read off the keys. layer4 and fc are ignored.
    """
    if name is None:
        model = _infer_resnet(state_dict)
    else:
        model = resnet_encoder(name)
    return state_dict_to_variables(state_dict, _template(model), ("layer4.", "fc."))


def efficientnet_lite_to_flax(state_dict: Dict[str, np.ndarray], name: str,
                              features_only: bool = True) -> dict:
    """``efficientnet-lite-pytorch`` state dict → variables of ``EfficientNetLite(name)``.

    With ``features_only`` the blocks after the stride-16 tap, the head and the
    classifier are dropped (as in the encoder, which does not build them).
    """
    ignore = ()
    if features_only:
        last = feature_block_indices(name)[-1]
        ignore = tuple(f"_blocks.{i}." for i in range(last + 1, len(block_configs(name))))
        ignore += ("_conv_head.", "_bn1.", "_fc.")
    model = EfficientNetLite(name, features_only=features_only)
    return state_dict_to_variables(state_dict, _template(model), ignore)
