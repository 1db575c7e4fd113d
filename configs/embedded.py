"""Any rdjax method on the embedded dataset at the quickstart's scale (a 2-core CPU).

  rdjax train --config=embedded:mrkd --workdir=runs/embedded_mrkd

The part after ``:`` names the method (default ``rd4ad``): RD4AD's is
configs/quickstart.py, every other method's configs/<method>.py
(rdjax/recipes.py, ``embedded_config``). ``scripts/compare_methods.sh`` uses it.
"""

from rdjax import recipes


def get_config(method: str = "rd4ad"):
    if method not in recipes.METHODS:
        raise ValueError(f"configs/embedded.py:{method}: unknown method; choose one of "
                         f"{list(recipes.METHODS)}.")
    return recipes.embedded_config(method)
