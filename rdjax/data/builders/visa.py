"""VisA, the Visual Anomaly dataset (Zou et al., ECCV 2022), with its one-class split.

The manual folder is the VisA root: it holds ``split_csv/1cls.csv`` with the
columns ``object,split,label,image,mask`` (paths relative to the root, label
``normal`` or ``anomaly``, mask empty for normal images) and the category
folders the paths point into, e.g. ``candle/Data/Images/Anomaly/000.JPG`` with
``candle/Data/Masks/Anomaly/000.png``. VisA masks hold defect ids rather than
0/255; the reader takes every non-zero pixel as defective. Defective images get
the defect type ``anomaly`` (the split file names no types).
"""

import csv
from pathlib import Path

from rdjax.data.builders.base import AnomalyBuilder, Entry, category_configs
from rdjax.data.decode import NORMAL

CATEGORIES = ("candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2",
              "pcb1", "pcb2", "pcb3", "pcb4", "pipe_fryum")
SPLIT_FILE = Path("split_csv") / "1cls.csv"
COLUMNS = ("object", "split", "label", "image", "mask")
DEFECT = "anomaly"


def _expected_mask(image: str) -> Path:
    """VisA's own naming: ``.../Images/Anomaly/x.JPG`` -> ``.../Masks/Anomaly/x.png``."""
    return Path(image.replace("/Images/", "/Masks/")).with_suffix(".png")


def list_visa(root: Path, category: str):
    """Train and test entries of ``category`` as listed in ``split_csv/1cls.csv``."""
    csv_path = Path(root) / SPLIT_FILE
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path} does not exist: config.dataset.root must be the VisA "
                                "folder that holds split_csv/1cls.csv")
    splits = {"train": [], "test": []}
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {missing}; expected {','.join(COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            if row["object"].strip() != category:
                continue
            split, label = row["split"].strip(), row["label"].strip()
            image = (row["image"] or "").strip()
            where = f"{csv_path} line {line}"
            if split not in splits:
                raise ValueError(f"{where}: split {split!r} is neither 'train' nor 'test'")
            if label not in ("normal", DEFECT):
                raise ValueError(f"{where}: label {label!r} is neither 'normal' nor '{DEFECT}'")
            if not image:
                raise ValueError(f"{where}: the image column is empty")
            if label == "normal":
                splits[split].append(Entry(Path(root) / image, NORMAL))
            elif split == "train":
                raise ValueError(f"{where}: a training image labelled '{DEFECT}' (the 1cls split trains "
                                 "on normal images only)")
            else:
                mask = (row["mask"] or "").strip()
                splits[split].append(Entry(Path(root) / image, DEFECT,
                                           Path(root) / (mask or _expected_mask(image))))
    for split, entries in splits.items():
        if not entries:
            raise ValueError(f"{csv_path} lists no {split} images of category {category!r}")
    # Sorted like the MVTec layout: by defect type, then path.
    return {k: sorted(v, key=lambda e: (e.defect_type, str(e.image))) for k, v in splits.items()}


class RdjaxVisa(AnomalyBuilder):
    """VisA (1cls split), one builder config per category."""

    name = "rdjax_visa"
    BUILDER_CONFIGS = category_configs(CATEGORIES)
    DESCRIPTION = "VisA: 12 objects with pixel-level anomaly masks, one-class split."
    HOMEPAGE = "https://github.com/amazon-science/spot-diff"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download VisA_20220922.tar from the homepage, unpack it and pass the folder that holds
    split_csv/1cls.csv and candle/, capsules/, ... as the manual dir (rdjax: --config.dataset.root).
    """

    @classmethod
    def list_splits(cls, root, config):
        return list_visa(root, config.name)
