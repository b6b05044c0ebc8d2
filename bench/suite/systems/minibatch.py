"""The training loop both peers' recipes share: minibatch steps that fit the budget, then validation revert.

TextGrad's prompt-optimization tutorial (and Trace's port of it) run 3 epochs of at most 4 steps, each
epoch over a fresh shuffle of train; after every step the new instruction is kept only if validation
accuracy does not drop, otherwise the previous one comes back. Here the shuffles are drawn from `seed`,
a step runs only if both budgets hold it whole (its minibatch shrinks to fit, never below 1), and the first
validation is spent only if at least one step can follow it. A peer supplies `propose(batch)`, which
runs its own forward, feedback and update on the minibatch, and the cost of a step in optimizer calls.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai

from bench.suite.program import Final
from bench.suite.systems.budget import BudgetSpent, Calls

log = logging.getLogger("backprose")


@dataclass(frozen=True)
class Schedule:
    batch_size: int = 3
    epochs: int = 3
    steps_per_epoch: int = 4


TUTORIAL = Schedule()  # TextGrad's tutorial: minibatches of 3, 3 epochs of at most 4 steps


@dataclass
class Instruction:
    """How the loop reads and writes the peer's own trainable instruction (a textgrad Variable, a trace node)."""

    get: Callable[[], str]
    set: Callable[[str], None]


def largest_step(calls: Calls, schedule: Schedule, reserve: int, optimizer_cost: Callable[[int], int]) -> int:
    """The largest minibatch whose step fits: its forwards plus `reserve` program calls, its optimizer calls."""
    for size in range(schedule.batch_size, 0, -1):
        if size + reserve <= calls.budget.left("program") and optimizer_cost(size) <= calls.budget.left("optimizer"):
            return size
    return 0


def train(name: str, task: Any, calls: Calls, seed: int, schedule: Schedule, instruction: Instruction,
          propose: Callable[[list[Any]], None], optimizer_cost: Callable[[int], int]) -> Final:
    train_set, validation = list(task.train), list(task.validation)
    v = len(validation)
    if largest_step(calls, schedule, 2 * v, optimizer_cost) < 1:  # the first validation, then one whole step
        log.info("%s: the budget (%d program, %d optimizer calls) holds no step; the instruction is kept as given",
                 name, calls.budget.left("program"), calls.budget.left("optimizer"))
        return Final(instruction.get())
    best = calls.accuracy(instruction.get(), validation, task.guide)
    rng = random.Random(seed)
    for epoch in range(schedule.epochs):
        order = rng.sample(train_set, len(train_set))
        for step in range(schedule.steps_per_epoch):
            size = largest_step(calls, schedule, v, optimizer_cost)
            batch = order[step * schedule.batch_size:][:size]
            if size < 1:
                log.info("%s: stopped before epoch %d step %d; the budget left (%d program, %d optimizer calls) "
                         "holds no whole step", name, epoch, step, calls.budget.left("program"),
                         calls.budget.left("optimizer"))
                return Final(instruction.get())
            if not batch:
                break
            before = instruction.get()
            try:
                propose(batch)
                after = instruction.get()
                if after.strip() == before.strip():
                    log.info("%s: no new instruction from this step; validation skipped", name)
                    instruction.set(before)
                    continue
                score = calls.accuracy(after, validation, task.guide)
            except BudgetSpent as exc:  # a guard only: steps are planned to fit
                log.warning("%s: %s; training stops with the last validated instruction", name, exc)
                return Final(before)
            except openai.APIError as exc:  # e.g. a prompt past the server's context
                log.warning("%s: a request failed (%s: %s); the step is dropped and the instruction stays as it was",
                            name, type(exc).__name__, exc)
                instruction.set(before)
                continue
            if score < best:
                log.info("%s: validation %.3f < %.3f; reverted to the previous instruction", name, score, best)
                instruction.set(before)
            else:
                log.info("%s: validation %.3f >= %.3f; the new instruction is kept", name, score, best)
                best = score
    return Final(instruction.get())
