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


class Broken(bp.Module):
    """Raises outside any bundle: no error node can carry the failure back."""

    def __init__(self):
        self.k = bp.param(1, name="k", description="the multiplier")

    def __call__(self, x):
        return {"x": x}["y"]


broken = Broken()


def failing_factory():
    raise RuntimeError("the factory needs a database")


@bp.bundle()
def ask(x, k):
    """Ask the configured model to multiply."""
    return bp.llm.default().complete(f"multiply {x} by {k}").text


class Asker(bp.Module):
    """Its answers come from the model, so every rollout is a model call."""

    def __init__(self):
        self.k = bp.param(1, name="k", description="the multiplier")

    def __call__(self, x):
        return ask(x, self.k)


asker = Asker()
