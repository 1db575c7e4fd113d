"""Score new images with a trained model: scores, decisions, heat-map overlays, defect masks.

  rdjax predict --workdir=runs/quickstart --out=predictions IMAGES_OR_FOLDERS...
  rdjax predict --exported=model.rdjax --out=predictions IMAGES_OR_FOLDERS...

(``python -m rdjax.predict`` takes the same flags.)

Folders are searched recursively for image files. For each readable image,
``<out>/overlays/<name>.png`` (input | heat map | predicted defect outline) and
``<out>/masks/<name>.png`` (0/255 at the image's own resolution) are written, and
one row goes to ``<out>/summary.csv`` and ``<out>/summary.json``; files that
cannot be decoded are listed under ``skipped`` in the JSON summary and skipped.

The score is the maximum of the anomaly map; an image is a defect when its
score is ``>= threshold`` (saved at training time, see
``rdjax/eval/threshold.py``; ``--threshold`` overrides it), and the mask holds
the pixels whose map value is ``>= threshold``. Without tiling the whole image
is resized to the model's input size, as in training; with ``--tile_size`` the
map is stitched from overlapping native-resolution tiles (``rdjax/eval/tiling.py``).
"""

import concurrent.futures
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from absl import flags
from PIL import Image

from rdjax import cli, export
from rdjax.data import decode
from rdjax.data.files import is_image_file
from rdjax.eval import overlay, tiling

CSV_COLUMNS = ("name", "path", "score", "decision", "defect_fraction", "width", "height",
               "overlay", "mask")


