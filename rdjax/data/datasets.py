"""``config.dataset`` → an in-memory ``Split`` of uint8 images, masks and labels."""

from rdjax.data import mvtec, synthetic


def dataset_root(dataset_config) -> str:
    """The folder to read: generated on first use for the embedded dataset."""
    name = dataset_config.name
    if name == "synthetic":
        return str(synthetic.ensure_dataset(dataset_config.root or None, seed=dataset_config.seed))
    if name == "mvtec":
        if not dataset_config.root:
            raise ValueError("config.dataset.root is empty: pass --config.dataset.root=/path/to/mvtec "
                             "(the folder that holds the category folders).")
        return dataset_config.root
    raise ValueError(f"config.dataset.name='{name}' is unknown; choose 'synthetic' or 'mvtec'.")


def load(dataset_config, split: str) -> mvtec.Split:
    """Reads ``split`` ('train' or 'test') of the configured dataset and category."""
    return mvtec.load_split(dataset_root(dataset_config), dataset_config.category, split,
                            dataset_config.image_size,
                            num_workers=dataset_config.get("num_workers", 2))
