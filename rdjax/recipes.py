"""The one place that maps a method to its config and its paper's schedule.

* :data:`METHODS`: the methods in table order; each one's config is
  ``configs/<method>.py`` (installed as ``rdjax.configs.<method>``), in two variants
  (``configs/common.py``): ``quick`` (the default) and ``paper``.
* :func:`method_config`: ``configs/<method>.py:<variant>``.
* :func:`embedded_config`: a method at the 2-core scale on the embedded dataset (its
  ``:quick``: EfficientNet-Lite0, 128 px, batch 16, 20 epochs, the same for every method).
* :func:`paper_config`: a method's ``:paper`` recipe on a benchmark dataset (MVTec AD,
  VisA, BTAD, MPDD, Magnetic Tile or a folder) with the per-category parts of the released
  code (:data:`RDPP_MVTEC_EPOCHS`, RD-E's longer runs, MRKD's patch-swap table).
* :data:`VARIANTS`: named options whose effect the results tables measure
  (e.g. ``rd4ad_full_batches``); a variant is a method plus config overrides.
* :func:`categories`, :data:`MVTEC_TEXTURES`: the datasets' category lists (from the
  builders) and MVTec AD's texture / object groups for the tables' means.

Used by ``rdjax sweep`` (``rdjax/sweep.py``), ``configs/embedded.py``,
``configs/magnetic_tile.py`` and ``scripts/compare_methods.sh``.
"""

import importlib
from typing import Dict, Mapping, Optional, Sequence, Tuple

import ml_collections

from rdjax.data import categories

METHODS = ("rd4ad", "mrkd", "rdpp", "two_stage", "ikd", "bidirectional", "rde")

# Named variants: (method, {setting: value}) applied on top of the method's recipe.
VARIANTS: Dict[str, Tuple[str, Mapping[str, object]]] = {
    # PyTorch-style epochs (the default) against full batches that straddle epochs.
    "rd4ad_full_batches": ("rd4ad", {"train.partial_batches": False}),
    # MRKD's released decoder masks features at test time too (the default); off = deterministic.
    "mrkd_unmasked_test": ("mrkd", {"mrkd.mask_at_test": False}),
    # RD-E as the paper describes it (gated injection); the released code runs ungated.
    "rde_gated": ("rde", {"rde.gated": True}),
    # Bidirectional with the repository's own map rule instead of the cosine blend.
    "bidirectional_repo_map": ("bidirectional", {"bidirectional.map_rule": "repository"}),
}

# Each method's paper schedule is its ``:paper`` variant (configs/<method>.py). Per category:
# RD++ trains each MVTec AD category for its own number of epochs (main.py), elsewhere 200;
# RD-E (URD train.py) runs 10000 iterations instead of 5000 for cable, transistor and VisA.
RDPP_MVTEC_EPOCHS = {"carpet": 10, "leather": 10, "grid": 260, "tile": 260, "wood": 100,
                     "cable": 240, "capsule": 300, "hazelnut": 160, "metal_nut": 160,
                     "screw": 280, "toothbrush": 280, "transistor": 300, "zipper": 300,
                     "pill": 200, "bottle": 200}
RDE_LONG_STEPS, RDE_LONG = 10000, ("cable", "transistor")

MVTEC_TEXTURES = categories.MVTEC_TEXTURES


def method_of(name: str) -> str:
    """The method behind a method or variant name."""
    if name in METHODS:
        return name
    if name in VARIANTS:
        return VARIANTS[name][0]
    raise ValueError(f"'{name}' is neither a method ({', '.join(METHODS)}) nor a variant "
                     f"({', '.join(VARIANTS)}).")


def method_config(method: str, variant: str = "quick") -> ml_collections.ConfigDict:
    """``configs/<method>.py:<variant>``'s ``get_config()``."""
    if method not in METHODS:
        raise ValueError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    config = importlib.import_module(f"rdjax.configs.{method}").get_config(variant)
    assert config.method == method, (method, config.method)
    return config


def embedded_config(method: str) -> ml_collections.ConfigDict:
    """``method`` at the 2-core scale on the embedded dataset: ``configs/<method>.py:quick``."""
    return method_config(method, "quick")


def paper_config(name: str, dataset: str, category: str = "", root: str = "",
                 image_size: int = 256) -> ml_collections.ConfigDict:
    """Method or variant ``name``'s ``:paper`` recipe on ``dataset`` (a ``config.dataset.name``).

    The teacher stays the recipe's (WRN50-2); override ``model.teacher`` for another.
    """
    method = method_of(name)
    config = method_config(method, "paper")
    config.dataset.name = dataset
    config.dataset.category = category
    config.dataset.root = root
    config.dataset.image_size = image_size
    if method == "rdpp" and dataset == "mvtec" and category in RDPP_MVTEC_EPOCHS:
        config.train.num_epochs = RDPP_MVTEC_EPOCHS[category]
    if method == "rde" and (dataset == "visa" or category in RDE_LONG):
        config.train.num_steps = RDE_LONG_STEPS
    if method == "two_stage":
        two_stage = importlib.import_module("rdjax.configs.two_stage")
        config.two_stage.mask_patch = two_stage.mask_patch_px(image_size)
    if method == "mrkd" and dataset != "mvtec":
        config.mrkd.ilm_preset = "texture"  # MRKD's tables are per MVTec AD category
    if method != "rd4ad":
        # Sweeps have run so since they started from the other methods' quick configs; a run
        # resumes only with an unchanged config.json (rdjax/sweep.py).
        config.train.checkpoint_every = 50
    for key, value in VARIANTS.get(name, (method, {}))[1].items():
        set_path(config, key, value)
    return config


def cap_epochs(config, max_epochs: int, count_train_images) -> None:
    """Shortens ``config``'s schedule to ``max_epochs`` epochs where its paper's is longer.

    ``count_train_images()`` is called only for a schedule counted in iterations (RD-E),
    to convert the cap into steps of this dataset.
    """
    if max_epochs <= 0:
        return
    t = config.train
    if t.num_steps > 0:
        from rdjax.train.trainer import num_train_steps

        capped = config.copy_and_resolve_references()
        capped.train.num_steps, capped.train.num_epochs = -1, max_epochs
        t.num_steps = min(t.num_steps, num_train_steps(capped, count_train_images(), 1))
    else:
        t.num_epochs = min(t.num_epochs, max_epochs)


def set_path(config, key: str, value) -> None:
    """``config.<key> = value`` for a dotted ``key``, which must exist."""
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    if last not in node:
        raise KeyError(f"config.{key} does not exist")
    node[last] = value


def categories(dataset: str, names: Sequence[str] = ("all",)) -> Tuple[str, ...]:
    """``names`` with ``all`` expanded to the dataset's categories ('' = no categories)."""
    from rdjax.data import builders

    if dataset not in builders.BUILDERS:
        raise ValueError(f"unknown dataset '{dataset}'; choose one of {sorted(builders.BUILDERS)}.")
    known = tuple(c.name for c in builders.BUILDERS[dataset].BUILDER_CONFIGS
                  if dataset not in ("folder",))
    if dataset in ("magnetic_tile", "folder"):
        known = ("",)
    out = []
    for name in names:
        out.extend(known if name == "all" else (name,))
    return tuple(dict.fromkeys(out))


def category_group(dataset: str, category: str) -> Optional[str]:
    """'texture' or 'object' for MVTec AD categories, None elsewhere."""
    if dataset != "mvtec":
        return None
    return "texture" if category in MVTEC_TEXTURES else "object"
