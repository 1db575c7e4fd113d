"""Dataset category metadata: MVTec AD's groups cover exactly the builder's categories."""

from rdjax.data import categories
from rdjax.data.builders import mvtec_ad
from rdjax.data import synthetic


def test_mvtec_groups_partition_the_builders_categories():
    kinds = {c: categories.kind("mvtec", c) for c in mvtec_ad.CATEGORIES}
    assert sorted(c for c, k in kinds.items() if k == "texture") == sorted(categories.MVTEC_TEXTURES)
    assert sorted(c for c, k in kinds.items() if k == "object") == sorted(categories.MVTEC_OBJECTS)
    assert categories.kind("mvtec", "not_a_category") is None
    assert categories.kind("visa", "candle") is None


def test_embedded_dataset_is_textures_and_rde_foreground_is_objects_but_transistor():
    assert {categories.kind("synthetic", c) for c in synthetic.CATEGORIES} == {"texture"}
    assert set(categories.RDE_FOREGROUND) == set(categories.MVTEC_OBJECTS) - {"transistor"}
    assert categories.rde_foreground("mvtec", "hazelnut")
    assert not categories.rde_foreground("mvtec", "transistor")
    assert not categories.rde_foreground("visa", "hazelnut")
