"""On-device augmentations: pure JAX functions of a PRNG key, jit- and vmap-able.

Each module holds one corruption used by one or more methods (patch swap for
MRKD, simplex-noise rectangles for RD++, random patch masking for two-stage
RKD, ...). Modules are imported by path; this package imports nothing.
"""
