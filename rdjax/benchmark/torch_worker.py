"""The PyTorch twin's side: ``python -m rdjax.benchmark.torch_worker WORKLOAD_JSON``.

Runs ``rdjax/benchmark/torch_twin.py`` eagerly, bfloat16 through ``torch.autocast``.
Weights are the twin's own initialisation: they do not change the time.
"""

import sys
import time

from rdjax.benchmark import workload as wl

try:
    import torch

    from rdjax.benchmark import torch_twin as T
except ImportError as e:
    raise SystemExit(f"The PyTorch twin needs the bench extra ({e}): pip install 'rdjax[bench]'")


def main(workload_json: str) -> None:
    w = wl.Workload.from_json(workload_json)
    baseline = wl.peak_rss_mib()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast = torch.bfloat16 if w.precision == "bfloat16" else None
    torch.manual_seed(w.seed)
    wl.progress(f"twin {w.precision}: {w.teacher} at {w.image_size} px on {device}, "
                f"{torch.get_num_threads()} threads")
    twin = T.RD4ADTwin(w.teacher, w.image_size).to(device).train()
    optimizer = torch.optim.Adam(twin.trainable_parameters(), lr=w.learning_rate, betas=(w.b1, w.b2))
    tensor = lambda images: torch.from_numpy(images).to(device)  # noqa: E731
    batches = [tensor(w.images(w.batch_size, i)) for i in range(w.pool_batches)]
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    result = {"framework": "torch", "precision": w.precision, "device": name,
              "torch": torch.__version__, "threads": torch.get_num_threads()}

    def train(teachers):
        def step(i):
            b = i % len(batches)
            T.train_step(twin, optimizer, batches[b], teachers[b] if teachers else None, autocast)

        t0 = time.perf_counter()
        step(0)
        sync()
        first = time.perf_counter() - t0
        for i in range(w.warmup_steps):
            step(i)
        sync()
        return first, w.train_steps * w.batch_size / wl.time_loop(step, sync, w.train_steps)

    wl.progress("train step, teacher recomputed")
    result["first_step_s"], result["train_images_per_sec"] = train(None)
    wl.progress("train step, cached teacher features")
    with torch.no_grad(), T.autocast(device.type, autocast):
        cached = [twin.teacher_features(twin.normalize(b)) for b in batches]
    _, result["train_cached_images_per_sec"] = train(cached)

    wl.progress("inference")
    twin.eval()

    def anomaly_map(images):
        with torch.inference_mode(), T.autocast(device.type, autocast):
            out = twin.anomaly_map(images, w.combine, w.sigma)
        sync()
        return out

    one, big = tensor(w.images(1, 0)), tensor(w.images(w.infer_batch, 0))
    anomaly_map(one)
    result["latency_ms"] = wl.median_latency_ms(lambda: anomaly_map(one), w.latency_repeats)
    anomaly_map(big)
    seconds = wl.time_loop(lambda i: anomaly_map(big), sync, w.infer_repeats)
    result["infer_images_per_sec"] = w.infer_repeats * w.infer_batch / seconds

    if device.type == "cuda":
        result["peak_memory_mib"], result["peak_memory_kind"] = torch.cuda.max_memory_allocated() / 2**20, "device"
    else:
        result["peak_memory_mib"], result["peak_memory_kind"] = wl.peak_rss_mib(), "process RSS"
        result["memory_above_imports_mib"] = result["peak_memory_mib"] - baseline
    wl.emit(result)


if __name__ == "__main__":
    main(sys.argv[1])
