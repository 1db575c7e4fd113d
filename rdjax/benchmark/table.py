"""The side-by-side Markdown table of the workers' results."""

from typing import Dict, List, Optional

# Dense bfloat16 peak TFLOP/s by device kind (vendor data sheets), for MFU.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0,
               "TPU v4": 275.0, "TPU v5 lite": 197.0, "TPU v5e": 197.0, "TPU v5p": 459.0,
               "TPU v6 lite": 918.0}

# (result key, label, higher is better, format)
ROWS = (
    ("train_images_per_sec", "train images/s, teacher recomputed", True, "{:.1f}"),
    ("train_cached_images_per_sec", "train images/s, cached teacher features", True, "{:.1f}"),
    ("latency_ms", "inference latency, batch 1 (ms)", False, "{:.1f}"),
    ("infer_images_per_sec", "inference images/s, batch {infer_batch}", True, "{:.1f}"),
    ("first_step_s", "first train step incl. compile (s)", False, "{:.1f}"),
    ("compile_s", "compile, train step (s)", False, "{:.1f}"),
    ("peak_memory_mib", "peak memory (MiB, {memory_kind})", False, "{:.0f}"),
    ("memory_above_imports_mib", "peak memory above the framework's imports (MiB)", False, "{:.0f}"),
    ("train_tflops", "train TFLOP/s, teacher recomputed", True, "{:.3f}"),
    ("mfu", "model-FLOPs utilisation (bf16 peak)", True, "{:.1%}"),
)


def best_of(runs: List[Dict]) -> Dict:
    """One result from repeated runs of a worker: per measure the best (highest throughput,
    lowest time and memory); a shared machine only ever slows a run down."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    best = dict(ok[0], rounds=len(ok))
    for key, _, higher_better, _ in ROWS:
        values = [r[key] for r in ok if r.get(key) is not None]
        if values:
            best[key] = max(values) if higher_better else min(values)
    return best


def peak_tflops(device_kind: str) -> Optional[float]:
    for name, peak in PEAK_TFLOPS.items():
        if name.lower() in device_kind.lower():
            return peak
    return None


def add_derived(result: Dict, flops_per_step: Optional[float], batch_size: int) -> None:
    """TFLOP/s from rdjax's FLOP count (the same model for both frameworks), and MFU."""
    if not flops_per_step or "train_images_per_sec" not in result:
        return
    result["train_tflops"] = flops_per_step * result["train_images_per_sec"] / batch_size / 1e12
    peak = peak_tflops(result.get("device", ""))
    if peak:
        result["mfu"] = result["train_tflops"] / peak


def markdown(results: List[Dict], precision: str, infer_batch: int) -> str:
    """One table for ``precision``: rdjax | twin | advantage (× in rdjax's favour)."""
    by = {r["framework"]: r for r in results if r.get("precision") == precision}
    ours, twin = by.get("rdjax", {}), by.get("torch", {})
    kind = ours.get("peak_memory_kind") or twin.get("peak_memory_kind") or ""
    lines = [f"| {precision} | rdjax | PyTorch twin | rdjax advantage |", "|---|---|---|---|"]
    for key, label, higher_better, fmt in ROWS:
        a, b = ours.get(key), twin.get(key)
        if a is None and b is None:
            continue
        cell = lambda v: fmt.format(v) if v is not None else "—"  # noqa: E731
        ratio = "—"
        if a and b:
            ratio = f"{(a / b if higher_better else b / a):.2f}×"
        label = label.format(infer_batch=infer_batch, memory_kind=kind)
        lines.append(f"| {label} | {cell(a)} | {cell(b)} | {ratio} |")
    for r in (ours, twin):
        if "error" in r:
            lines.append(f"\n{r['framework']} {precision} failed: {r['error']}")
    return "\n".join(lines)
