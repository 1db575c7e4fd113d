"""Small fixture trees in each dataset's published layout, with the arrays they hold.

Every writer returns ``{split: [(relative image path, defect type, mask or None), ...]}``
in the order the builders list them, where ``mask`` is the expected {0,1} array
at the image's own size.
"""

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from rdjax.train.default_config import base_config

S = 24  # fixture images are 24x24 unless said otherwise


def dataset_config(name, root, category, data_dir, image_size=S, **extra):
    """``config.dataset`` for ``name`` reading ``root``, caching under ``data_dir``."""
    c = base_config().dataset
    c.name, c.root, c.category = name, str(root), category
    c.data_dir, c.image_size, c.num_workers = str(data_dir), image_size, 2
    for k, v in extra.items():
        c[k] = v
    return c


def rgb(seed, h=24, w=24):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def grey(seed, h=24, w=24):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def box_mask(h, w, seed):
    """A {0,1} rectangle somewhere in an (h, w) mask."""
    r = np.random.default_rng(seed)
    y0, x0 = r.integers(0, h // 2), r.integers(0, w // 2)
    m = np.zeros((h, w), np.uint8)
    m[y0:y0 + h // 3, x0:x0 + w // 3] = 1
    return m


def save(a, path: Path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, **kwargs)
    return path


def write_mvtec(root: Path, category: str):
    """MVTec / MPDD layout: 3 train, 2 test good, 2 'crack' + 1 'hole' with masks."""
    c = root / category
    out = {"train": [], "test": []}
    for i in range(3):
        save(rgb(i), c / f"train/good/{i:03d}.png")
        out["train"].append((f"{category}/train/good/{i:03d}.png", "good", None))
    for kind, n in (("crack", 2), ("good", 2), ("hole", 1)):
        for i in range(n):
            save(rgb(10 + i + 5 * len(kind)), c / f"test/{kind}/{i:03d}.png")
            mask = None
            if kind != "good":
                mask = box_mask(24, 24, i + len(kind))
                save(mask * 255, c / f"ground_truth/{kind}/{i:03d}_mask.png")
            out["test"].append((f"{category}/test/{kind}/{i:03d}.png", kind, mask))
    return out


def write_visa(root: Path, categories=("candle", "pcb1")):
    """VisA: ``split_csv/1cls.csv`` plus JPEG images and id-valued masks (0 and 1..3)."""
    rows, out = ["object,split,label,image,mask"], {}
    for ci, cat in enumerate(categories):
        out[cat] = {"train": [], "test": []}
        for split, label, n in (("train", "normal", 3), ("test", "normal", 2), ("test", "anomaly", 2)):
            for i in range(n):
                sub = "Normal" if label == "normal" else "Anomaly"
                name = f"{split[:2]}{i:02d}"
                img = f"{cat}/Data/Images/{sub}/{name}.JPG"
                save(rgb(100 * ci + 10 * len(split) + i + len(label)), root / img, quality=95)
                mask, mask_rel = None, ""
                if label == "anomaly":
                    mask = box_mask(24, 24, i + ci)
                    mask_rel = f"{cat}/Data/Masks/Anomaly/{name}.png"
                    save(mask * np.uint8(i + 1), root / mask_rel)  # VisA stores defect ids, not 255
                rows.append(f"{cat},{split},{label},{img},{mask_rel}")
                out[cat][split].append((img, "good" if label == "normal" else "anomaly", mask))
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    (root / "split_csv" / "1cls.csv").write_text("\n".join(rows) + "\n")
    for cat in categories:  # the builder lists by defect type, then path
        out[cat]["test"].sort(key=lambda e: (e[1], e[0]))
    return out


def write_btad(root: Path, product="02"):
    """BTAD: train/ok, test/ok, test/ko (.bmp images) and ground_truth/ko/<name>.png."""
    p = root / product
    out = {"train": [], "test": []}
    for i in range(3):
        save(rgb(200 + i), p / f"train/ok/{i:04d}.bmp")
        out["train"].append((f"{product}/train/ok/{i:04d}.bmp", "good", None))
    for i in range(2):
        save(rgb(210 + i), p / f"test/ok/{i:04d}.bmp")
        out["test"].append((f"{product}/test/ok/{i:04d}.bmp", "good", None))
    for i in range(2):
        save(rgb(220 + i), p / f"test/ko/{i:04d}.bmp")
        mask = box_mask(24, 24, 30 + i)
        save(mask * 255, p / f"ground_truth/ko/{i:04d}.png")
        out["test"].append((f"{product}/test/ko/{i:04d}.bmp", "ko", mask))
    return out


def write_magnetic_tile(root: Path, num_free=12):
    """Magnetic Tile: grey JPEGs of varying sizes, same-name PNG masks (anti-aliased 0..255)."""
    out = {"free": [], "defects": []}
    for i in range(num_free):
        h, w = 20 + i % 5, 26 - i % 4
        name = f"exp1_num_{1000 + 37 * i}"
        save(grey(300 + i, h, w), root / f"MT_Free/Imgs/{name}.jpg", quality=95)
        save(np.zeros((h, w), np.uint8), root / f"MT_Free/Imgs/{name}.png")
        out["free"].append(f"MT_Free/Imgs/{name}.jpg")
    for k, cls in enumerate(("MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven")):
        for i in range(2):
            h, w = 24, 24  # one size, so masks compare exactly at image_size 24
            name = f"exp0_num_{50 * k + i}"
            save(grey(400 + 10 * k + i, h, w), root / f"{cls}/Imgs/{name}.jpg", quality=95)
            mask = box_mask(h, w, k + i)
            # Anti-aliased edge: a ring of 100 (< 128: background) around a core of 200.
            ring = ndimage.binary_dilation(mask) & ~mask.astype(bool)
            save((mask * 200 + ring * 100).astype(np.uint8), root / f"{cls}/Imgs/{name}.png")
            out["defects"].append((f"{cls}/Imgs/{name}.jpg", cls[3:].lower(), mask))
    return out


def write_folder(root: Path):
    """A user's folders: good/ (8), scratch/ and dent/ (2 each), masks/<type>/<name>_mask.png."""
    out = {"good": [], "test_defects": []}
    for i in range(8):
        save(rgb(500 + i), root / f"good/img_{i}.png")
        out["good"].append(f"good/img_{i}.png")
    for k, kind in enumerate(("dent", "scratch")):
        for i in range(2):
            save(rgb(600 + 10 * k + i), root / f"{kind}/d{i}.png")
            mask = box_mask(24, 24, 40 + 2 * k + i)
            save(mask * 255, root / f"masks/{kind}/d{i}_mask.png")
            out["test_defects"].append((f"{kind}/d{i}.png", kind, mask))
    return out


# ----------------------------------------------------------------------------
# MVTec layout with every image mode the decoder takes


MIXED_SIZE = 32  # write_mixed_modes' images are MIXED_SIZE x MIXED_SIZE


def rect_mask(y0, y1, x0, x1, hi=255, size=MIXED_SIZE):
    """A (size, size) uint8 mask, ``hi`` inside ``[y0:y1, x0:x1]``."""
    m = np.zeros((size, size), np.uint8)
    m[y0:y1, x0:x1] = hi
    return m


def write_mixed_modes(root: Path, category="widget"):
    """A small MVTec-style category with RGB, grey, RGBA, palette and 16-bit images, a
    non-image file and a hidden image; masks stored as 0/255, 0/1 and mode "1".

    Returns ``(category folder, {relative path: the array written})``.
    """
    n = MIXED_SIZE
    c = root / category
    arrays = {}
    arrays["train/good/000.png"] = rgb(0, n, n)
    arrays["train/good/001.png"] = rgb(1, n, n)[:, :, 0]  # grey "L"
    save(arrays["train/good/000.png"], c / "train/good/000.png")
    save(arrays["train/good/001.png"], c / "train/good/001.png")
    rgba = np.dstack([rgb(2, n, n), np.full((n, n), 7, np.uint8)])
    arrays["train/good/002.png"] = rgba
    save(rgba, c / "train/good/002.png")
    (c / "train/good/notes.txt").write_text("not an image")
    save(rgb(99, n, n), c / "train/good/.hidden.png")

    # Palette image: quantise an RGB image and keep its palette colours as the truth.
    pal = Image.fromarray(rgb(3, n, n)).quantize(colors=16)
    (c / "test/good").mkdir(parents=True)
    pal.save(c / "test/good/000.png")
    arrays["test/good/000.png"] = np.asarray(pal.convert("RGB"))
    # 16-bit grey.
    g16 = (np.random.default_rng(4).integers(0, 65536, (n, n))).astype(np.uint16)
    save(g16, c / "test/good/001.png")
    arrays["test/good/001.png"] = g16

    arrays["test/crack/000.png"] = rgb(5, n, n)
    save(rgb(5, n, n), c / "test/crack/000.png")
    save(rect_mask(8, 20, 10, 24), c / "ground_truth/crack/000_mask.png")
    arrays["test/crack/001.png"] = rgb(6, n, n)
    save(rgb(6, n, n), c / "test/crack/001.png")
    save(rect_mask(0, 4, 0, 32, hi=1), c / "ground_truth/crack/001_mask.png")  # stored as 0/1
    arrays["test/hole/000.png"] = rgb(7, n, n)
    save(rgb(7, n, n), c / "test/hole/000.png")
    save(rect_mask(16, 32, 16, 32) > 0, c / "ground_truth/hole/000_mask.png")  # mode "1"
    return c, arrays


# ----------------------------------------------------------------------------
# Broken files (on a write_mvtec category folder)


def truncate(path: Path) -> None:
    """Cuts a file to its first half."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BREAKAGES = {
    # name: (break the tree, the split, the file the error names, words in the reason)
    "truncated image": (lambda c: truncate(c / "train/good/001.png"), "train", "train/good/001.png", "decode"),
    "garbage image": (lambda c: (c / "train/good/001.png").write_bytes(b"not a png"), "train",
                      "train/good/001.png", "decode"),
    "empty image file": (lambda c: (c / "test/good/000.png").write_bytes(b""), "test",
                         "test/good/000.png", "empty"),
    "corrupt mask": (lambda c: (c / "ground_truth/crack/001_mask.png").write_bytes(b"\x89PNG junk"), "test",
                     "ground_truth/crack/001_mask.png", "decode"),
    "mask of the wrong size": (lambda c: save(np.zeros((S, S + 4), np.uint8),
                                              c / "ground_truth/crack/000_mask.png"),
                               "test", "ground_truth/crack/000_mask.png", "28x24 differs from image size 24x24"),
    "defect image without mask": (lambda c: (c / "ground_truth/hole/000_mask.png").unlink(), "test",
                                  "test/hole/000.png", "no ground-truth mask"),
}
