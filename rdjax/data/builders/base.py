"""What every rdjax TFDS builder shares: the example features, listing → examples,
and the split rule for datasets that publish no train/test split.

A builder lists its source folder into :class:`Entry` objects per split
(:meth:`AnomalyBuilder.list_splits`, a class method so the loader can list and
fingerprint the source before preparing). Examples hold the files' bytes as
found on disk: decoding, resizing and the checks of each file happen when a
split is read (:mod:`rdjax.data.decode`), so one prepared copy serves every
image size, and a bad file is reported — or skipped — by name at that point.
Examples keep the listing order (``disable_shuffling``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from rdjax.data.decode import NORMAL

LABEL_NAMES = ("normal", "anomalous")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One listed example. ``mask`` is None when there is no pixel ground truth
    (normal images; defect images of a folder dataset without masks). For a
    defect image whose mask is missing it is the expected path, which the
    reader reports."""

    image: Path
    defect_type: str
    mask: Optional[Path] = None


def features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "image": tfds.features.Tensor(shape=(), dtype=np.object_,
                                      doc="the image file's bytes as found on disk (b'' if unreadable)"),
        "image_path": tfds.features.Text(doc="the image file, relative to the source folder"),
        "mask": tfds.features.Tensor(shape=(), dtype=np.object_,
                                     doc="the mask file's bytes; b'' if none or missing"),
        "mask_path": tfds.features.Text(doc="the (expected) mask file, relative; '' = no pixel ground truth"),
        "label": tfds.features.ClassLabel(names=LABEL_NAMES),
        "defect_type": tfds.features.Text(doc="'good' for normal images"),
    })


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # a folder given by absolute path outside the root
        return path.as_posix()


def _read(path: Optional[Path]) -> bytes:
    if path is None:
        return b""
    try:
        return path.read_bytes()
    except OSError:  # missing or unreadable: the reader reports it by name
        return b""


class AnomalyBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the file-based builders: the source folder is TFDS's manual dir."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    DESCRIPTION = ""
    HOMEPAGE = ""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        """This builder's source file (TFDS's own lookup needs the ``importlib_resources`` package)."""
        return epath.Path(inspect.getfile(cls))

    @classmethod
    def list_splits(cls, root: Path, config: tfds.core.BuilderConfig) -> Dict[str, List[Entry]]:
        """``{'train': [...], 'test': [...]}`` for ``config`` under ``root``.

        Raises ``FileNotFoundError`` / ``ValueError`` naming the folder or file
        for a missing or empty folder or an unreadable listing.
        """
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(builder=self, description=self.DESCRIPTION, features=features(),
                                     homepage=self.HOMEPAGE or None, disable_shuffling=True)

    def _split_generators(self, dl_manager):
        root = Path(dl_manager.manual_dir)
        return {name: self._generate_examples(root, entries)
                for name, entries in self.list_splits(root, self.builder_config).items()}

    def _generate_examples(self, root: Path, entries: Sequence[Entry]) -> Iterator[Tuple[str, dict]]:
        for e in entries:
            key = _relative(e.image, root)
            yield key, {
                "image": _read(e.image),
                "image_path": key,
                "mask": _read(e.mask),
                "mask_path": "" if e.mask is None else _relative(e.mask, root),
                "label": int(e.defect_type != NORMAL),
                "defect_type": e.defect_type,
            }


def category_configs(categories: Sequence[str]) -> List[tfds.core.BuilderConfig]:
    return [tfds.core.BuilderConfig(name=c, description=f"category {c}") for c in categories]


# ----------------------------------------------------------------------------
# Split rule for datasets without a published split (Magnetic Tile, folder)


def test_share(file_name: str) -> float:
    """A file name's place in [0, 1): the first 8 bytes of SHA-256(name) over 2**64."""
    return int.from_bytes(hashlib.sha256(file_name.encode("utf-8")).digest()[:8], "big") / 2.0**64


def split_normals(paths: Sequence[Path], test_fraction: float) -> Tuple[List[Path], List[Path]]:
    """``(train, test)``: a normal image is a test image when ``test_share(name) < test_fraction``.

    The rule looks at the file name only, so it does not depend on the folder's
    location or on the other files (adding images never moves existing ones).
    If it leaves either side empty (tiny folders), the image with the smallest
    share goes to test, or the one with the largest to train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    ranked = sorted(paths, key=lambda p: (test_share(p.name), p.name))
    cut = sum(test_share(p.name) < test_fraction for p in ranked)
    if len(ranked) >= 2:
        cut = min(max(cut, 1), len(ranked) - 1)
    test = set(ranked[:cut])
    return [p for p in paths if p not in test], [p for p in paths if p in test]
