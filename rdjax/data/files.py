"""Finding image files in folders: the rules every dataset layout shares."""

from pathlib import Path
from typing import List, Optional

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_image_file(p: Path, extensions=IMAGE_EXTENSIONS) -> bool:
    """A visible file with one of ``extensions`` (case-insensitive)."""
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions


def image_files(folder: Path, extensions=IMAGE_EXTENSIONS) -> List[Path]:
    """The image files directly in ``folder``, sorted by name."""
    return sorted((p for p in folder.iterdir() if is_image_file(p, extensions)), key=lambda p: p.name)


def sub_folders(folder: Path) -> List[Path]:
    """Visible sub-folders of ``folder``, sorted by name."""
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: d.name)


def find_by_stem(folder: Path, stem: str) -> Optional[Path]:
    """``folder/<stem><ext>`` for the first image extension that exists (.png first), or None."""
    for ext in IMAGE_EXTENSIONS:
        for candidate in (folder / f"{stem}{ext}", folder / f"{stem}{ext.upper()}"):
            if candidate.is_file():
                return candidate
    return None
