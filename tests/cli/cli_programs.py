"""A model-free program for CLI tests: its parameter is the multiplier."""

import backprose as bp


@bp.bundle()
def times(x, k):
    return int(x) * k


class Multiplier(bp.Module):
    def __init__(self):
        self.k = bp.param(1, name="k", description="the multiplier")

    def __call__(self, x):
        return times(x, self.k)


program = Multiplier()
not_a_module = 42
