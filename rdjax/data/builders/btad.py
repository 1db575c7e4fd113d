"""BTAD, the beanTech Anomaly Detection dataset (Mishra et al., 2021): products 01, 02, 03.

Layout (``.bmp`` or ``.png`` images; masks named like their image)::

    <root>/<01|02|03>/train/ok/*
    <root>/<01|02|03>/test/ok/*
    <root>/<01|02|03>/test/ko/*
    <root>/<01|02|03>/ground_truth/ko/<name>.png

Normal images get the defect type ``good``, defective ones ``ko``.
"""

from pathlib import Path

from rdjax.data.builders.base import AnomalyBuilder, Entry, category_configs
from rdjax.data.decode import NORMAL
from rdjax.data.files import find_by_stem, image_files, sub_folders

CATEGORIES = ("01", "02", "03")
DEFECT = "ko"


def _images(folder: Path):
    files = image_files(folder) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder} is missing or holds no image files")
    return files


class RdjaxBtad(AnomalyBuilder):
    """BTAD, one builder config per product."""

    name = "rdjax_btad"
    BUILDER_CONFIGS = category_configs(CATEGORIES)
    DESCRIPTION = "BTAD: three industrial products with defect masks."
    HOMEPAGE = "https://avires.dimi.uniud.it/papers/btad/btad.zip"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download btad.zip from the homepage, unpack it and pass the folder that holds 01/, 02/, 03/
    as the manual dir (rdjax: --config.dataset.root).
    """

    @classmethod
    def list_splits(cls, root, config):
        product = Path(root) / config.name
        if not product.is_dir():
            found = [d.name for d in sub_folders(Path(root))] if Path(root).is_dir() else []
            raise FileNotFoundError(f"BTAD product folder {product} does not exist; "
                                    f"folders under {root}: {found or 'none'}")
        gt = product / "ground_truth" / DEFECT
        defects = [Entry(p, DEFECT, find_by_stem(gt, p.stem) or gt / f"{p.stem}.png")
                   for p in _images(product / "test" / DEFECT)]
        return {
            "train": [Entry(p, NORMAL) for p in _images(product / "train" / "ok")],
            "test": [Entry(p, NORMAL) for p in _images(product / "test" / "ok")] + defects,
        }
