"""Optimizers turn the feedback on parameters into new values."""

from backprose.optimizers.base import Change, Optimizer, Proposal, Update
from backprose.optimizers.demos import Demos
from backprose.optimizers.gradients import TextualGradients
from backprose.optimizers.opro import OPRO
from backprose.optimizers.optoprime import OptoPrime
from backprose.optimizers.recipe import Recipe
from backprose.optimizers.reflect import Reflect
from backprose.optimizers.textgrad import TextGrad

__all__ = ["OPRO", "Change", "Demos", "OptoPrime", "Optimizer", "Proposal", "Recipe", "Reflect", "TextGrad",
           "TextualGradients", "Update"]
