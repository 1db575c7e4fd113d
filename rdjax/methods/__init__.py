"""The registry of methods: ``config.method`` → a ``Method`` subclass."""

from rdjax.methods.base import Method, Variables
from rdjax.methods.bidirectional import Bidirectional
from rdjax.methods.ikd import IKD
from rdjax.methods.mrkd import MRKD
from rdjax.methods.rd4ad import RD4AD
from rdjax.methods.rde import RDE
from rdjax.methods.rdpp import RDPP
from rdjax.methods.two_stage import TwoStageRKD

METHODS = {
    "rd4ad": RD4AD,
    "ikd": IKD,
    "bidirectional": Bidirectional,
    "rde": RDE,
    "mrkd": MRKD,
    "rdpp": RDPP,
    "two_stage": TwoStageRKD,
}


def get_method(config) -> Method:
    """Instantiates the method named by ``config.method``."""
    name = config.method
    if name not in METHODS:
        raise ValueError(f"config.method='{name}' is unknown; choose one of {sorted(METHODS)}.")
    return METHODS[name](config)


__all__ = ["METHODS", "Method", "Variables", "get_method"]
