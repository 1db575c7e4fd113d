"""What both workers measure, and the shared measuring tools.

A workload is RD4AD's train step and anomaly map at the config's teacher, image size and
batch, on random uint8 images already on the device (the input pipeline is measured
apart, by ``rdjax.train.input_check``). Per framework and precision:

* ``train_images_per_sec``: after ``warmup_steps`` untimed steps, ``train_steps`` steps
  timed together, one sync at the end; ``train_cached_images_per_sec`` the same with the
  teacher's features of the batches computed once beforehand (rdjax's default for RD4AD,
  ``config.train.cache_teacher_features``);
* ``first_step_s``: the first train step, including compilation (rdjax; the twin runs
  eagerly), and ``compile_s`` rdjax's ``lower().compile()`` of the step alone;
* ``latency_ms``: median anomaly-map latency of one image (batch 1), synced per call;
* ``infer_images_per_sec``: anomaly maps at batch ``infer_batch``;
* ``peak_memory_mib``: the device's peak allocation on a GPU/TPU, else the worker
  process's peak resident memory (framework, weights, activations and all), and
  ``memory_above_imports_mib`` that peak less the resident memory after the imports;
* ``train_flops``: rdjax's compiled step's FLOP count (XLA cost analysis), which the
  table turns into TFLOP/s (and MFU where the device's peak is known) for both.
"""

import dataclasses
import json
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List

import numpy as np

RESULT_PREFIX = "BENCHMARK_RESULT "
PRECISIONS = ("float32", "bfloat16")


@dataclasses.dataclass
class Workload:
    teacher: str
    pretrained: bool
    teacher_weights: str
    image_size: int
    batch_size: int
    learning_rate: float
    b1: float
    b2: float
    combine: str
    sigma: float
    precision: str = "float32"
    train_steps: int = 10
    warmup_steps: int = 2
    latency_repeats: int = 20
    infer_batch: int = 32
    infer_repeats: int = 5
    pool_batches: int = 2  # distinct input batches cycled through
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Workload":
        return cls(**json.loads(text))

    def images(self, batch: int, index: int) -> np.ndarray:
        """Random uint8 NHWC images, the same in both workers."""
        rng = np.random.default_rng((self.seed, batch, index))
        return rng.integers(0, 256, (batch, self.image_size, self.image_size, 3), dtype=np.uint8)


def time_loop(step: Callable[[int], None], sync: Callable[[], None], steps: int) -> float:
    """Seconds for ``steps`` calls of ``step(i)`` followed by one ``sync()``."""
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    return time.perf_counter() - t0


def median_latency_ms(call: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``call()`` (which must block until done), in ms."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def progress(message: str) -> None:
    print(f"[benchmark] {message}", file=sys.stderr, flush=True)


def emit(result: Dict) -> None:
    """The worker's one machine-read line on stdout."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def parse_result(stdout: str) -> Dict:
    lines: List[str] = [l for l in stdout.splitlines() if l.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError("the worker printed no result line")
    return json.loads(lines[-1][len(RESULT_PREFIX):])
