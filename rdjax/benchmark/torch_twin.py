"""A PyTorch twin of rdjax's RD4AD: same architecture, RD4AD/torchvision parameter names.

The top-level modules are named as in the original RD4AD code (``encoder`` = frozen
teacher, ``bn`` = OCBE, ``decoder`` = reverse ResNet), and inside them as torchvision
names them (``layer1.0.conv1.weight``, ``downsample.0``, ``upsample.1``). A Flax leaf
``<tree>/<a>/<b>/kernel`` is therefore the twin's ``<prefix>.<a>.<b>.weight``:
:func:`load_rdjax_variables` copies rdjax's variables into the twin and
:func:`twin_as_rdjax` reads them back in Flax layout. NCHW inside, uint8 NHWC in.

Only the benchmark (``rdjax benchmark``) and the tests import this module (the tests also
build whole torchvision ResNets with :func:`torchvision_resnet`); the rest of rdjax never
imports torch. Needs ``pip install 'rdjax[bench]'`` (torch and the
``efficientnet-lite-pytorch`` package, where the EfficientNet-Lite teacher comes from).
"""

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rdjax.models.efficientnet_lite import feature_block_indices
from rdjax.models.factory import teacher_spec
from rdjax.models.resnet import RESNET_SPECS

# ---------------------------------------------------------------------------------------
# Residual blocks (torchvision v1.5) and their decoder mirrors (RD4AD's de_resnet).


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


def deconv2x2(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, shortcut=None, base_width=64, final_relu=True,
                 up=False):
        super().__init__()
        self.conv1 = deconv2x2(inplanes, planes) if up else conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.final_relu = final_relu
        self.shortcut_name = "upsample" if up else "downsample"
        setattr(self, self.shortcut_name, shortcut)

    def forward(self, x):
        shortcut = getattr(self, self.shortcut_name)
        identity = x if shortcut is None else shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + identity
        return F.relu(out) if self.final_relu else out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, shortcut=None, base_width=64, final_relu=True,
                 up=False):
        super().__init__()
        width = int(planes * (base_width / 64.0))
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = deconv2x2(width, width) if up else conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.final_relu = final_relu
        self.shortcut_name = "upsample" if up else "downsample"
        setattr(self, self.shortcut_name, shortcut)

    def forward(self, x):
        shortcut = getattr(self, self.shortcut_name)
        identity = x if shortcut is None else shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out)) + identity
        return F.relu(out) if self.final_relu else out


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def make_layer(block, inplanes, planes, blocks, stride=1, base_width=64, final_relu=True):
    """torchvision's ``_make_layer`` (stride 2 = downsampling)."""
    out = planes * block.expansion
    shortcut = None
    if stride != 1 or inplanes != out:
        shortcut = nn.Sequential(conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
    layers = [block(inplanes, planes, stride, shortcut, base_width, final_relu or blocks > 1)]
    layers += [block(out, planes, 1, None, base_width, final_relu or i < blocks - 1)
               for i in range(1, blocks)]
    return nn.Sequential(*layers)


def make_up_layer(block, inplanes, planes, blocks, base_width=64, final_relu=True):
    """de_resnet's ``_make_layer``: the first block upsamples ×2 (2×2 transposed convs)."""
    out = planes * block.expansion
    shortcut = nn.Sequential(deconv2x2(inplanes, out), nn.BatchNorm2d(out))
    layers = [block(inplanes, planes, 2, shortcut, base_width, final_relu or blocks > 1, up=True)]
    layers += [block(out, planes, 1, None, base_width, final_relu or i < blocks - 1)
               for i in range(1, blocks)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------
# Teachers, OCBE, decoder.


class ResNetEncoder(nn.Module):
    """conv1 → bn1 → relu → maxpool → layer1–3 (layer4 is not built, as in rdjax), for a
    ``block`` name, blocks per layer and width per group; ``classifier=True`` adds torchvision's
    layer4, avgpool and fc, so that the state dict is a whole torchvision checkpoint's."""

    def __init__(self, block_name, layers, width_per_group=64, classifier=False, num_classes=1000):
        super().__init__()
        block = BLOCKS[block_name]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        inplanes, stages = 64, ((64, 1), (128, 2), (256, 2)) + (((512, 2),) if classifier else ())
        for i, (planes, stride) in enumerate(stages):
            setattr(self, f"layer{i + 1}",
                    make_layer(block, inplanes, planes, layers[i], stride, width_per_group))
            inplanes = planes * block.expansion
        if classifier:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        """The layer1–3 features."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        f1 = self.layer1(x)
        f2 = self.layer2(f1)
        return [f1, f2, self.layer3(f2)]


def torchvision_resnet(name: str, seed: int = 0) -> ResNetEncoder:
    """A whole torchvision ResNet ``name`` (layer4 and fc included) in eval mode, with random
    weights and BatchNorm scales, biases and statistics drawn away from their identity init
    (for checkpoint conversion tests)."""
    torch.manual_seed(seed)
    model = ResNetEncoder(*RESNET_SPECS[name], classifier=True)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return model.eval()


class LiteEncoder(nn.Module):
    """``efficientnet-lite-pytorch``'s EfficientNet-Lite up to its stride-16 block."""

    def __init__(self, name, image_size):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet
        net = EfficientNet.from_name(name.replace("_", "-"), image_size=image_size)
        self.taps = feature_block_indices(name)
        self._conv_stem, self._bn0 = net._conv_stem, net._bn0
        self._blocks = nn.ModuleList(list(net._blocks)[:self.taps[-1] + 1])

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                features.append(x)
        return features


class OCBE(nn.Module):
    """RD4AD's ``BN_layer`` (its unused conv4/bn4 are not built)."""

    def __init__(self, channels, block_name, blocks, base_width):
        super().__init__()
        c1, c2, c3 = channels
        block = BLOCKS[block_name]
        self.conv1, self.bn1 = conv3x3(c1, c2, 2), nn.BatchNorm2d(c2)
        self.conv2, self.bn2 = conv3x3(c2, c3, 2), nn.BatchNorm2d(c3)
        self.conv3, self.bn3 = conv3x3(c2, c3, 2), nn.BatchNorm2d(c3)
        self.bn_layer = make_layer(block, 3 * c3, 2 * c3 // block.expansion, blocks, 2, base_width)

    def forward(self, features):
        f1, f2, f3 = features
        l1 = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(f1))))))
        l2 = F.relu(self.bn3(self.conv3(f2)))
        return self.bn_layer(torch.cat([l1, l2, f3], dim=1))


