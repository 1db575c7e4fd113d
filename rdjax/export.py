"""Trained models for inference: restored from a workdir, or from a self-contained exported file.

* :func:`load_trained` rebuilds the model from a training workdir alone
  (``config.json`` + the latest checkpoint + ``threshold.json``; no data).
* :func:`export_model` writes one zip file that runs without rdjax's model code
  or the training config: ``manifest.json`` (input size and layout, threshold,
  provenance), ``model.jaxexport`` (``jax.export`` serialized StableHLO of
  ``uint8 images (b, S, S, 3) → (anomaly maps (b, S, S), scores (b,))`` with
  the input normalisation inside and a symbolic batch size ``b``) and
  ``weights.npz`` (the flat list of weights it takes as first argument).
* :func:`load_exported` reads that file back with jax and numpy only.

Both loaders return a :class:`Model`, which is all ``rdjax.predict`` uses.

  rdjax export --workdir=runs/quickstart [--out=runs/quickstart/model.rdjax]

(``python -m rdjax.export`` takes the same flags.)
"""

import dataclasses
import io
import json
import os
import sys
import zipfile
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from rdjax import cli
from rdjax.core import batching

FORMAT = "rdjax-export-v1"
DEFAULT_NAME = "model.rdjax"
DEFAULT_PLATFORMS = ("cpu", "cuda")


@dataclasses.dataclass
class Model:
    """A trained anomaly detector. ``anomaly_maps`` takes uint8 (N, S, S, 3) RGB images
    and returns float32 (N, S, S) maps; the image score is the map's maximum."""

    predict_batch: Callable[[np.ndarray], np.ndarray]  # exactly batch_size images
    image_size: int
    batch_size: int
    threshold: Optional[dict]
    info: dict

    def anomaly_maps(self, images: np.ndarray) -> np.ndarray:
        """Maps of any number of images, run in padded batches of ``batch_size``."""
        images = np.asarray(images, np.uint8)
        size = self.image_size
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"images must be uint8 (N, {size}, {size}, 3), got {images.shape}")
        out = [np.asarray(self.predict_batch(chunk))[:real]
               for chunk, real in batching.padded_batches(images, self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, size, size), np.float32)


def _read_config(workdir: str):
    import ml_collections

    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: --workdir must be a training workdir "
                                f"(with config.json and checkpoints/).")
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


def restore(workdir: str):
    """``(config, method, variables)`` of the latest checkpoint in ``workdir``."""
    from rdjax.methods import get_method
    from rdjax.train import checkpoints
    from rdjax.train import state as state_lib
    from rdjax.train.state import TrainState

    config = _read_config(workdir)
    config.model.pretrained = False  # the checkpoint holds the teacher's weights too
    method = get_method(config)
    size = int(config.dataset.image_size)
    sample = jnp.zeros((1, size, size, 3), jnp.uint8)
    abstract = jax.eval_shape(
        lambda: TrainState.create(method.init(jax.random.key(0), sample),
                                 state_lib.optimizer(method, config)))
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), abstract)
    mngr = checkpoints.manager(workdir, config.train.keep_checkpoints)
    if mngr.latest_step() is None:
        raise FileNotFoundError(f"no checkpoint under {os.path.join(workdir, 'checkpoints')}")
    state, _ = checkpoints.restore_latest(mngr, abstract)
    return config, method, state.variables


def load_trained(workdir: str, batch_size: int = 8) -> Model:
    """The model of a training workdir, with its threshold (None if it has none)."""
    from rdjax.eval import threshold

    config, method, variables = restore(workdir)
    map_fn = jax.jit(method.anomaly_map)
    return Model(predict_batch=lambda images: map_fn(variables, images),
                 image_size=int(config.dataset.image_size), batch_size=batch_size,
                 threshold=threshold.load(workdir), info=_provenance(config, workdir))


def _provenance(config, workdir: str) -> dict:
    return {"method": config.method, "teacher": config.model.teacher,
            "category": config.dataset.category, "workdir": os.path.abspath(workdir)}