def decode_native(path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3) at its own size; raises ``decode.BadFileError``.

    The same decoding as ``decode.decode_image`` (bit depths, grey, alpha) without
    its resize to a square.
    """
    im = decode._open(path)
    a = decode._to_uint8(im)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.shape[2] != 3:
        raise decode.BadFileError(path, f"unsupported channel count {a.shape[2]} (mode {im.mode})")
    return np.ascontiguousarray(a)


def find_images(inputs: Sequence[str]) -> List[Tuple[Path, str]]:
    """``(path, output name)`` of every file given or found (recursively) in a folder given.

    Names are the path relative to the folder given (or the file's stem), without
    extension and with ``/`` as ``_``; repeated names get ``-2``, ``-3``, ...
    """
    found, seen = [], {}
    for arg in inputs:
        root = Path(arg)
        if root.is_dir():
            images = sorted(p for p in root.rglob("*") if is_image_file(p)
                            and not any(part.startswith(".") for part in p.relative_to(root).parts))
            pairs = [(p, "_".join(p.relative_to(root).with_suffix("").parts)) for p in images]
        elif root.exists():
            pairs = [(root, root.stem)]
        else:
            raise FileNotFoundError(f"input {arg} does not exist")
        for path, name in pairs:
            seen[name] = seen.get(name, 0) + 1
            found.append((path, name if seen[name] == 1 else f"{name}-{seen[name]}"))
    return found


class Progress:
    """A progress bar on stderr, ``predict [=====     ] 12/40 3.1 img/s``: redrawn in place
    on a terminal, else one line per tenth of the work."""

    def __init__(self, total: int, width: int = 30):
        self.total, self.width, self.start = total, width, time.time()
        self.tty, self.shown = sys.stderr.isatty(), -1

    def update(self, done: int) -> None:
        tenth = 10 * done // max(self.total, 1)
        if not self.tty and tenth == self.shown:
            return
        self.shown = tenth
        filled = self.width * done // max(self.total, 1)
        rate = done / max(time.time() - self.start, 1e-9)
        line = (f"predict [{'=' * filled}{' ' * (self.width - filled)}] {done}/{self.total} "
                f"{rate:.1f} img/s")
        if self.tty:
            print("\r" + line, end="\n" if done >= self.total else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def _load(path: Path):
    try:
        return decode_native(path), None
    except decode.BadFileError as e:
        return None, e.reason


def anomaly_maps(model, images: List[np.ndarray], tile_size: int = 0,
                 overlap: int = 0) -> Tuple[List[np.ndarray], List[float]]:
    """Maps at each image's own size and scores for native uint8 (H, W, 3) images.

    Without tiling, images are resized to the model's input, the score is the
    maximum of that map (as in evaluation) and the map is resized back.
    """
    if tile_size:
        maps = [tiling.tiled_anomaly_map(img, model.anomaly_maps, tile_size, overlap,
                                         model.image_size) for img in images]
        return maps, [float(m.max()) for m in maps]
    if not images:
        return [], []
    square = (model.image_size, model.image_size)
    small = model.anomaly_maps(np.stack([tiling.resize_image(img, square) for img in images]))
    return ([tiling.resize_map(m, img.shape[:2]) for m, img in zip(small, images)],
            [float(m.max()) for m in small])


def predict(model, inputs: Sequence[str], out_dir: str, threshold: Optional[float] = None,
            tile_size: int = 0, tile_overlap: float = 0.25, chunk: int = 16,
            progress: bool = True) -> dict:
    """Scores every image of ``inputs`` with ``model`` (an ``rdjax.export.Model``).

    Writes overlays, masks and the summaries under ``out_dir`` and returns the
    JSON summary. ``threshold`` overrides the model's; ``tile_size`` > 0 tiles
    (``tile_overlap`` is a fraction of the tile). Files are decoded ``chunk`` at a time.
    """
    if tile_size < 0 or (tile_size and not 0 <= tile_overlap < 1):
        raise ValueError(f"--tile_size must be >= 0 and --tile_overlap in [0, 1), got "
                         f"{tile_size} and {tile_overlap}")
    overlap = int(round(tile_overlap * tile_size))
    record = model.threshold or {}
    source = "--threshold"
    if threshold is None:
        if "threshold" not in record:
            raise ValueError("the model has no decision threshold (threshold.json is missing: "
                             "trained with config.threshold.holdout_fraction=0?); pass --threshold.")
        threshold, source = float(record["threshold"]), record["mode"]
    vmin = min(float(record.get("display_min", 0.0)), threshold - 1e-6)
    vmax = 2 * threshold - vmin  # the threshold sits mid-scale

    files = find_images(inputs)
    out = Path(out_dir)
    for sub in ("overlays", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows, skipped = [], []
    bar = Progress(len(files)) if progress else None
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    try:
        for start in range(0, len(files), chunk):
            batch = files[start:start + chunk]
            readable = []
            for (path, name), (image, why) in zip(batch, pool.map(_load, [p for p, _ in batch])):
                if image is None:
                    skipped.append({"path": str(path), "reason": why})
                else:
                    readable.append((path, name, image))
            maps, scores = anomaly_maps(model, [img for _, _, img in readable], tile_size, overlap)
            for (path, name, image), amap, score in zip(readable, maps, scores):
                rows.append(_write_outputs(out, path, name, image, amap, score, threshold, vmin, vmax))
            if bar:
                bar.update(min(start + chunk, len(files)))
    finally:
        pool.shutdown(wait=True)

    summary = {"threshold": threshold, "threshold_source": source, "model": model.info,
               "image_size": model.image_size, "tile_size": tile_size,
               "tile_overlap_px": overlap if tile_size else 0, "num_images": len(rows),
               "num_defect": sum(r["decision"] == "defect" for r in rows),
               "images": rows, "skipped": skipped}
    with open(out / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return summary


def _write_outputs(out: Path, path: Path, name: str, image: np.ndarray, amap: np.ndarray,
                   score: float, threshold: float, vmin: float, vmax: float) -> dict:
    mask = amap >= threshold
    overlay_path = overlay.save_overlays(str(out / "overlays"), image[None], amap[None], mask[None],
                                         [name], vmin=vmin, vmax=vmax)[0]
    mask_path = out / "masks" / f"{name}.png"
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
    return {"name": name, "path": str(path), "score": score,
            "decision": "defect" if score >= threshold else "normal",
            "defect_fraction": float(mask.mean()), "width": image.shape[1],
            "height": image.shape[0], "overlay": os.path.relpath(overlay_path, out),
            "mask": os.path.relpath(mask_path, out)}


def _flags() -> flags.FlagValues:
    """This command's flags (a new set per call, so ``main`` can run many times in a process)."""
    fv = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "A training workdir (config.json, checkpoints/, "
                        "threshold.json).", flag_values=fv)
    flags.DEFINE_string("exported", None, "A file written by `rdjax export`.", flag_values=fv)
    flags.DEFINE_string("out", None, "Output folder.", flag_values=fv)
    flags.DEFINE_float("threshold", None, "Decision threshold on the score (default: the one "
                       "saved with the model).", flag_values=fv)
    flags.DEFINE_integer("batch_size", 8, "Images (or tiles) per model call.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("tile_size", 0, "Tile side in native pixels; 0 = resize whole images.",
                         flag_values=fv)
    flags.DEFINE_float("tile_overlap", 0.25, "Overlap of neighbouring tiles as a fraction of "
                       "--tile_size.", flag_values=fv)
    flags.DEFINE_bool("no_progress", False, "No progress bar.", flag_values=fv)
    flags.mark_flags_as_mutual_exclusive(["workdir", "exported"], required=True, flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    return fv


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``rdjax predict`` with ``argv`` (flags and inputs, no program name); returns the exit code."""
    args = _flags()
    inputs = cli.parse_flags(args, sys.argv[1:] if argv is None else argv, "rdjax predict",
                             __doc__)
    if not inputs:
        print("rdjax predict: error: name the images or folders to score after the flags.",
              file=sys.stderr)
        return 2
    try:
        if args.workdir:
            model = export.load_trained(args.workdir, batch_size=args.batch_size)
        else:
            model = export.load_exported(args.exported, batch_size=args.batch_size)
        summary = predict(model, inputs, args.out, threshold=args.threshold,
                          tile_size=args.tile_size, tile_overlap=args.tile_overlap,
                          progress=not args.no_progress)
    except (OSError, ValueError) as e:  # OSError: also an --out that cannot be written
        print(f"rdjax predict: error: {e}", file=sys.stderr)
        return 2
    print(f"{summary['num_images']} images scored, {summary['num_defect']} called defective "
          f"(threshold {summary['threshold']:.5g}), {len(summary['skipped'])} skipped; "
          f"summary: {os.path.join(args.out, 'summary.csv')}")
    for item in summary["skipped"]:
        print(f"  skipped {item['path']}: {item['reason']}", file=sys.stderr)
    if not summary["num_images"]:
        found = (f"none of the {len(summary['skipped'])} image files could be read"
                 if summary["skipped"] else f"no image files found in {' '.join(inputs)}")
        print(f"rdjax predict: error: nothing scored: {found}.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
