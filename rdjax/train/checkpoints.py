"""Orbax checkpoints of the whole train state under ``<workdir>/checkpoints``."""

import os
from typing import Optional

import jax
import orbax.checkpoint as ocp


def directory(workdir: str) -> str:
    return os.path.abspath(os.path.join(workdir, "checkpoints"))


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    return ocp.CheckpointManager(directory(workdir), options=options)


def latest_step(workdir: str) -> Optional[int]:
    """The step of the latest complete checkpoint in ``workdir``, or None; creates nothing
    (a save cut short leaves a temporary folder, which does not count)."""
    path = directory(workdir)
    if not os.path.isdir(path):
        return None
    steps = ocp.utils.checkpoint_steps(path)
    return max(steps) if steps else None


def restore_latest(mngr: ocp.CheckpointManager, state):
    """Returns (state, step): the latest checkpoint restored onto ``state``'s structure
    and shardings, or ``state`` itself and 0 when there is none."""
    step = mngr.latest_step()
    if step is None:
        return state, 0
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    try:
        restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    except (ValueError, KeyError, TypeError) as e:  # orbax's tree or shape mismatch
        from rdjax.train.workdir import WorkdirError

        lines = str(e).strip().splitlines() or [type(e).__name__]
        raise WorkdirError(f"the checkpoint at step {step} in {mngr.directory} does not fit the "
                           f"model this config builds ({lines[0][:160]}...): it was written for "
                           f"another model or by another rdjax version.") from e
    return restored, int(step)


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
    mngr.save(step, args=ocp.args.StandardSave(state))