class Decoder(nn.Module):
    """RD4AD's ``de_resnet``; returns features in the teacher's order (stride 4, 8, 16)."""

    def __init__(self, channels, block_name, layers, base_width, final_relu=True):
        super().__init__()
        block = BLOCKS[block_name]
        inplanes = 2 * channels[2]
        for i, out in enumerate(reversed(tuple(channels))):
            setattr(self, f"layer{i + 1}", make_up_layer(block, inplanes, out // block.expansion,
                                                         layers[i], base_width, final_relu))
            inplanes = out

    def forward(self, x):
        a = self.layer1(x)
        b = self.layer2(a)
        return [self.layer3(b), b, a]


# ---------------------------------------------------------------------------------------
# Loss and anomaly map.


def flattened_cosine_loss(teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]):
    """RD4AD's released loss: Σ_scales mean_batch(1 − cos(flatten(T[b]), flatten(S[b])))."""
    return sum(torch.mean(1 - F.cosine_similarity(t.flatten(1).float(), s.flatten(1).float()))
               for t, s in zip(teacher, student))


def gaussian_blur(maps: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """``scipy.ndimage.gaussian_filter(mode='reflect')`` of (N, H, W) maps, as two 1-D convs."""
    radius = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = torch.tensor(taps / taps.sum(), dtype=maps.dtype, device=maps.device)
    x = maps[:, None]
    for dim, weight in ((2, kernel.view(1, 1, -1, 1)), (3, kernel.view(1, 1, 1, -1))):
        size = x.shape[dim]
        period = np.mod(np.arange(-radius, size + radius), 2 * size)  # half-sample symmetric
        index = np.where(period >= size, 2 * size - 1 - period, period)
        x = F.conv2d(x.index_select(dim, torch.as_tensor(index, device=maps.device)), weight)
    return x[:, 0]


def anomaly_map(teacher, student, image_size: int, combine: str = "add",
                sigma: Optional[float] = 4.0) -> torch.Tensor:
    """RD4AD's ``cal_anomaly_map`` + Gaussian: Σ (or Π) of upsampled 1 − cos, float32."""
    total = None
    for t, s in zip(teacher, student):
        m = 1 - F.cosine_similarity(t.float(), s.float(), dim=1)
        m = F.interpolate(m[:, None], size=(image_size, image_size), mode="bilinear",
                          align_corners=True)[:, 0]
        total = m if total is None else (total + m if combine == "add" else total * m)
    return gaussian_blur(total, sigma) if sigma else total


# ---------------------------------------------------------------------------------------
# The twin.


class RD4ADTwin(nn.Module):
    """Teacher (frozen, always eval) → OCBE → decoder, for ``config.model.teacher``."""

    def __init__(self, teacher: str, image_size: int):
        super().__init__()
        spec = teacher_spec(teacher)
        self.spec = spec
        if teacher in RESNET_SPECS:
            self.encoder = ResNetEncoder(*RESNET_SPECS[teacher])
        else:
            self.encoder = LiteEncoder(teacher, image_size)
        self.encoder.requires_grad_(False)
        self.bn = OCBE(spec.feature_channels, spec.student_block, spec.ocbe_blocks,
                       spec.width_per_group)
        self.decoder = Decoder(spec.feature_channels, spec.student_block, spec.decoder_layers,
                               spec.width_per_group, final_relu=not spec.signed_features)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # the teacher's BatchNorm always uses its running statistics
        return self

    def trainable_parameters(self):
        return list(self.bn.parameters()) + list(self.decoder.parameters())

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC → normalised float32 NCHW."""
        x = images.permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std

    def teacher_features(self, x) -> List[torch.Tensor]:
        with torch.no_grad():
            return self.encoder(x)

    def student_features(self, teacher) -> List[torch.Tensor]:
        return self.decoder(self.bn(teacher))

    def anomaly_map(self, images, combine="add", sigma=4.0) -> torch.Tensor:
        teacher = self.teacher_features(self.normalize(images))
        return anomaly_map(teacher, self.student_features(teacher), images.shape[1],
                           combine, sigma)


def autocast(device_type: str, dtype: Optional[torch.dtype]):
    """``torch.autocast`` to ``dtype`` (e.g. ``torch.bfloat16``); ``None``: full precision."""
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def train_step(twin: RD4ADTwin, optimizer, images: torch.Tensor,
               teacher: Optional[Sequence[torch.Tensor]] = None,
               autocast_dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """One RD4AD step (teacher features recomputed unless given); returns the loss.

    ``autocast_dtype`` (e.g. ``torch.bfloat16``) runs the forward pass under
    ``torch.autocast``, the backward pass outside it, as PyTorch recommends.
    """
    with autocast(images.device.type, autocast_dtype):
        if teacher is None:
            teacher = twin.teacher_features(twin.normalize(images))
        loss = flattened_cosine_loss(teacher, twin.student_features(teacher))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def adam(twin: RD4ADTwin, train_config):
    """The recipe's Adam (rdjax's ``Method.optimizer``) over OCBE + decoder."""
    return torch.optim.Adam(twin.trainable_parameters(), lr=train_config.learning_rate,
                            betas=(train_config.b1, train_config.b2))


# ---------------------------------------------------------------------------------------
# rdjax variables ↔ twin state dict.

_TORCH_NAMES = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
                "var": "running_var"}


def _rdjax_trees(variables) -> Dict[str, dict]:
    """rdjax ``Variables`` as the Flax trees of the twin's three top-level modules."""
    return {
        "encoder": variables.frozen["teacher"],
        "bn": {"params": variables.params["bottleneck"],
               "batch_stats": variables.model_state["bottleneck"]},
        "decoder": {"params": variables.params["decoder"],
                    "batch_stats": variables.model_state["decoder"]},
    }


