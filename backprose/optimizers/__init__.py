"""Optimizers turn the feedback on parameters into new values."""

from backprose.optimizers.base import Change, Optimizer, Proposal, Update

__all__ = ["Change", "Optimizer", "Proposal", "Update"]
