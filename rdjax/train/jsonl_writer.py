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
