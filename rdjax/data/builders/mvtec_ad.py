"""MVTec AD (Bergmann et al., CVPR 2019): 15 categories in the MVTec layout.

Download and unpack it yourself (licence CC BY-NC-SA 4.0); the manual folder is
the one holding ``bottle/``, ``cable/``, ... Layout in :mod:`rdjax.data.mvtec`.
"""

from pathlib import Path

from rdjax.data import mvtec
from rdjax.data.builders.base import AnomalyBuilder, Entry, category_configs

CATEGORIES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
              "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper")


def list_mvtec_layout(root: Path, category: str, splits=("train", "test")):
    """Entries of ``splits`` of a category folder in the MVTec layout."""
    return {split: [Entry(p, t, m) for p, t, m in mvtec.list_split_files(root, category, split)]
            for split in splits}


class RdjaxMvtecAd(AnomalyBuilder):
    """MVTec AD, one builder config per category."""

    name = "rdjax_mvtec_ad"
    BUILDER_CONFIGS = category_configs(CATEGORIES)
    ANY_CATEGORY_FOLDER = True  # rdjax's loader also reads other category folders in this layout
    DESCRIPTION = "MVTec AD: industrial images with pixel-precise defect masks."
    HOMEPAGE = "https://www.mvtec.com/company/research/datasets/mvtec-ad"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download mvtec_anomaly_detection.tar.xz from the homepage, unpack it and pass the folder
    that holds bottle/, cable/, ... as the manual dir (rdjax: --config.dataset.root).
    """

    @classmethod
    def list_splits(cls, root, config):
        return list_mvtec_layout(root, config.name)


class RdjaxMvtecTestSplit(AnomalyBuilder):
    """Only the ``test`` split of a category folder in the MVTec layout: the labelled validation
    set that ``config.threshold.validation_root`` names (``rdjax.data.datasets.load_validation``).
    The builder config's name is the category."""

    name = "rdjax_mvtec_test_split"
    DESCRIPTION = "A labelled set in the MVTec layout of which only <category>/test is read."
    MANUAL_DOWNLOAD_INSTRUCTIONS = "The folder holding <category>/test (rdjax: --config.threshold.validation_root)."

    @classmethod
    def list_splits(cls, root, config):
        return list_mvtec_layout(root, config.name, splits=("test",))
