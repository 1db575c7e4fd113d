"""``config.dataset`` → an in-memory :class:`~rdjax.data.decode.Split`, through the TFDS builders.

``load(config.dataset, split)``:

1. lists the source folder with the dataset's builder (``rdjax.data.builders``):
   a missing or empty folder or an unknown category stops here, named;
2. prepares the builder once, in the array_record format, into
   ``<cache>/<source key>/`` where ``<cache>`` is ``<config.dataset.data_dir>/tfds``,
   else ``$RDJAX_DATA_DIR/tfds``, else ``~/.cache/rdjax/tfds``. The source key
   hashes the source folder's path, the listed files' names, sizes and
   modification times and the builder's settings, so an edited folder is
   prepared again (old copies can be deleted by hand);
3. reads the split back with ``tfds.data_source`` (no TensorFlow needed) and
   decodes + resizes every image in ``config.dataset.num_workers`` threads.

The decoded split stays in host memory (the datasets used here hold a few
hundred to a few thousand images: e.g. 1,000 images at 256 px take 200 MB).
A bad file stops the run with a :class:`~rdjax.data.decode.BadFileError` naming
it, or, with ``config.dataset.skip_bad_files``, is left out, logged and listed
in ``Split.skipped_files`` (and in ``<workdir>/skipped_files.json`` when a
``workdir`` is given).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Iterator, Optional, Tuple

from absl import logging

from rdjax.data import mvtec
from rdjax.data.decode import BadFileError, Sample, Split, decode_samples

# Files listed in the log when bad files are skipped (all of them go to Split.skipped_files).
_LOG_SKIPPED = 20


def cache_dir(dataset_config) -> Path:
    """Where prepared datasets live: see the module docstring."""
    base = dataset_config.get("data_dir") or os.environ.get("RDJAX_DATA_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "rdjax") / "tfds"


def _split_list(value) -> Tuple[str, ...]:
    """A comma-separated string (or a sequence) as a tuple of non-empty names."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(s.strip() for s in items if s.strip())


def builder_class(name: str):
    """The builder class for ``config.dataset.name``."""
    from rdjax.data import builders  # imports TFDS; registers the builders

    if name not in builders.BUILDERS:
        raise ValueError(f"config.dataset.name={name!r} is unknown; choose one of "
                         f"{sorted(builders.BUILDERS)}.")
    return builders.BUILDERS[name]


def builder_and_config(dataset_config, root: Optional[Path] = None):
    """``(builder class, builder config or None)`` for ``config.dataset``; checks the names.

    MVTec AD and MPDD also take any other category folder under ``root`` in their layout.
    """
    from rdjax.data import builders

    cls = builder_class(dataset_config.name)
    name, category = dataset_config.name, dataset_config.get("category", "")
    if name == "synthetic":
        from rdjax.data import synthetic
        from rdjax.data.builders.synthetic import config_for
        if category not in synthetic.CATEGORIES:
            raise ValueError(f"config.dataset.category={category!r} is not a category of 'synthetic'; "
                             f"choose one of {list(synthetic.CATEGORIES)}.")
        config = config_for(category, dataset_config.get("seed", 0))
        return cls, cls.builder_configs.get(config.name, config)
    if name == "folder":
        _check_no_category(name, category)
        f = dataset_config.folder
        return cls, builders.FolderConfig(
            name="custom", normal_dir=f.normal_dir, defect_dirs=_split_list(f.defect_dirs),
            mask_dirs=_split_list(f.mask_dirs), test_fraction=float(f.test_fraction))
    if not cls.BUILDER_CONFIGS:  # one dataset, no categories
        _check_no_category(name, category)
        return cls, None
    names = [c.name for c in cls.BUILDER_CONFIGS]
    if category in names:
        return cls, cls.builder_configs[category]
    if getattr(cls, "ANY_CATEGORY_FOLDER", False) and root is not None and category \
            and (root / category).is_dir():  # your own data in the same layout
        import tensorflow_datasets as tfds
        return cls, tfds.core.BuilderConfig(name=category, description=f"the folder {root / category}")
    found = ""
    if getattr(cls, "ANY_CATEGORY_FOLDER", False) and root is not None:
        found = f", or a category folder under {root} (found: {mvtec.list_categories(root) or 'none'})"
    raise ValueError(f"config.dataset.category={category!r} is not a category of {name!r}; "
                     f"choose one of {names}{found}.")


def _check_no_category(name: str, category: str) -> None:
    if category not in ("", name):
        raise ValueError(f"config.dataset.category={category!r}: the {name!r} dataset has no "
                         f"categories; set --config.dataset.category='' (or {name!r}).")


def _source_root(dataset_config) -> Optional[Path]:
    if dataset_config.name == "synthetic":
        return None
    if not dataset_config.root:
        raise ValueError(f"config.dataset.root is empty: pass --config.dataset.root=/path/to/data "
                         f"(the {dataset_config.name} folder; see docs/datasets.md).")
    root = Path(dataset_config.root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"config.dataset.root={str(root)!r} does not exist or is not a folder")
    return root.resolve()


