"""The one-class bottleneck embedding (OCBE): multi-scale fusion + one residual stage.

Follows RD4AD's ``BN_layer``. For teacher features with channels (c1, c2, c3):

* MFF: ``l1 = relu(bn2(conv2(relu(bn1(conv1(f1))))))`` (two 3×3 stride-2 convs,
  c1→c2→c3), ``l2 = relu(bn3(conv3(f2)))`` (c2→c3, stride 2), concat with f3.
* OCE: one ``_make_layer`` stage of ``blocks`` residual blocks, stride 2, whose
  output has ``2·c3`` channels (2048 × 8 × 8 for WRN50-2 at 256 px).

RD4AD's unused ``conv4``/``bn4`` are not built.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.layers import ResLayer, batch_norm, block_expansion, conv


class OCBE(nn.Module):
    feature_channels: Sequence[int]
    block: str = "bottleneck"
    blocks: int = 3
    width_per_group: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features, train: bool):
        f1, f2, f3 = features
        c1, c2, c3 = self.feature_channels
        l1 = conv(c2, 3, 2, name="conv1", dtype=self.dtype)(f1)
        l1 = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(l1))
        l1 = conv(c3, 3, 2, name="conv2", dtype=self.dtype)(l1)
        l1 = nn.relu(batch_norm(train, name="bn2", dtype=self.dtype)(l1))
        l2 = conv(c3, 3, 2, name="conv3", dtype=self.dtype)(f2)
        l2 = nn.relu(batch_norm(train, name="bn3", dtype=self.dtype)(l2))
        fused = jnp.concatenate([l1, l2, f3.astype(l1.dtype)], axis=-1)
        planes = 2 * c3 // block_expansion(self.block)
        return ResLayer(self.block, planes, self.blocks, stride=2,
                        base_width=self.width_per_group, dtype=self.dtype,
                        name="bn_layer")(fused, train)
