"""Any rdjax method on the embedded dataset at the 2-core scale: ``configs/<method>.py:quick``.

  rdjax train --config=embedded:mrkd --workdir=runs/embedded_mrkd

The part after ``:`` names the method (default ``rd4ad``); every method gets the same
teacher, data, image size, batch and epochs (configs/common.py) and keeps its paper's
hyper-parameters (RD4AD too: configs/quickstart.py is the tuned one).
``scripts/compare_methods.sh`` uses it.
"""

from rdjax import recipes


def get_config(method: str = "rd4ad"):
    if method not in recipes.METHODS:
        raise ValueError(f"configs/embedded.py:{method}: unknown method; choose one of "
                         f"{list(recipes.METHODS)}.")
    return recipes.embedded_config(method)
