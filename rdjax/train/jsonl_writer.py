"""A metric writer (rdjax/train/writers.py) that appends scalars to ``<workdir>/metrics.jsonl``.

One JSON object per write (``{"step": 10, "train/loss": 0.41}``), so loss curves
can be read without TensorBoard.
"""

import json
import os


class JsonlWriter:
    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")

    def write_scalars(self, step, scalars):
        record = {"step": int(step)}
        record.update({k: float(v) for k, v in scalars.items()})
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()  # so the curve can be followed while training runs

    def write_images(self, step, images):
        pass  # images go to TensorBoard only

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


def read_jsonl(path: str):
    """All records of a metrics.jsonl file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def drop_rows_after(path: str, step: int) -> int:
    """Before a run resumes at ``step``: removes the rows it will write again (those of
    later steps, logged after the last checkpoint, and the evaluation's ``eval/`` rows),
    so the file keeps one row per logged step. Returns how many rows went."""
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]

    def kept(line: str) -> bool:
        try:
            row = json.loads(line)
        except ValueError:  # a line cut short by a kill
            return False
        return row.get("step", 0) <= step and not any(k.startswith("eval/") for k in row)

    keep = [line if line.endswith("\n") else line + "\n" for line in lines if kept(line)]
    if len(keep) < len(lines):
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(keep)
        os.replace(tmp, path)
    return len(lines) - len(keep)