def _leaves(twin: RD4ADTwin, variables):
    """(prefix, Flax path, leaf, torch key, Flax→torch axes) for every rdjax leaf."""
    import jax
    for prefix, tree in _rdjax_trees(variables).items():
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
            _, *modules, name = [p.key for p in path]
            module_path = ".".join([prefix] + modules)
            axes = None
            if name == "kernel":  # Flax HWIO; torch Conv2d OIHW, ConvTranspose2d (I, O, H, W)
                is_deconv = isinstance(twin.get_submodule(module_path), nn.ConvTranspose2d)
                axes = (2, 3, 0, 1) if is_deconv else (3, 2, 0, 1)
            yield prefix, path, leaf, f"{module_path}.{_TORCH_NAMES[name]}", axes


def load_rdjax_variables(twin: RD4ADTwin, variables) -> None:
    """Copies rdjax ``Variables`` (params, BatchNorm statistics, frozen teacher) into ``twin``."""
    state = {}
    for _, _, leaf, key, axes in _leaves(twin, variables):
        value = np.asarray(leaf, np.float32)
        state[key] = torch.tensor(value.transpose(axes) if axes else value)
    missing, unexpected = twin.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"rdjax variables do not fit the twin: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")


def twin_as_rdjax(twin: RD4ADTwin, variables, tensors: Optional[Dict[str, torch.Tensor]] = None):
    """The twin's current weights as rdjax ``Variables`` shaped like ``variables``.

    ``tensors`` (state-dict keys → tensors, e.g. the parameters' gradients) replace the
    twin's own values where given.
    """
    import jax
    state = {**twin.state_dict(), **(tensors or {})}
    values = {}
    for prefix, path, _, key, axes in _leaves(twin, variables):
        value = state[key].detach().cpu().numpy()
        values[(prefix, jax.tree_util.keystr(path))] = (value.transpose(np.argsort(axes))
                                                        if axes else value)
    trees = {prefix: jax.tree_util.tree_map_with_path(
        lambda p, _, prefix=prefix: values[(prefix, jax.tree_util.keystr(p))], tree)
        for prefix, tree in _rdjax_trees(variables).items()}
    return type(variables)(
        params={"bottleneck": trees["bn"]["params"], "decoder": trees["decoder"]["params"]},
        model_state={"bottleneck": trees["bn"]["batch_stats"],
                     "decoder": trees["decoder"]["batch_stats"]},
        frozen={"teacher": trees["encoder"]})


def twin_from_rdjax(model_config, image_size: int, variables) -> RD4ADTwin:
    """A twin of ``model_config.teacher`` holding rdjax's ``variables``."""
    twin = RD4ADTwin(model_config.teacher, image_size)
    load_rdjax_variables(twin, variables)
    return twin