def export_model(workdir: str, path: str, platforms: Sequence[str] = DEFAULT_PLATFORMS) -> str:
    """Writes the self-contained file for ``workdir``'s latest checkpoint to ``path``."""
    from rdjax.eval import threshold

    config, method, variables = restore(workdir)
    weights, treedef = jax.tree_util.tree_flatten(variables)
    size = int(config.dataset.image_size)

    def serve(weight_list, images):
        maps = method.anomaly_map(jax.tree_util.tree_unflatten(treedef, weight_list), images)
        return maps, jnp.max(maps, axis=(1, 2))

    (batch,) = jax.export.symbolic_shape("batch")
    exported = jax.export.export(jax.jit(serve), platforms=tuple(platforms))(
        [jax.ShapeDtypeStruct(w.shape, w.dtype) for w in weights],
        jax.ShapeDtypeStruct((batch, size, size, 3), jnp.uint8))
    manifest = {
        "format": FORMAT, "image_size": size,
        "input": f"uint8 RGB images (batch, {size}, {size}, 3), NHWC, values 0..255; resize "
                 "whole images (PIL bilinear) to this size; normalisation is inside the model",
        "outputs": ["anomaly maps float32 (batch, S, S)", "image scores float32 (batch,) = max of map"],
        "call": "exported.call(weights, images), weights = [weights.npz[k] for k in weight_keys]",
        "weight_keys": [f"w{i:05d}" for i in range(len(weights))],
        "platforms": list(exported.platforms), "jax_version": jax.__version__,
        "threshold": threshold.load(workdir), **_provenance(config, workdir),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(w) for k, w in zip(manifest["weight_keys"], weights)})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2))
        z.writestr("model.jaxexport", bytes(exported.serialize()))
        z.writestr("weights.npz", buffer.getvalue())
    return path


def load_exported(path: str, batch_size: int = 8) -> Model:
    """The model in an exported file; needs jax and numpy only."""
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            serialized = z.read("model.jaxexport")
            weights_file = np.load(io.BytesIO(z.read("weights.npz")))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not an rdjax exported model: {e}") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    exported = jax.export.deserialize(bytearray(serialized))
    weights = jax.device_put([weights_file[k] for k in manifest["weight_keys"]])
    call = jax.jit(exported.call)
    return Model(predict_batch=lambda images: call(weights, images)[0],
                 image_size=int(manifest["image_size"]), batch_size=batch_size,
                 threshold=manifest["threshold"],
                 info={k: manifest[k] for k in ("method", "teacher", "category", "jax_version")})


def _flags() -> flags.FlagValues:
    """This command's flags (a new set per call, so ``main`` can run many times in a process)."""
    fv = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "A training workdir.", flag_values=fv)
    flags.DEFINE_string("out", None, f"Output file (default <workdir>/{DEFAULT_NAME}).",
                        flag_values=fv)
    flags.DEFINE_list("platforms", list(DEFAULT_PLATFORMS), "JAX platforms to lower for "
                      "(cpu, cuda, rocm, tpu), comma-separated.", flag_values=fv)
    flags.mark_flag_as_required("workdir", flag_values=fv)
    return fv


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``rdjax export`` with ``argv`` (flags, no program name); returns the exit code."""
    args = _flags()
    extra = cli.parse_flags(args, sys.argv[1:] if argv is None else argv, "rdjax export", __doc__)
    if extra:
        print(f"rdjax export: error: unexpected arguments {extra}", file=sys.stderr)
        return 2
    out = args.out or os.path.join(args.workdir, DEFAULT_NAME)
    try:
        export_model(args.workdir, out, [p for p in args.platforms if p])
    except (FileNotFoundError, ValueError) as e:
        print(f"rdjax export: error: {e}", file=sys.stderr)
        return 2
    print(f"Exported {out} ({os.path.getsize(out) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
