"""The embedded synthetic dataset (:mod:`rdjax.data.synthetic`) as a TFDS builder.

Nothing to download: examples are generated in memory, one category per
builder config, with the same seeds, bytes and (virtual) paths as the folder
``synthetic.ensure_dataset`` writes, e.g.
``synthetic-v1-seed0/brick/test/hole/003.png``. Configs ``brick``, ``grass``
and ``gravel`` use generator seed 0; :func:`config_for` makes other seeds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from rdjax.data import synthetic
from rdjax.data.builders.base import AnomalyBuilder
from rdjax.data.decode import NORMAL


@dataclasses.dataclass(eq=False)
class SyntheticConfig(tfds.core.BuilderConfig):
    category: str = "brick"
    seed: int = 0


def config_for(category: str, seed: int) -> SyntheticConfig:
    name = category if seed == 0 else f"{category}_seed{seed}"
    return SyntheticConfig(name=name, category=category, seed=int(seed),
                           description=f"{category}, generator seed {seed}")


class RdjaxSynthetic(AnomalyBuilder):
    """Synthetic textures with exact defect masks (see :mod:`rdjax.data.synthetic`)."""

    name = "rdjax_synthetic"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"Generator {synthetic.VERSION}."}
    BUILDER_CONFIGS = [config_for(c, 0) for c in synthetic.CATEGORIES]
    DESCRIPTION = "Synthetic brick, grass and gravel textures with scratches, holes, stains, cuts."

    @classmethod
    def list_splits(cls, root, config):
        """``{split: [(folder, index, kind), ...]}`` in the MVTec reader's order (by folder, index)."""
        files = sorted(synthetic.category_files(config.category))
        return {"train": [f for f in files if f[0].startswith("train/")],
                "test": [f for f in files if f[0].startswith("test/")]}

    def _split_generators(self, dl_manager):
        return {name: self._generate_examples(None, files)
                for name, files in self.list_splits(None, self.builder_config).items()}

    def _generate_examples(self, root, files):
        cfg = self.builder_config
        base = f"{synthetic.VERSION}-seed{cfg.seed}/{cfg.category}"
        for folder, i, kind in files:
            s = synthetic.generate_sample(cfg.category, kind,
                                          synthetic.sample_rng(cfg.seed, cfg.category, folder, i))
            path = f"{base}/{folder}/{i:03d}.png"
            mask_path = "" if kind == NORMAL else f"{base}/ground_truth/{kind}/{i:03d}_mask.png"
            yield path, {
                "image": synthetic.encode_png(s.image),
                "image_path": path,
                "mask": b"" if kind == NORMAL else synthetic.encode_png(s.mask * np.uint8(255)),
                "mask_path": mask_path,
                "label": int(kind != NORMAL),
                "defect_type": kind,
            }
