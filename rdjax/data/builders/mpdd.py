"""MPDD, the Metal Parts Defect Detection dataset (Jezek et al., ICUMT 2021), in the MVTec layout.

The manual folder holds ``bracket_black/``, ``bracket_brown/``, ... each with
``train/good``, ``test/<defect>`` and ``ground_truth/<defect>/<name>_mask.png``.
"""

from rdjax.data.builders.base import AnomalyBuilder, category_configs
from rdjax.data.builders.mvtec_ad import list_mvtec_layout

CATEGORIES = ("bracket_black", "bracket_brown", "bracket_white", "connector", "metal_plate", "tubes")


class RdjaxMpdd(AnomalyBuilder):
    """MPDD, one builder config per category."""

    name = "rdjax_mpdd"
    BUILDER_CONFIGS = category_configs(CATEGORIES)
    ANY_CATEGORY_FOLDER = True  # rdjax's loader also reads other category folders in this layout
    DESCRIPTION = "MPDD: metal parts with defects, MVTec AD layout."
    HOMEPAGE = "https://github.com/stepanje/MPDD"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download MPDD from the homepage, unpack it and pass the folder that holds bracket_black/,
    connector/, ... as the manual dir (rdjax: --config.dataset.root).
    """

    @classmethod
    def list_splits(cls, root, config):
        return list_mvtec_layout(root, config.name)
