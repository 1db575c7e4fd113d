"""TFDS builders (array_record format), one module per dataset; importing registers them.

``BUILDERS`` maps ``config.dataset.name`` to the builder class. Every builder
except ``synthetic`` reads a source folder given as TFDS's manual dir.
"""

from rdjax.data.builders.btad import RdjaxBtad
from rdjax.data.builders.folder import FolderConfig, RdjaxFolder
from rdjax.data.builders.magnetic_tile import RdjaxMagneticTile
from rdjax.data.builders.mpdd import RdjaxMpdd
from rdjax.data.builders.mvtec_ad import RdjaxMvtecAd
from rdjax.data.builders.synthetic import RdjaxSynthetic, SyntheticConfig
from rdjax.data.builders.visa import RdjaxVisa

BUILDERS = {
    "mvtec": RdjaxMvtecAd,
    "visa": RdjaxVisa,
    "btad": RdjaxBtad,
    "mpdd": RdjaxMpdd,
    "magnetic_tile": RdjaxMagneticTile,
    "folder": RdjaxFolder,
    "synthetic": RdjaxSynthetic,
}

__all__ = ["BUILDERS", "FolderConfig", "SyntheticConfig", "RdjaxBtad", "RdjaxFolder",
           "RdjaxMagneticTile", "RdjaxMpdd", "RdjaxMvtecAd", "RdjaxSynthetic", "RdjaxVisa"]
