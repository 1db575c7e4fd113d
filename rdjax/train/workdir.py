"""The rules that keep a training workdir intact.

A workdir records what its checkpoints were trained with (``config.json``) and the
last complete evaluation (``threshold.json``, ``results.json``); ``rdjax predict`` and
``rdjax export`` rebuild the model from it. So:

* **One training at a time.** :class:`Lock` holds ``<workdir>/train.lock`` (an OS lock
  that dies with its process, even under ``kill -9``; the file names the process). A
  second training stops at once with a :class:`WorkdirBusyError` naming the first;
  the lock of a process that is gone is taken over.
* **Resume only the same model.** :func:`check_resume` compares the config with the
  stored ``config.json`` when the workdir holds a checkpoint. Only the settings in
  :data:`MAY_CHANGE` (how long to train, how to log and read the data, how to
  evaluate) may differ; any other difference is refused with the list of differences.
* **Replace an evaluation only by a complete one.** :func:`record_evaluation` writes
  ``threshold.json``, ``config.json`` and ``results.json`` together once an evaluation
  has finished, and keeps the previous three as ``<name>.<time>.json``.

Every file is written to a temporary name first and renamed into place.
"""

import json
import os
import socket
import sys
import time
from typing import Dict, List, Optional

from absl import logging

CONFIG = "config.json"
RESULTS = "results.json"
THRESHOLD = "threshold.json"  # rdjax.eval.threshold.FILENAME
METRICS = "metrics.jsonl"
LOCK = "train.lock"

# Settings a resume may change; a name ending in '.' covers its whole section. The rest
# (method, model, data, seed, optimiser and loss, method options) defines the model.
MAY_CHANGE = (
    # how long to train (a checkpoint past the new end is refused separately)
    "train.num_steps", "train.num_epochs",
    # how the run logs, checkpoints and reads its data
    "train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
    "train.cache_teacher_features", "train.teacher_cache_dtype", "train.teacher_cache_storage",
    "dataset.num_workers", "dataset.data_dir", "dataset.skip_bad_files",
    # how the trained model is evaluated: a new evaluation
    "eval.", "threshold.", "bidirectional.fusion", "bidirectional.forward_weight",
    "bidirectional.map_rule",
    "mrkd.mask_at_test",
)
_MAX_LISTED = 6  # differences named in a refusal


class WorkdirError(ValueError):
    """The workdir cannot be used for this run; the message is one line saying why."""


class WorkdirBusyError(WorkdirError):
    """Another training holds the workdir's lock."""


# ----------------------------------------------------------------------------
# Files


