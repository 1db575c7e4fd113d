"""Moved to :mod:`rdjax.core.sharding` (evaluation needs it too, and eval sits below train).

Kept only so that ``tests/train/parallel_run.py`` still imports it; new code imports
``rdjax.core.sharding``.
"""

from rdjax.core.sharding import *  # noqa: F401,F403
