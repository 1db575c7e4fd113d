"""``train_and_evaluate(config, workdir)``: the one trainer for every method."""

import functools
import os
import time
from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from rdjax.core import sharding
from rdjax.data import datasets, pipeline
from rdjax.eval import threshold as threshold_lib
from rdjax.eval.evaluate import evaluate, predict_maps
from rdjax.train import checkpoints, feature_cache, validate, writers
from rdjax.train import state as state_lib
from rdjax.train import workdir as workdir_lib
from rdjax.train.jsonl_writer import drop_rows_after
from rdjax.train.state import TrainState
from rdjax.train.step import train_step


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or inf; the last good checkpoint is left in place."""


def num_train_steps(config, num_examples: int, num_devices: int = 0) -> int:
    """``config.train.num_steps`` if set, else ``num_epochs`` epochs of ``num_examples``
    (``rdjax/data/pipeline.py``: ``ceil(n / B)`` steps each; with partial batches on
    ``num_devices`` devices (0 = all of them) one less where the last batch would be empty)."""
    t = config.train
    if t.get("num_steps", -1) > 0:
        return int(t.num_steps)
    return int(t.num_epochs * steps_per_epoch(config, num_examples, num_devices))


def steps_per_epoch(config, num_examples: int, num_devices: int = 0) -> int:
    """Steps that make one epoch of ``num_examples`` (``rdjax/data/pipeline.py``)."""
    return pipeline.steps_per_epoch(num_examples, config.train.batch_size,
                                    config.train.get("partial_batches", False),
                                    num_devices or jax.device_count())


def _check_finite(history, first_step: int) -> Dict[str, float]:
    """Mean of logged metrics; raises NonFiniteLossError at the first bad step."""
    host = jax.device_get(history)
    for i, metrics in enumerate(host):
        for name, value in metrics.items():
            if not np.all(np.isfinite(value)):
                raise NonFiniteLossError(
                    f"{name} = {value} at step {first_step + i + 1}: training stopped. The last good "
                    f"checkpoint is kept; lower config.train.learning_rate or check the data.")
    return {k: float(np.mean([m[k] for m in host])) for k in host[0]}


def train_and_evaluate(config, workdir: str, wrap_batches=None) -> Dict[str, float]:
    """Trains ``config.method`` on ``config.dataset``, checkpoints, resumes, evaluates.

    First, before anything is written: every setting and both dataset splits are checked
    (``rdjax/train/validate.py``), the workdir is locked and a resume must be of the same
    model (``rdjax/train/workdir.py``). Returns the metrics written to
    ``<workdir>/results.json``. ``wrap_batches``: None, or a function that takes the iterator of
    training batches and returns one (``rdjax/train/input_check.py`` times the waits with it).
    """
    method = validate.check_config(config)
    first = jax.process_index() == 0
    with workdir_lib.Lock(workdir, enabled=first):
        checkpoint_step = checkpoints.latest_step(workdir)
        changes = workdir_lib.check_resume(config, workdir, checkpoint_step)
        inputs = validate.load_inputs(config)
        total_steps = num_train_steps(config, len(inputs.train))
        if checkpoint_step is not None and checkpoint_step > total_steps:
            raise workdir_lib.WorkdirError(
                f"{workdir} holds a checkpoint at step {checkpoint_step}, past the {total_steps} "
                f"steps this config trains: rerun with --config.train.num_steps={checkpoint_step} "
                f"(or more) to evaluate it, or use a new --workdir.")
        if changes:
            logging.info("Resuming with changed settings: %s.", "; ".join(changes))
        if first:
            if checkpoint_step is None:  # nothing trained yet: the workdir is (re)started
                workdir_lib.write_config(config, workdir)
            for split_name, split in (("train", inputs.train), ("test", inputs.test)):
                if split.skipped_files:
                    datasets.write_skipped_files(workdir, split_name, split.skipped_files)
        return _train_and_evaluate(config, workdir, method, inputs, total_steps, wrap_batches)


def _train_and_evaluate(config, workdir: str, method, inputs: validate.Inputs,
                        total_steps: int, wrap_batches=None) -> Dict[str, float]:
    mesh = sharding.make_mesh()
    train_split, holdout = inputs.train, inputs.holdout
    method.set_schedule(steps_per_epoch(config, len(train_split.labels)), total_steps)
    logging.info("Train: %d images of '%s' at %d px; %d device(s).", len(train_split.labels),
                 config.dataset.category, config.dataset.image_size, jax.device_count())

    init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
    variables = method.init(init_rng, jnp.asarray(train_split.images[:1]))
    tx = state_lib.optimizer(method, config, total_steps)
    state = jax.device_put(TrainState.create(variables, tx), sharding.replicated(mesh))

    mngr = checkpoints.manager(workdir, config.train.keep_checkpoints)
    state, start_step = checkpoints.restore_latest(mngr, state)
    if start_step:
        logging.info("Resumed from the checkpoint at step %d of %d.", start_step, total_steps)
    if jax.process_index() == 0:  # rows logged after that checkpoint are logged again
        drop_rows_after(os.path.join(workdir, workdir_lib.METRICS), start_step)

    step_fn = jax.jit(functools.partial(train_step, method, tx), donate_argnums=(0,))
    # Before the first (donating) step: the cache reads the initial frozen teacher.
    arrays, to_device = feature_cache.train_inputs(method, variables, train_split.images,
                                                   config, mesh)
    batches = pipeline.train_batches(arrays, config.train.batch_size, config.seed, start_step,
                                     total_steps, to_device=to_device,
                                     partial_batches=config.train.get("partial_batches", False),
                                     num_devices=jax.device_count())
    if wrap_batches is not None:
        batches = wrap_batches(batches)
    writer = writers.make_writer(workdir)
    progress = writers.ProgressReporter(total_steps, writer, config.train.log_every)
    log_every, ckpt_every = config.train.log_every, config.train.checkpoint_every
    history, history_start = [], start_step
    t0, timed_steps, timed_images = None, 0, 0
    try:
        for step, batch in zip(range(start_step, total_steps), batches):
            state, metrics = step_fn(state, batch, train_rng)
            history.append(metrics)
            if t0 is None:  # throughput counts from the end of the first (compiling) step
                jax.block_until_ready(metrics)
                t0 = time.time()
            else:
                timed_steps += 1
                timed_images += batch["image"].shape[0]  # partial batches are smaller
            done = step + 1
            last = done == total_steps
            save_now = last or done % ckpt_every == 0
            if last or save_now or done % log_every == 0:
                means = _check_finite(history, history_start)
                writer.write_scalars(done, {f"train/{k}": v for k, v in means.items()})
                history, history_start = [], done
            progress(done)
            if save_now:
                checkpoints.save(mngr, done, state)
    finally:
        mngr.wait_until_finished()
    train_seconds = time.time() - t0 if t0 else 0.0
    writer.flush()
    record = threshold_lib.calibrate(
        lambda images: predict_maps(method, state.variables, images, config.eval.batch_size, mesh),
        holdout, config, workdir, write=False, validation=inputs.validation)

    results = evaluate(method, state.variables, inputs.test, config, workdir, mesh, record)
    if timed_steps:
        results["train_images_per_sec"] = timed_images / train_seconds
    results["train_steps"] = total_steps
    if jax.process_index() == 0:
        workdir_lib.record_evaluation(workdir, config, results, record)
    writer.write_scalars(total_steps, {f"eval/{k}": v for k, v in results.items()
                                       if isinstance(v, float)})
    writer.write_images(total_steps, writers.overlay_images(workdir, config.eval.num_overlays))
    writer.close()
    return results
