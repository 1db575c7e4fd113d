"""Orbax checkpoints of the whole train state under ``<workdir>/checkpoints``."""

import os

import jax
import orbax.checkpoint as ocp


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                                 options=options)


def restore_latest(mngr: ocp.CheckpointManager, state):
    """Returns (state, step): the latest checkpoint restored onto ``state``'s structure
    and shardings, or ``state`` itself and 0 when there is none."""
    step = mngr.latest_step()
    if step is None:
        return state, 0
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    return restored, int(step)


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
    mngr.save(step, args=ocp.args.StandardSave(state))