def write_json_atomically(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def config_json(config) -> str:
    return config.to_json_best_effort(indent=2)


def write_config(config, workdir: str) -> None:
    """``<workdir>/config.json``: what the checkpoints are trained with."""
    write_json_atomically(os.path.join(workdir, CONFIG), config_json(config))


def stored_config(workdir: str) -> Optional[dict]:
    """The workdir's ``config.json`` as a dict, or None when it has none."""
    path = os.path.join(workdir, CONFIG)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise WorkdirError(f"{path} cannot be read ({e}); the workdir's record of its model is "
                           f"lost: use a new --workdir.") from None


# ----------------------------------------------------------------------------
# Lock


def _holder_text(text: str) -> str:
    try:
        info = json.loads(text)
        command = info["command"] if len(info["command"]) <= 100 else info["command"][:97] + "..."
        return (f"training process {info['pid']} on host {info['host']} (started "
                f"{info['started']}: {command})")
    except (ValueError, KeyError, TypeError):
        return "another training process"


class Lock:
    """``with Lock(workdir):`` holds the workdir for one training (see the module docstring).

    ``enabled=False`` (processes other than the first of a multi-process run) does nothing.
    """

    def __init__(self, workdir: str, enabled: bool = True):
        self.path = os.path.join(workdir, LOCK)
        self.enabled = enabled
        self._fd = None

    def __enter__(self) -> "Lock":
        if not self.enabled:
            return self
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            logging.warning("No file locks on this system: %s is not protected against a "
                            "second training.", os.path.dirname(self.path))
            return self
        while True:
            try:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise WorkdirError(f"cannot create {self.path}: {e.strerror}; --workdir must be "
                                   f"a folder this user can write.") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_text(os.pread(fd, 4096, 0).decode(errors="replace"))
                os.close(fd)
                raise WorkdirBusyError(
                    f"{os.path.dirname(self.path)} is in use by {holder}; wait for it to end or "
                    f"use another --workdir.") from None
            try:  # the previous holder may have removed the file between our open and lock
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        previous = os.pread(fd, 4096, 0).decode(errors="replace")
        if previous.strip():
            logging.warning("Taking over the lock of %s, which is no longer running.",
                            _holder_text(previous))
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        import fcntl

        try:
            os.remove(self.path)  # removed while still held: see the inode check above
        except FileNotFoundError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


# ----------------------------------------------------------------------------
# Resume


def _flatten(tree, prefix: str = "") -> Dict[str, object]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def may_change(name: str) -> bool:
    return any(name == s or (s.endswith(".") and name.startswith(s)) for s in MAY_CHANGE)


def differences(stored: dict, config) -> List[str]:
    """``'name: stored -> new'`` for every setting that differs, in name order."""
    old, new = _flatten(stored), _flatten(json.loads(config_json(config)))
    missing = "(not set)"
    return [f"{name}: {json.dumps(old[name]) if name in old else missing} -> "
            f"{json.dumps(new[name]) if name in new else missing}"
            for name in sorted(set(old) | set(new)) if old.get(name, missing) != new.get(name, missing)]


def check_resume(config, workdir: str, checkpoint_step: Optional[int]) -> List[str]:
    """Refuses a run whose model differs from the one ``workdir``'s checkpoints hold.

    ``checkpoint_step`` is the workdir's latest checkpoint (None: nothing trained, any
    config may start there). Returns the allowed differences (empty for a new workdir).
    """
    if checkpoint_step is None:
        return []
    stored = stored_config(workdir)
    if stored is None:
        raise WorkdirError(f"{workdir} holds a checkpoint (step {checkpoint_step}) but no "
                           f"{CONFIG}, so what it was trained with is unknown: use a new "
                           f"--workdir (or delete {os.path.join(workdir, 'checkpoints')}).")
    changes = differences(stored, config)
    refused = [c for c in changes if not may_change(c.split(":", 1)[0])]
    if refused:
        more = f"; and {len(refused) - _MAX_LISTED} more" if len(refused) > _MAX_LISTED else ""
        raise WorkdirError(
            f"{workdir} holds a model trained with other settings (checkpoint at step "
            f"{checkpoint_step}); refusing to resume it with: {'; '.join(refused[:_MAX_LISTED])}"
            f"{more}. Use a new --workdir, or rerun with the settings of "
            f"{os.path.join(workdir, CONFIG)}.")
    return changes


# ----------------------------------------------------------------------------
# Evaluation record


def _stamp(path: str) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(os.path.getmtime(path)))


def record_evaluation(workdir: str, config, results: dict, threshold: Optional[dict]) -> None:
    """Writes a complete evaluation: ``threshold.json`` (removed when ``threshold`` is
    None), ``config.json`` and ``results.json``. A previous evaluation's three files are
    kept as ``<name>.<time of its results.json>.json``."""
    paths = {name: os.path.join(workdir, name) for name in (THRESHOLD, CONFIG, RESULTS)}
    texts = {THRESHOLD: None if threshold is None else json.dumps(threshold, indent=2),
             CONFIG: config_json(config),
             RESULTS: json.dumps(results, indent=2)}
    for name, text in texts.items():  # the new files, complete, before anything moves
        if text is not None:
            with open(f"{paths[name]}.new", "w") as f:
                f.write(text)
    if os.path.exists(paths[RESULTS]):
        stamp, n = _stamp(paths[RESULTS]), 1
        while os.path.exists(os.path.join(workdir, f"results.{stamp}.json")):
            n += 1
            stamp = f"{_stamp(paths[RESULTS])}-{n}"
        for name, path in paths.items():
            if os.path.exists(path):
                with open(path) as src:
                    write_json_atomically(os.path.join(workdir, f"{name[:-5]}.{stamp}.json"), src.read())
        logging.info("The previous evaluation is kept as results.%s.json (with its config and "
                     "threshold).", stamp)
    for name, path in paths.items():
        if texts[name] is not None:
            os.replace(f"{path}.new", path)
        elif os.path.exists(path):
            os.remove(path)
