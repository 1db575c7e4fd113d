"""The bottom layer: jit-able array ops and device sharding that every other package may use.

Nothing here imports another rdjax package (docs/architecture.md; tests/test_layers.py checks it).
"""