def source_key(cls, config, root: Optional[Path], listing) -> str:
    """Names the prepared copy of this source: changes with the files or the settings."""
    h = hashlib.sha256(repr((cls.name, str(cls.VERSION), repr(config), str(root))).encode())
    if root is None:  # generated: the generator's code is the source
        from rdjax.data import synthetic
        h.update(Path(synthetic.__file__).read_bytes() + repr(listing).encode())
    else:
        for split in sorted(listing):
            for e in listing[split]:
                for p in (e.image, e.mask):
                    try:
                        st = os.stat(p) if p is not None else None
                        h.update(f"{split}|{p}|{st and (st.st_size, st.st_mtime_ns)}\n".encode())
                    except OSError:
                        h.update(f"{split}|{p}|missing\n".encode())
    label = root.name if root is not None else "generated"
    return f"{label}-{h.hexdigest()[:12]}"


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` so concurrent runs prepare a dataset once."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def data_source(dataset_config, split: str):
    """``(tfds data source of split, source root or None)``, preparing the dataset on first use."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    builder_class(dataset_config.name)  # an unknown name is the first thing to report
    root = _source_root(dataset_config)
    cls, config = builder_and_config(dataset_config, root)
    return _prepared(cls, config, root, split, dataset_config), root


def _prepared(cls, config, root: Optional[Path], split: str, dataset_config):
    """The tfds data source of ``split`` of builder ``cls`` (with ``config``) over ``root``,
    prepared under :func:`cache_dir` on first use."""
    import tensorflow_datasets as tfds

    listing = cls.list_splits(root, config)
    data_dir = cache_dir(dataset_config) / source_key(cls, config, root, listing)
    builder_kwargs = {"file_format": "array_record"}
    if config is not None:  # TFDS takes a predefined config by name only
        builder_kwargs["config"] = config.name if cls.builder_configs.get(config.name) is config else config
    prepare = {"download_config": tfds.download.DownloadConfig(manual_dir=str(root) if root else None)}
    tfds.display_progress_bar(False)  # rdjax prints its own progress line when decoding
    with _lock(data_dir):
        return tfds.data_source(cls.name, split=split, data_dir=str(data_dir), builder_kwargs=builder_kwargs,
                                download_and_prepare_kwargs=prepare)


def _text(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _samples(ds, root: Optional[Path], chunk: int = 64) -> Iterator[Sample]:
    """The records of ``ds`` in order, as samples to decode, read a chunk at a time."""
    def where(rel: str) -> str:
        return str(root / rel) if root is not None and not os.path.isabs(rel) else rel

    for start in range(0, len(ds), chunk):
        for r in ds.__getitems__(range(start, min(start + chunk, len(ds)))):
            mask_path = _text(r["mask_path"])
            yield Sample(path=where(_text(r["image_path"])), defect_type=_text(r["defect_type"]),
                         mask_path=where(mask_path) if mask_path else None,
                         image_bytes=r["image"], mask_bytes=r["mask"])


def load(dataset_config, split: str, workdir: Optional[str] = None) -> Split:
    """Reads ``split`` ('train' or 'test') of the configured dataset; see the module docstring."""
    ds, root = data_source(dataset_config, split)
    label = "/".join(p for p in (dataset_config.name, dataset_config.get("category", ""), split) if p)
    return _decode(ds, root, dataset_config, label, split, workdir)


def load_validation(dataset_config, folder) -> Split:
    """The labelled validation set ``<folder>/<category>/test`` in the MVTec layout
    (``config.threshold.validation_root``; ``<folder>/test`` when the dataset has no
    categories), prepared and read like the dataset itself (builder ``RdjaxMvtecTestSplit``)."""
    import tensorflow_datasets as tfds
    from rdjax.data.builders.mvtec_ad import RdjaxMvtecTestSplit

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r} does not exist or is not a folder")
    root, category = root.resolve(), dataset_config.get("category", "")
    if not category:  # <folder>/test is the test split of category <folder.name> under its parent
        root, category = root.parent, root.name
    config = tfds.core.BuilderConfig(name=category, description=f"the folder {root / category}")
    ds = _prepared(RdjaxMvtecTestSplit, config, root, "test", dataset_config)
    return _decode(ds, root, dataset_config, f"validation {root / category}/test", "test", None)


def _decode(ds, root: Optional[Path], dataset_config, label: str, split: str,
            workdir: Optional[str]) -> Split:
    """Decodes every record of ``ds`` (see the module docstring for bad files)."""
    skip = bool(dataset_config.get("skip_bad_files", False))
    try:
        result = decode_samples(_samples(ds, root), len(ds), dataset_config.image_size,
                                num_workers=dataset_config.get("num_workers", 2),
                                skip_bad_files=skip, label=label)
    except BadFileError as e:
        raise BadFileError(e.path, f"{e.reason} (to leave bad files out and go on, set "
                           "--config.dataset.skip_bad_files=True)") from None
    if result.skipped_files:
        _report_skipped(result, label, split, workdir)
    if not len(result):
        raise ValueError(f"{label}: every image was skipped as a bad file")
    return result


def _report_skipped(result: Split, label: str, split: str, workdir: Optional[str]) -> None:
    skipped = result.skipped_files
    logging.warning("Skipped %d bad file(s) of %s (config.dataset.skip_bad_files=True):",
                    len(skipped), label)
    for s in itertools.islice(skipped, _LOG_SKIPPED):
        logging.warning("  %s: %s", s["path"], s["reason"])
    if len(skipped) > _LOG_SKIPPED:
        logging.warning("  ... and %d more (Split.skipped_files lists them all)", len(skipped) - _LOG_SKIPPED)
    if workdir:
        write_skipped_files(workdir, split, skipped)


def write_skipped_files(workdir: str, split: str, skipped) -> None:
    """Lists the files of ``split`` left out as bad in ``<workdir>/skipped_files.json``."""
    path = Path(workdir) / "skipped_files.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    report[split] = skipped
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
