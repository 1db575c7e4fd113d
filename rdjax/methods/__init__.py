"""The registry of methods: ``config.method`` → a ``Method`` subclass."""

from rdjax.methods.base import Method, Variables
from rdjax.methods.rd4ad import RD4AD

METHODS = {
    "rd4ad": RD4AD,
}


def get_method(config) -> Method:
    """Instantiates the method named by ``config.method``."""
    name = config.method
    if name not in METHODS:
        raise ValueError(f"config.method='{name}' is unknown; choose one of {sorted(METHODS)}.")
    return METHODS[name](config)


__all__ = ["METHODS", "Method", "Variables", "get_method"]
